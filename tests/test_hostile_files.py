"""Hostile checkpoints: each attack found against the loaders is refused with one line, runs
nothing, changes nothing in the process, and costs work in proportion to the file's bytes."""

from __future__ import annotations

import pickle
import struct
import time
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from support.hostile_files import CONTAINERS, global_, in_dict, legacy_file, proto, text, write
from safetensors.torch import save_file

import sefa_zoo
from sefa_zoo import CheckpointError, SefaZooError, UnsafeCheckpointError, open_checkpoint


def assert_one_line(error: pytest.ExceptionInfo, path: Path) -> str:
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    return message


def read_everything(path: Path) -> None:
    checkpoint = open_checkpoint(path)
    for name in checkpoint:
        checkpoint[name]
    repr(checkpoint.objects)


@pytest.fixture
def good_file(tmp_path):
    path = tmp_path / "good.pt"
    torch.save({"w": torch.arange(6.0).reshape(2, 3)}, path)
    return path


# 1. A file must not change the process: BUILD and the item opcodes only touch what the reader made.

TARGETS = {
    "function": global_("torch._utils", "_rebuild_tensor_v2"),
    "class": global_("collections", "OrderedDict"),
    "dtype": global_("torch", "float32"),
    "builtin": global_("builtins", "set"),
}
DEFAULTS_STATE = pickle.EMPTY_DICT + text("__defaults__") + pickle.EMPTY_TUPLE + pickle.SETITEM


@pytest.mark.parametrize("container", CONTAINERS)
@pytest.mark.parametrize("target", list(TARGETS))
def test_build_on_a_global_is_refused_and_the_process_stays_intact(tmp_path, good_file, container, target):
    defaults = torch._utils._rebuild_tensor_v2.__defaults__
    poisoned = in_dict("G_ema", TARGETS[target] + DEFAULTS_STATE + pickle.BUILD)
    slot_state = pickle.NONE + DEFAULTS_STATE + pickle.TUPLE2  # (None, {...}): the setattr path
    poisoned_slots = in_dict("G_ema", TARGETS[target] + slot_state + pickle.BUILD)
    for i, payload in enumerate((poisoned, poisoned_slots)):
        path = write(tmp_path / f"poison{i}.pt", proto(payload), container)
        with pytest.raises(UnsafeCheckpointError, match="BUILD on") as error:
            open_checkpoint(path)
        assert_one_line(error, path)
    assert torch._utils._rebuild_tensor_v2.__defaults__ == defaults
    assert torch.equal(open_checkpoint(good_file)["w"], torch.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize("target", [("dnnlib.tflib.network", "Network"), ("dnnlib.util", "EasyDict"),
                                    ("numpy.core.multiarray", "_reconstruct"), ("_codecs", "encode")])
def test_build_on_a_global_of_a_tensorflow_pickle_is_refused(tmp_path, target):
    path = write(tmp_path / "poison.pkl", proto(in_dict("x", global_(*target) + DEFAULTS_STATE + pickle.BUILD)),
                 "tf-pickle")
    with pytest.raises(UnsafeCheckpointError, match="BUILD on") as error:
        open_checkpoint(path)
    assert_one_line(error, path)


@pytest.mark.parametrize("opcode", ["SETITEM", "APPEND", "ADDITEMS"])
def test_item_opcodes_on_a_global_are_refused(tmp_path, opcode):
    mutate = {
        "SETITEM": text("k") + text("v") + pickle.SETITEM,
        "APPEND": text("v") + pickle.APPEND,
        "ADDITEMS": pickle.MARK + text("v") + pickle.ADDITEMS,
    }[opcode]
    path = write(tmp_path / "mutate.pkl", proto(in_dict("x", global_("builtins", "set") + mutate), 4), "pickle")
    with pytest.raises(UnsafeCheckpointError, match=opcode):
        open_checkpoint(path)


def test_newobj_and_reduce_make_only_allowed_things(tmp_path):
    tensor_new = global_("torch", "Tensor") + pickle.EMPTY_TUPLE + pickle.NEWOBJ
    tensor_call = global_("torch", "Tensor") + pickle.BININT + struct.pack("<i", 10**9) + pickle.TUPLE1 + pickle.REDUCE
    for i, body in enumerate((tensor_new, tensor_call)):
        path = write(tmp_path / f"new{i}.pkl", proto(in_dict("x", body)), "pickle")
        with pytest.raises(UnsafeCheckpointError, match="NEWOBJ|REDUCE"):
            open_checkpoint(path)


# 2. numpy: only plain numeric dtypes, built from a type code, never from dtype state in the file.


@pytest.mark.parametrize("value", [
    np.zeros(2, dtype=[("a", "<f8"), ("b", "<i8")]),  # structured: the forged-pointer attack's tool
    np.array([1, None], dtype=object),
    np.zeros(3, dtype="V8"),
])
def test_numpy_values_that_are_not_plain_numbers_are_refused(tmp_path, value):
    path = tmp_path / "np.pkl"
    path.write_bytes(pickle.dumps({"w": torch.ones(1), "x": value}, protocol=2))
    with pytest.raises(UnsafeCheckpointError) as error:
        read_everything(path)
    assert_one_line(error, path)


def test_dtype_state_from_the_file_is_never_applied(tmp_path):
    # float64's constructor with the state of an object-holding structured dtype (fields, flags)
    fields = pickle.EMPTY_DICT + text("a") + global_("numpy", "dtype") + text("O8") + pickle.NEWFALSE \
        + pickle.NEWTRUE + pickle.TUPLE3 + pickle.REDUCE + pickle.BININT1 + b"\x00" + pickle.TUPLE2 + pickle.SETITEM
    state = (pickle.MARK + pickle.BININT1 + b"\x03" + text("<") + pickle.NONE + pickle.MARK + text("a")
             + pickle.TUPLE + fields + pickle.BININT1 + b"\x08" + pickle.BININT1 + b"\x01" + pickle.BININT1
             + b"\x3f" + pickle.TUPLE)
    forged = (global_("numpy", "dtype") + text("f8") + pickle.NEWFALSE + pickle.NEWTRUE + pickle.TUPLE3
              + pickle.REDUCE + state + pickle.BUILD)
    path = write(tmp_path / "forged.pkl", proto(in_dict("x", forged)), "pickle")
    with pytest.raises(UnsafeCheckpointError):
        read_everything(path)


def test_plain_numpy_values_still_load(tmp_path):
    values = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "f": np.asfortranarray(np.eye(3)),
              "s": np.int64(7), "b": np.array([True, False])}
    path = tmp_path / "np.pkl"
    path.write_bytes(pickle.dumps({"w": torch.ones(1), "values": values}, protocol=4))
    loaded = open_checkpoint(path).objects["values"]
    for key, value in values.items():
        np.testing.assert_array_equal(loaded[key], value)
        assert np.asarray(loaded[key]).dtype == np.asarray(value).dtype


