"""Run the command line with ``python -m``."""

from __future__ import annotations

from .engine.api import main

if __name__ == "__main__":
    main()
