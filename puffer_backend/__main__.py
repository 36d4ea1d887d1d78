"""`python -m puffer_backend ...` runs the `puffer-backend` command."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
