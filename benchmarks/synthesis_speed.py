"""Synthesis throughput (images/s) of sefa-zoo's StyleGAN2 generator against NVIDIA's.

Two generators with random weights of the true shapes, each written once as a
stylegan2-ada-pytorch training pickle by the project's fixture writer:

  * demo: 32x32, z = w = 64, 4 mapping layers, 128/128/64/32 channels at 4/8/16/32 px;
  * config-f 256: 256x256, z = w = 512, 8 mapping layers, config-f channels.

For each, in the same process on the same device: the project's path
(``open_checkpoint`` + ``build_generator`` + ``map`` + ``synthesize``) and, as the
reference, ``training.networks.Generator`` from a checkout of NVlabs/stylegan2-ada-pytorch
(``--nvidia-repo``) holding the same tensors. Both run float32, noise mode const,
truncation psi 0.7 on the first 8 W+ entries, without autograd. Images/s at each batch
size is the batch divided by the median time of one call over ``--runs`` timed
repetitions (after warm-up; the two paths alternate, so both see the same machine
state). The largest absolute difference between the two paths' images is printed too.

Usage: python benchmarks/synthesis_speed.py [--nvidia-repo PATH] [--device cpu|cuda]
       [--runs 5] [--threads N] [--write docs/benchmarks.md]
The checkpoints are written once under benchmarks/.work/synthesis/.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import platform
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

from doc_sections import write_section

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "synthesis"
BATCH_SIZES = (1, 8)
TRUNCATION_PSI = 0.7
TRUNCATION_CUTOFF = 8
MIN_REPETITION_S = 0.2  # one timed repetition repeats the call until it lasts about this long
MODELS = {  # name -> (file name, random_stylegan2_state arguments)
    "demo 32×32": (
        "demo-32.pkl",
        {"resolution": 32, "z_dim": 64, "w_dim": 64, "mapping_layers": 4, "channel_base": 1024, "channel_max": 128},
    ),
    "config-f 256×256": ("config-f-256.pkl", {"resolution": 256, "z_dim": 512, "w_dim": 512, "mapping_layers": 8}),
}
NOT_AVAILABLE = "not available"


def make_checkpoint(file_name: str, state_args: dict) -> Path:
    from sefa_zoo_plugins.stylegan2 import random_stylegan2_state, save_stylegan2

    path = WORK / file_name
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        save_stylegan2(random_stylegan2_state(**state_args), path, "nvidia")
    return path


def import_nvidia_networks(repo: Path) -> types.ModuleType:
    """NVIDIA's ``training.networks`` from the user's checkout, imported as it is.

    Run-time accommodations, nothing patched on disk:
      * dnnlib/util.py imports ``requests`` at module level for its URL downloads, which
        this benchmark never makes; an empty stand-in module is used where it is not installed.
      * on CPU NVIDIA's bias_act / upfirdn2d ops take their reference (pure PyTorch) path
        by themselves: their CUDA plugins are only built for CUDA tensors.
    """
    if not (repo / "training" / "networks.py").is_file():
        raise SystemExit(f"--nvidia-repo {repo}: no training/networks.py there (not a stylegan2-ada-pytorch checkout)")
    try:
        importlib.import_module("requests")
    except ImportError:
        sys.modules["requests"] = types.ModuleType("requests")
    sys.path.insert(0, str(repo.resolve()))
    try:
        return importlib.import_module("training.networks")
    except Exception as exc:  # noqa: BLE001 - whatever the checkout's import raises
        raise SystemExit(f"--nvidia-repo {repo}: cannot import training.networks: {exc}") from None


def nvidia_generator(networks: types.ModuleType, checkpoint, device: str):
    """NVIDIA's Generator, built with the pickle's own constructor arguments, holding its G_ema tensors."""
    import torch

    args = checkpoint.objects["G_ema._init_args"]
    kwargs = checkpoint.objects["G_ema._init_kwargs"]
    generator = networks.Generator(*args, **kwargs)
    prefix = "G_ema."
    tensors = {name[len(prefix):]: checkpoint[name] for name in checkpoint if name.startswith(prefix)}
    generator.load_state_dict(tensors, strict=True)
    generator.requires_grad_(False).eval()
    return generator.to(torch.device(device))


def nvidia_ops_in_use() -> str:
    """Which implementation NVIDIA's custom ops ran with (their plugins load on first CUDA use)."""
    from torch_utils.ops import bias_act, upfirdn2d

    plugins = [module._plugin is not None for module in (bias_act, upfirdn2d)]
    return "CUDA plugins" if all(plugins) else "reference ops" if not any(plugins) else "mixed"


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def seconds_per_call(call: Callable[[], object], calls: int, device: str) -> float:
    synchronize(device)
    start = time.perf_counter()
    for _ in range(calls):
        call()
    synchronize(device)
    return (time.perf_counter() - start) / calls