# 3. Bombs: work and memory in proportion to the file's bytes.


def exponential_list(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value, value]
    return value


@pytest.mark.parametrize("container", CONTAINERS)
def test_shared_references_that_expand_exponentially_are_refused_quickly(tmp_path, container):
    obj = {"w": torch.ones(2), "bomb": exponential_list(60)}
    path = tmp_path / "bomb.pt"
    if container == "pickle":
        path.write_bytes(pickle.dumps(obj, protocol=4))
    else:
        torch.save(obj, path, _use_new_zipfile_serialization=container == "torch-zip")
    assert path.stat().st_size < 10_000
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="expand to more than") as error:
        open_checkpoint(path)
    assert time.perf_counter() - start < 5
    assert_one_line(error, path)


def test_shared_references_in_a_tensorflow_pickle_are_refused_quickly(tmp_path):
    get, put = pickle.BINGET + b"\x00", pickle.BINPUT + b"\x00" + pickle.POP
    doubling = pickle.MARK + get + get + pickle.LIST + put  # memo 0 = [memo 0, memo 0]
    path = write(tmp_path / "bomb.pkl", proto(pickle.EMPTY_LIST + put + doubling * 60 + get), "tf-pickle")
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="expand to more than") as error:
        open_checkpoint(path)
    assert time.perf_counter() - start < 5
    assert_one_line(error, path)


def test_moderate_sharing_within_the_files_size_is_fine(tmp_path):
    shared = {"lr": 0.1}
    path = tmp_path / "shared.pkl"
    path.write_bytes(pickle.dumps({"w": torch.ones(2), "groups": [shared] * 20}, protocol=4))
    assert open_checkpoint(path).objects["groups"] == [{"lr": 0.1}] * 20


@pytest.mark.parametrize("container", [*CONTAINERS, "tf-pickle"])
def test_deep_nesting_is_refused_without_a_recursion_error(tmp_path, container):
    depth = 100_000
    deep = pickle.MARK * depth + pickle.EMPTY_LIST + pickle.LIST * depth  # [[[...]]]
    path = write(tmp_path / "deep.pt", proto(in_dict("x", deep)), container)
    with pytest.raises(CheckpointError, match="nested more than") as error:
        read_everything(path)
    assert_one_line(error, path)


@pytest.mark.parametrize("container", [*CONTAINERS, "tf-pickle"])
def test_a_cyclic_structure_is_refused(tmp_path, container):
    cycle = pickle.EMPTY_LIST + pickle.BINPUT + b"\x00" + pickle.BINGET + b"\x00" + pickle.APPEND
    path = write(tmp_path / "cycle.pt", proto(cycle), container)
    assert path.stat().st_size < 1000
    with pytest.raises(CheckpointError, match="refers to itself") as error:
        read_everything(path)
    assert_one_line(error, path)


