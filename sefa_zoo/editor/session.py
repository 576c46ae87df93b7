"""What the editor shows, without any web library: the models it has open, each browser
tab's view of one (its directions, seeds, truncation and slider values), and the pictures
of a view, rendered through the same ``Generator``, bank and combined-edit code as
``sefa-zoo edit`` and ``sefa-zoo render``."""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ..bank import DirectionBank, load_bank
from ..classes import ChosenClass, num_classes_of
from ..conventions import DEFAULT_TRUNCATION_CUTOFF, MAX_SEED
from ..editing import (
    CombinedEdit, LoadedGenerator, check_bank_fits, codes_from_seeds, default_truncation_psi, edited_codes,
    edited_latents, latents_from_seeds, map_latents, moves_z, open_generator, plan_combined, synthesize_codes,
)
from ..errors import RecipeError, SefaZooError
from ..hashing import sha256_file
from ..layers import format_layer_spec, parse_layer_spec
from ..ranges import parse_index_list
from ..recipe import Recipe, make_recipe
from .pictures import grid

MAX_SLIDERS = 20  # the sliders a page has: a bank's first MAX_SLIDERS directions can be moved
DEFAULT_SHOWN = 5
MAX_SEEDS = 16  # one grid: a batch renders in the time of a few images
CACHED_SAMPLES = 8  # mapped codes and original pictures kept per model, for the latest seed choices
SLIDER_LIMIT = 10.0
LAYER_CHOICES = ("all", "bottom", "middle", "top")


@dataclass(frozen=True)
class ModelSource:
    """How to open a model: a catalogue name, or a checkpoint file with what detection needs."""

    name: str | None = None
    checkpoint: Path | None = None
    architecture: str | None = None
    layout: str | None = None
    companions: Mapping[str, Path] = field(default_factory=dict)
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.name if self.name is not None else str(self.checkpoint)


@dataclass(frozen=True)
class View:
    """What one browser tab shows of a model."""

    model: str  # the Workspace key of its model
    bank: DirectionBank
    bank_file: str  # the name of the file the bank came from; "" when factorized here
    layers: str  # the layer spec factorized; "" for a bank from a file
    seeds: tuple[int, ...]
    truncation_psi: float
    truncation_cutoff: int | None
    chosen_class: ChosenClass | None
    shown: int
    distances: tuple[float, ...]  # one per slider, MAX_SLIDERS
    to_distance: bool = False  # the sliders say where to move to from the bank's boundaries, not how far

    def moved(self) -> dict[int, float]:
        """Direction index -> distance of every shown slider off 0; every shown slider when the
        sliders are distances from boundaries (0 is then on the boundary, not unmoved)."""
        shown = enumerate(self.distances[: self.shown])
        return {i: d for i, d in shown if d != 0.0 or self.to_distance}

    @property
    def origin(self) -> str:
        return self.bank_file or f"factorized on layers {self.layers}"

    def slider_label(self, index: int) -> str:
        """``#3 · 12.5% · pose``: index, eigenvalue share and the name given, if any."""
        if index >= self.bank.k:
            return f"#{index}"
        name = self.bank.name_of(index)
        return " · ".join([f"#{index}", f"{self.bank.shares()[index]:.1%}", *([name] if name else [])])

    @property
    def slider_count(self) -> int:
        return min(self.bank.k, MAX_SLIDERS)


@dataclass(frozen=True)
class Sample:
    """A view's seeds mapped to codes, and the unedited picture of them."""

    codes: torch.Tensor
    original: np.ndarray  # uint8 grid (H, W, C)


