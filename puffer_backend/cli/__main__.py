"""`python -m puffer_backend.cli ...` runs the `puffer-backend` command."""
import sys

from .command import main

if __name__ == "__main__":
    sys.exit(main())