def test_calls_that_copy_a_shared_value_again_and_again_are_bounded(tmp_path):
    big = pickle.EMPTY_LIST + pickle.MARK + pickle.BININT1 + b"\x01" * 1 + b"".join(
        pickle.BININT2 + struct.pack("<H", i) for i in range(20_000)) + pickle.APPENDS
    copies = (global_("builtins", "set") + pickle.BINGET + b"\x00" + pickle.TUPLE1 + pickle.REDUCE + pickle.POP) * 5_000
    payload = proto(big + pickle.BINPUT + b"\x00" + copies)
    path = write(tmp_path / "copies.pkl", payload, "pickle")
    start = time.perf_counter()
    with pytest.raises(UnsafeCheckpointError, match="would cost more than"):
        open_checkpoint(path)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("opcode", [pickle.BINBYTES8, pickle.BINUNICODE8, pickle.BYTEARRAY8])
def test_a_claimed_length_beyond_the_file_allocates_nothing(tmp_path, opcode):
    path = write(tmp_path / "claims.pkl", pickle.PROTO + b"\x05" + opcode + struct.pack("<Q", 1 << 60) + b"xx",
                 "pickle")
    with pytest.raises(CheckpointError, match="claims 1152921504606846976 bytes") as error:
        open_checkpoint(path)
    assert not isinstance(error.value, UnsafeCheckpointError)


def test_huge_integers_are_refused(tmp_path):
    for i, number in enumerate((pickle.LONG4 + struct.pack("<i", 5000) + b"\x01" * 5000,
                                pickle.INT + b"9" * 5000 + b"\n")):
        path = write(tmp_path / f"int{i}.pkl", proto(in_dict("n", number)), "pickle")
        with pytest.raises(CheckpointError) as error:
            open_checkpoint(path)
        assert_one_line(error, path)


@pytest.mark.parametrize("rows, refusal", [(10**9, "claims a size of 1000000000"), (1000, "expanded or overlapping")])
@pytest.mark.parametrize("container", ["pickle", "torch-zip", "torch-legacy"])
def test_an_expanded_view_claiming_rows_the_file_lacks_is_refused(tmp_path, container, rows, refusal):
    obj = {"A": torch.ones(1, 512).expand(rows, 512)}
    path = tmp_path / "expanded.pt"
    if container == "pickle":
        path.write_bytes(pickle.dumps(obj, protocol=4))
    else:
        torch.save(obj, path, _use_new_zipfile_serialization=container == "torch-zip")
    assert path.stat().st_size > rows or rows > 10**6
    with pytest.raises(CheckpointError, match=refusal) as error:
        open_checkpoint(path)
    assert_one_line(error, path)


@pytest.mark.parametrize("container", ["pickle", "torch-zip", "torch-legacy", "safetensors"])
def test_an_empty_tensor_claiming_a_huge_dimension_is_refused(tmp_path, container):
    obj = {"A": torch.empty(2**40, 0)}
    path = tmp_path / "empty.pt"
    if container == "pickle":
        path.write_bytes(pickle.dumps(obj, protocol=4))
    elif container == "safetensors":
        save_file(obj, str(path))
    else:
        torch.save(obj, path, _use_new_zipfile_serialization=container == "torch-zip")
    with pytest.raises(CheckpointError, match="claims a size of 1099511627776") as error:
        open_checkpoint(path)
    assert_one_line(error, path)


def test_a_legacy_storage_claiming_more_than_the_file_holds_allocates_nothing(tmp_path):
    storage_id = (pickle.MARK + text("storage") + global_("torch", "FloatStorage") + text("0") + text("cpu")
                  + pickle.LONG1 + b"\x06" + (10**12).to_bytes(6, "little") + pickle.NONE + pickle.TUPLE
                  + pickle.BINPERSID)
    tensor = (global_("torch._utils", "_rebuild_tensor_v2") + pickle.MARK + storage_id + pickle.BININT1 + b"\x00"
              + pickle.MARK + pickle.LONG1 + b"\x06" + (10**12).to_bytes(6, "little") + pickle.TUPLE
              + pickle.MARK + pickle.BININT1 + b"\x01" + pickle.TUPLE + pickle.NEWFALSE
              + global_("collections", "OrderedDict") + pickle.EMPTY_TUPLE + pickle.REDUCE + pickle.TUPLE
              + pickle.REDUCE)
    path = legacy_file(tmp_path / "claims.pt", proto(in_dict("A", tensor)), ["0"],
                       (10**12).to_bytes(8, "little") + b"\x00" * 16)
    with pytest.raises(CheckpointError, match="cut short") as error:
        open_checkpoint(path)
    assert_one_line(error, path)


