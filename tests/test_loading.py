"""open_checkpoint: every container, detected by its bytes, bit-exact, lazy where it can be, and safe."""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from sefa_zoo import Checkpoint, CheckpointError, LayoutError, UnsafeCheckpointError, open_checkpoint
from sefa_zoo.loading import container_of, flatten
from sefa_zoo.testing import PersistentModule, save_nvidia_pickle
from sefa_zoo.torch_files import torch_globals


def sample_tensors(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "conv1.conv.modulation.weight": torch.randn(8, 6, generator=g),
        "conv1.conv.weight": torch.randn(1, 8, 8, 3, 3, generator=g).half(),
        "to_rgb1.bias": torch.randn(3, generator=g).to(torch.bfloat16),
        "noises.noise_0": torch.randn(1, 1, 4, 4, generator=g, dtype=torch.float64),
        "steps": torch.arange(5),
        "mask": torch.rand(7, generator=g) > 0.5,
        "scale": torch.tensor(0.5),
    }


def write_torch_zip(path: Path, obj) -> Path:
    torch.save(obj, path)
    return path


def write_torch_legacy(path: Path, obj) -> Path:
    torch.save(obj, path, _use_new_zipfile_serialization=False)
    return path


def write_pickle(path: Path, obj) -> Path:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)
    return path


NESTED_WRITERS = {"torch-zip": write_torch_zip, "torch-legacy": write_torch_legacy, "pickle": write_pickle}


# The file names lie on purpose: the container must come from the bytes.
MISLEADING_NAMES = {
    "torch-zip": "model.safetensors",
    "torch-legacy": "model.pkl",
    "safetensors": "model.pt",
    "pickle": "model.pth",
}


@pytest.mark.parametrize("container", sorted(NESTED_WRITERS))
def test_nested_containers_round_trip_bit_exact(tmp_path, container):
    tensors = sample_tensors()
    latent_avg = torch.randn(6)
    path = NESTED_WRITERS[container](
        tmp_path / MISLEADING_NAMES[container], {"g_ema": tensors, "latent_avg": latent_avg}
    )
    ckpt = open_checkpoint(path)
    assert ckpt.container == container
    assert ckpt.path == path
    assert list(ckpt) == [f"g_ema.{name}" for name in tensors] + ["latent_avg"]
    for name, expected in {**{f"g_ema.{k}": v for k, v in tensors.items()}, "latent_avg": latent_avg}.items():
        loaded = ckpt[name]
        assert loaded.device.type == "cpu"
        assert loaded.dtype == expected.dtype
        assert ckpt.shape(name) == tuple(expected.shape)
        assert torch.equal(loaded, expected), name


def test_safetensors_round_trip_bit_exact_with_metadata(tmp_path):
    tensors = sample_tensors()
    path = tmp_path / MISLEADING_NAMES["safetensors"]
    save_file(tensors, str(path), metadata={"format": "pt", "note": "fixture"})
    ckpt = open_checkpoint(path)
    assert ckpt.container == "safetensors"
    assert sorted(ckpt) == sorted(tensors)
    assert ckpt.objects["__metadata__"] == {"format": "pt", "note": "fixture"}
    for name, expected in tensors.items():
        assert ckpt.shape(name) == tuple(expected.shape)
        assert ckpt[name].dtype == expected.dtype
        assert torch.equal(ckpt[name], expected), name


@pytest.mark.parametrize("container", ["torch-zip", "torch-legacy"])
def test_views_and_shared_storage_round_trip(tmp_path, container):
    base = torch.randn(6, 4)
    obj = {"transposed": base.t(), "row": base[2], "slice": base[1:4, 1:3]}
    path = NESTED_WRITERS[container](tmp_path / "views.bin", obj)
    ckpt = open_checkpoint(path)
    for name, expected in obj.items():
        assert torch.equal(ckpt[name], expected), name


