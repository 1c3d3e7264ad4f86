"""RELION External job shim: ``cryostream-relion`` (see README.md in this folder)."""
