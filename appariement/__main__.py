"""``python -m appariement`` runs the command line (useful on Windows without scripts on PATH)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
