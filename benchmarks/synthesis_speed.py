"""Synthesis throughput (images/s) of sefa-zoo's StyleGAN2 and StyleGAN3 generators against NVIDIA's.

Generators with random weights of the true shapes, each written once as an NVIDIA training
pickle by the project's fixture writers:

  * demo: StyleGAN2 32x32, z = w = 64, 4 mapping layers, 128/128/64/32 channels at 4/8/16/32 px;
  * config-f 256: StyleGAN2 256x256, z = w = 512, 8 mapping layers, config-f channels;
  * StyleGAN3-T 256: 256x256, z = w = 512, 2 mapping layers, NVIDIA's default T channels.

For each, in the same process on the same device: the project's path
(``open_checkpoint`` + ``build_generator`` + ``map`` + ``synthesize``) and, as the
reference, NVIDIA's Generator holding the same tensors: ``training.networks`` from a
checkout of NVlabs/stylegan2-ada-pytorch (``--nvidia-repo``) for StyleGAN2,
``training.networks_stylegan3`` from a checkout of NVlabs/stylegan3 (``--stylegan3-repo``)
for StyleGAN3. Both run float32, truncation psi 0.7 on the first 8 W+ entries, without
autograd (StyleGAN2 with noise mode const). Images/s at each batch size is the batch
divided by the median time of one call over ``--runs`` timed repetitions after warm-up; the
two paths alternate repetition by repetition, so a burst of load hits both sides of a pair,
and the speed ratio is the median of the per-pair ratios. A call that lasts over 10 s is
not warmed up: its first call is the first timed repetition. The largest absolute difference
between the two paths' images is printed too.

Usage: python benchmarks/synthesis_speed.py [--nvidia-repo PATH] [--stylegan3-repo PATH]
       [--device cpu|cuda] [--runs 5] [--models ...] [--batches N ...] [--threads N] [--write docs/benchmarks.md]
The checkpoints are written once under benchmarks/.work/synthesis/. Each architecture's
results go to their own marked section of the markdown file; only the architectures run
are rewritten.
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
BATCH_SIZES = (1, 4, 8, 16)  # StyleGAN3-T 256 takes minutes per batch on a CPU: (1, 4, 8) there
TRUNCATION_PSI = 0.7
TRUNCATION_CUTOFF = 8
MIN_REPETITION_S = 0.2  # one timed repetition repeats the call until it lasts about this long
NO_WARM_UP_S = 10.0  # a call this slow is timed from its first run: one-time costs are lost in it
MODELS = {  # name -> (architecture, file name, fixture-state arguments, batch sizes)
    "demo 32×32": (
        "stylegan2", "demo-32.pkl",
        {"resolution": 32, "z_dim": 64, "w_dim": 64, "mapping_layers": 4, "channel_base": 1024, "channel_max": 128},
        BATCH_SIZES,
    ),
    "config-f 256×256": (
        "stylegan2", "config-f-256.pkl", {"resolution": 256, "z_dim": 512, "w_dim": 512, "mapping_layers": 8},
        BATCH_SIZES,
    ),
    "StyleGAN3-T 256×256": (
        "stylegan3", "stylegan3-t-256.pkl",
        {"config": "T", "resolution": 256, "z_dim": 512, "w_dim": 512, "channel_base": 32768, "channel_max": 512},
        (1, 4, 8),
    ),
}
SECTIONS = {  # architecture -> (marked section, heading it goes under when missing)
    "stylegan2": ("synthesis-speed", "## Synthesis throughput (`benchmarks/synthesis_speed.py`)"),
    "stylegan3": ("synthesis-speed-stylegan3", "### StyleGAN3"),
}
NOT_AVAILABLE = "not available"


def make_checkpoint(architecture: str, file_name: str, state_args: dict) -> Path:
    path = WORK / file_name
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        if architecture == "stylegan3":
            from sefa_zoo_plugins.stylegan3 import (
                random_stylegan3_state,
                save_stylegan3,
            )

            save_stylegan3(random_stylegan3_state(**state_args), path)
        else:
            from sefa_zoo_plugins.stylegan2 import (
                random_stylegan2_state,
                save_stylegan2,
            )

            save_stylegan2(random_stylegan2_state(**state_args), path, "nvidia")
    return path


def _stand_in(name: str, **attributes: object) -> None:
    """An importable module ``name`` with ``attributes``, where the real one is not installed."""
    try:
        importlib.import_module(name)
    except ImportError:
        parent, _, child = name.rpartition(".")
        module = types.ModuleType(name)
        vars(module).update(attributes)
        sys.modules[name] = module
        if parent:
            setattr(sys.modules[parent], child, module)


def _firwin(numtaps: int, cutoff: float, width: float, fs: float):
    from sefa_zoo_plugins.stylegan3 import design_lowpass_filter

    return design_lowpass_filter(numtaps, cutoff, width, fs).numpy()


def _parse_version(text: str) -> tuple[int, ...]:
    import re

    return tuple(int(part) for part in re.findall(r"[0-9]+", text)[:3])


def import_nvidia_networks(repo: Path, option: str, module: str) -> types.ModuleType:
    """NVIDIA's ``module`` (``training.networks`` / ``training.networks_stylegan3``) from the user's
    checkout, imported as it is.

    Run-time accommodations, nothing patched on disk, each only where the real package is missing:
      * dnnlib/util.py imports ``requests`` at module level for its URL downloads, which
        this benchmark never makes: an empty stand-in module;
      * stylegan3's conv2d_gradfix imports ``pkg_resources.parse_version`` (used on CUDA only):
        a stand-in that reads the version's first three numbers;
      * networks_stylegan3 designs its low-pass filters with scipy when it is built; the pickle's
        own filters replace them when its tensors are loaded, so a stand-in ``scipy.signal.firwin``
        (sefa-zoo's own design, equal to scipy's to 1e-8: see tests/data/stylegan3_fidelity) serves.
      * on CPU NVIDIA's bias_act / upfirdn2d / filtered_lrelu ops take their reference (pure
        PyTorch) path by themselves: their CUDA plugins are only built for CUDA tensors.
    """
    path = repo / (module.replace(".", "/") + ".py")
    if not path.is_file():
        raise SystemExit(f"{option} {repo}: no {path.relative_to(repo)} there")
    _stand_in("requests")
    if module == "training.networks_stylegan3":
        _stand_in("pkg_resources", parse_version=_parse_version)
        _stand_in("scipy")
        _stand_in("scipy.signal", firwin=_firwin)
        _stand_in("scipy.optimize")
    sys.path.insert(0, str(repo.resolve()))
    try:
        return importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001 - whatever the checkout's import raises
        raise SystemExit(f"{option} {repo}: cannot import {module}: {exc}") from None


def nvidia_generator(networks: types.ModuleType, checkpoint, device: str):
    """NVIDIA's Generator, built with the pickle's own constructor arguments, holding its G_ema tensors."""
    import torch

    args = checkpoint.objects.get("G_ema._init_args", ())
    kwargs = checkpoint.objects["G_ema._init_kwargs"]
    generator = networks.Generator(*args, **kwargs)
    prefix = "G_ema."
    tensors = {name[len(prefix):]: checkpoint[name] for name in checkpoint if name.startswith(prefix)}
    generator.load_state_dict(tensors, strict=True)
    generator.requires_grad_(False).eval()
    return generator.to(torch.device(device))


def nvidia_ops_in_use(architecture: str) -> str:
    """Which implementation NVIDIA's custom ops ran with (their plugins load on first CUDA use)."""
    from torch_utils.ops import bias_act, upfirdn2d

    modules = [bias_act, upfirdn2d]
    if architecture == "stylegan3":
        from torch_utils.ops import filtered_lrelu

        modules.append(filtered_lrelu)
    plugins = [module._plugin is not None for module in modules]
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