def bench_model(name: str, path: Path, networks, args: argparse.Namespace) -> list[dict]:
    import torch

    import sefa_zoo

    checkpoint = sefa_zoo.open_checkpoint(path)
    architecture, layout = sefa_zoo.detect(checkpoint)
    ours = architecture.build_generator(checkpoint, layout=layout, device=args.device)
    reference = None if networks is None else nvidia_generator(networks, checkpoint, args.device)

    rows = []
    for batch in BATCH_SIZES:
        z = sefa_zoo.latents_from_seeds(range(batch), ours.z_dim).to(args.device)
        label = torch.zeros([batch, 0], device=args.device)

        def run_ours(z: torch.Tensor = z) -> torch.Tensor:
            codes = ours.map(z, truncation_psi=TRUNCATION_PSI, truncation_cutoff=TRUNCATION_CUTOFF)
            return ours.synthesize(codes, noise_mode="const")

        def run_reference(z: torch.Tensor = z, label: torch.Tensor = label) -> torch.Tensor:
            with torch.no_grad():
                return reference(
                    z, label, truncation_psi=TRUNCATION_PSI, truncation_cutoff=TRUNCATION_CUTOFF,
                    noise_mode="const", force_fp32=True,
                )

        paths = {"ours": run_ours} if reference is None else {"ours": run_ours, "reference": run_reference}
        images = {key: call() for key, call in paths.items()}  # warm-up (NVIDIA's CUDA plugins build here)
        # A second call's time sets how many calls one timed repetition makes.
        calls = {
            key: max(1, math.ceil(MIN_REPETITION_S / seconds_per_call(call, 1, args.device)))
            for key, call in paths.items()
        }
        times: dict[str, list[float]] = {key: [] for key in paths}
        for _ in range(args.runs):
            for key, call in paths.items():
                times[key].append(seconds_per_call(call, calls[key], args.device))
        row = {
            "model": name,
            "batch": batch,
            "ours": batch / statistics.median(times["ours"]),
            "reference": None,
            "max_abs_diff": None,
            "image_range": images["ours"].abs().max().item(),
        }
        if reference is not None:
            row["reference"] = batch / statistics.median(times["reference"])
            row["max_abs_diff"] = (images["ours"] - images["reference"].float()).abs().max().item()
        rows.append(row)
        print(
            f"{name}, batch {batch}: sefa-zoo {row['ours']:.2f} images/s, reference "
            + (NOT_AVAILABLE if reference is None else
               f"{row['reference']:.2f} images/s, max |difference| {row['max_abs_diff']:.3g} "
               f"(images up to {row['image_range']:.3g})"),
            flush=True,
        )
    return rows


def machine_description(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        where = f"GPU {torch.cuda.get_device_name(torch.device(device))}"
    else:
        where = f"CPU ({platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"
    return f"{where}, Python {platform.python_version()}, torch {torch.__version__}"


def markdown(rows: list[dict], args: argparse.Namespace, reference_note: str) -> str:
    lines = [
        (
            f"Machine: {machine_description(args.device)}. Reference: {reference_note}. "
            f"Medians of {args.runs} timed repetitions after warm-up."
        ),
        "",
        "| model | batch | sefa-zoo images/s | NVIDIA images/s | sefa-zoo / NVIDIA | max abs diff |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["reference"] is None:
            reference = ratio = diff = NOT_AVAILABLE
        else:
            reference = f"{r['reference']:.2f}"
            ratio = f"{r['ours'] / r['reference']:.2f}×"
            diff = f"{r['max_abs_diff']:.1e}"
        lines.append(f"| {r['model']} | {r['batch']} | {r['ours']:.2f} | {reference} | {ratio} | {diff} |")
    return "\n".join(lines) + "\n"


def write_results(doc_path: Path, text: str) -> None:
    write_section(doc_path, "synthesis-speed", text, "## Synthesis throughput (`benchmarks/synthesis_speed.py`)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nvidia-repo", type=Path, help="a checkout of NVlabs/stylegan2-ada-pytorch (the reference)")
    parser.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    parser.add_argument("--runs", type=int, default=5, help="timed repetitions per measurement (default 5)")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS), metavar="MODEL",
                        help=f"which generators (default all: {', '.join(MODELS)})")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--write", type=Path, help="write the results into this markdown file's marked section")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")

    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device here")
    networks = None if args.nvidia_repo is None else import_nvidia_networks(args.nvidia_repo)
    rows = []
    for name in args.models:
        file_name, state_args = MODELS[name]
        rows += bench_model(name, make_checkpoint(file_name, state_args), networks, args)

    if networks is None:
        reference_note = f"{NOT_AVAILABLE} (no --nvidia-repo given)"
    else:
        commit = _git_head(args.nvidia_repo)
        reference_note = (
            f"NVlabs/stylegan2-ada-pytorch {commit} `training.networks.Generator`, "
            f"`force_fp32=True`, {nvidia_ops_in_use()}"
        )
    text = markdown(rows, args, reference_note)
    print(text)
    if args.write:
        write_results(args.write, text)


def _git_head(repo: Path) -> str:
    import subprocess

    out = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return f"@ {out.stdout.strip()}" if out.returncode == 0 else "(commit unknown)"


if __name__ == "__main__":
    main()
