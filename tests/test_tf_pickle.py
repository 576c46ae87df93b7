"""NVIDIA's TensorFlow network pickles, read without TensorFlow or dnnlib (sefa_zoo.tf_pickle),
and the writer in sefa_zoo.testing."""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sefa_zoo import CheckpointError, UnsafeCheckpointError, open_checkpoint
from sefa_zoo.loading import container_of
from sefa_zoo.testing import PersistentModule, TFNetworkSpec, save_nvidia_pickle, save_tf_pickle, tf_pickle_bytes
from support.hostile_files import global_, text, tf_network, tf_pickle, tf_state

PROTOCOLS = (2, 3, 4)


def networks(build_module_src: str | None = None) -> tuple[TFNetworkSpec, TFNetworkSpec, TFNetworkSpec]:
    rng = np.random.default_rng(0)
    synthesis = TFNetworkSpec("G_synthesis", "G_synthesis_stylegan2", {
        "noise0": rng.standard_normal((1, 1, 4, 4), dtype=np.float32),
        "4x4/Conv/weight": rng.standard_normal((3, 3, 4, 2), dtype=np.float32),
        "4x4/Conv/noise_strength": np.float32(0.5) * np.ones((), np.float32),
    })
    mapping = TFNetworkSpec("G_mapping", "G_mapping", {"Dense0/weight": np.asfortranarray(np.eye(3, dtype=np.float64))},
                            static_kwargs={"dlatent_broadcast": 2})
    gs = TFNetworkSpec("Gs", "G_main", {"lod": np.zeros((), np.float32), "dlatent_avg": np.arange(3, dtype=np.float32)},
                       {"synthesis": synthesis, "mapping": mapping}, static_kwargs={"resolution": 8, "label_size": 0})
    d = TFNetworkSpec("D", "D_stylegan2", {"Output/bias": np.zeros(1, np.float32)})
    if build_module_src is not None:
        for spec in (synthesis, mapping, gs, d):
            spec.build_module_src = build_module_src
    return gs, d, gs


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_variables_and_settings_read_back_under_flattened_names(tmp_path, protocol):
    g, d, gs = networks()
    path = save_tf_pickle(tmp_path / "stylegan2.pkl", (g, d, gs), protocol=protocol)
    assert path.read_bytes()[:2] == bytes([0x80, protocol])
    checkpoint = open_checkpoint(path)
    assert checkpoint.container == "tf-pickle"
    names = [name for name in checkpoint if name.startswith("Gs.")]
    assert names == ["Gs.lod", "Gs.dlatent_avg", "Gs.synthesis.noise0", "Gs.synthesis.4x4/Conv/weight",
                     "Gs.synthesis.4x4/Conv/noise_strength", "Gs.mapping.Dense0/weight"]
    for network, prefix in ((gs, "Gs."), (gs.components["synthesis"], "Gs.synthesis."),
                            (gs.components["mapping"], "Gs.mapping.")):
        for name, array in network.variables.items():
            tensor = checkpoint[prefix + name]
            assert tensor.dtype == torch.from_numpy(np.asarray(array)).dtype
            np.testing.assert_array_equal(tensor.numpy(), array)
    assert checkpoint.objects["Gs._static_kwargs"] == {"resolution": 8, "label_size": 0}
    assert checkpoint.objects["Gs.mapping._static_kwargs"] == {"dlatent_broadcast": 2}
    assert (checkpoint.objects["Gs._name"], checkpoint.objects["Gs._version"]) == ("Gs", 4)
    assert checkpoint.objects["Gs.synthesis._build_func_name"] == "G_synthesis_stylegan2"
    assert checkpoint["D.Output/bias"].shape == (1,)


def test_the_writer_names_numpy_as_numpy_1_did(tmp_path):
    data = tf_pickle_bytes(networks(), protocol=3)
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in data and b"numpy._core" not in data
    assert data.startswith(b"\x80\x03cdnnlib.tflib.network\nNetwork\n")