class OpenModel:
    """One generator, shared by every tab that shows it; one render at a time."""

    def __init__(self, key: str, source: ModelSource, loaded: LoadedGenerator) -> None:
        self.key = key
        self.source = source
        self.loaded = loaded
        self.lock = threading.Lock()
        self._banks: dict[tuple[int, ...], DirectionBank] = {}
        self._samples: OrderedDict[tuple, Sample] = OrderedDict()

    @property
    def generator(self):
        return self.loaded.generator

    @property
    def conditional(self) -> bool:
        return num_classes_of(self.generator) > 0

    def sha256(self) -> str:
        """The checkpoint's sha256 (hashed once, when the catalogue does not give it)."""
        if self.loaded.sha256 is None:
            self.loaded = replace(self.loaded, sha256=sha256_file(self.loaded.path))
        return self.loaded.sha256

    def factorized(self, spec: str) -> DirectionBank:
        """SeFa directions of the layers ``spec`` selects (the CLI's layer specs), computed once."""
        from ..api import factorize_file, factorize_model
        from ..lookup import get_architecture
        from ..plugins import call_plugin

        groups = call_plugin(get_architecture(self.loaded.architecture), "layer_groups", self.generator.num_layers)
        key = parse_layer_spec(spec, self.generator.num_layers, groups)
        with self.lock:
            if key not in self._banks:
                layers, source = format_layer_spec(list(key)), self.source
                if source.name is not None:
                    bank = factorize_model(source.name, layers=layers, options=dict(source.options), progress=False)
                else:
                    bank = factorize_file(source.checkpoint, layers=layers, architecture=source.architecture,
                                          layout=source.layout, companions=dict(source.companions),
                                          options=dict(source.options))
                self._banks[key] = bank
            return self._banks[key]

    def check_bank(self, bank: DirectionBank) -> str | None:
        """A BankError unless ``bank`` acts on this model; a note when it came from another checkpoint."""
        check_bank_fits(bank, self.generator, self.loaded.architecture)
        if not bank.checkpoint_sha256 or bank.checkpoint_sha256 == self.sha256():
            return None
        return (f"the bank was computed from another checkpoint (sha256 {bank.checkpoint_sha256[:12]}..., "
                f"this model's is {self.sha256()[:12]}...); its directions may mean something else here")

    def plan(self, view: View) -> CombinedEdit:
        """The view's edit, every value checked as ``sefa-zoo edit`` checks it."""
        return plan_combined(
            self.generator, view.bank, view.moved(), view.seeds, truncation_psi=view.truncation_psi,
            truncation_cutoff=view.truncation_cutoff, architecture=self.loaded.architecture,
            class_index=view.chosen_class.index if view.chosen_class else None, model=self.key,
            to_distance=view.to_distance,
        )

    def sample(self, view: View) -> Sample:
        """The view's seeds mapped (with its truncation and class) and rendered unedited; cached."""
        edit = self.plan(view)
        key = (edit.seeds, edit.truncation_psi, edit.truncation_cutoff, edit.class_index)
        with self.lock:
            if key not in self._samples:
                codes = codes_from_seeds(self.generator, edit.seeds, truncation_psi=edit.truncation_psi,
                                         truncation_cutoff=edit.truncation_cutoff, class_index=edit.chosen_class)
                self._samples[key] = Sample(codes, grid(self._synthesize(codes, edit)))
                if len(self._samples) > CACHED_SAMPLES:
                    self._samples.popitem(last=False)
            self._samples.move_to_end(key)
            return self._samples[key]

    def edited(self, view: View) -> np.ndarray:
        """The view's picture with every slider applied at once (the original when none is moved)."""
        sample = self.sample(view)
        edit = self.plan(view)
        if not edit.distances:
            return sample.original
        with self.lock:
            return grid(self._synthesize(self._edited_codes(sample, view.bank, edit), edit))

    def _edited_codes(self, sample: Sample, bank: DirectionBank, edit: CombinedEdit) -> torch.Tensor:
        """The codes of the edit: the mapped codes moved, or for a z bank of a per-layer model
        the seeds' latents moved and mapped again (as render_combined does)."""
        if not moves_z(bank, self.generator):
            return edited_codes(sample.codes, bank, edit.distance_map, edit.layers, to_distance=edit.to_distance)
        z = edited_latents(latents_from_seeds(edit.seeds, self.generator.z_dim), bank, edit.distance_map,
                           to_distance=edit.to_distance)
        return map_latents(self.generator, z, truncation_psi=edit.truncation_psi,
                           truncation_cutoff=edit.truncation_cutoff, chosen_class=edit.chosen_class)

    def _synthesize(self, codes: torch.Tensor, edit: CombinedEdit) -> torch.Tensor:
        return synthesize_codes(self.generator, codes, chosen_class=edit.chosen_class,
                                truncation_psi=edit.truncation_psi)

    def recipe(self, view: View) -> Recipe:
        """The recipe that renders the view's edited picture again (``sefa-zoo render``)."""
        self.sha256()
        return make_recipe(self.loaded, view.bank, self.plan(view), bank_file=view.bank_file or None,
                           options=dict(self.source.options))