def test_container_is_detected_from_bytes_not_extension(tmp_path):
    tensors = {"w": torch.ones(2)}
    write_torch_zip(tmp_path / "a.pkl", tensors)
    write_torch_legacy(tmp_path / "b.safetensors", tensors)
    write_pickle(tmp_path / "c.pt", tensors)
    save_file(tensors, str(tmp_path / "d.bin"))
    assert [container_of(tmp_path / n) for n in ("a.pkl", "b.safetensors", "c.pt", "d.bin")] == [
        "torch-zip",
        "torch-legacy",
        "pickle",
        "safetensors",
    ]


def adam_state_dict(module: torch.nn.Module) -> dict:
    """What ``torch.optim.Adam(...).state_dict()`` holds after a step (built by hand: creating
    an optimizer imports torch._dynamo, which costs seconds)."""
    params = list(module.parameters())
    return {
        "state": {
            i: {"step": torch.tensor(1.0), "exp_avg": torch.randn_like(p), "exp_avg_sq": torch.rand_like(p)}
            for i, p in enumerate(params)
        },
        "param_groups": [
            {"lr": 0.002, "betas": (0.0, 0.99), "eps": 1e-08, "weight_decay": 0, "amsgrad": False,
             "params": list(range(len(params)))}
        ],
    }


def rosinality_snapshot() -> dict:
    """A training snapshot as rosinality's train.py writes it: networks, optimizers and ``args``."""
    g = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    d = torch.nn.Linear(2, 1)
    args = argparse.Namespace(size=256, lr=0.002, batch=16, ckpt=None, wandb=False, path="lmdb/ffhq")
    return {
        "g": g.state_dict(),
        "d": d.state_dict(),
        "g_ema": g.state_dict(),
        "g_optim": adam_state_dict(g),
        "d_optim": adam_state_dict(d),
        "args": args,
    }


@pytest.mark.parametrize("container", ["torch-zip", "torch-legacy"])
def test_training_snapshot_with_namespace_args_loads_weights_only(tmp_path, container):
    snapshot = rosinality_snapshot()
    path = NESTED_WRITERS[container](tmp_path / "050000.pt", snapshot)
    # torch's weights-only loader alone refuses the Namespace: the allow-list is what admits it.
    with pytest.raises(pickle.UnpicklingError, match="argparse.Namespace"):
        torch.load(path, weights_only=True)
    ckpt = open_checkpoint(path)
    assert ckpt.objects["args"] == snapshot["args"]
    assert isinstance(ckpt.objects["args"], argparse.Namespace)
    for name, tensor in snapshot["g_ema"].items():
        assert torch.equal(ckpt[f"g_ema.{name}"], tensor)
    assert torch.equal(ckpt["g_optim.state.0.exp_avg"], snapshot["g_optim"]["state"][0]["exp_avg"])
    assert ckpt.objects["g_optim.param_groups"][0]["betas"] == (0.0, 0.99)
    assert set(ckpt.with_prefix("g_ema.")) == set(snapshot["g_ema"])


def test_torch_allow_list_calls_only_plain_constructors_and_checked_rebuilds():
    callables = {".".join(key) for key, value in torch_globals("x", 0).items() if callable(value)}
    rebuilds = {name for name in callables if any(part in name for part in ("._rebuild", "_get_layout", "multiarray", "numeric"))}
    assert callables - rebuilds == {
        "torch.Size", "torch.device", "collections.OrderedDict", "collections.Counter", "builtins.set",
        "builtins.frozenset", "builtins.complex", "builtins.bytearray", "argparse.Namespace", "numpy.dtype",
        "_codecs.encode",
    }


@dataclass
class TrainingConfig:
    lr: float = 0.1


def test_class_not_on_allow_list_is_refused_even_if_harmless(tmp_path):
    path = write_torch_zip(tmp_path / "cfg.pt", {"w": torch.ones(1), "config": TrainingConfig()})
    refusal = r"cfg\.pt: refuses to load global '[\w.]*TrainingConfig'"
    with pytest.raises(UnsafeCheckpointError, match=refusal):
        open_checkpoint(path)


