"""``python -m snnc ...``: the same as ``snnc ...``."""

import sys

from snnc.cli import main

sys.exit(main())