def timed_first_call(call: Callable[[], object], device: str) -> tuple[object, float]:
    synchronize(device)
    start = time.perf_counter()
    result = call()
    synchronize(device)
    return result, time.perf_counter() - start


def bench_model(
    name: str, path: Path, networks, args: argparse.Namespace, batch_sizes: tuple[int, ...]
) -> list[dict]:
    import torch

    import sefa_zoo

    checkpoint = sefa_zoo.open_checkpoint(path)
    architecture, layout = sefa_zoo.detect(checkpoint)
    ours = architecture.build_generator(checkpoint, layout=layout, device=args.device)
    reference = None if networks is None else nvidia_generator(networks, checkpoint, args.device)
    noise = {"noise_mode": "const"} if architecture.name == "stylegan2" else {}

    rows = []
    for batch in args.batches or batch_sizes:
        z = sefa_zoo.latents_from_seeds(range(batch), ours.z_dim).to(args.device)
        label = torch.zeros([batch, 0], device=args.device)

        def run_ours(z: torch.Tensor = z) -> torch.Tensor:
            codes = ours.map(z, truncation_psi=TRUNCATION_PSI, truncation_cutoff=TRUNCATION_CUTOFF)
            return ours.synthesize(codes, **noise)

        def run_reference(z: torch.Tensor = z, label: torch.Tensor = label) -> torch.Tensor:
            with torch.no_grad():
                return reference(
                    z, label, truncation_psi=TRUNCATION_PSI, truncation_cutoff=TRUNCATION_CUTOFF,
                    force_fp32=True, **noise,
                )

        paths = {"ours": run_ours} if reference is None else {"ours": run_ours, "reference": run_reference}
        times: dict[str, list[float]] = {key: [] for key in paths}
        images, calls = {}, {}
        for key, call in paths.items():  # warm-up (NVIDIA's CUDA plugins build here)
            images[key], first = timed_first_call(call, args.device)
            if first > NO_WARM_UP_S:
                times[key].append(first)
                calls[key] = 1
            else:  # a second call's time sets how many calls one timed repetition makes
                calls[key] = max(1, math.ceil(MIN_REPETITION_S / seconds_per_call(call, 1, args.device)))
        while min(len(t) for t in times.values()) < args.runs:
            for key, call in paths.items():
                if len(times[key]) < args.runs:
                    times[key].append(seconds_per_call(call, calls[key], args.device))
        row = {
            "model": name,
            "batch": batch,
            "ours": batch / statistics.median(times["ours"]),
            "reference": None,
            "ratio": None,
            "max_abs_diff": None,
            "image_range": images["ours"].abs().max().item(),
        }
        if reference is not None:
            row["reference"] = batch / statistics.median(times["reference"])
            # sefa-zoo's speed over NVIDIA's, per pair of repetitions run back to back
            row["ratio"] = statistics.median(r / o for o, r in zip(times["ours"], times["reference"], strict=True))
            row["max_abs_diff"] = (images["ours"] - images["reference"].float()).abs().max().item()
        rows.append(row)
        print(
            f"{name}, batch {batch}: sefa-zoo {_rate(row['ours'])} images/s, reference "
            + (NOT_AVAILABLE if reference is None else
               f"{_rate(row['reference'])} images/s (per-pair ratio {row['ratio']:.2f}), "
               f"max |difference| {row['max_abs_diff']:.3g} "
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


def _rate(images_per_second: float) -> str:
    """Two decimals, or three significant digits for the slow models (StyleGAN3 on CPU: 0.0213)."""
    return f"{images_per_second:.2f}" if images_per_second >= 1 else f"{images_per_second:.3g}"


def markdown(rows: list[dict], args: argparse.Namespace, reference_note: str) -> str:
    lines = [
        (
            f"Machine: {machine_description(args.device)}. Reference: {reference_note}. "
            f"Medians of {args.runs} timed repetitions after warm-up (none for calls over {NO_WARM_UP_S:g} s), "
            "the two paths alternated; the ratio is the median of per-pair ratios."
        ),
        "",
        "| model | batch | sefa-zoo images/s | NVIDIA images/s | sefa-zoo / NVIDIA | max abs diff |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["reference"] is None:
            reference = ratio = diff = NOT_AVAILABLE
        else:
            reference = _rate(r["reference"])
            ratio = f"{r['ratio']:.2f}×"
            diff = f"{r['max_abs_diff']:.1e}"
        lines.append(f"| {r['model']} | {r['batch']} | {_rate(r['ours'])} | {reference} | {ratio} | {diff} |")
    return "\n".join(lines) + "\n"


def write_results(doc_path: Path, architecture: str, text: str) -> None:
    name, heading = SECTIONS[architecture]
    write_section(doc_path, name, text, heading)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nvidia-repo", type=Path, help="a checkout of NVlabs/stylegan2-ada-pytorch (the reference)")
    parser.add_argument("--stylegan3-repo", type=Path, help="a checkout of NVlabs/stylegan3 (StyleGAN3's reference)")
    parser.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    parser.add_argument("--runs", type=int, default=5, help="timed repetitions per measurement (default 5)")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS), metavar="MODEL",
                        help=f"which generators (default all: {', '.join(MODELS)})")
    parser.add_argument("--batches", type=int, nargs="+", metavar="N",
                        help="batch sizes (default: 1 4 8 16; 1 4 8 for StyleGAN3)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--write", type=Path, help="write the results into this markdown file's marked section")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.batches and min(args.batches) < 1:
        parser.error("--batches must be at least 1")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")

    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device here")
    for architecture, (option, repo_name, module) in REFERENCES.items():
        names = [name for name in args.models if MODELS[name][0] == architecture]
        if not names:
            continue
        repo = getattr(args, option.lstrip("-").replace("-", "_"))
        networks = None if repo is None else import_nvidia_networks(repo, option, module)
        rows = []
        for name in names:
            _, file_name, state_args, batch_sizes = MODELS[name]
            rows += bench_model(
                name, make_checkpoint(architecture, file_name, state_args), networks, args, batch_sizes
            )
        if networks is None:
            reference_note = f"{NOT_AVAILABLE} (no {option} given)"
        else:
            reference_note = (
                f"{repo_name} {_git_head(repo)} `{module}.Generator`, `force_fp32=True`, "
                f"{nvidia_ops_in_use(architecture)}"
            )
        text = markdown(rows, args, reference_note)
        print(text)
        if args.write:
            write_results(args.write, architecture, text)


# architecture -> (option naming the checkout, repository, module holding its Generator)
REFERENCES = {
    "stylegan2": ("--nvidia-repo", "NVlabs/stylegan2-ada-pytorch", "training.networks"),
    "stylegan3": ("--stylegan3-repo", "NVlabs/stylegan3", "training.networks_stylegan3"),
}


def _git_head(repo: Path) -> str:
    import subprocess

    out = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return f"@ {out.stdout.strip()}" if out.returncode == 0 else "(commit unknown)"


if __name__ == "__main__":
    main()