def zero_distances() -> tuple[float, ...]:
    return (0.0,) * MAX_SLIDERS


def parse_seeds(text: str) -> tuple[int, ...]:
    """Seeds as the CLI takes them (``0``, ``0-3``, ``0,7,42``), at most MAX_SEEDS."""
    seeds = parse_index_list(str(text), what="seed", limit=MAX_SEED + 1)
    if len(seeds) > MAX_SEEDS:
        raise SefaZooError(f"seeds {text!r} name {len(seeds)} seeds; the editor shows at most {MAX_SEEDS} at once")
    return seeds


def random_seeds(count: int) -> tuple[int, ...]:
    return tuple(sorted({secrets.randbelow(MAX_SEED + 1) for _ in range(max(1, count))}))


def format_seeds(seeds: Sequence[int]) -> str:
    return format_layer_spec(list(seeds))


def checked_distances(values: Sequence[float | None]) -> tuple[float, ...]:
    """Slider values as distances; a missing or non-finite one is a one-line error."""
    distances = []
    for index, value in enumerate(values):
        if value is None or not np.isfinite(float(value)):
            raise SefaZooError(f"slider #{index} has no finite value ({value!r})")
        distances.append(float(value))
    return tuple(distances) + (0.0,) * (MAX_SLIDERS - len(distances))