def test_a_compressed_zip_member_is_refused_before_it_is_inflated(tmp_path, good_file):
    bomb = tmp_path / "bomb.pt"
    with zipfile.ZipFile(good_file) as src, zipfile.ZipFile(bomb, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("data.pkl"):
                data = data[:-1] + b"N" * 50_000_000 + data[-1:]  # 50 MB of NONE opcodes, ~50 kB deflated
            dst.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 1_000_000
    with pytest.raises(CheckpointError, match="is compressed") as error:
        open_checkpoint(bomb)
    assert_one_line(error, bomb)


def test_a_zip_whose_local_header_disagrees_with_its_directory_is_refused(tmp_path, good_file):
    data = bytearray(good_file.read_bytes())
    with zipfile.ZipFile(good_file) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith("data.pkl"))
    data[info.header_offset + 8 : info.header_offset + 10] = (8).to_bytes(2, "little")  # deflate, locally
    lying = tmp_path / "lying.pt"
    lying.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="is compressed"):
        open_checkpoint(lying)


def test_a_layer_index_of_a_billion_in_a_tensor_name_costs_nothing(tmp_path):
    tensors = {f"synthesis.layer{i}.style.weight": torch.randn(8, 4) for i in (0, 10**9)}
    tensors[f"synthesis.layer{'9' * 5000}.style.weight"] = torch.randn(8, 4)
    path = tmp_path / "names.safetensors"
    save_file(tensors, str(path))
    start = time.perf_counter()
    with pytest.raises(SefaZooError) as error:
        sefa_zoo.factorize_file(path)
    assert time.perf_counter() - start < 5
    assert "\n" not in str(error.value)


# 4. Tensors that hold no usable numbers.


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")
@pytest.mark.parametrize("kind, tensor", [
    ("sparse", lambda: torch.eye(4).to_sparse()),
    ("quantized", lambda: torch.quantize_per_tensor(torch.ones(4, 4), 0.1, 0, torch.quint8)),
    ("meta-device", lambda: torch.empty(4, 4, device="meta")),
])
@pytest.mark.parametrize("container", ["torch-zip", "torch-legacy", "pickle"])
def test_tensors_that_are_not_dense_data_are_one_line_errors(tmp_path, kind, tensor, container):
    obj = {"A": tensor()}
    path = tmp_path / "odd.pt"
    try:
        if container == "pickle":
            path.write_bytes(pickle.dumps(obj, protocol=4))
        else:
            torch.save(obj, path, _use_new_zipfile_serialization=container == "torch-zip")
    except (RuntimeError, NotImplementedError, pickle.PicklingError):
        pytest.skip(f"torch cannot write a {kind} tensor in this container")
    with pytest.raises(CheckpointError, match=kind.split("-")[0]) as error:
        read_everything(path)
    assert_one_line(error, path)


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")
@pytest.mark.parametrize("kind", ["sparse", "meta-device", "quantized"])
def test_factorizing_a_tensor_without_dense_data_is_a_one_line_error(kind):
    matrix = {"sparse": torch.eye(4).to_sparse(), "meta-device": torch.empty(4, 4, device="meta"),
              "quantized": torch.quantize_per_tensor(torch.ones(4, 4), 0.1, 0, torch.quint8)}[kind]
    with pytest.raises(SefaZooError, match=kind):
        sefa_zoo.factorize([matrix])


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_or_inf_in_any_weight_the_generator_reads_names_the_file_and_tensor(tmp_path, bad):
    from sefa_zoo_plugins.stylegan2 import random_stylegan2_state, save_stylegan2

    state = random_stylegan2_state(8, w_dim=8, z_dim=8, channel_base=64, channel_max=8, mapping_layers=1)
    poisoned = "8x8.conv0.weight"  # not a projection weight: only synthesis reads it
    assert poisoned in state.tensors
    state.tensors[poisoned].view(-1)[3] = bad
    path = save_stylegan2(state, tmp_path / "G.pt", "rosinality")
    sefa_zoo.factorize_file(path)  # the projection weights are fine
    with pytest.raises(CheckpointError, match=r"G\.pt: tensor 'g_ema\.[\w.]+' holds NaN or infinite values"):
        sefa_zoo.load_generator(path)


def test_nothing_the_loader_does_depends_on_torch_load(tmp_path, monkeypatch):
    """The hardening above holds because torch.load, with its own allow-list, is never called."""
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load called"))
    path = tmp_path / "x.pt"
    torch.save({"w": torch.ones(2), "o": OrderedDict(a=1)}, path)
    assert open_checkpoint(path).objects["o"] == OrderedDict(a=1)
