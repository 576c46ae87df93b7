import json
from dataclasses import replace

import numpy as np
import pytest
import safetensors.torch
import torch

from sefa_zoo import BankError, DirectionBank, export_npy, export_rosinality, factorize, load_bank, save_bank
from sefa_zoo.bank import FORMAT_VERSION, bank_from_factorization


def make_bank(k=5, latent=16, **meta):
    rng = np.random.default_rng(0)
    result = factorize([rng.standard_normal((40, latent))], k=k)
    fields = dict(
        model="toy", architecture="toyarch", layout="plain", checkpoint_sha256="ab" * 32,
        checkpoint_source="/tmp/toy.pt", latent_space="w",
    )
    fields.update(meta)
    return bank_from_factorization(
        result, layer_indices=[0, 2, 2],
        layer_names=["4x4.conv", "8x8.conv1", "8x8.torgb"], **fields,
    )


def test_round_trip(tmp_path):
    bank = make_bank()
    path = save_bank(bank, tmp_path / "sub" / "bank.safetensors")
    loaded = load_bank(path)
    np.testing.assert_array_equal(loaded.directions, bank.directions)
    np.testing.assert_array_equal(loaded.eigenvalues, bank.eigenvalues)
    assert loaded.directions.dtype == np.float32
    assert loaded == replace(bank, directions=loaded.directions, eigenvalues=loaded.eigenvalues)
    assert loaded.layer_indices == (0, 2, 2)
    assert loaded.method == "sefa"


def test_file_layout_is_plain_safetensors(tmp_path):
    path = save_bank(make_bank(k=3), tmp_path / "b.safetensors")
    tensors = safetensors.torch.load_file(str(path))
    assert set(tensors) == {"directions", "eigenvalues"}
    assert tensors["directions"].shape == (3, 16) and tensors["directions"].dtype == torch.float32
    with safetensors.safe_open(str(path), "pt") as f:
        meta = f.metadata()
    assert meta["format_version"] == FORMAT_VERSION
    assert json.loads(meta["layer_names"]) == ["4x4.conv", "8x8.conv1", "8x8.torgb"]
    assert set(meta) >= {"model", "architecture", "checkpoint_sha256", "checkpoint_source", "latent_space",
                         "normalization", "method", "tool_version", "created", "layer_indices"}


def test_shares_are_of_the_total_even_when_truncated():
    assert make_bank(k=16).shares().sum() == pytest.approx(1.0)
    top = make_bank(k=3)
    assert top.eigenvalue_total == pytest.approx(40)  # normalised: trace = rows
    assert top.shares().sum() < 1.0
    np.testing.assert_allclose(top.shares(), make_bank(k=16).shares()[:3])


def test_save_is_atomic_on_interrupt(tmp_path, monkeypatch):
    path = tmp_path / "bank.safetensors"
    save_bank(make_bank(), path)
    before = path.read_bytes()

    def interrupted(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr("sefa_zoo.bank.save_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_bank(make_bank(k=2), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bank.safetensors"]


def test_save_refuses_invalid_bank(tmp_path):
    bank = make_bank()
    bad = replace(bank, directions=bank.directions * 2)
    with pytest.raises(BankError, match="unit vectors"):
        save_bank(bad, tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def write_raw(path, tensors, metadata):
    safetensors.torch.save_file(tensors, str(path), metadata=metadata)
    return path


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda t, m: m.pop("model"), "metadata 'model' is missing"),
        (lambda t, m: m.update(format_version="99"), "'format_version' is '99'"),
        (lambda t, m: m.update(normalization="weird"), "'normalization' must be one of"),
        (lambda t, m: m.update(eigenvalue_total="lots"), "'eigenvalue_total' is not a number"),
        (lambda t, m: m.update(eigenvalue_total="0.5"), "'eigenvalue_total' must be at least"),
        (lambda t, m: m.update(layer_indices="[0, 1"), "not JSON lists"),
        (lambda t, m: m.update(layer_indices="[0]"), "differ in length"),
        (lambda t, m: m.update(checkpoint_sha256="xyz"), "checkpoint_sha256"),
        (lambda t, m: t.pop("eigenvalues"), "tensor 'eigenvalues' is missing"),
        (lambda t, m: t.update(directions=t["directions"] * 3), "unit vectors"),
        (lambda t, m: t.update(directions=t["directions"].double()), "must be float32"),
        (lambda t, m: t.update(eigenvalues=t["eigenvalues"].flip(0)), "descending"),
        (lambda t, m: t.update(eigenvalues=t["eigenvalues"][:2]), "shape"),
    ],
)
def test_load_validates(tmp_path, mutate, message):
    bank = make_bank()
    tensors = {"directions": torch.from_numpy(bank.directions.copy()),
               "eigenvalues": torch.from_numpy(bank.eigenvalues.copy())}
    meta = bank.metadata()
    mutate(tensors, meta)
    path = write_raw(tmp_path / "bad.safetensors", tensors, meta)
    with pytest.raises(BankError, match=message) as info:
        load_bank(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_load_missing_and_garbage(tmp_path):
    with pytest.raises(BankError, match="no such direction bank"):
        load_bank(tmp_path / "nope.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(BankError, match="not a readable safetensors file"):
        load_bank(junk)


def test_export_npy_matches_release_layout(tmp_path):
    bank = make_bank(k=4)
    paths = export_npy(bank, tmp_path / "car")
    assert [p.name for p in paths] == ["car_directions.npy", "car_eigenvalues.npy"]
    np.testing.assert_array_equal(np.load(paths[0]), bank.directions)
    np.testing.assert_array_equal(np.load(paths[1]), bank.eigenvalues)


def test_export_rosinality_factor_file(tmp_path):
    bank = make_bank(k=4)
    (path,) = export_rosinality(bank, tmp_path / "car")
    payload = torch.load(path, weights_only=True)
    assert payload["ckpt"] == bank.checkpoint_source
    # rosinality's apply_factor reads eigvec[:, index]: columns are directions.
    np.testing.assert_array_equal(payload["eigvec"][:, 1].numpy(), bank.directions[1])


def test_top_keeps_the_strongest():
    bank = make_bank(k=5)
    top = bank.top(2)
    assert top.k == 2 and isinstance(top, DirectionBank)
    np.testing.assert_array_equal(top.eigenvalues, bank.eigenvalues[:2])