def test_numpy_2_names_are_read_too(tmp_path):
    data = tf_pickle_bytes(networks(), protocol=3).replace(b"cnumpy.core.multiarray\n", b"cnumpy._core.multiarray\n")
    path = tmp_path / "numpy2.pkl"
    path.write_bytes(data)
    assert open_checkpoint(path)["Gs.dlatent_avg"].tolist() == [0, 1, 2]


def test_container_detection_tells_tensorflow_from_pytorch_pickles(tmp_path):
    tf = save_tf_pickle(tmp_path / "tf.pkl", networks(), protocol=4)
    nvidia = save_nvidia_pickle(tmp_path / "nvidia.pkl", {"G_ema": PersistentModule.from_state_dict({"w": torch.ones(1)})})
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"w": np.ones(1)}, protocol=2))
    assert [container_of(p) for p in (tf, nvidia, plain)] == ["tf-pickle", "pickle", "pickle"]


# -------------------------------------------------------------------- nothing from the file runs


def test_build_module_src_is_never_run(tmp_path):
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').write('build_module_src ran')\nraise SystemExit(3)\n"
    path = save_tf_pickle(tmp_path / "code.pkl", networks(build_module_src=source))
    checkpoint = open_checkpoint(path)
    for name in checkpoint:
        checkpoint[name]
    assert not marker.exists()
    assert not any(source in repr(value) for value in checkpoint.objects.values())  # not even exposed
    assert checkpoint["Gs.dlatent_avg"].tolist() == [0, 1, 2]


def reduce_call(module: str, name: str, argument: str) -> bytes:
    return global_(module, name) + text(argument) + pickle.TUPLE1 + pickle.REDUCE


RUNNERS = [
    ("builtins", "exec"), ("builtins", "eval"), ("builtins", "compile"), ("builtins", "__import__"),
    ("os", "system"), ("subprocess", "Popen"), ("importlib", "import_module"),
    ("dnnlib.tflib.network", "_import_module"), ("dnnlib.tflib.tfutil", "run"), ("dnnlib.util", "call_func_by_name"),
    ("numpy", "load"), ("torch._utils", "_rebuild_tensor_v2"), ("torch.storage", "_load_from_bytes"),
    ("torch_utils.persistence", "_reconstruct_persistent_obj"), ("builtins", "getattr"), ("copyreg", "_reconstructor"),
]


@pytest.mark.parametrize("module,name", RUNNERS)
def test_every_other_global_is_refused_before_anything_runs(tmp_path, module, name):
    marker = tmp_path / "ran"
    payload = reduce_call(module, name, f"open({str(marker)!r}, 'w')")
    path = tmp_path / "hostile.pkl"
    path.write_bytes(tf_pickle(tf_state(text("build_module_src") + payload + pickle.SETITEM)))
    assert container_of(path) == "tf-pickle"
    with pytest.raises(UnsafeCheckpointError, match=rf"refuses to load global '{module}\.{name}'") as error:
        open_checkpoint(path)
    assert "\n" not in str(error.value) and "nothing from the file was run" in str(error.value)
    assert not marker.exists()


def test_the_network_class_is_made_only_empty_and_filled_only_by_its_state(tmp_path):
    called = tf_pickle(b"", 2).replace(  # Network("...") through REDUCE instead of NEWOBJ
        tf_network(tf_state()), global_("dnnlib.tflib.network", "Network") + text("x") + pickle.TUPLE1 + pickle.REDUCE, 1)
    built = tf_pickle(b"", 2).replace(  # BUILD on the class itself
        tf_network(tf_state()), global_("dnnlib.tflib.network", "Network") + tf_state() + pickle.BUILD, 1)
    for i, data in enumerate((called, built)):
        path = tmp_path / f"network{i}.pkl"
        path.write_bytes(data)
        with pytest.raises(CheckpointError) as error:
            open_checkpoint(path)
        assert "\n" not in str(error.value)


# -------------------------------------------------------------------- bad files, one line each


