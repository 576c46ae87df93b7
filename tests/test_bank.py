import json
import re
import struct
import time
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

    def interrupted(path):
        path.write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr("sefa_zoo.bank._safetensors_writer", lambda bank: interrupted)
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
        (lambda t, m: m.update(layer_indices="[0, 1"), "not a JSON list of indices"),
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


def raw_bank_tensors(bank):
    return {"directions": torch.from_numpy(bank.directions.copy()),
            "eigenvalues": torch.from_numpy(bank.eigenvalues.copy())}


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("layer_indices", "[" + "9" * 5000 + ", 2, 2]", "'layer_indices' holds a number of 5000 digits"),
        ("layer_indices", "[-" + "9" * 5000 + ", 2, 2]", "'layer_indices' holds a number of 5001 digits"),
        ("layer_names", "[" * 100_000 + "]" * 100_000, "'layer_names' is nested too deeply"),
        ("layer_indices", "[" * 100_000 + "]" * 100_000, "'layer_indices' is nested too deeply"),
        ("layer_indices", "[true, false, false]", "'layer_indices' is not a JSON list of indices"),
        ("layer_indices", "[0.0, 2, 2]", "'layer_indices' is not a JSON list of indices"),
        ("layer_indices", "[[0], 2, 2]", "'layer_indices' is not a JSON list of indices"),
        ("layer_indices", "[NaN, 2, 2]", "'layer_indices' is not a JSON list of indices"),
        ("layer_indices", '{"0": 1}', "'layer_indices' is not a JSON list of indices"),
        ("layer_indices", "[-1, 2, 2]", "'layer_indices' must be a non-empty list of indices"),
        ("layer_names", '["a", 2, "c"]', "'layer_names' is not a JSON list of strings"),
        ("layer_names", '["a", ["b"], "c"]', "'layer_names' is not a JSON list of strings"),
        ("eigenvalue_total", "9" * 5000, "'eigenvalue_total' is not a number \\(5000 characters\\)"),
        ("eigenvalue_total", "1e400", "'eigenvalue_total' must be a finite number"),
        ("eigenvalue_total", "nan", "'eigenvalue_total' must be a finite number"),
        ("eigenvalue_total", "-inf", "'eigenvalue_total' must be a finite number"),
    ],
)
def test_hostile_metadata_is_a_bank_error(tmp_path, key, value, message):
    bank = make_bank()
    meta = bank.metadata()
    meta[key] = value
    path = write_raw(tmp_path / "bad.safetensors", raw_bank_tensors(bank), meta)
    with pytest.raises(BankError, match=message) as info:
        load_bank(path)
    assert str(info.value).startswith(f"{path}: metadata '{key}'")
    assert "\n" not in str(info.value)


def write_header_only(path, tensors, metadata):
    """A safetensors file whose header claims ``tensors`` (name -> (dtype, shape, data bytes))."""
    header, data = {"__metadata__": metadata}, b""
    for name, (dtype, shape, payload) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    encoded = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + data)
    return path


ONE_DIRECTION = ("F32", [1, 1], np.float32(1).tobytes())
ONE_EIGENVALUE = ("F64", [1], np.float64(1).tobytes())


@pytest.mark.parametrize(
    "tensors, message",
    [
        ({"directions": ("F32", [2**40, 0], b""), "eigenvalues": ONE_EIGENVALUE},
         r"tensor 'directions' must have 2 non-empty dimensions, got shape \[1099511627776, 0\]"),
        ({"directions": ("F32", [2**40, 0], b""), "eigenvalues": ("F64", [2**40, 0], b"")},
         "tensor 'directions' must have 2 non-empty dimensions"),
        ({"directions": ("F32", [1, 1, 1], np.float32(1).tobytes()), "eigenvalues": ONE_EIGENVALUE},
         "tensor 'directions' must have 2 non-empty dimensions"),
        ({"directions": ONE_DIRECTION, "eigenvalues": ("BOOL", [1], b"\x01")},
         "tensor 'eigenvalues' must be float64 or float32, got BOOL"),
        ({"directions": ONE_DIRECTION, "eigenvalues": ("I64", [1], np.int64(1).tobytes())},
         "tensor 'eigenvalues' must be float64 or float32, got I64"),
        ({"directions": ("F16", [1, 1], np.float16(1).tobytes()), "eigenvalues": ONE_EIGENVALUE},
         "tensor 'directions' must be float32, got F16"),
        ({"directions": ONE_DIRECTION, "eigenvalues": ("F64", [1, 1], np.float64(1).tobytes())},
         "tensor 'eigenvalues' must have 1 non-empty dimensions"),
    ],
)
def test_tensor_dtypes_and_shapes_are_checked_before_reading(tmp_path, tensors, message):
    path = write_header_only(tmp_path / "bad.safetensors", tensors, make_bank(k=1, latent=1).metadata())
    started = time.perf_counter()
    with pytest.raises(BankError, match=message):
        load_bank(path)
    assert time.perf_counter() - started < 5


