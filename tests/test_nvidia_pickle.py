"""NVIDIA persistence pickles: the writer makes the real format; the reader recovers it, running no code."""

from __future__ import annotations

import codecs
import importlib
import os
import pickle
import pickletools
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from sefa_zoo import CheckpointError, UnsafeCheckpointError, nvidia_pickle, open_checkpoint
from sefa_zoo.testing import PersistentModule, save_nvidia_pickle
from sefa_zoo.testing import nvidia_pickle as nvidia_pickle_writer
from sefa_zoo.loading import flatten
from sefa_zoo.nvidia_pickle import PersistentObject, allowed_globals, load_nvidia_pickle

# A miniature of NVIDIA's networks.py: its classes are rebuilt from this source by the
# emulation of NVIDIA's own loader below (the test trusts its own source; sefa-zoo never runs it).
NETWORKS_SRC = '''
import numpy as np
import torch


def persistent(cls):
    """Records the constructor's arguments, as torch_utils.persistence.persistent_class does."""
    init = cls.__init__

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._init_args = args
        self._init_kwargs = kwargs

    cls.__init__ = __init__
    return cls


@persistent
class FullyConnectedLayer(torch.nn.Module):
    def __init__(self, in_features, out_features, bias=True, lr_multiplier=1.0, bias_init=0.0):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = torch.nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / np.sqrt(in_features)

    def forward(self, x):
        w = self.weight * self.weight_gain
        return x @ w.t() if self.bias is None else torch.addmm(self.bias, x, w.t())


@persistent
class MappingNetwork(torch.nn.Module):
    def __init__(self, z_dim, w_dim, num_layers=2):
        super().__init__()
        self.z_dim, self.w_dim, self.num_layers = z_dim, w_dim, num_layers
        for i in range(num_layers):
            layer = FullyConnectedLayer(z_dim if i == 0 else w_dim, w_dim, lr_multiplier=0.01)
            setattr(self, f"fc{i}", layer)
        self.register_buffer("w_avg", torch.randn([w_dim]))

    def forward(self, z):
        x = z
        for i in range(self.num_layers):
            x = torch.nn.functional.leaky_relu(getattr(self, f"fc{i}")(x), 0.2)
        return x


@persistent
class SynthesisLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, w_dim, resolution):
        super().__init__()
        self.resolution = resolution
        self.in_size = np.array([resolution, resolution])  # numpy attributes, as StyleGAN3 keeps
        self.sampling_rate = np.float64(resolution)
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, 3, 3]))
        self.no_bias = None
        self.register_parameter("unused", None)
        self.register_buffer("noise_const", torch.randn([resolution, resolution]).half())
        self.register_buffer("scratch", torch.zeros([2]), persistent=False)
        self.register_buffer("steps", torch.arange(3))

    def forward(self, x, w):
        styles = self.affine(w)
        weight = self.weight[None] * styles[:, None, :, None, None]
        out = [torch.nn.functional.conv2d(x[i:i + 1], weight[i], padding=1)[0] for i in range(len(x))]
        return torch.stack(out) + self.noise_const.float()


@persistent
class Generator(torch.nn.Module):
    def __init__(self, z_dim, w_dim, img_resolution, channels=4, mapping_kwargs={}):
        super().__init__()
        self.z_dim, self.w_dim, self.img_resolution = z_dim, w_dim, img_resolution
        self.mapping = MappingNetwork(z_dim, w_dim, **mapping_kwargs)
        self.const = torch.nn.Parameter(torch.randn([channels, img_resolution, img_resolution]))
        for i in range(2):
            setattr(self, f"layer{i}", SynthesisLayer(channels, channels, w_dim, img_resolution))

    def forward(self, z):
        w = self.mapping(z)
        x = self.const[None].repeat(len(z), 1, 1, 1)
        for i in range(2):
            x = getattr(self, f"layer{i}")(x, w)
        return x


@persistent
class Discriminator(torch.nn.Module):
    def __init__(self, in_features):
        super().__init__()
        self.out = FullyConnectedLayer(in_features, 1)
'''


def networks_module() -> types.ModuleType:
    module = types.ModuleType("_networks_for_tests")
    exec(compile(NETWORKS_SRC, "<networks>", "exec"), module.__dict__)
    return module