def variable(name: str, array_opcodes: bytes) -> bytes:
    return pickle.EMPTY_LIST + text(name) + array_opcodes + pickle.TUPLE2 + pickle.APPEND


def array_opcodes(shape: tuple[int, ...], data: bytes) -> bytes:
    dtype = (global_("numpy", "dtype") + text("f4") + pickle.NEWFALSE + pickle.NEWTRUE + pickle.TUPLE3
             + pickle.REDUCE + pickle.MARK + pickle.BININT1 + b"\x03" + text("<") + pickle.NONE + pickle.NONE
             + pickle.NONE + pickle.BININT1 + b"\x04" + pickle.BININT1 + b"\x04" + pickle.BININT1 + b"\x00"
             + pickle.TUPLE + pickle.BUILD)
    dims = b"".join(pickle.BININT + struct.pack("<i", n) for n in shape)
    return (global_("numpy.core.multiarray", "_reconstruct") + global_("numpy", "ndarray")
            + pickle.BININT1 + b"\x00" + pickle.TUPLE1 + pickle.SHORT_BINBYTES + b"\x01b" + pickle.TUPLE3
            + pickle.REDUCE + pickle.MARK + pickle.BININT1 + b"\x01" + pickle.MARK + dims + pickle.TUPLE + dtype
            + pickle.NEWFALSE + pickle.BINBYTES + struct.pack("<I", len(data)) + data + pickle.TUPLE + pickle.BUILD)


def test_hand_made_arrays_read_as_numpy_writes_them(tmp_path):
    data = np.arange(6, dtype="<f4").tobytes()
    path = tmp_path / "ok.pkl"
    path.write_bytes(tf_pickle(tf_state(variables=variable("w", array_opcodes((2, 3), data))), 3))
    assert open_checkpoint(path)["Gs.w"].tolist() == [[0, 1, 2], [3, 4, 5]]


@pytest.mark.parametrize("shape,data,message", [
    ((100,), b"\0" * 8, "does not match its 8 bytes"),  # a shape the bytes do not hold
    ((2, 3), b"\0" * 4, "does not match its 4 bytes"),
    ((1_000_000_000,), b"\0" * 8, "not a list of sizes within the file"),
    ((0, 2_000_000_000), b"", "not a list of sizes within the file"),  # no bytes, yet a huge claimed size
])
def test_arrays_must_hold_the_bytes_their_shape_claims(tmp_path, shape, data, message):
    path = tmp_path / "claims.pkl"
    path.write_bytes(tf_pickle(tf_state(variables=variable("w", array_opcodes(shape, data))), 3))
    with pytest.raises(CheckpointError, match=message) as error:
        open_checkpoint(path)
    assert "\n" not in str(error.value)


def test_a_byte_string_longer_than_the_file_is_refused_before_it_is_allocated(tmp_path):
    claim = pickle.BINBYTES8 + struct.pack("<Q", 1 << 50)
    path = tmp_path / "long.pkl"
    path.write_bytes(tf_pickle(tf_state(text("x") + claim + pickle.SETITEM), 4))
    with pytest.raises(CheckpointError, match="claims 1125899906842624 bytes"):
        open_checkpoint(path)


CYCLE = text("components") + pickle.EMPTY_DICT + text("self") + pickle.BINGET + b"\x01" + pickle.SETITEM + pickle.SETITEM