def test_a_header_only_claim_of_huge_tensors_is_a_bank_error(tmp_path):
    tensors = {"directions": ("F32", [2**40, 2**40], b""), "eigenvalues": ONE_EIGENVALUE}
    path = write_header_only(tmp_path / "bad.safetensors", tensors, make_bank(k=1, latent=1).metadata())
    with pytest.raises(BankError, match="not a readable safetensors file"):
        load_bank(path)


def unit_rows_not_orthogonal(bank):
    directions = bank.directions.astype(np.float64)
    directions[1] = directions[0] + directions[1]
    directions[1] /= np.linalg.norm(directions[1])
    return directions.astype(np.float32)


def test_directions_that_are_not_orthogonal_are_refused(tmp_path):
    bank = make_bank(k=4)
    tensors = raw_bank_tensors(bank)
    tensors["directions"] = torch.from_numpy(unit_rows_not_orthogonal(bank))
    path = write_raw(tmp_path / "skewed.safetensors", tensors, bank.metadata())
    with pytest.raises(BankError, match=r"rows must be orthogonal \(rows 0 and 1 have dot product 0\.7071"):
        load_bank(path)
    skewed = replace(bank, directions=unit_rows_not_orthogonal(bank))
    with pytest.raises(BankError, match="rows must be orthogonal"):
        save_bank(skewed, tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()


def test_more_directions_than_dimensions_are_refused(tmp_path):
    k = 1000
    tensors = {"directions": torch.ones(k, 1), "eigenvalues": torch.ones(k, dtype=torch.float64)}
    meta = make_bank().metadata()
    meta.update(layer_indices="[0]", layer_names='["x"]', eigenvalue_total=str(float(k)))
    path = write_raw(tmp_path / "tall.safetensors", tensors, meta)
    with pytest.raises(BankError, match="'directions' has 1000 rows, more than its 1 dimensions"):
        load_bank(path)


@pytest.mark.parametrize("normalize", [True, False])
def test_genuine_float32_banks_and_their_tops_load(tmp_path, normalize):
    rng = np.random.default_rng(1)
    result = factorize([rng.standard_normal((600, 512)) * rng.uniform(0, 10, 512)], normalize=normalize)
    bank = bank_from_factorization(
        result, layer_indices=[0], layer_names=["w"], model="m", architecture="a", layout="l",
        checkpoint_sha256="", checkpoint_source="", latent_space="w",
    )
    for kept in (bank, bank.top(7)):
        loaded = load_bank(save_bank(kept, tmp_path / "bank.safetensors"))
        np.testing.assert_array_equal(loaded.directions, kept.directions)


def test_repr_is_a_short_summary():
    bank = make_bank(k=16)
    text = repr(bank)
    shares = bank.shares()
    assert text == (
        f"DirectionBank(model='toy', method='sefa', layers='0,2', k=16, latent_dim=16, "
        f"shares=[{shares[0]:.1%}, {shares[1]:.1%}, {shares[2]:.1%}, ...])"
    )
    assert str(bank) == text
    assert repr(bank.top(2)).endswith(f"k=2, latent_dim=16, shares=[{shares[0]:.1%}, {shares[1]:.1%}])")


def test_names_revision_and_remote_flag_round_trip(tmp_path):
    bank = make_bank(k=4, checkpoint_revision="c" * 40, read_remotely=True).with_names({1: "pose", 3: "hair colour"})
    assert bank.direction_names == ("", "pose", "", "hair colour")
    loaded = load_bank(save_bank(bank, tmp_path / "b.safetensors"))
    assert loaded.direction_names == ("", "pose", "", "hair colour")
    assert [loaded.name_of(i) for i in range(4)] == ["", "pose", "", "hair colour"]
    assert loaded.checkpoint_revision == "c" * 40 and loaded.read_remotely is True
    assert loaded.top(2).direction_names == ("", "pose")
    assert loaded.top(1).direction_names == ()  # no name left: none stored


def test_optional_keys_are_written_only_when_set(tmp_path):
    meta = make_bank().metadata()
    assert not {"direction_names", "checkpoint_revision", "read_remotely"} & set(meta)
    loaded = load_bank(save_bank(make_bank(), tmp_path / "b.safetensors"))
    assert loaded.direction_names == () and loaded.checkpoint_revision == "" and loaded.read_remotely is False
    assert make_bank().with_names({0: "x"}).with_names({0: ""}).direction_names == ()


@pytest.mark.parametrize("names, message", [
    ({5: "x"}, "direction 5 does not exist"),
    ({-1: "x"}, "direction -1 does not exist"),
    ({0: "two\nlines"}, "direction 0's name must be one line"),
    ({0: "x" * 81}, "direction 0's name must be one line of at most 80"),
    ({0: " padded"}, "without surrounding spaces"),
])
def test_bad_names_are_refused(names, message):
    with pytest.raises(BankError, match=message):
        make_bank(k=5).with_names(names)


@pytest.mark.parametrize("key, value, message", [
    ("direction_names", '["a", "b"]', "must name each of the 5 directions"),
    ("direction_names", '["a", "b", "c", "d", 5]', "is not a JSON list of strings"),
    ("direction_names", '["a\\u0000", "", "", "", ""]', "item 0 must be one line"),
    ("checkpoint_revision", "main", "must be a 40-hex-digit commit"),
    ("read_remotely", "yes", "must be true or false"),
])
def test_hostile_optional_metadata_is_a_bank_error(tmp_path, key, value, message):
    bank = make_bank(checkpoint_revision="c" * 40)
    meta = bank.metadata()
    meta[key] = value
    path = write_raw(tmp_path / "bad.safetensors", raw_bank_tensors(bank), meta)
    with pytest.raises(BankError, match=message) as info:
        load_bank(path)
    assert "\n" not in str(info.value)


def test_remote_read_needs_its_revision(tmp_path):
    bank = make_bank()
    meta = bank.metadata()
    meta["read_remotely"] = "true"
    path = write_raw(tmp_path / "bad.safetensors", raw_bank_tensors(bank), meta)
    with pytest.raises(BankError, match="read remotely must record its 'checkpoint_revision'"):
        load_bank(path)


def test_digest_is_the_numbers_not_the_metadata(tmp_path):
    bank = make_bank()
    loaded = load_bank(save_bank(bank, tmp_path / "b.safetensors"))
    assert loaded.digest() == bank.digest()
    assert replace(bank, model="other", created="2000-01-01T00:00:00+00:00").with_names({0: "a"}).digest() == bank.digest()
    assert bank.top(3).digest() != bank.digest()
    flipped = replace(bank, directions=bank.directions * np.array([[-1]] + [[1]] * 4, dtype=np.float32))
    assert flipped.digest() != bank.digest()


def test_per_direction_layers_mean_offsets_and_method_info_round_trip(tmp_path):
    bank = replace(
        make_bank(k=3, method="ganspace"),
        direction_layers=((0, 1, 2), (), (5,)),
        mean=np.arange(16, dtype=np.float32),
        offsets=np.array([0.5, -1.0, 2.0]),
        method_info={"samples": 1000, "seed": 0, "conditions": [{"direction": 2, "digest": "ab" * 32}]},
    )
    loaded = load_bank(save_bank(bank, tmp_path / "b.safetensors"))
    assert loaded.direction_layers == ((0, 1, 2), (), (5,))
    assert [loaded.layers_of(i) for i in range(3)] == [(0, 1, 2), (), (5,)]
    np.testing.assert_array_equal(loaded.mean, bank.mean)
    np.testing.assert_array_equal(loaded.offsets, bank.offsets)
    assert loaded.method_info == bank.method_info
    top = loaded.top(2)
    assert top.direction_layers == ((0, 1, 2), ()) and top.offsets.tolist() == [0.5, -1.0]
    assert loaded.top(1).layers_of(0) == (0, 1, 2)
    assert replace(loaded, direction_layers=((), (), ())).metadata().get("direction_layers") is None


@pytest.mark.parametrize("change, message", [
    (dict(direction_layers=((0,), (1,))), "must give each of the 5 directions its layers"),
    (dict(direction_layers=((1, 0), (), (), (), ())), "item 0 must be increasing layer indices"),
    (dict(direction_layers=((0, 0), (), (), (), ())), "item 0 must be increasing layer indices"),
    (dict(direction_layers=((-1,), (), (), (), ())), "item 0 must be increasing layer indices"),
    (dict(mean=np.zeros(15, dtype=np.float32)), "tensor 'mean' must have shape \\(16,\\)"),
    (dict(offsets=np.array([np.nan] * 5)), "tensor 'offsets' contains NaN"),
    (dict(method_info={"a": float("inf")}), "not finite"),
    (dict(method_info={"a": {"b": {"c": {"d": {"e": 1}}}}}), "nested more than 4 levels"),
    (dict(method_info={"a": object()}), "holds a object, not a JSON value"),
    (dict(method_info={"a": "x" * 70_000}), "longer than 65536 characters"),
])
def test_bad_optional_fields_are_refused_before_saving(tmp_path, change, message):
    with pytest.raises(BankError, match=message):
        save_bank(replace(make_bank(), **change), tmp_path / "b.safetensors")
    assert not (tmp_path / "b.safetensors").exists()


@pytest.mark.parametrize("key, value, message", [
    ("direction_layers", '[[0], [1], [2], [3], "x"]', "is not a JSON list of lists of indices"),
    ("direction_layers", "[[" + "9" * 5000 + "], [], [], [], []]", "holds a number of 5000 digits"),
    ("direction_layers", "[" * 100_000 + "]" * 100_000, "is nested too deeply"),
    ("method_info", "[1]", "must be a JSON object"),
    ("method_info", '{"a": 1e999}', "holds a number that is not finite"),
    ("method_info", '{"a": NaN}', "is not valid JSON"),
    ("method_info", '{"a": "' + "x" * 70_000 + '"}', "is longer than 65536 characters"),
    ("method_info", '{"a": [[[[[1]]]]]}', "nested more than 4 levels"),
])
def test_hostile_direction_layers_and_method_info(tmp_path, key, value, message):
    bank = make_bank()
    meta = bank.metadata()
    meta[key] = value
    path = write_raw(tmp_path / "bad.safetensors", raw_bank_tensors(bank), meta)
    with pytest.raises(BankError, match=message) as info:
        load_bank(path)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name, tensor, message", [
    ("mean", torch.zeros(15), "tensor 'mean' must have shape \\[16\\], got \\[15\\]"),
    ("mean", torch.zeros(16, dtype=torch.float64), "tensor 'mean' must be float32"),
    ("offsets", torch.zeros(4, dtype=torch.float64), "tensor 'offsets' must have shape \\[5\\]"),
    ("offsets", torch.zeros(5, 1, dtype=torch.float64), "must have 1 non-empty dimensions"),
])
def test_optional_tensors_are_checked_from_the_header(tmp_path, name, tensor, message):
    bank = make_bank()
    path = write_raw(tmp_path / "bad.safetensors", {**raw_bank_tensors(bank), name: tensor}, bank.metadata())
    with pytest.raises(BankError, match=message):
        load_bank(path)


