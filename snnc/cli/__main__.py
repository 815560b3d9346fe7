"""``python -m snnc.cli ...``: the same as ``snnc ...``."""

import sys

from snnc.cli import main

sys.exit(main())
