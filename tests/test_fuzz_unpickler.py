"""Fuzzing the loaders: random and mutated pickles, torch zips and legacy files give a
checkpoint or a one-line CheckpointError — never another exception, a crash, a hang, or a
changed process."""

from __future__ import annotations

import pickle
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sefa_zoo import CheckpointError, open_checkpoint
from sefa_zoo.testing import PersistentModule, TFNetworkSpec, save_nvidia_pickle, tf_pickle_bytes

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_FOLDER = Path(tempfile.mkdtemp(prefix="sefa-zoo-fuzz-"))
_REBUILD_DEFAULTS = torch._utils._rebuild_tensor_v2.__defaults__


def _seed_files() -> dict[str, bytes]:
    tensors = {"w": torch.arange(12.0).reshape(3, 4), "b": torch.ones(2, dtype=torch.float16)}
    obj = {"g_ema": tensors, "args": {"lr": 0.002, "size": 8}, "np": np.arange(3, dtype=np.int32),
           "opt": OrderedDict(step=1)}
    seeds = {}
    for name, zip_format in (("torch-zip", True), ("torch-legacy", False)):
        path = _FOLDER / f"seed-{name}"
        torch.save(obj, path, _use_new_zipfile_serialization=zip_format)
        seeds[name] = path.read_bytes()
    seeds["pickle-4"] = pickle.dumps(obj, protocol=4)
    seeds["pickle-2"] = pickle.dumps(obj, protocol=2)
    nvidia = save_nvidia_pickle(_FOLDER / "seed-nvidia", {"G_ema": PersistentModule.from_state_dict(tensors)})
    seeds["nvidia"] = nvidia.read_bytes()
    synthesis = TFNetworkSpec("G_synthesis", "G_synthesis_stylegan2", {"4x4/Conv/w": tensors["w"].numpy()})
    gs = TFNetworkSpec("Gs", "G_main", {"dlatent_avg": np.arange(3, dtype=np.float32)}, {"synthesis": synthesis},
                       {"resolution": 8, "resample_kernel": [1, 3, 3, 1]})
    for protocol in (2, 3, 4):
        seeds[f"tf-pickle-{protocol}"] = tf_pickle_bytes((gs, TFNetworkSpec("D", "D_stylegan2"), gs), protocol=protocol)
    return seeds


SEEDS = _seed_files()


def assert_loads_or_refuses(data: bytes) -> None:
    path = _FOLDER / "case"
    path.write_bytes(data)
    try:
        checkpoint = open_checkpoint(path)
        for name in checkpoint:
            checkpoint[name]
        repr(checkpoint.objects)
    except CheckpointError as error:
        message = str(error)
        assert "\n" not in message and message.startswith(f"{path}: ")
        assert "MemoryError" not in message and "RecursionError" not in message, message
    assert torch._utils._rebuild_tensor_v2.__defaults__ == _REBUILD_DEFAULTS


@FUZZ
@given(body=st.binary(max_size=400), version=st.integers(2, 5))
def test_random_pickles(body, version):
    assert_loads_or_refuses(bytes([0x80, version]) + body)


@FUZZ
@given(body=st.lists(st.sampled_from(sorted({bytes([code]) for code in pickle._Unpickler.dispatch})), max_size=60),
       filler=st.binary(max_size=16))
def test_random_opcode_sequences(body, filler):
    assert_loads_or_refuses(b"\x80\x04" + b"".join(op + filler[: i % 5] for i, op in enumerate(body)) + b".")


TF_HEADS = [b"\x80\x02cdnnlib.tflib.network\nNetwork\n", b"\x80\x04\x8c\x14dnnlib.tflib.network\x8c\x07Network\x93"]


@FUZZ
@given(head=st.sampled_from(TF_HEADS),
       body=st.lists(st.sampled_from(sorted({bytes([code]) for code in pickle._Unpickler.dispatch})), max_size=60),
       filler=st.binary(max_size=16))
def test_random_opcodes_after_the_tensorflow_network_class(head, body, filler):
    # The head sends the file to the TensorFlow reader; what follows is anything.
    assert_loads_or_refuses(head + b"".join(op + filler[: i % 5] for i, op in enumerate(body)) + b".")


@FUZZ
@given(seed=st.sampled_from(sorted(SEEDS)), data=st.data())
def test_mutated_real_files(seed, data):
    original = SEEDS[seed]
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, len(mutated) - 1))
        action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if action == "flip":
            mutated[position] = data.draw(st.integers(0, 255))
        elif action == "insert":
            mutated[position:position] = data.draw(st.binary(min_size=1, max_size=8))
        elif len(mutated) > 2:
            del mutated[position]
    if data.draw(st.booleans()):
        mutated = mutated[: data.draw(st.integers(1, len(mutated)))]
    assert_loads_or_refuses(bytes(mutated))


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_the_seed_files_themselves_load(seed):
    path = _FOLDER / f"ok-{seed}"
    path.write_bytes(SEEDS[seed])
    checkpoint = open_checkpoint(path)
    assert any(name.endswith("w") for name in checkpoint)
