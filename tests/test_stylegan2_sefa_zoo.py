"""sefa-zoo's own StyleGAN2 layout: logical tensor names in safetensors, the config in the metadata.

The cross-layout tests (identical tables, banks and images) run it beside the other layouts
in test_stylegan2.py and test_stylegan2_synthesis.py; here: its metadata and float16 files."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file
from sefa_zoo_plugins.stylegan2.native import FORMAT, write_sefa_zoo
from sefa_zoo_plugins.stylegan2 import (
    StyleGAN2,
    random_stylegan2_state,
    read_stylegan2_state,
    save_stylegan2,
)

from sefa_zoo import LayoutError, open_checkpoint


@pytest.fixture(scope="module")
def state():
    return random_stylegan2_state(
        16, z_dim=8, w_dim=10, channel_base=64, channel_max=8, mapping_layers=3, mapping_lr_multiplier=0.05
    )


def test_the_config_travels_in_the_metadata(state, tmp_path):
    path = save_stylegan2(state, tmp_path / "g.safetensors", "sefa-zoo")
    checkpoint = open_checkpoint(path)
    metadata = checkpoint.objects["__metadata__"]
    assert metadata["format"] == FORMAT and metadata["format_version"] == "1"
    assert json.loads(metadata["config"])["mapping_lr_multiplier"] == 0.05  # not the 0.01 default
    assert set(checkpoint) == set(state.tensors)
    read = read_stylegan2_state(checkpoint, "sefa-zoo")
    assert (read.mapping_lr_multiplier, read.channel_base, read.channel_max) == (0.05, 64, 8)
    assert all(torch.equal(read.tensors[k], v) for k, v in state.tensors.items())


def test_float16_files_synthesize_nearly_the_same(state, tmp_path):
    full = save_stylegan2(state, tmp_path / "full.safetensors", "sefa-zoo")
    half = save_stylegan2(state, tmp_path / "half.safetensors", "sefa-zoo", float16=True)
    half_checkpoint = open_checkpoint(half)
    assert {half_checkpoint[k].dtype for k in half_checkpoint} == {torch.float16}
    images = []
    for path in (full, half):
        g = StyleGAN2().build_generator(open_checkpoint(path))
        images.append(g.synthesize(g.map(torch.randn(2, 8, generator=torch.Generator().manual_seed(0)))))
    assert (images[0] - images[1]).abs().max() < 0.05 * images[0].abs().max()


def test_conv_clamp_is_read_from_the_config(state, tmp_path):
    path = write_sefa_zoo(state, tmp_path / "clamped.safetensors", conv_clamp=256)
    assert StyleGAN2().build_generator(open_checkpoint(path)).conv_clamp == 256.0


def _with_metadata(state, path, **changes):
    write_sefa_zoo(state, path)
    metadata = dict(open_checkpoint(path).objects["__metadata__"])
    config = json.loads(metadata["config"])
    for key, value in changes.items():
        if key in metadata:
            metadata[key] = value
        else:
            config[key] = value
    metadata["config"] = changes.get("config_text", json.dumps(config))
    save_file({k: v.contiguous() for k, v in state.tensors.items()}, str(path), metadata=metadata)
    return open_checkpoint(path)


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"format": "other"}, "metadata 'format' is 'other'"),
        ({"format_version": "9"}, "'format_version' is '9'"),
        ({"config_text": "{"}, "metadata 'config' is not JSON"),
        ({"z_dim": 0}, "config 'z_dim' must be a whole number >= 1"),
        ({"mapping_lr_multiplier": "fast"}, "config 'mapping_lr_multiplier' must be a positive number"),
        ({"w_dim": 11}, "config 'w_dim' is 11, but the tensors say 10"),
    ],
)
def test_bad_metadata_is_named(state, tmp_path, changes, message):
    checkpoint = _with_metadata(state, tmp_path / "bad.safetensors", **changes)
    with pytest.raises(LayoutError, match=message):
        StyleGAN2().build_generator(checkpoint)
