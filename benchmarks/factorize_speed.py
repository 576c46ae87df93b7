"""Factorize time and peak memory for StyleGAN2, PGGAN and StyleGAN checkpoints in each real layout.

The models: StyleGAN2 config-f (rosinality, NVIDIA's PyTorch and TensorFlow pickles, genforce,
huggan), PGGAN 1024 and StyleGAN (v1) 512 (genforce, huggan), the sizes of the original release's
and NVIDIA's published models. Compares sefa-zoo against the original release's path (load the
whole file, stack the style weights, normalise, ``np.linalg.eig``) in the same run, on the same files:

  * in-process: seconds to open + factorize all layers, and the extra peak RSS above an
    interpreter that has already imported numpy and sefa_zoo, and torch for the release's side
    only: sefa-zoo's route never imports it (one fresh child process per measurement, so every
    peak is that run's own);
  * whole process: wall time of ``sefa-zoo factorize --checkpoint F`` against
    ``python -c <the release's bare path>``.

Usage: python benchmarks/factorize_speed.py [--resolution 1024] [--pggan-resolution 1024]
       [--stylegan-resolution 512] [--architectures stylegan2 pggan stylegan] [--runs 5] [--write docs/benchmarks.md]
The checkpoints (random weights, true shapes) are written once under benchmarks/.work/ by the
plugins' own fixture writers.
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
MODELS = {  # architecture -> (its name in the table, its layouts: row name -> (plugin layout, file name))
    "stylegan2": ("StyleGAN2 config-f", {
        "rosinality .pt": ("rosinality", "g.pt"),
        "NVIDIA pickle": ("nvidia", "network.pkl"),
        "NVIDIA TF pickle": ("nvidia-tf", "network-tf.pkl"),
        "genforce .pth": ("genforce", "g.pth"),
        "huggan .bin": ("huggan", "pytorch_model.bin"),
    }),
    "pggan": ("PGGAN", {
        "genforce .pth": ("genforce", "g.pth"),
        "huggan .bin": ("huggan", "pytorch_model.bin"),
    }),
    "stylegan": ("StyleGAN", {
        "genforce .pth": ("genforce", "g.pth"),
        "huggan .bin": ("huggan", "pytorch_model.bin"),
    }),
}
# What detection reports for each written layout: the plugins read a huggan file as their genforce
# layout (the same state dict, without the .pth's wrapper).
DETECTED_AS = {"huggan": "genforce"}

# The original release's route, reduced to its bare path (no generator built, no images):
# load the whole checkpoint, stack the style weights (transposed), normalise the columns,
# np.linalg.eig of the 512x512 product. Pickles need a loader that runs no code: NVIDIA's PyTorch
# pickles (the release would need NVIDIA's code) and TensorFlow pickles (the release has no reader
# for them at all) are loaded whole by sefa-zoo's own restricted unpicklers.
RELEASE_PATH = r"""
import sys, numpy as np
import sefa_zoo
from sefa_zoo.loading import container_of, flatten
from sefa_zoo.nvidia_pickle import load_nvidia_pickle
from sefa_zoo.tf_pickle import load_tf_pickle

LOADERS = {
    "torch-zip": lambda path: sys.modules["torch"].load(path, map_location="cpu", weights_only=True),
    "pickle": load_nvidia_pickle,
    "tf-pickle": load_tf_pickle,
}


def release_path(path):
    container = container_of(path)
    ckpt = flatten(LOADERS[container](path), path, container=container)
    arch, layout = sefa_zoo.detect(ckpt)
    table = arch.layers(ckpt, layout=layout)
    matrices = [np.asarray(w) for w in arch.projection(ckpt, [l.index for l in table], layout=layout)]
    weights = [m.reshape(-1, m.shape[-1]).T for m in matrices]  # PGGAN's (C, 16, z) rows as (C * 16, z)
    weight = np.concatenate(weights, axis=1).astype(np.float32)
    weight = weight / np.linalg.norm(weight, axis=0, keepdims=True)
    values, vectors = np.linalg.eig(weight.dot(weight.T))
    return layout, len(table)
"""

# One measurement in a fresh interpreter: prints {"seconds", "extra_peak" (bytes), "layout", "layers"}.
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
if mode != "sefa-zoo":
    import torch  # the release's route needs it; sefa-zoo's never imports it (and runs slower beside it)

with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak to the current RSS
base = rss_peak()
start = time.perf_counter()
if mode == "sefa-zoo":
    bank = sefa_zoo.factorize_checkpoint(sefa_zoo.open_checkpoint(path), layers="all")
    layout, layers = bank.layout, len(bank.layer_indices)
else:
    layout, layers = release_path(path)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "extra_peak": max(0, rss_peak() - base), "layout": layout, "layers": layers}))
"""

# The release's whole command as a bare process.
BARE_RELEASE = "import torch\n" + RELEASE_PATH + "\nrelease_path(sys.argv[1])\n"


