"""Kill the lab's VM after a delay: an armed regression (F5) or a crash loop (F11).

``python -m talon.lab.doom --dir LAB --after SECONDS``, started by the lab at a boot.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from talon.lab.substrate import Lab

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--after", type=float, required=True)
    args = parser.parse_args()
    time.sleep(args.after)
    Lab(args.dir).stop_vm()
