# PYTHON_ARGCOMPLETE_OK
"""`python -m tamrin ...`: the same command as `tamrin ...` (where the script is not on PATH)."""

from __future__ import annotations

import sys

from tamrin.cli import main

if __name__ == "__main__":
    sys.exit(main())