def test_non_tensor_leaves_go_to_objects(tmp_path):
    noise = [torch.randn(2), torch.randn(3)]
    obj = {
        "netG_state_dict": {"main.0.weight": torch.randn(5, 4, 4, 4)},
        "epoch": 7,
        "loss": 0.25,
        "config": {"nz": 5, "ngf": 4, "nested": {"nc": 3}},
        "losses": [0.5, 0.4],
        "noises": noise,
        "name": "dcgan",
    }
    ckpt = open_checkpoint(write_torch_zip(tmp_path / "netG.pth", obj))
    assert list(ckpt) == ["netG_state_dict.main.0.weight", "noises.0", "noises.1"]
    assert torch.equal(ckpt["noises.1"], noise[1])
    assert ckpt.objects == {
        "epoch": 7,
        "loss": 0.25,
        "config": {"nz": 5, "ngf": 4, "nested": {"nc": 3}},
        "losses": [0.5, 0.4],
        "name": "dcgan",
    }


def test_bare_tensor_file_is_named_empty_string(tmp_path):
    t = torch.randn(3)
    ckpt = open_checkpoint(write_torch_zip(tmp_path / "t.pt", t))
    assert list(ckpt) == [""] and torch.equal(ckpt[""], t)


def test_parameters_come_back_detached(tmp_path):
    layer = torch.nn.Linear(3, 2)
    ckpt = open_checkpoint(write_pickle(tmp_path / "p.pkl", {"weight": layer.weight}))
    loaded = ckpt["weight"]
    assert not loaded.requires_grad and type(loaded) is torch.Tensor
    assert torch.equal(loaded, layer.weight.detach())


def test_names_that_collide_after_flattening_are_an_error(tmp_path):
    path = write_torch_zip(tmp_path / "dup.pt", {"a.b": torch.ones(1), "a": {"b": torch.zeros(1)}})
    with pytest.raises(CheckpointError, match=r"dup\.pt: two entries flatten to the same name 'a\.b'"):
        open_checkpoint(path)


def test_flatten_of_an_in_memory_object():
    ckpt = flatten({"G": {"w": torch.ones(2)}, "n": 1})
    assert ckpt.container == "memory" and ckpt.path is None
    assert list(ckpt) == ["G.w"] and ckpt.objects == {"n": 1}


# ------------------------------------------------------------------- saved on a GPU


def save_as_if_on_cuda(monkeypatch, save):
    """Run ``save`` with every storage tagged 'cuda:0', exactly as torch tags storages saved from a GPU."""
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        save()


@pytest.mark.parametrize("container", ["torch-zip", "torch-legacy", "pickle", "nvidia"])
def test_checkpoint_saved_from_cuda_loads_to_cpu(tmp_path, monkeypatch, container):
    tensors = {"main.0.weight": torch.randn(5, 4, 2, 2), "main.1.bias": torch.randn(4).half()}
    path = tmp_path / "cuda.ckpt"
    prefix = "G_ema." if container == "nvidia" else "netG_state_dict."

    def save():
        if container == "nvidia":
            save_nvidia_pickle(path, {"G_ema": PersistentModule.from_state_dict(tensors)})
        else:
            NESTED_WRITERS[container](path, {"netG_state_dict": tensors})

    save_as_if_on_cuda(monkeypatch, save)

    if container == "torch-zip":
        with zipfile.ZipFile(path) as archive:
            data_pkl = next(name for name in archive.namelist() if name.endswith("/data.pkl"))
            assert b"cuda:0" in archive.read(data_pkl) and b"cpu" not in archive.read(data_pkl)
    else:
        assert b"cuda:0" in path.read_bytes()
    if not torch.cuda.is_available() and container.startswith("torch"):
        with pytest.raises(RuntimeError, match="CUDA"):  # torch itself would try to put it on a GPU
            torch.load(path, weights_only=True)

    ckpt = open_checkpoint(path)
    for name, expected in tensors.items():
        loaded = ckpt[prefix + name]
        assert loaded.device.type == "cpu"
        assert torch.equal(loaded, expected)


# ------------------------------------------------------------------- memory

# VmHWM, not ru_maxrss: a child's ru_maxrss starts from the (large) forking parent's.
MEASURE = r"""
import json, sys
import sefa_zoo.loading, safetensors.torch  # the code itself is not what is measured

def peak():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))

try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # restart the high-water mark from here
except OSError:
    pass
base = peak()
ckpt = sefa_zoo.open_checkpoint(sys.argv[1])
small = ckpt[sys.argv[2]].clone()
one = peak() - base
kept = [ckpt[name] for name in ckpt]
checksum = sum(float(t.double().sum()) for t in kept)
print(json.dumps({"one": one, "all": peak() - base}))
"""

