"""Factorize time and peak memory for a StyleGAN2 config-f checkpoint in each real layout.

Compares sefa-zoo against the original release's path (load the whole file, stack the
style weights, normalise, ``np.linalg.eig``) in the same run, on the same files:

  * in-process: seconds to open + factorize all layers, and the extra peak RSS above an
    interpreter that has already imported torch, numpy and sefa_zoo (one fresh child
    process per measurement, so every peak is that run's own);
  * whole process: wall time of ``sefa-zoo factorize --checkpoint F`` against
    ``python -c <the release's bare path>``.

Usage: python benchmarks/factorize_speed.py [--resolution 1024] [--runs 5] [--write docs/benchmarks.md]
The checkpoints (random weights, true shapes) are written once under benchmarks/.work/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from doc_sections import write_section

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
LAYOUTS = {  # name -> (plugin layout, file name)
    "rosinality .pt": ("rosinality", "g.pt"),
    "NVIDIA pickle": ("nvidia", "network.pkl"),
    "genforce .pth": ("genforce", "g.pth"),
    "huggan .bin": ("huggan", "pytorch_model.bin"),
}

# The original release's route, reduced to its bare path (no generator built, no images):
# load the whole checkpoint, stack the style weights (transposed), normalise the columns,
# np.linalg.eig of the 512x512 product. NVIDIA pickles need a loader that runs no code.
RELEASE_PATH = r"""
import sys, numpy as np, torch
import sefa_zoo
from sefa_zoo.nvidia_pickle import load_nvidia_pickle


def release_path(path):
    with open(path, "rb") as f:
        head = f.read(2)
    if head == b"PK":
        obj = torch.load(path, map_location="cpu", weights_only=True)
    else:
        obj = load_nvidia_pickle(path)
    ckpt = sefa_zoo.loading.flatten(obj, path)
    arch, layout = sefa_zoo.detect(ckpt)
    table = arch.layers(ckpt, layout=layout)
    weights = [w.numpy().T for w in arch.projection(ckpt, [l.index for l in table], layout=layout)]
    weight = np.concatenate(weights, axis=1).astype(np.float32)
    weight = weight / np.linalg.norm(weight, axis=0, keepdims=True)
    values, vectors = np.linalg.eig(weight.dot(weight.T))
    return vectors.T
"""

# One measurement in a fresh interpreter: prints {"seconds": ..., "extra_peak": bytes}.
CHILD = RELEASE_PATH + r"""
import json, time
mode, path = sys.argv[1], sys.argv[2]


def rss_peak():
    # VmHWM, not ru_maxrss: a child's ru_maxrss starts from its parent's peak on Linux.
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


import sefa_zoo.api, sefa_zoo.loading  # sefa_zoo loads lazily; its import is not what is measured

with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak to the current RSS
base = rss_peak()
start = time.perf_counter()
if mode == "sefa-zoo":
    bank = sefa_zoo.factorize_checkpoint(sefa_zoo.open_checkpoint(path), layers="all")
    assert bank.k > 0
else:
    release_path(path)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "extra_peak": max(0, rss_peak() - base)}))
"""

# The release's whole command as a bare process.
BARE_RELEASE = RELEASE_PATH + "\nrelease_path(sys.argv[1])\n"


def make_checkpoints(resolution: int) -> dict[str, Path]:
    from sefa_zoo_plugins.stylegan2 import random_stylegan2_state, save_stylegan2

    folder = WORK / f"stylegan2-{resolution}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / filename for name, (_, filename) in LAYOUTS.items()}
    if all(p.exists() for p in paths.values()):
        return paths
    state = random_stylegan2_state(resolution)
    for name, (layout, _) in LAYOUTS.items():
        if not paths[name].exists():
            save_stylegan2(state, paths[name], layout)
    return paths


def child(mode: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(path)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{mode} measurement failed on {path}:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", type=Path, help="write the results as markdown to this file")
    args = parser.parse_args()

    paths = make_checkpoints(args.resolution)
    sefa_zoo_cli = str(Path(sys.executable).with_name("sefa-zoo"))
    rows = []
    for name, path in paths.items():
        size = path.stat().st_size
        out = WORK / "bank.safetensors"
        ours, ref, cli, bare = [], [], [], []
        for _ in range(args.runs):  # the modes alternate, so that a burst of load hits both sides of a pair
            ours.append(child("sefa-zoo", path))
            ref.append(child("release", path))
            cli.append(wall([sefa_zoo_cli, "factorize", "--checkpoint", str(path), "-o", str(out), "--json"]))
            bare.append(wall([sys.executable, "-c", BARE_RELEASE, str(path)]))
        row = {
            "layout": name,
            "size_mb": size / 1e6,
            "ours_s": statistics.median(r["seconds"] for r in ours),
            "ref_s": statistics.median(r["seconds"] for r in ref),
            "speedup": statistics.median(b["seconds"] / a["seconds"] for a, b in zip(ours, ref)),
            "ours_mem": statistics.median(r["extra_peak"] for r in ours) / size,
            "ref_mem": statistics.median(r["extra_peak"] for r in ref) / size,
            "cli_s": statistics.median(cli),
            "bare_s": statistics.median(bare),
            "process_ratio": statistics.median(a / b for a, b in zip(cli, bare)),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)

    table = [
        f"StyleGAN2 config-f {args.resolution}×{args.resolution}, random weights of the true shapes, "
        f"all {2 * args.resolution.bit_length() - 4} W+ layers; medians of {args.runs} runs, one fresh process each, "
        "the modes alternated run by run and each ratio taken per pair. "
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}.",
        "",
        "| layout | file MB | sefa-zoo s | release path s | speed-up | sefa-zoo extra peak / file | "
        "release extra peak / file | `sefa-zoo factorize` process s | release bare process s | process ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        table.append(
            f"| {r['layout']} | {r['size_mb']:.0f} | {r['ours_s']:.3f} | {r['ref_s']:.3f} | "
            f"{r['speedup']:.1f}× | {r['ours_mem']:.2f} | {r['ref_mem']:.2f} | "
            f"{r['cli_s']:.2f} | {r['bare_s']:.2f} | {r['process_ratio']:.2f} |"
        )
    text = "\n".join(table) + "\n"
    print(text)
    if args.write:
        write_section(args.write, "factorize-speed", text)


if __name__ == "__main__":
    main()
