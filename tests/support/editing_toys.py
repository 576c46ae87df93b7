"""A tiny W+ architecture for the editing tests: per-layer codes, an average latent, a
generator that records what it is given, and a catalogue entry pointing at its file; and
helpers for looking at output folders."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from sefa_zoo import Architecture, CatalogueEntry, LocalSource, ProjectionLayer, hookimpl, truncate

NAME = "fakewplus"
Z_DIM, W_DIM, NUM_LAYERS, OUTPUTS = 5, 6, 4, 7
CHANNELS, SIZE = 3, 8


def fake_tensors(seed: int = 0, w_dim: int = W_DIM) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    tensors = {
        f"{NAME}.mapping": torch.randn(w_dim, Z_DIM, generator=gen),
        f"{NAME}.w_avg": torch.randn(w_dim, generator=gen),
    }
    for i in range(NUM_LAYERS):
        tensors[f"{NAME}.style{i}"] = torch.randn(OUTPUTS, w_dim, generator=gen)
        tensors[f"{NAME}.to_pixels{i}"] = torch.randn(OUTPUTS, CHANNELS * SIZE * SIZE, generator=gen) * 0.1
    return tensors


class FakeWPlusGenerator:
    """z -> w = M z, repeated per layer, truncated towards w_avg; images = tanh(sum_i P_i S_i code_i).

    ``mapped`` and ``synthesized`` keep every batch of codes it was given or returned.
    """

    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.tensors = {k.removeprefix(f"{NAME}."): v.float() for k, v in tensors.items()}
        self.z_dim = Z_DIM
        self.latent_dim = self.tensors["w_avg"].shape[0]
        self.num_layers = NUM_LAYERS
        self.mapped: list[torch.Tensor] = []
        self.synthesized: list[torch.Tensor] = []

    def map(self, z, *, truncation_psi=1.0, truncation_cutoff=None):
        w = z.float() @ self.tensors["mapping"].T
        codes = w[:, None, :].repeat(1, self.num_layers, 1)
        codes = truncate(codes, self.tensors["w_avg"], truncation_psi, truncation_cutoff)
        self.mapped.append(codes.clone())
        return codes

    def synthesize(self, codes):
        self.synthesized.append(codes.clone())
        total = sum(
            (codes[:, i] @ self.tensors[f"style{i}"].T) @ self.tensors[f"to_pixels{i}"]
            for i in range(self.num_layers)
        )
        return torch.tanh(total).reshape(len(codes), CHANNELS, SIZE, SIZE)


class FakeWPlus(Architecture):
    name = NAME
    layouts = {"plain": f"{NAME}.style<i> tensors"}
    latent_space = "w"
    built: list[FakeWPlusGenerator] = []

    def detect(self, checkpoint):
        return "plain" if f"{NAME}.style0" in checkpoint else None

    def layers(self, checkpoint, *, layout=None, **options):
        self.resolve_layout(checkpoint, layout)
        return [
            ProjectionLayer(i, f"style{i}", OUTPUTS, checkpoint.shape(f"{NAME}.style{i}")[1], 4 * 2 ** (i // 2))
            for i in range(NUM_LAYERS)
        ]

    def projection(self, checkpoint, indices, *, layout=None, **options):
        return [checkpoint[f"{NAME}.style{i}"] for i in indices]

    def build_generator(self, checkpoint, *, layout=None, device="cpu"):
        generator = FakeWPlusGenerator({name: checkpoint[name] for name in checkpoint})
        FakeWPlus.built.append(generator)
        return generator


class FakeWPlusPlugin:
    def __init__(self, path: Path):
        self.path = path

    @hookimpl
    def register_architectures(self, register):
        register(FakeWPlus())

    @hookimpl
    def register_catalogue_entries(self, register):
        register(CatalogueEntry(
            name="fake-wplus", architecture=NAME, layout="plain", source=LocalSource(path=str(self.path)),
            resolution=SIZE, num_layers=NUM_LAYERS, license="test", provenance="test", description="test model",
            z_dim=Z_DIM, w_dim=W_DIM,
        ))


@pytest.fixture
def fake_wplus(register_plugin, tmp_path):
    """The path of a fake W+ checkpoint, its architecture registered with catalogue entry 'fake-wplus'."""
    path = tmp_path / "fake_wplus.safetensors"
    save_file(fake_tensors(), str(path))
    FakeWPlus.built.clear()
    register_plugin(FakeWPlusPlugin(path), "fake-wplus-plugin")
    return path


@pytest.fixture
def dcgan_file(tmp_path):
    """A small tutorial DCGAN checkpoint (z 8, 16x16 RGB)."""
    from sefa_zoo_plugins.dcgan import random_dcgan_state

    path = tmp_path / "dcgan.pth"
    torch.save(random_dcgan_state(nz=8, ngf=4, nc=3, image_size=16), path)
    return path


def folder_contents(folder: Path) -> dict[str, bytes | str | None]:
    """Every entry under ``folder`` by relative name: a file's bytes, None for a folder, what
    a symbolic link points to, the kind of anything else (never opened: it may be a pipe)."""
    return {str(path.relative_to(folder)): _content(path) for path in sorted(folder.rglob("*"))}


def _content(path: Path) -> bytes | str | None:
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return f"-> {os.readlink(path)}"
    if stat.S_ISDIR(mode):
        return None
    return path.read_bytes() if stat.S_ISREG(mode) else stat.filemode(mode)


def staging_leftovers(*folders: Path) -> list[Path]:
    """Hidden staging folders of edit runs directly inside any of ``folders``."""
    return [path for folder in folders if folder.is_dir() for path in folder.iterdir()
            if path.name.endswith(".edit-partial")]


@pytest.fixture
def unwritable_folder(tmp_path):
    """A folder nobody may create anything in: a 0555 folder, or for root (who may write
    anywhere permissions say no) /sys, where even root cannot make folders."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        for candidate in (folder, Path("/sys")):
            try:
                os.rmdir(tempfile.mkdtemp(dir=candidate))
            except OSError:
                yield candidate
                return
        pytest.skip("no folder here refuses new folders")
    finally:
        folder.chmod(0o755)


