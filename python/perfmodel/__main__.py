"""``python -m perfmodel``: the same command line as ``perfmodel``."""

import sys

from .cli import main

sys.exit(main())
