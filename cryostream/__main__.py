"""``python -m cryostream``: the same as the ``cryostream`` command."""

from .cli import app

app(prog_name="cryostream")