needs_proc = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="measures memory through /proc"
)


def extra_peak(path: Path, small_tensor: str) -> dict[str, int]:
    """Extra peak RSS of a fresh interpreter that opens ``path`` and reads one small tensor,
    then (as a control) every tensor."""
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), small_tensor],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def big_tensors(megabytes: int) -> dict[str, torch.Tensor]:
    tensors = {f"synthesis.b{i}.conv1.weight": torch.randn(256, 1024) for i in range(megabytes)}
    tensors["mapping.w_avg"] = torch.randn(256)  # 1 KB
    return tensors


@needs_proc
@pytest.mark.parametrize("container", ["torch-zip", "safetensors"])
def test_reading_one_tensor_does_not_materialise_the_others(tmp_path, container):
    tensors = big_tensors(48)
    path = tmp_path / "big.ckpt"
    if container == "torch-zip":
        write_torch_zip(path, {"g_ema": tensors})
        small = "g_ema.mapping.w_avg"
    else:
        save_file(tensors, str(path))
        small = "mapping.w_avg"
    del tensors
    size = path.stat().st_size
    measured = extra_peak(path, small)
    assert measured["one"] < 0.2 * size, measured
    assert measured["all"] > 0.8 * size, measured  # the control: reading everything does show up


@needs_proc
def test_pickle_peak_memory_stays_below_one_and_a_half_file_sizes(tmp_path):
    path = tmp_path / "network-snapshot.pkl"
    save_nvidia_pickle(path, {"G_ema": PersistentModule.from_state_dict(big_tensors(48))})
    size = path.stat().st_size
    measured = extra_peak(path, "G_ema.mapping.w_avg")
    assert measured["all"] < 1.5 * size, measured


# ------------------------------------------------------------------- bad files


def assert_one_line_naming(error: pytest.ExceptionInfo, path: Path) -> None:
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    assert error.value.__cause__ is None  # no chained traceback noise
    assert error.value.__context__ is None or error.value.__suppress_context__


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such file") as error:
        open_checkpoint(tmp_path / "absent.pt")
    assert_one_line_naming(error, tmp_path / "absent.pt")


def test_a_folder_without_a_checkpoint(tmp_path):
    (tmp_path / "notes.txt").write_text("no weights here")
    with pytest.raises(CheckpointError, match="no checkpoint file in this folder") as error:
        open_checkpoint(tmp_path)
    assert_one_line_naming(error, tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pt"
    path.touch()
    with pytest.raises(CheckpointError, match="is empty") as error:
        open_checkpoint(path)
    assert_one_line_naming(error, path)


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"\x00\x17garbage" + bytes(range(256)) * 4, "not a checkpoint sefa-zoo can read"),
        (b"<!DOCTYPE html><html><body>Not found</body></html>", "is an HTML page"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n", "Git LFS pointer"),
    ],
)
def test_not_a_checkpoint(tmp_path, content, expected):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=expected) as error:
        open_checkpoint(path)
    assert_one_line_naming(error, path)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_torchscript_archive_is_not_loaded(tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(path))
    with pytest.raises(CheckpointError, match="is a TorchScript archive") as error:
        open_checkpoint(path)
    assert_one_line_naming(error, path)


def test_zip_that_is_not_a_torch_archive(tmp_path):
    path = tmp_path / "images.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.txt", "hello")
    with pytest.raises(CheckpointError, match=r"is a zip archive but not a torch checkpoint") as error:
        open_checkpoint(path)
    assert_one_line_naming(error, path)


def write_each_container(folder: Path) -> dict[str, Path]:
    tensors = sample_tensors()
    paths = {
        name: writer(folder / f"whole-{name}", {"g_ema": tensors}) for name, writer in NESTED_WRITERS.items()
    }
    save_file(tensors, str(folder / "whole-safetensors"))
    paths["safetensors"] = folder / "whole-safetensors"
    paths["nvidia"] = save_nvidia_pickle(
        folder / "whole-nvidia", {"G_ema": PersistentModule.from_state_dict(tensors), "augment_pipe": None}
    )
    return paths


