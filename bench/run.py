#!/usr/bin/env python3
"""Entry point: `python3 bench/run.py [--quick] [--only W] [--engines pier,docker,podman]`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pierbench.main import main

if __name__ == "__main__":
    sys.exit(main())
