"""Checkpoints read through a ByteSource read only what they need of it, and a safetensors header
that lies about its tensors is refused in one line before any tensor is read."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from sefa_zoo import CheckpointError, open_checkpoint
from sefa_zoo.byte_sources import BytesSource
from sefa_zoo.loading import open_source


class CountingSource(BytesSource):
    """Bytes in memory, every read recorded as (offset, length)."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.reads: list[tuple[int, int]] = []

    def read(self, offset: int, length: int):
        self.reads.append((offset, length))
        return super().read(offset, length)

    def bytes_read(self) -> int:
        return sum(length for _, length in self.reads)


def big_state() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {f"layer{i}.weight": torch.randn(256, 256, generator=generator) for i in range(8)}


@pytest.mark.parametrize("container", ["torch-zip", "safetensors"])
def test_opening_reads_the_index_and_a_tensor_only_its_own_bytes(tmp_path, container):
    state = big_state()
    path = tmp_path / "big"
    if container == "torch-zip":
        torch.save(state, path)
    else:
        save_file(state, str(path))
    source = CountingSource(path.read_bytes())
    checkpoint = open_source(source, "remote:big")
    assert checkpoint.label == "remote:big" and checkpoint.path is None
    assert source.bytes_read() < 0.02 * len(source), source.reads
    before = source.bytes_read()
    np.testing.assert_array_equal(checkpoint.array("layer3.weight"), state["layer3.weight"].numpy())
    tensor_bytes = 256 * 256 * 4
    assert tensor_bytes <= source.bytes_read() - before <= tensor_bytes + 4096
    assert torch.equal(checkpoint["layer5.weight"], state["layer5.weight"])


def test_a_legacy_file_is_not_read_through_a_partial_source(tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match=r"^remote:old\.pt: is a legacy torch file, which is read only whole$"):
        open_source(BytesSource((tmp_path / "old.pt").read_bytes()), "remote:old.pt")


def test_a_failed_read_names_the_source(tmp_path):
    torch.save(big_state(), tmp_path / "big.pt")
    data = (tmp_path / "big.pt").read_bytes()

    class Failing(BytesSource):
        fail = False

        def read(self, offset, length):
            if self.fail:
                raise OSError("connection reset")
            return super().read(offset, length)

    source = Failing(data)
    checkpoint = open_source(source, "remote:big.pt")
    source.fail = True
    with pytest.raises(CheckpointError, match=r"^remote:big\.pt: truncated or corrupt torch zip file \(connection reset\)$"):
        checkpoint.array("layer0.weight")


def safetensors_file(path, header: dict, data: bytes) -> str:
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return str(path)


GOOD = {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "b": {"dtype": "F16", "shape": [4], "data_offsets": [16, 24]}}


@pytest.mark.parametrize("change, reason", [
    ({"b": {"dtype": "F16", "shape": [4], "data_offsets": [8, 16]}}, "'b' overlaps another"),
    ({"b": {"dtype": "F16", "shape": [2], "data_offsets": [20, 24]}}, "'b' leaves a gap before it"),
    ({"b": {"dtype": "F16", "shape": [8], "data_offsets": [16, 24]}}, r"'b' of shape \[8\] does not fill its 8 bytes"),
    ({"b": {"dtype": "F16", "shape": [4], "data_offsets": [16, 40]}}, "does not fill|past the end"),
    ({"b": {"dtype": "X9", "shape": [4], "data_offsets": [16, 24]}}, "'b' has dtype 'X9'"),
    ({"b": {"dtype": "F16", "shape": [-4], "data_offsets": [16, 24]}}, "'b' has a shape that is not a list of sizes"),
    ({"b": {"dtype": "F16", "shape": [4], "data_offsets": [24, 16]}}, "does not fill"),
    ({"b": [1, 2]}, "'b' is not described by a JSON object"),
    ({"__metadata__": {"x": 1}}, "__metadata__ is not a dict of text"),
    ({"c": {"dtype": "F32", "shape": [0, 10**12], "data_offsets": [24, 24]}}, "claims a size of 1000000000000"),
])
def test_a_lying_safetensors_header_is_one_line_error(tmp_path, change, reason):
    path = safetensors_file(tmp_path / "lying.safetensors", {**GOOD, **change}, bytes(24))
    with pytest.raises(CheckpointError, match=reason) as error:
        open_checkpoint(path)
    assert "\n" not in str(error.value) and str(error.value).startswith(f"{path}: ")


def test_a_safetensors_file_with_bytes_after_its_tensors_is_refused(tmp_path):
    path = safetensors_file(tmp_path / "extra.safetensors", GOOD, bytes(40))
    with pytest.raises(CheckpointError, match="holds bytes after its last tensor"):
        open_checkpoint(path)


def test_safetensors_of_every_dtype_read_bit_exact_as_numpy_and_torch(tmp_path):
    tensors = {"f32": torch.randn(3, 4), "f16": torch.randn(5).half(), "bf16": torch.randn(2, 3).bfloat16(),
               "i64": torch.arange(-3, 4), "u8": torch.tensor([0, 255], dtype=torch.uint8),
               "bool": torch.tensor([True, False]), "scalar": torch.tensor(2.5), "empty": torch.zeros(0, 4)}
    save_file(tensors, str(tmp_path / "all.safetensors"))
    checkpoint = open_checkpoint(tmp_path / "all.safetensors")
    for name, expected in tensors.items():
        assert torch.equal(checkpoint[name], expected), name
        assert checkpoint[name].dtype == expected.dtype, name
        np.testing.assert_array_equal(checkpoint.array(name), expected.float().numpy() if name == "bf16"
                                      else expected.numpy())