@pytest.mark.parametrize("fraction", [0.03, 0.5, 0.97])
def test_truncated_files_give_one_clear_error(tmp_path, fraction):
    for container, whole in write_each_container(tmp_path).items():
        data = whole.read_bytes()
        cut = tmp_path / f"cut-{container}.pt"
        cut.write_bytes(data[: max(1, int(len(data) * fraction))])
        with pytest.raises(CheckpointError) as error:
            ckpt = open_checkpoint(cut)
            for name in ckpt:
                ckpt[name]
        assert_one_line_naming(error, cut)
        message = str(error.value)
        assert "truncated" in message or "not a checkpoint" in message, (container, message)
        assert not isinstance(error.value, UnsafeCheckpointError), (container, error.value)


# ------------------------------------------------------------------- malicious files


class RunsShell:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class RunsPython:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


class RunsSubprocess:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (subprocess.call, (["touch", str(self.marker)],))


PAYLOADS = {
    RunsShell: f"{os.system.__module__}.system",
    RunsPython: "builtins.exec",
    RunsSubprocess: "subprocess.call",
}


@pytest.mark.parametrize("payload", list(PAYLOADS), ids=lambda c: c.__name__)
@pytest.mark.parametrize("container", ["torch-zip", "torch-legacy", "pickle", "pickle-protocol-2"])
def test_forbidden_global_is_refused_and_nothing_runs(tmp_path, container, payload):
    marker = tmp_path / "pwned"
    obj = {"g_ema": {"w": torch.ones(3)}, "args": payload(marker)}
    path = tmp_path / "evil.pt"
    if container == "pickle-protocol-2":
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=2)
    else:
        NESTED_WRITERS[container](path, obj)
    assert not marker.exists()
    with pytest.raises(UnsafeCheckpointError) as error:
        open_checkpoint(path)
    assert str(error.value) == (
        f"{path}: refuses to load global '{PAYLOADS[payload]}' (not on the allow-list); "
        "nothing from the file was run"
    )
    assert not marker.exists()


def test_forbidden_global_hidden_in_a_storage_blob_is_refused(tmp_path):
    """A pickle whose tensor storage blob itself names a forbidden global."""
    marker = tmp_path / "pwned"
    blob_path = write_torch_legacy(tmp_path / "blob", RunsShell(marker))

    class EvilStorage:
        def __reduce__(self):
            return (torch.storage._load_from_bytes, (blob_path.read_bytes(),))

    path = write_pickle(tmp_path / "evil.pkl", {"w": EvilStorage()})
    with pytest.raises(UnsafeCheckpointError, match=r"evil\.pkl: refuses to load global '\w+\.system'"):
        open_checkpoint(path)
    assert not marker.exists()


def test_torch_load_is_never_called(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("torch.load called")

    monkeypatch.setattr(torch, "load", refuse)
    tensors = {"w": torch.randn(3)}
    for path in (write_torch_zip(tmp_path / "a", tensors), write_torch_legacy(tmp_path / "b", tensors)):
        assert torch.equal(open_checkpoint(path)["w"], tensors["w"])


def test_search_prefixes_takes_the_first_that_holds_one_and_else_the_reason_of_the_first_present():
    checkpoint = Checkpoint.from_tensors({"g.a": torch.zeros(1), "d.a": torch.zeros(2)})

    def check(prefix):
        return ("found", prefix) if prefix == "d." and prefix + "a" in checkpoint else f"no luck under {prefix!r}"

    assert checkpoint.search_prefixes(["x.", "g.", "d."], check, "a toy") == ("found", "d.")
    with pytest.raises(LayoutError, match=r"^<memory checkpoint>: not a toy: no luck under 'g\.'$"):
        checkpoint.search_prefixes(["x.", "g."], check, "a toy")
    with pytest.raises(LayoutError, match="not a toy: it holds no tensors"):
        checkpoint.search_prefixes(["x."], check, "a toy")
