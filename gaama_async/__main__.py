"""``python -m gaama_async``: the same as the ``gaama`` command."""

import sys

from .cli import main

sys.exit(main())