class Workspace:
    """The models the editor has open (one generator each, whatever the number of tabs) and
    the bank files named on the command line."""

    def __init__(self, first: ModelSource, banks: Sequence[Path] = ()) -> None:
        self.first = first
        self.bank_files = {str(path): path for path in banks}
        self._models: dict[str, OpenModel] = {}
        self._openings: dict[str, threading.Lock] = {}
        self._openings_guard = threading.Lock()

    def model(self, key: str) -> OpenModel:
        """The open model ``key`` (a catalogue name, or the first model's label), opened on first use.
        Opening one (a download, maybe) holds up only the tabs that wait for that model."""
        found = self._models.get(key)
        if found is not None:
            return found
        with self._openings_guard:
            opening = self._openings.setdefault(key, threading.Lock())
        with opening:
            if key not in self._models:
                source = self.first if key == self.first.label else ModelSource(name=key)
                self._models[key] = OpenModel(key, source, _open(source))
            return self._models[key]

    def first_view(self) -> tuple[View, str | None]:
        """The view a new tab opens on: the first model with its first bank file, else with all
        its layers factorized; and a note when that bank came from another checkpoint."""
        if self.bank_files:
            name = next(iter(self.bank_files))
            bank = load_bank(self.bank_files[name])
            return self.with_bank(self._view(self.first.label, bank, name, ""), bank, name)
        return self.view_of(self.first.label), None

    def view_of(self, key: str, *, layers: str = "all") -> View:
        """A fresh view of model ``key``: directions of ``layers``, seed 0, the model's truncation."""
        return self._view(key, self.model(key).factorized(layers), "", layers)

    def _view(self, key: str, bank: DirectionBank, bank_file: str, layers: str) -> View:
        model = self.model(key)
        chosen = ChosenClass(0) if model.conditional else None
        return View(key, bank, bank_file, layers, (0,), default_truncation_psi(model.generator),
                    DEFAULT_TRUNCATION_CUTOFF, chosen, min(DEFAULT_SHOWN, bank.k, MAX_SLIDERS), zero_distances())

    def with_layers(self, view: View, spec: str) -> View:
        spec = (spec or "").strip()
        bank = self.model(view.model).factorized(spec)
        return replace(view, bank=bank, bank_file="", layers=spec, shown=min(view.shown, bank.k, MAX_SLIDERS),
                       distances=zero_distances(), to_distance=False)

    def with_bank(self, view: View, bank: DirectionBank, name: str) -> tuple[View, str | None]:
        """``view`` showing ``bank`` (from the file ``name``): a BankError when the bank is for
        another model, a note when it came from another checkpoint of the same kind."""
        note = self.model(view.model).check_bank(bank)
        shown = min(max(view.shown, DEFAULT_SHOWN), bank.k, MAX_SLIDERS)
        return replace(view, bank=bank, bank_file=name, layers="", shown=shown, distances=zero_distances(),
                       to_distance=view.to_distance and bank.offsets is not None), note

    def with_bank_file(self, view: View, name: str) -> tuple[View, str | None]:
        """``view`` with the directions of a bank file named on the command line."""
        return self.with_bank(view, load_bank(self.bank_files[name]), name)

    def with_class(self, view: View, wanted: str) -> View:
        from ..classes import resolve_class

        text = (wanted or "").strip()
        return replace(view, chosen_class=resolve_class(self.model(view.model).generator, text or None, view.model))

    def view_of_recipe(self, recipe: Recipe, known_banks: Sequence[tuple[DirectionBank, str]] = ()) -> View:
        """The view a recipe describes, on this editor's own models and banks: the recipe's
        checkpoint (by sha256) and directions (by digest) must be ones it has."""
        key = self._recipe_model(recipe)
        model = self.model(key)
        if model.sha256() != recipe.model.checkpoint_sha256:
            raise RecipeError(f"the recipe's checkpoint has sha256 {recipe.model.checkpoint_sha256[:12]}..., "
                              f"this editor's {key} has {model.sha256()[:12]}...")
        bank, bank_file, layers = self._recipe_bank(recipe, model, known_banks)
        if recipe.direction_names:
            bank = bank.with_names(dict(recipe.direction_names))
        beyond = [i for i, d in recipe.distances if d and i >= MAX_SLIDERS]
        if beyond:
            raise RecipeError(f"the recipe moves direction {beyond[0]}; the editor has sliders for 0-{MAX_SLIDERS - 1}")
        distances = dict(recipe.distances)
        moved = [i for i in distances if distances[i]]
        view = replace(
            self._view(key, bank, bank_file, layers), seeds=recipe.seeds, truncation_psi=recipe.truncation_psi,
            truncation_cutoff=recipe.truncation_cutoff,
            chosen_class=ChosenClass(recipe.class_index) if recipe.class_index is not None else None,
            distances=tuple(distances.get(i, 0.0) for i in range(MAX_SLIDERS)), to_distance=recipe.to_distance,
        )
        view = replace(view, shown=min(max(view.shown, max(moved, default=0) + 1), view.slider_count))
        edited_layers = model.plan(view).layers  # every value checked as `sefa-zoo edit` checks it
        if recipe.layers != edited_layers:
            raise RecipeError(f"the recipe edits layers {format_layer_spec(list(recipe.layers))}; the editor edits "
                              f"the bank's layers ({format_layer_spec(list(edited_layers))})")
        return view

    def _recipe_model(self, recipe: Recipe) -> str:
        if recipe.model.from_catalogue:
            if recipe.model.name != self.first.label:
                from ..catalogue import get_entry

                get_entry(recipe.model.name)
            return recipe.model.name
        checkpoint = self.first.checkpoint
        if checkpoint is None or Path(checkpoint).name != recipe.model.name:
            raise RecipeError(f"the recipe's model is the checkpoint file {recipe.model.name!r}: "
                              "start the editor with --checkpoint on it")
        return self.first.label

    def _recipe_bank(
        self, recipe: Recipe, model: OpenModel, known_banks: Sequence[tuple[DirectionBank, str]]
    ) -> tuple[DirectionBank, str, str]:
        """The recipe's bank among those this editor has, or factorized again: (bank, file name, layers)."""
        made = recipe.bank
        if made.factorized:
            bank = model.factorized(made.layers)
            if bank.digest() == made.digest:
                return bank, "", made.layers
            raise RecipeError(f"the directions factorized here on layers {made.layers} are not the recipe's "
                              f"(digest {bank.digest()[:12]}..., the recipe's {made.digest[:12]}...)")
        candidates = [*known_banks, *((load_bank(path), name) for name, path in self.bank_files.items())]
        for bank, name in candidates:
            if bank.digest() == made.digest:
                return bank, name, ""
        raise RecipeError(f"the recipe's directions come from the bank file {made.file_name!r}: "
                          "upload it first (or start the editor with --bank on it)")


def _open(source: ModelSource) -> LoadedGenerator:
    if source.name is not None:
        return open_generator(source.name, options=dict(source.options), progress=True)
    return open_generator(source.checkpoint, architecture=source.architecture, layout=source.layout,
                          companions=dict(source.companions), options=dict(source.options))
