"""Start-up time of the commands that need no torch (`--help`, `list`), against the same commands in a
process that imports torch first: what each would cost if sefa-zoo still imported torch on start.

Every run is a fresh process; the two modes alternate run by run and the ratio is taken per pair.

Usage: python benchmarks/startup_speed.py [--runs 15] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from doc_sections import write_section

COMMANDS = (["--help"], ["list"], ["plugins"])
RUN = "import sys; from sefa_zoo.__main__ import main; sys.argv[0] = 'sefa-zoo'; main()"
WITH_TORCH = "import torch; " + RUN


def wall(code: str, argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, *argv], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--write", type=Path, help="write the results as markdown to this file")
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]
    rows = []
    for argv in COMMANDS:
        ours, heavy = [], []
        for _ in range(args.runs):
            ours.append(wall(RUN, argv))
            heavy.append(wall(WITH_TORCH, argv))
        ratio = statistics.median(a / b for a, b in zip(ours, heavy))
        rows.append(f"| `sefa-zoo {' '.join(argv)}` | {statistics.median(ours):.3f} ({min(ours):.3f}) | "
                    f"{statistics.median(heavy):.3f} | {ratio:.2f} |")
        print(rows[-1], flush=True)
    lines = [
        f"Medians of {args.runs} fresh processes per mode, alternated; ratio per pair. "
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"1-minute load average {load_at_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end.",
        "",
        "| command | sefa-zoo s (fastest) | with torch imported first s | ratio |",
        "|---|---|---|---|",
        *rows,
    ]
    text = "\n".join(lines) + "\n"
    if args.write:
        write_section(args.write, "startup-speed", text)


if __name__ == "__main__":
    main()