def nvidia_style_generator(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    networks = networks_module()
    generator = networks.Generator(z_dim=6, w_dim=5, img_resolution=4, mapping_kwargs={"num_layers": 2})
    return generator.eval().requires_grad_(False)  # as NVIDIA's training loop snapshots it


def write_snapshot(path: Path, generator: torch.nn.Module, **kwargs) -> Path:
    g = PersistentModule.from_torch(generator, module_src=NETWORKS_SRC)
    d = PersistentModule.from_torch(networks_module().Discriminator(8).eval(), module_src=NETWORKS_SRC)
    return save_nvidia_pickle(
        path,
        {
            "G": g,
            "D": d,
            "G_ema": g,
            "augment_pipe": None,
            "training_set_kwargs": {"class_name": "training.dataset.ImageFolderDataset", "resolution": 4},
        },
        **kwargs,
    )


def nvidia_load(path: Path, monkeypatch) -> dict:
    """Load ``path`` the way NVIDIA's own code does: ``_reconstruct_persistent_obj`` runs ``module_src``."""
    source_modules: dict[str, types.ModuleType] = {}

    def reconstruct_persistent_obj(meta):
        assert meta["type"] == "class" and meta["version"] == nvidia_pickle.PERSISTENCE_VERSION
        module = source_modules.get(meta["module_src"])
        if module is None:
            module = source_modules[meta["module_src"]] = types.ModuleType("_imported_module")
            exec(compile(meta["module_src"], "<module_src>", "exec"), module.__dict__)
        cls = module.__dict__[meta["class_name"]]
        obj = cls.__new__(cls)
        obj.__setstate__(meta["state"])
        return obj

    class EasyDict(dict):
        def __getattr__(self, name):
            try:
                return self[name]
            except KeyError:
                raise AttributeError(name) from None

    persistence = types.ModuleType("torch_utils.persistence")
    persistence._reconstruct_persistent_obj = reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")
    util.EasyDict = EasyDict
    for name, module in {
        "torch_utils": types.ModuleType("torch_utils"),
        "torch_utils.persistence": persistence,
        "dnnlib": types.ModuleType("dnnlib"),
        "dnnlib.util": util,
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    with open(path, "rb") as f:
        return pickle.load(f)


def test_nvidia_own_loader_rebuilds_working_networks_from_the_written_file(tmp_path, monkeypatch):
    generator = nvidia_style_generator()
    path = write_snapshot(tmp_path / "network-snapshot-000000.pkl", generator)
    with monkeypatch.context() as patch:
        snapshot = nvidia_load(path, patch)
    g_ema = snapshot["G_ema"]
    assert type(g_ema).__name__ == "Generator" and isinstance(g_ema, torch.nn.Module)
    assert snapshot["augment_pipe"] is None
    assert snapshot["training_set_kwargs"]["resolution"] == 4
    assert g_ema._init_kwargs["mapping_kwargs"].num_layers == 2  # nested kwargs are dnnlib EasyDicts
    assert not g_ema.training and not any(p.requires_grad for p in g_ema.parameters())
    assert all(type(p) is torch.nn.Parameter for p in g_ema.parameters())
    z = torch.randn(3, 6)
    with torch.no_grad():
        assert torch.equal(g_ema(z), generator(z))


def test_reader_gives_exactly_the_state_dict_bit_exact(tmp_path, monkeypatch):
    generator = nvidia_style_generator()
    path = write_snapshot(tmp_path / "network-snapshot.pkl", generator)
    ckpt = open_checkpoint(path)
    assert ckpt.container == "pickle"
    expected = generator.state_dict()
    g_ema = ckpt.with_prefix("G_ema.")
    assert list(g_ema) == list(expected)  # same names, same order; None and non-persistent entries left out
    for name, tensor in expected.items():
        assert g_ema[name].dtype == tensor.dtype
        assert g_ema[name].device.type == "cpu"
        assert torch.equal(g_ema[name], tensor), name
    with monkeypatch.context() as patch:
        rebuilt = nvidia_load(path, patch)["G_ema"]
    assert list(g_ema) == list(rebuilt.state_dict())
    assert list(ckpt.with_prefix("D.")) == ["out.weight", "out.bias"]


def test_reader_exposes_class_names_init_kwargs_and_attributes(tmp_path):
    ckpt = open_checkpoint(write_snapshot(tmp_path / "snapshot.pkl", nvidia_style_generator()))
    objects = ckpt.objects
    assert objects["G_ema._class_name"] == "Generator"
    assert objects["G_ema.mapping._class_name"] == "MappingNetwork"
    assert objects["G_ema.layer1.affine._class_name"] == "FullyConnectedLayer"
    assert objects["G_ema._init_kwargs"] == {
        "z_dim": 6, "w_dim": 5, "img_resolution": 4, "mapping_kwargs": {"num_layers": 2}
    }
    assert type(objects["G_ema._init_kwargs"]["mapping_kwargs"]) is dict  # the EasyDict stand-in is gone
    assert objects["G_ema._init_args"] == ()
    assert objects["G_ema.layer0._init_args"] == (4, 4, 5, 4)
    assert objects["G_ema.img_resolution"] == 4
    assert objects["G_ema.mapping.fc0.weight_gain"] == pytest.approx(0.01 / np.sqrt(6))
    np.testing.assert_array_equal(objects["G_ema.layer0.in_size"], [4, 4])
    assert objects["G_ema.layer0.sampling_rate"] == 4.0
    assert objects["G_ema.layer0.no_bias"] is None
    assert "G_ema.training" not in objects and "G_ema._parameters" not in objects
    assert objects["augment_pipe"] is None
    assert objects["training_set_kwargs"] == {
        "class_name": "training.dataset.ImageFolderDataset", "resolution": 4
    }


def real_global(module, name):
    """What an allow-listed global is in torch and numpy themselves (the reader's stand-ins aside),
    so that tests of the writer see the objects NVIDIA's own loader would."""
    assert (module, name) in allowed_globals(), (module, name)
    if module.split(".")[0] in ("torch_utils", "dnnlib"):
        return allowed_globals()[module, name]
    return getattr(importlib.import_module(module), name)


def test_written_file_names_only_the_globals_of_the_real_format(tmp_path):
    path = write_snapshot(tmp_path / "snapshot.pkl", nvidia_style_generator())
    assert path.read_bytes()[:2] == b"\x80\x04"  # protocol 4, pickle.dump's default on NVIDIA's Pythons
    seen = set()

    class Recording(pickle.Unpickler):
        def find_class(self, module, name):
            seen.add((module, name))
            return real_global(module, name)

    with open(path, "rb") as f:
        Recording(f).load()
    assert {g for g in seen if not g[0].startswith("numpy")} == {
        ("torch_utils.persistence", "_reconstruct_persistent_obj"),
        ("dnnlib.util", "EasyDict"),
        ("collections", "OrderedDict"),
        ("torch._utils", "_rebuild_parameter"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch.storage", "_load_from_bytes"),
    }


def test_meta_and_state_have_nvidia_fields(tmp_path):
    path = write_snapshot(tmp_path / "snapshot.pkl", nvidia_style_generator(), version=6)
    metas = []

    class Capturing(pickle.Unpickler):
        def find_class(self, module, name):
            if (module, name) == ("torch_utils.persistence", "_reconstruct_persistent_obj"):
                return lambda meta: metas.append(meta) or meta
            return real_global(module, name)

    with open(path, "rb") as f:
        snapshot = Capturing(f).load()
    assert list(snapshot) == ["G", "D", "G_ema", "augment_pipe", "training_set_kwargs"]
    meta = snapshot["G_ema"]
    assert list(meta) == ["type", "version", "module_src", "class_name", "state"]
    assert (meta["type"], meta["version"], meta["module_src"], meta["class_name"]) == (
        "class", 6, NETWORKS_SRC, "Generator"
    )
    state = meta["state"]
    for table in ("_parameters", "_buffers", "_modules"):
        assert type(state[table]) is OrderedDict
    assert state["training"] is False and state["_non_persistent_buffers_set"] == set()
    assert list(state)[-2:] == ["_init_args", "_init_kwargs"]
    assert state["z_dim"] == 6
    assert all(type(p) is torch.nn.Parameter and not p.requires_grad for p in state["_parameters"].values())
    layer_state = state["_modules"]["layer0"]["state"]
    assert layer_state["_non_persistent_buffers_set"] == {"scratch"}
    assert layer_state["_parameters"]["unused"] is None


def test_module_src_is_never_run(tmp_path):
    marker = tmp_path / "ran"
    module = PersistentModule(
        "Generator",
        parameters={"w": torch.ones(2)},
        module_src=f"open({str(marker)!r}, 'w').close()\nclass Generator: pass\n",
    )
    path = save_nvidia_pickle(tmp_path / "G.pkl", {"G_ema": module})
    ckpt = open_checkpoint(path)
    assert torch.equal(ckpt["G_ema.w"], torch.ones(2))
    assert not marker.exists()


def test_forbidden_global_inside_a_network_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class RunsShell:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    module = PersistentModule("Generator", parameters={"w": torch.ones(2)}, attributes={"hook": RunsShell()})
    path = save_nvidia_pickle(tmp_path / "G.pkl", {"G_ema": module})
    with pytest.raises(UnsafeCheckpointError) as error:
        open_checkpoint(path)
    assert str(error.value) == (
        f"{path}: refuses to load global '{os.system.__module__}.system' (not on the allow-list); "
        "nothing from the file was run"
    )
    assert not marker.exists()


def test_every_dtype_and_odd_layout_is_bit_exact(tmp_path):
    base = torch.randn(6, 5)
    tensors = {
        "f32": torch.randn(3, 4),
        "f16": torch.randn(7).half(),
        "bf16": torch.randn(2, 3).to(torch.bfloat16),
        "f64": torch.randn(3, dtype=torch.float64),
        "i64": torch.arange(-3, 4),
        "i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 4),
        "transposed": base.t(),
        "offset_view": base[2:5, 1:4],
    }
    path = save_nvidia_pickle(tmp_path / "all.pkl", {"G_ema": PersistentModule("Net", buffers=tensors)})
    ckpt = open_checkpoint(path)
    for name, expected in tensors.items():
        loaded = ckpt[f"G_ema.{name}"]
        assert loaded.dtype == expected.dtype and loaded.shape == expected.shape, name
        assert loaded.stride() == expected.stride(), name
        assert torch.equal(loaded, expected), name
    # Storages view the file's bytes at arbitrary offsets; arithmetic on them must still be right.
    a, b = ckpt["G_ema.f32"], ckpt["G_ema.transposed"]
    torch.testing.assert_close(a @ b[:4, :3].contiguous(), tensors["f32"] @ tensors["transposed"][:4, :3])
    assert torch.equal(ckpt["G_ema.f16"].double(), tensors["f16"].double())


def test_a_storage_blob_in_the_zip_format_is_read_too(tmp_path):
    tensor = torch.randn(4, 3)
    zipped = tmp_path / "blob.pt"
    torch.save(tensor.untyped_storage(), zipped)  # a zip-format blob, not the legacy one torch pickles

    class ZipBlobTensor:
        def __reduce__(self):
            typed = (torch.storage._load_from_bytes, (zipped.read_bytes(),))
            args = (_Reduced(typed), 0, (4, 3), (3, 1), False, OrderedDict())
            return (torch._utils._rebuild_tensor_v2, args)

    class _Reduced:
        def __init__(self, reduced):
            self.reduced = reduced

        def __reduce__(self):
            return self.reduced

    path = tmp_path / "plain.pkl"
    with open(path, "wb") as f:
        pickle.dump({"w": ZipBlobTensor()}, f, protocol=4)
    # An untyped storage loads as bytes; the rebuilt tensor views them as uint8.
    loaded = open_checkpoint(path)["w"]
    assert torch.equal(loaded.flatten(), tensor.view(torch.uint8).flatten()[:12])


def test_older_pythons_build_of_an_easydict_is_accepted(tmp_path, monkeypatch):
    # Python <= 3.10 could write an EasyDict's empty instance __dict__ as a BUILD after its items.
    monkeypatch.setattr(nvidia_pickle_writer._WRITER_EASYDICT, "__getstate__", lambda self: {}, raising=False)
    module = PersistentModule("Generator", parameters={"w": torch.ones(1)}, init_kwargs={"kw": {"a": 1}})
    path = save_nvidia_pickle(tmp_path / "old.pkl", {"G_ema": module})
    ops = [op.name for op, _, _ in pickletools.genops(path.read_bytes())]
    assert "BUILD" in ops
    assert open_checkpoint(path).objects["G_ema._init_kwargs"] == {"kw": {"a": 1}}


@pytest.mark.parametrize("numpy_package", ["numpy.core", "numpy._core"])
def test_numpy_values_under_either_package_name_load(tmp_path, numpy_package):
    values = {"in_size": np.array([36, 36]), "rate": np.float64(16.5), "gain": np.float32(2.0)}
    data = pickle.dumps({"w": torch.ones(2), "values": values}, protocol=2)
    # Protocol-2 GLOBALs are text lines, so the package name is easy to swap for the other spelling.
    for package in ("numpy._core", "numpy.core"):
        data = data.replace(f"c{package}.multiarray\n".encode(), f"c{numpy_package}.multiarray\n".encode())
    assert f"c{numpy_package}.multiarray\n".encode() in data
    path = tmp_path / "np.pkl"
    path.write_bytes(data)
    objects = open_checkpoint(path).objects
    np.testing.assert_array_equal(objects["values"]["in_size"], values["in_size"])
    assert objects["values"]["rate"] == values["rate"] and objects["values"]["gain"] == values["gain"]


def test_protocol_2_builtins_are_read_as_python_3_names(tmp_path):
    path = tmp_path / "p2.pkl"
    with open(path, "wb") as f:
        pickle.dump({"w": torch.ones(1), "names": {"a", "b"}, "blob": b"\x00\xff"}, f, protocol=2)
    assert b"__builtin__\nset" in path.read_bytes()
    objects = open_checkpoint(path).objects
    assert objects == {"names": {"a", "b"}, "blob": b"\x00\xff"}


def test_codecs_encode_is_limited_to_latin1(tmp_path):
    class Rot13:
        def __reduce__(self):
            return (codecs.encode, ("text", "rot13"))

    path = tmp_path / "codec.pkl"
    with open(path, "wb") as f:
        pickle.dump({"x": Rot13()}, f, protocol=2)
    with pytest.raises(CheckpointError, match=r"codec\.pkl: .*rot13"):
        open_checkpoint(path)


def test_load_nvidia_pickle_returns_stubs_and_flatten_names_a_bare_network(tmp_path):
    module = PersistentModule("Generator", parameters={"w": torch.ones(2)}, init_kwargs={"z_dim": 2})
    tree = load_nvidia_pickle(save_nvidia_pickle(tmp_path / "G.pkl", {"G_ema": module}))
    stub = tree["G_ema"]
    assert isinstance(stub, PersistentObject) and stub.class_name == "Generator"
    assert "module_src" not in stub.state and list(stub.state["_parameters"]) == ["w"]
    bare = flatten(stub)
    assert list(bare) == ["w"]
    assert bare.objects["_class_name"] == "Generator" and bare.objects["_init_kwargs"] == {"z_dim": 2}


def test_writer_lends_modules_only_while_pickling(tmp_path):
    sentinel = types.ModuleType("dnnlib")
    sys.modules["dnnlib"] = sentinel
    try:
        assert "torch_utils" not in sys.modules
        module = PersistentModule("G", parameters={"w": torch.ones(1)})
        save_nvidia_pickle(tmp_path / "a.pkl", {"G_ema": module})
        assert sys.modules["dnnlib"] is sentinel
        assert "dnnlib.util" not in sys.modules and "torch_utils" not in sys.modules
        assert "torch_utils.persistence" not in sys.modules

        unpicklable = PersistentModule("G", attributes={"fn": lambda: None})
        with pytest.raises((pickle.PicklingError, AttributeError)):
            save_nvidia_pickle(tmp_path / "b.pkl", {"G_ema": unpicklable})
        assert sys.modules["dnnlib"] is sentinel and "torch_utils" not in sys.modules
        assert not (tmp_path / "b.pkl").exists()
        assert [p.name for p in tmp_path.iterdir()] == ["a.pkl"]  # no partial file left behind
    finally:
        del sys.modules["dnnlib"]


def test_from_state_dict_builds_the_tree():
    sd = {
        "mapping.fc0.weight": torch.randn(2, 2),
        "mapping.w_avg": torch.zeros(2),
        "synthesis.b4.conv1.affine.weight": torch.randn(3, 2),
        "synthesis.b4.resample_filter": torch.ones(4, 4),
    }
    root = PersistentModule.from_state_dict(
        sd,
        class_names={"": "Generator", "mapping": "MappingNetwork", "synthesis.b4": "SynthesisBlock"},
        buffers={"mapping.w_avg", "synthesis.b4.resample_filter"},
        init_kwargs={"": {"z_dim": 2, "w_dim": 2}},
        attributes={"synthesis.b4": {"resolution": 4}},
    )
    assert root.class_name == "Generator" and root.init_kwargs == {"z_dim": 2, "w_dim": 2}
    mapping = root.modules["mapping"]
    assert mapping.class_name == "MappingNetwork"
    assert list(mapping.parameters) == [] and list(mapping.buffers) == ["w_avg"]
    fc0 = mapping.modules["fc0"]
    assert list(fc0.parameters) == ["weight"] and fc0.class_name == "Module"
    block = root.modules["synthesis"].modules["b4"]
    assert block.attributes == {"resolution": 4} and list(block.buffers) == ["resample_filter"]
    with pytest.raises(ValueError, match="'synthesis.b8'"):
        PersistentModule.from_state_dict(sd, class_names={"synthesis.b8": "SynthesisBlock"})


def test_from_state_dict_round_trips_through_a_file(tmp_path):
    sd = {f"synthesis.b{r}.conv1.affine.weight": torch.randn(4, 3) for r in (4, 8)}
    sd["mapping.w_avg"] = torch.randn(3)
    path = save_nvidia_pickle(
        tmp_path / "g.pkl", {"G_ema": PersistentModule.from_state_dict(sd, buffers={"mapping.w_avg"})}
    )
    g_ema = open_checkpoint(path).with_prefix("G_ema.")
    assert list(g_ema) == list(sd)
    assert all(torch.equal(g_ema[name], tensor) for name, tensor in sd.items())
