"""``python -m gaama_async``: the same as the ``gaama`` command."""

from .cli import run

run()