CLASS_NAMES = ("tabby cat", "golden retriever", "crane", "tench, Tinca tinca")


class FakeConditionalGenerator(FakeWPlusGenerator):
    """FakeWPlusGenerator with a class: w = M z + E[class] (the class enters the mapping, as in
    StyleGAN2-ADA) and a per-class offset on the image (it enters the synthesis too, as in
    BigGAN). ``map_classes`` / ``synthesize_classes`` keep the classes and truncation it was given."""

    def __init__(self, tensors: dict[str, torch.Tensor], class_names: tuple[str, ...] | None = CLASS_NAMES):
        super().__init__(tensors)
        self.num_classes = len(CLASS_NAMES)
        if class_names is not None:
            self.class_names = class_names
        gen = torch.Generator().manual_seed(7)
        self.embedding = torch.randn(self.num_classes, self.latent_dim, generator=gen)
        self.offsets = torch.randn(self.num_classes, generator=gen) * 0.1
        self.map_classes: list[torch.Tensor] = []
        self.synthesize_calls: list[tuple[torch.Tensor, float]] = []

    def map(self, z, *, truncation_psi=1.0, truncation_cutoff=None, classes=None):
        self.map_classes.append(classes.clone())
        w = z.float() @ self.tensors["mapping"].T + self.embedding[classes]
        codes = truncate(w[:, None, :].repeat(1, self.num_layers, 1), self.tensors["w_avg"], truncation_psi,
                         truncation_cutoff)
        self.mapped.append(codes.clone())
        return codes

    def synthesize(self, codes, *, classes=None, truncation_psi=1.0):
        self.synthesize_calls.append((classes.clone(), truncation_psi))
        images = super().synthesize(codes)
        return (images + self.offsets[classes][:, None, None, None]).clamp(-1, 1)


@pytest.fixture
def conditional_dcgan_file(tmp_path):
    """A small tutorial DCGAN fed cat(z, one-hot label): z 6 + 4 classes, 16x16 RGB."""
    from sefa_zoo_plugins.dcgan import random_dcgan_state

    path = tmp_path / "cdcgan.pth"
    torch.save(random_dcgan_state(nz=10, ngf=4, nc=3, image_size=16, num_classes=4), path)
    return path


def command_runner(**commands):
    """A runner of CLI commands not (yet) registered in sefa_zoo.cli.main: a command group with
    ``commands`` registered as main.py registers its own, through ``guarded`` (errors become
    "Error: ..." and exit 1). Returns run(*args) -> click's Result."""
    import typer
    from typer.testing import CliRunner

    from sefa_zoo.cli.main import guarded

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
    app.callback()(lambda: None)
    for name, function in commands.items():
        app.command(name)(guarded(function))
    return lambda *args: CliRunner().invoke(app, [str(arg) for arg in args])


def boundary_bank_of(generator, space: str, normal, offset: float, attribute: str = "test"):
    """A one-direction InterFaceGAN bank of the fake W+ model (``generator``) in ``space``
    ("w" or "z"): the boundary normal·x + offset = 0."""
    import numpy as np

    from sefa_zoo.boundary import Boundary, ModelFacts, boundary_bank

    facts = ModelFacts(generator, NAME, "plain", tuple(f"style{i}" for i in range(NUM_LAYERS)),
                       {"model": "fake", "checkpoint_sha256": "", "checkpoint_source": "fake_wplus.safetensors"})
    unit = np.asarray(normal, dtype=np.float64) / np.linalg.norm(normal)
    return boundary_bank(facts, space, [Boundary(unit, offset, 1.0, 1.0, 1, 1, 0, True)], attribute=attribute,
                         info={})