def fixture_writer(architecture: str, resolution: int):
    """The plugin's own random state of the true shapes, and its writer: save(state, path, layout)."""
    if architecture == "stylegan2":
        from sefa_zoo_plugins.stylegan2 import random_stylegan2_state, save_stylegan2

        return lambda: random_stylegan2_state(resolution), save_stylegan2
    if architecture == "pggan":
        from sefa_zoo_plugins.pggan import random_pggan_state, save_pggan

        return lambda: random_pggan_state(resolution), save_pggan
    from sefa_zoo_plugins.stylegan import random_stylegan_state, save_stylegan

    return lambda: random_stylegan_state(resolution), save_stylegan


def make_checkpoints(architecture: str, resolution: int) -> dict[str, tuple[str, Path]]:
    """Row name -> (plugin layout, file), each file written once (all from one random state)."""
    folder = WORK / f"{architecture}-{resolution}"
    folder.mkdir(parents=True, exist_ok=True)
    layouts = MODELS[architecture][1]
    files = {name: (layout, folder / filename) for name, (layout, filename) in layouts.items()}
    missing = [(layout, path) for layout, path in files.values() if not path.exists()]
    if missing:
        random_state, save = fixture_writer(architecture, resolution)
        state = random_state()
        for layout, path in missing:
            save(state, path, layout)
    return files


def child(mode: str, path: Path, written_as: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(path)], check=False, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{mode} measurement failed on {path}:\n{out.stderr}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    expected = DETECTED_AS.get(written_as, written_as)
    if result["layout"] != expected:
        raise SystemExit(f"{mode} read {path} as layout {result['layout']!r}, not {expected!r}")
    return result


def wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def measure(model: str, name: str, layout: str, path: Path, runs: int) -> dict:
    """One table row: medians over ``runs`` pairs, the modes alternated so that a burst of load hits both sides."""
    sefa_zoo_cli = str(Path(sys.executable).with_name("sefa-zoo"))
    size = path.stat().st_size
    out = WORK / "bank.safetensors"
    ours, ref, cli, bare = [], [], [], []
    for _ in range(runs):
        ours.append(child("sefa-zoo", path, layout))
        ref.append(child("release", path, layout))
        cli.append(wall([sefa_zoo_cli, "factorize", "--checkpoint", str(path), "-o", str(out), "--json"]))
        bare.append(wall([sys.executable, "-c", BARE_RELEASE, str(path)]))
    return {
        "model": model,
        "layout": name,
        "layers": ours[0]["layers"],
        "size_mb": size / 1e6,
        "ours_s": statistics.median(r["seconds"] for r in ours),
        "ref_s": statistics.median(r["seconds"] for r in ref),
        "ours_fastest_s": min(r["seconds"] for r in ours),  # what load on a shared machine inflates least
        "ref_fastest_s": min(r["seconds"] for r in ref),
        "speedup": statistics.median(b["seconds"] / a["seconds"] for a, b in zip(ours, ref)),
        "ours_mem": statistics.median(r["extra_peak"] for r in ours) / size,
        "ref_mem": statistics.median(r["extra_peak"] for r in ref) / size,
        "cli_s": statistics.median(cli),
        "bare_s": statistics.median(bare),
        "process_ratio": statistics.median(a / b for a, b in zip(cli, bare)),
    }


def markdown(rows: list[dict], runs: int, loads: tuple[float, float]) -> str:
    lines = [
        (
            "Random weights of the true shapes, all W+ layers (PGGAN: its one layer); medians of "
            f"{runs} runs, one fresh process each, the modes alternated run by run and each ratio taken per pair. "
            f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
            f"1-minute load average {loads[0]:.1f} at the start, {loads[1]:.1f} at the end. "
            "In-process seconds: median (fastest run)."
        ),
        "",
        (
            "| model | layout | layers | file MB | sefa-zoo s | release path s | speed-up | sefa-zoo extra peak / file "
            "| release extra peak / file | `sefa-zoo factorize` process s | release bare process s | process ratio |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['layout']} | {r['layers']} | {r['size_mb']:.0f} | "
            f"{r['ours_s']:.3f} ({r['ours_fastest_s']:.3f}) | {r['ref_s']:.3f} ({r['ref_fastest_s']:.3f}) | "
            f"{r['speedup']:.1f}× | {r['ours_mem']:.2f} | {r['ref_mem']:.2f} | "
            f"{r['cli_s']:.2f} | {r['bare_s']:.2f} | {r['process_ratio']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=1024, help="StyleGAN2's")
    parser.add_argument("--pggan-resolution", type=int, default=1024)
    parser.add_argument("--stylegan-resolution", type=int, default=512)
    parser.add_argument("--architectures", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", type=Path, help="write the results as markdown to this file")
    args = parser.parse_args()

    resolutions = {"stylegan2": args.resolution, "pggan": args.pggan_resolution, "stylegan": args.stylegan_resolution}
    load_at_start = os.getloadavg()[0]
    rows = []
    for architecture in args.architectures:
        resolution = resolutions[architecture]
        model = f"{MODELS[architecture][0]} {resolution}×{resolution}"
        for name, (layout, path) in make_checkpoints(architecture, resolution).items():
            rows.append(measure(model, name, layout, path, args.runs))
            print(json.dumps(rows[-1]), flush=True)
    text = markdown(rows, args.runs, (load_at_start, os.getloadavg()[0]))
    print(text)
    if args.write:
        write_section(args.write, "factorize-speed", text)


if __name__ == "__main__":
    main()
