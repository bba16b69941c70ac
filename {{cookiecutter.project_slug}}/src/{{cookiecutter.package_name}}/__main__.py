"""Run the command-line interface: ``python -m <package> feature|training|inference``."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
