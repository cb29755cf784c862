"""The chaos suite, one command: ``.venv/bin/python bench/chaos.py --size ci|full`` (see docs/chaos.md)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chaos.suite import run

if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