@pytest.mark.parametrize("gs_state,message", [
    (tf_state(text("variables") + pickle.EMPTY_DICT + pickle.SETITEM), "Gs's variables are not"),
    (tf_state(text("variables") + pickle.MARK + text("w") + pickle.BININT1 + b"\x01" + pickle.TUPLE
              + pickle.TUPLE1 + pickle.SETITEM), "Gs's variables are not"),
    (tf_state(text("components") + pickle.EMPTY_DICT + text("synthesis") + pickle.BININT1 + b"\x01"
              + pickle.SETITEM + pickle.SETITEM), "Gs's components are not TensorFlow networks"),
    (tf_state(text("static_kwargs") + pickle.EMPTY_LIST + pickle.SETITEM), "static_kwargs is not a dict"),
    (tf_state(text("version") + text("4") + pickle.SETITEM), "no integer version"),
    (pickle.EMPTY_DICT, "TensorFlow network 'Gs' has no 'version'"),
])
def test_malformed_networks_are_named(tmp_path, gs_state, message):
    path = tmp_path / "bad.pkl"
    path.write_bytes(tf_pickle(gs_state))
    with pytest.raises(CheckpointError, match=message) as error:
        open_checkpoint(path)
    assert "\n" not in str(error.value) and str(error.value).startswith(str(path))


def test_a_network_that_contains_itself_is_refused(tmp_path):
    # Gs's state, as its own component: BINPUT 1 is the network the NEWOBJ made.
    network = (global_("dnnlib.tflib.network", "Network") + pickle.EMPTY_TUPLE + pickle.NEWOBJ
               + pickle.BINPUT + b"\x01" + tf_state(CYCLE) + pickle.BUILD)
    plain = tf_network(tf_state())
    path = tmp_path / "cycle.pkl"
    path.write_bytes(b"\x80\x02" + plain + plain + network + pickle.TUPLE3 + pickle.STOP)
    with pytest.raises(CheckpointError, match="refers to itself"):
        open_checkpoint(path)


@pytest.mark.parametrize("tree", [
    pickle.EMPTY_TUPLE, pickle.EMPTY_DICT,
    tf_network(tf_state()),
    tf_network(tf_state()) + tf_network(tf_state()) + pickle.TUPLE2,
    tf_network(tf_state()) + tf_network(tf_state()) + pickle.EMPTY_DICT + pickle.TUPLE3,
])
def test_anything_but_the_three_networks_is_refused(tmp_path, tree):
    path = tmp_path / "tree.pkl"
    path.write_bytes(b"\x80\x02" + tf_network(tf_state()) + pickle.POP + tree + pickle.STOP)
    with pytest.raises(CheckpointError, match=r"not the tuple \(G, D, Gs\)"):
        open_checkpoint(path)


def test_big_endian_and_read_only_arrays_become_native_tensors(tmp_path):
    g, d, gs = networks()
    gs.variables["dlatent_avg"] = np.arange(3, dtype=">f4")
    path = save_tf_pickle(tmp_path / "be.pkl", (g, d, gs), protocol=2)  # protocol 2 spells bytes as text
    tensor = open_checkpoint(path)["Gs.dlatent_avg"]
    assert tensor.tolist() == [0, 1, 2] and tensor.dtype == torch.float32


# -------------------------------------------------------------------- cost


MEASURE = r"""
import json, sys
import sefa_zoo.loading, torch  # the code itself is not what is measured (checkpoint[...] imports torch)

def peak():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))

try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
except OSError:
    pass
base = peak()
checkpoint = sefa_zoo.open_checkpoint(sys.argv[1])
total = sum(float(checkpoint[name].double().sum()) for name in checkpoint)
print(json.dumps({"all": peak() - base}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="measures memory through /proc")
def test_peak_memory_stays_below_one_and_a_half_file_sizes(tmp_path):
    rng = np.random.default_rng(0)
    variables = {f"{4 << i}x{4 << i}/Conv1/weight": rng.standard_normal((256, 1024), dtype=np.float32)
                 for i in range(48)}
    gs = TFNetworkSpec("Gs", "G_main", {"dlatent_avg": np.zeros(8, np.float32)},
                       {"synthesis": TFNetworkSpec("G_synthesis", "G_synthesis_stylegan2", variables)})
    small = TFNetworkSpec("D", "D_stylegan2")
    path = save_tf_pickle(tmp_path / "big.pkl", (small, small, gs), protocol=3)
    del variables, gs
    out = subprocess.run([sys.executable, "-c", MEASURE, str(path)], check=True, capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    assert measured["all"] < 1.5 * path.stat().st_size, measured