def test_with_direction_layers():
    bank = make_bank(k=3).with_direction_layers({0: [3, 1, 1], 2: range(4, 6)})
    assert bank.direction_layers == ((1, 3), (), (4, 5))
    assert bank.with_direction_layers({0: [], 2: ()}).direction_layers == ()
    with pytest.raises(BankError, match="direction 3 does not exist"):
        bank.with_direction_layers({3: [0]})
    with pytest.raises(BankError, match="direction 1's layers must be whole numbers >= 0, got \\[-1\\]"):
        bank.with_direction_layers({1: [-1]})
    with pytest.raises(BankError, match="direction 1's layers must be whole numbers"):
        bank.with_direction_layers({1: [True]})


def test_digest_covers_what_edits_depend_on():
    bank = make_bank(k=3)
    plain = bank.digest()
    layered = bank.with_direction_layers({1: [2, 3]})
    assert layered.digest() != plain
    assert layered.with_direction_layers({1: []}).digest() == plain
    assert layered.with_direction_layers({1: [2]}).digest() != layered.digest()
    with_offsets = replace(bank, offsets=np.zeros(3))
    assert with_offsets.digest() != plain
    assert replace(bank, offsets=np.ones(3)).digest() != with_offsets.digest()
    assert replace(bank, mean=np.ones(16, dtype=np.float32), method_info={"samples": 5}).digest() == plain


def test_rewrite_bank_names_the_file_and_leaves_it_untouched_on_error(tmp_path):
    from sefa_zoo.bank import rewrite_bank

    path = save_bank(make_bank(k=3), tmp_path / "b.safetensors")
    before = path.read_bytes()
    with pytest.raises(BankError, match=f"^{re.escape(str(path))}: direction 7 does not exist"):
        rewrite_bank(path, lambda bank: bank.with_names({7: "x"}))
    assert path.read_bytes() == before
    assert rewrite_bank(path, lambda bank: bank.with_names({1: "pose"})).direction_names == ("", "pose", "")
    assert load_bank(path).name_of(1) == "pose"
