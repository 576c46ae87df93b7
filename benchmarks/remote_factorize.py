"""Factorize straight from the Hub (`--remote`) against a full download: bytes fetched and wall time.

A StyleGAN2 1024 generator with random weights (the real shapes and size), written by the plugin's
own fixture writers as a rosinality torch zip and as a sefa-zoo safetensors file, is served by the
tests' loopback Hub (tests/support/hub_server.py, in a process of its own) with a bandwidth limit,
so that the bytes cost time as they would over a network (the limit is in the results; latency is
not simulated: each range request on a real Hub adds a round trip). Every run starts from an empty
Hub cache, in this process; remote and download runs alternate, the ratio is taken per pair,
medians are reported. The download includes its sha256 check, as `factorize MODEL` does it.

Usage: python benchmarks/remote_factorize.py [--runs 5] [--bandwidth 12.5] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from doc_sections import write_section

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
LAYOUTS = {"rosinality": "G.pt", "sefa-zoo": "G.safetensors"}
REPO = "bench/stylegan2-1024"


def serve(folder: Path, bandwidth: float, connection) -> None:
    """The loopback Hub serving the fixture files of ``folder``; tells how many GETs it has
    answered when asked "requests", stops on anything else."""
    from support.hub_server import HubServer

    server = HubServer(lifetime=24 * 3600.0, bandwidth=bandwidth).start()
    repo = server.add_repo(REPO, {name: (folder / name).read_bytes() for name in LAYOUTS.values()})
    connection.send((server.endpoint, repo.commit))
    while connection.recv() == "requests":
        connection.send(len(server.seen("GET")))
    server.stop()


def write_fixtures(folder: Path) -> dict[str, bytes]:
    from sefa_zoo_plugins.stylegan2 import random_stylegan2_state, save_stylegan2

    state = random_stylegan2_state(1024)
    return {name: save_stylegan2(state, folder / name, layout).read_bytes() for layout, name in LAYOUTS.items()}


def register_models(commit: str, files: dict[str, bytes]) -> None:
    from sefa_zoo.hookspecs import hookimpl
    from sefa_zoo.plugins import register_plugin

    entries = [{
        "name": f"bench-{layout}", "architecture": "stylegan2", "layout": layout, "resolution": 1024,
        "num_layers": 18, "license": "MIT", "provenance": "benchmark", "description": "random weights",
        "source": {"kind": "hub", "repo_id": REPO, "filename": name, "revision": commit,
                   "sha256": hashlib.sha256(files[name]).hexdigest(), "size": len(files[name])},
    } for layout, name in LAYOUTS.items()]

    class Entries:
        @hookimpl
        def register_catalogue_entries(self, register):
            for entry in entries:
                register(entry)

    register_plugin(Entries(), "benchmark-entries")


def one_run(model: str, remote: bool, cache: Path, hub) -> tuple[float, int, str, int]:
    """(seconds, bytes fetched, how read, GET requests) of one factorize from an empty Hub cache."""
    from huggingface_hub import constants

    from sefa_zoo.api import factorize_catalogue_model

    shutil.rmtree(cache, ignore_errors=True)
    constants.HF_HUB_CACHE = str(cache)
    hub.send("requests")
    before = hub.recv()
    start = time.perf_counter()
    result = factorize_catalogue_model(model, remote=remote, progress=False)
    seconds = time.perf_counter() - start
    hub.send("requests")
    return seconds, result.fetched, result.read, hub.recv() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bandwidth", type=float, default=12.5, help="MB/s the loopback Hub sends at (12.5: 100 Mbit/s)")
    parser.add_argument("--write", type=Path, help="write the results as markdown to this file")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sefa-zoo-remote-bench-"))
    files = write_fixtures(work)
    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(work, args.bandwidth * 1e6, theirs), daemon=True)
    server.start()
    endpoint, commit = ours.recv()
    os.environ["HF_ENDPOINT"] = endpoint
    os.environ["SEFA_ZOO_CACHE"] = str(work / "sefa-zoo-cache")
    try:
        register_models(commit, files)
        most_requests = 0
        lines = [
            f"StyleGAN2 1024 (random weights, real shapes), loopback Hub at {args.bandwidth:g} MB/s, no added "
            f"latency; medians of {args.runs} alternated pairs from an empty cache, ratio per pair. "
            f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}.",
            "",
            "| file | size MB | remote: read | remote MB | share of file | remote GETs | remote s | download MB | download s "
            "| time ratio |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for layout, name in LAYOUTS.items():
            model = f"bench-{layout}"
            one_run(model, True, work / "hub", ours)  # warm-up: imports, plugin code
            remote, download = [], []
            for _ in range(args.runs):
                remote.append(one_run(model, True, work / "hub", ours))
                download.append(one_run(model, False, work / "hub", ours))
            ratio = statistics.median(r[0] / d[0] for r, d in zip(remote, download))
            size = len(files[name]) / 1e6
            lines.append(
                f"| {layout} ({Path(name).suffix}) | {size:.1f} | {remote[0][2]} | "
                f"{statistics.median(r[1] for r in remote) / 1e6:.2f} | "
                f"{statistics.median(r[1] for r in remote) / len(files[name]):.1%} | {statistics.median(r[3] for r in remote):g} | "
                f"{statistics.median(r[0] for r in remote):.2f} | "
                f"{statistics.median(d[1] for d in download) / 1e6:.1f} | {statistics.median(d[0] for d in download):.2f} | "
                f"{ratio:.2f} |"
            )
            print(lines[-1], flush=True)
            most_requests = max(most_requests, max(r[3] for r in remote))
        lines += ["", f"Latency is not in these numbers: on a real Hub each range request adds a round trip, so at "
                      f"100 ms one, {most_requests} requests add {most_requests * 0.1:.1f} s to the remote time. "
                      f"Load average during the run: {os.getloadavg()[0]:.1f}."]
    finally:
        ours.send("stop")
        server.join(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    text = "\n".join(lines) + "\n"
    if args.write:
        write_section(args.write, "remote-factorize", text,
                      heading="## Factorize straight from the Hub (`benchmarks/remote_factorize.py`)")


if __name__ == "__main__":
    main()
