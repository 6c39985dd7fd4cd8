"""Replaced by ``tools/calibrate.py`` (one calibration tool, on scipy.optimize, writing hwdb with tomlkit).

This name is kept for the commands quoted in older notes: ``python tools/calibrate_roofline.py [--shared]
[--write]`` runs ``python tools/calibrate.py --roofline [--shared] [--write]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import calibrate  # noqa: E402

if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a in ("--shared", "--write")]
    calibrate.main((["--roofline"] if "--shared" not in args else []) + args)
