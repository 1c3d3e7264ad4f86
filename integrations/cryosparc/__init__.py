"""CryoSPARC shim: ``cryostream-cryosparc`` (see README.md in this folder)."""
