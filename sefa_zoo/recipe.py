"""Edit recipes: a small JSON file that gives back exactly the same image.

A recipe names the model (a catalogue name, or a checkpoint file by its name) with the sha256
of its weights, the directions by their bank's digest and how they were made (a bank file, or
factorized on the fly, which can be done again), and everything the sliders and sample
controls set, with whether the sliders move samples by a distance or to a distance from the
bank's boundaries. Rendering one checks both hashes first: a different checkpoint or bank is a
one-line error naming which, never a silently different image.

A recipe file is hostile: it is read only up to ``MAX_RECIPE_BYTES``, parsed with bounded
numbers and nesting, and every field is checked against a strict schema; every problem is a
one-line RecipeError naming the file and the field.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .atomic import atomic_path
from .conventions import MAX_SEED
from .errors import RecipeError, UnknownModelError
from .file_kinds import checkpoint_in_folder, kind_of, kind_of_mode
from .layers import format_layer_spec

if TYPE_CHECKING:
    import torch

    from .bank import DirectionBank
    from .editing import CombinedEdit, LoadedGenerator

FORMAT = "sefa-zoo edit recipe"
VERSION = 1
MAX_RECIPE_BYTES = 64 * 1024
MAX_SEEDS = 64
MAX_LAYERS = 1024
MAX_DIRECTIONS = 4096  # sliders (and names) a recipe may set
MAX_INDEX = 99_999  # of a layer, a direction or a class
MAX_DISTANCE = 1e6
MAX_PSI = 1e3
MAX_K = 100_000
MAX_OPTIONS = 32
MAX_TEXT = 256
MAX_NAME = 80  # a direction's name, as banks allow (bank.MAX_NAME_CHARS)
MAX_NUMBER_CHARS = 40  # of one number in the JSON text, before it is parsed
NORMALIZATIONS = ("rows", "none")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_INDEX_KEY = re.compile(r"0|[1-9][0-9]{0,4}")


@dataclass(frozen=True)
class RecipeModel:
    """The model: a catalogue name (``from_catalogue``) or a checkpoint file's name, the sha256
    of its weights, how they were read and the architecture options given."""

    name: str
    from_catalogue: bool
    checkpoint_sha256: str
    architecture: str
    layout: str
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RecipeBank:
    """The directions, by ``digest`` (``DirectionBank.digest``), and how they were made: loaded
    from the bank file ``file_name``, or (``file_name`` "") factorized on the fly from ``layers``
    keeping ``k`` directions with ``normalization``, which can be done again."""

    digest: str
    file_name: str = ""
    layers: str = ""
    k: int = 0
    normalization: str = "rows"

    @property
    def factorized(self) -> bool:
        return not self.file_name


@dataclass(frozen=True)
class Recipe:
    model: RecipeModel
    bank: RecipeBank
    seeds: tuple[int, ...]
    truncation_psi: float
    truncation_cutoff: int | None
    class_index: int | None
    layers: tuple[int, ...]
    distances: tuple[tuple[int, float], ...]  # every slider: (direction, distance), by direction
    direction_names: tuple[tuple[int, str], ...] = ()  # (direction, name) of the named ones
    to_distance: bool = False  # distances are where samples move to from the bank's boundaries, not how far

    @property
    def distance_map(self) -> dict[int, float]:
        return dict(self.distances)


def make_recipe(
    loaded: LoadedGenerator,
    bank: DirectionBank,
    edit: CombinedEdit,
    *,
    bank_file: str | os.PathLike[str] | None = None,
    options: Mapping[str, object] | None = None,
) -> Recipe:
    """The recipe of ``edit`` on ``loaded``'s generator with ``bank``: loaded from ``bank_file``,
    or, when None, factorized on the fly (from its own layers, k and normalization).
    ``options``: the architecture options the generator was built with. Hashes a checkpoint
    file whose sha256 is not known yet."""
    from .hashing import sha256_file

    if loaded.path is None and loaded.sha256 is None:
        raise RecipeError("a recipe needs the model's checkpoint file or its sha256; this generator has neither")
    model = RecipeModel(
        name=loaded.name if loaded.from_catalogue else loaded.path.name,
        from_catalogue=loaded.from_catalogue,
        checkpoint_sha256=loaded.sha256 or sha256_file(loaded.path),
        architecture=loaded.architecture,
        layout=loaded.layout,
        options=tuple(sorted((str(key), str(value)) for key, value in (options or {}).items())),
    )
    if bank_file is not None:
        made = RecipeBank(bank.digest(), file_name=Path(bank_file).name)
    else:
        _check_factorizable(bank)
        made = RecipeBank(bank.digest(), layers=format_layer_spec(sorted(set(bank.layer_indices))), k=bank.k,
                          normalization=bank.normalization)
    recipe = Recipe(
        model=model, bank=made, seeds=edit.seeds, truncation_psi=edit.truncation_psi,
        truncation_cutoff=edit.truncation_cutoff, class_index=edit.class_index, layers=edit.layers,
        distances=edit.distances,
        direction_names=tuple((i, bank.name_of(i)) for i in range(bank.k) if bank.name_of(i)),
        to_distance=edit.to_distance,
    )
    return recipe_from_json(recipe_to_json(recipe), "recipe")  # what could not be saved fails here


def _check_factorizable(bank: DirectionBank) -> None:
    """Refuse to record as "factorized on the fly" a bank that factorizing cannot make again:
    another method's, or one given per-direction layers or boundary offsets since."""
    changed = [what for what, present in (("per-direction layers", any(bank.direction_layers)),
                                          ("boundary offsets", bank.offsets is not None),
                                          ("a mean", bank.mean is not None)) if present]
    if bank.method != "sefa" or changed:
        what = f"a {bank.method} bank" if bank.method != "sefa" else f"a bank with {changed[0]}"
        raise RecipeError(
            f"{what} cannot be made again by factorizing: save it and record its file (bank_file) in the recipe"
        )


# the JSON form


def recipe_to_json(recipe: Recipe) -> dict[str, Any]:
    model, bank = recipe.model, recipe.bank
    source = {"catalogue": model.name} if model.from_catalogue else {"checkpoint_file": model.name}
    made = (
        {"factorized": {"layers": bank.layers, "k": bank.k, "normalization": bank.normalization}}
        if bank.factorized else {"file": bank.file_name}
    )
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": {
            **source,
            "checkpoint_sha256": model.checkpoint_sha256,
            "architecture": model.architecture,
            "layout": model.layout,
            "options": dict(model.options),
        },
        "bank": {"digest": bank.digest, **made},
        "seeds": list(recipe.seeds),
        "truncation_psi": recipe.truncation_psi,
        "truncation_cutoff": recipe.truncation_cutoff,
        "class_index": recipe.class_index,
        "layers": list(recipe.layers),
        "distances": {str(i): distance for i, distance in recipe.distances},
        "direction_names": {str(i): name for i, name in recipe.direction_names},
        **({"to_distance": True} if recipe.to_distance else {}),  # recipes of moves by keep their old form
    }


def recipe_text(recipe: Recipe) -> str:
    """The recipe as its file holds it (floats as their shortest round-tripping decimals)."""
    return json.dumps(recipe_to_json(recipe), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def recipe_from_json(data: object, where: str) -> Recipe:
    """A Recipe from parsed JSON, every field checked; RecipeError naming ``where`` and the field."""
    fields = _Fields(where)
    top = fields.object(data, "", required=("format", "version", "model", "bank", "seeds", "truncation_psi",
                                            "truncation_cutoff", "class_index", "layers", "distances"),
                        optional=("direction_names", "to_distance"))
    if top["format"] != FORMAT:
        raise RecipeError(f"{where}: 'format' must be {FORMAT!r} (is this a sefa-zoo edit recipe?)")
    version = fields.integer(top["version"], "version", 1, 10**6)
    if version != VERSION:
        raise RecipeError(f"{where}: recipe version {version} is not one this sefa-zoo reads ({VERSION})")
    return Recipe(
        model=_model(fields, top["model"]),
        bank=_bank(fields, top["bank"]),
        seeds=tuple(fields.integer(seed, f"seeds[{i}]", 0, MAX_SEED)
                    for i, seed in enumerate(fields.array(top["seeds"], "seeds", MAX_SEEDS, min_items=1))),
        truncation_psi=fields.number(top["truncation_psi"], "truncation_psi", MAX_PSI),
        truncation_cutoff=fields.optional(top["truncation_cutoff"], "truncation_cutoff", fields.integer, 0, MAX_INDEX),
        class_index=fields.optional(top["class_index"], "class_index", fields.integer, 0, MAX_INDEX),
        layers=_layers(fields, top["layers"]),
        distances=tuple(
            (index, fields.number(value, f"distances.{index}", MAX_DISTANCE))
            for index, value in fields.indexed(top["distances"], "distances")
        ),
        direction_names=tuple(
            (index, fields.text(value, f"direction_names.{index}", MAX_NAME, stripped=True))
            for index, value in fields.indexed(top.get("direction_names", {}), "direction_names")
        ),
        to_distance=fields.flag(top.get("to_distance", False), "to_distance"),
    )


def _model(fields: _Fields, data: object) -> RecipeModel:
    model = fields.object(data, "model", required=("checkpoint_sha256", "architecture", "layout", "options"),
                          one_of=("catalogue", "checkpoint_file"))
    from_catalogue = "catalogue" in model
    name_field = "model.catalogue" if from_catalogue else "model.checkpoint_file"
    name = fields.text(model["catalogue" if from_catalogue else "checkpoint_file"], name_field, MAX_TEXT,
                       file_name=not from_catalogue)
    options = fields.object(model["options"], "model.options", max_items=MAX_OPTIONS)
    return RecipeModel(
        name=name,
        from_catalogue=from_catalogue,
        checkpoint_sha256=fields.hex64(model["checkpoint_sha256"], "model.checkpoint_sha256"),
        architecture=fields.text(model["architecture"], "model.architecture", MAX_TEXT),
        layout=fields.text(model["layout"], "model.layout", MAX_TEXT),
        options=tuple(sorted(
            (fields.text(key, "model.options (a key)", MAX_TEXT),
             fields.text(value, f"model.options.{key}", MAX_TEXT, empty=True))
            for key, value in options.items()
        )),
    )


def _bank(fields: _Fields, data: object) -> RecipeBank:
    bank = fields.object(data, "bank", required=("digest",), one_of=("file", "factorized"))
    digest = fields.hex64(bank["digest"], "bank.digest")
    if "file" in bank:
        return RecipeBank(digest, file_name=fields.text(bank["file"], "bank.file", MAX_TEXT, file_name=True))
    made = fields.object(bank["factorized"], "bank.factorized", required=("layers", "k", "normalization"))
    normalization = fields.text(made["normalization"], "bank.factorized.normalization", MAX_TEXT)
    if normalization not in NORMALIZATIONS:
        raise RecipeError(f"{fields.where}: 'bank.factorized.normalization' must be one of {', '.join(NORMALIZATIONS)}")
    return RecipeBank(
        digest,
        layers=fields.text(made["layers"], "bank.factorized.layers", MAX_TEXT),
        k=fields.integer(made["k"], "bank.factorized.k", 1, MAX_K),
        normalization=normalization,
    )


def _layers(fields: _Fields, data: object) -> tuple[int, ...]:
    layers = [fields.integer(layer, f"layers[{i}]", 0, MAX_INDEX)
              for i, layer in enumerate(fields.array(data, "layers", MAX_LAYERS, min_items=1))]
    if len(set(layers)) != len(layers):
        raise RecipeError(f"{fields.where}: 'layers' names a layer twice")
    return tuple(sorted(layers))


class _Fields:
    """Checks of one recipe's fields; each error names the recipe and the field."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, field: str, problem: str) -> RecipeError:
        return RecipeError(f"{self.where}: {f'{field!r}' if field else 'the recipe'} {problem}")

    def object(
        self, value: object, field: str, *, required: tuple[str, ...] = (), optional: tuple[str, ...] = (),
        one_of: tuple[str, ...] = (), max_items: int | None = None,
    ) -> dict[str, Any]:
        """A JSON object with the ``required`` keys, ``optional`` ones, exactly one of ``one_of``
        and no others; any keys at all (at most ``max_items``) when none of these is given."""
        if not isinstance(value, dict):
            raise self.fail(field, "must be a JSON object")
        if max_items is not None and len(value) > max_items:
            raise self.fail(field, f"has {len(value)} entries; at most {max_items} are allowed")
        if not (required or optional or one_of):
            return value
        missing = [key for key in required if key not in value]
        if missing:
            raise self.fail(field, f"lacks {missing[0]!r}")
        unknown = [key for key in value if key not in (*required, *optional, *one_of)]
        if unknown:
            raise self.fail(field, f"has an unknown key {_shown(unknown[0])}")
        if one_of and sum(key in value for key in one_of) != 1:
            raise self.fail(field, f"must have exactly one of {' and '.join(repr(key) for key in one_of)}")
        return value

    def array(self, value: object, field: str, max_items: int, *, min_items: int = 0) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(field, "must be a JSON list")
        if not min_items <= len(value) <= max_items:
            raise self.fail(field, f"must hold {min_items} to {max_items} items, not {len(value)}")
        return value

    def indexed(self, value: object, field: str) -> list[tuple[int, Any]]:
        """An object keyed by direction indices ("0", "12"), as (index, value) by index."""
        entries = self.object(value, field, max_items=MAX_DIRECTIONS)
        for key in entries:
            if not isinstance(key, str) or not _INDEX_KEY.fullmatch(key):
                raise self.fail(field, f"has the key {_shown(key)}, not a direction index (0, 1, 2...)")
        return sorted((int(key), item) for key, item in entries.items())

    def integer(self, value: object, field: str, low: int, high: int) -> int:
        if type(value) is not int or not low <= value <= high:
            raise self.fail(field, f"must be a whole number from {low} to {high}, not {_shown(value)}")
        return value

    def number(self, value: object, field: str, limit: float) -> float:
        if type(value) not in (int, float) or not -limit <= value <= limit:
            raise self.fail(field, f"must be a number from {-limit:g} to {limit:g}, not {_shown(value)}")
        return float(value)

    def optional(self, value: object, field: str, check: Callable[..., Any], *limits: Any) -> Any:
        return None if value is None else check(value, field, *limits)

    def text(
        self, value: object, field: str, max_chars: int, *, empty: bool = False, stripped: bool = False,
        file_name: bool = False,
    ) -> str:
        if not isinstance(value, str) or not (empty or value) or len(value) > max_chars or not value.isprintable():
            raise self.fail(field, f"must be one line of {'0' if empty else '1'} to {max_chars} characters")
        if stripped and value != value.strip():
            raise self.fail(field, "must not start or end with spaces")
        if file_name and (value in (".", "..") or re.search(r"[\\/]", value)):
            raise self.fail(field, f"must be a file name without folders, not {_shown(value)}")
        return value

    def flag(self, value: object, field: str) -> bool:
        if type(value) is not bool:
            raise self.fail(field, "must be true or false")
        return value

    def hex64(self, value: object, field: str) -> str:
        if not isinstance(value, str) or not _HEX64.fullmatch(value):
            raise self.fail(field, "must be 64 lower-case hex digits")
        return value


def _shown(value: object) -> str:
    """A value from a recipe in an error message: short and on one line, however long it is."""
    text = json.dumps(value, ensure_ascii=True) if isinstance(value, (str, int, float, bool, type(None))) \
        else type(value).__name__
    return text if len(text) <= 40 else f"{text[:37]}..."


# files


def parse_recipe(data: bytes | str, where: str = "recipe") -> Recipe:
    """A Recipe from a file's bytes (UTF-8 JSON, at most ``MAX_RECIPE_BYTES``)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_RECIPE_BYTES:
        raise RecipeError(f"{where}: larger than a recipe can be ({MAX_RECIPE_BYTES // 1024} KiB)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RecipeError(f"{where}: not UTF-8 text, so not a recipe") from None
    try:
        parsed = json.loads(
            text, parse_int=_bounded(int, where), parse_float=_bounded(float, where), parse_constant=_no_constant,
            object_pairs_hook=_unique_keys(where),
        )
    except RecursionError:
        raise RecipeError(f"{where}: nested too deeply to be a recipe") from None
    except ValueError as exc:
        problem = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        line = f" (line {exc.lineno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise RecipeError(f"{where}: not valid JSON: {problem}{line}") from None
    return recipe_from_json(parsed, where)


def _bounded(kind: type, where: str) -> Callable[[str], Any]:
    """A JSON number parser that refuses long numbers before converting them (a 60000-digit
    integer takes quadratic time to parse)."""
    def parse(token: str) -> Any:
        if len(token) > MAX_NUMBER_CHARS:
            raise RecipeError(f"{where}: holds a number of {len(token)} characters")
        return kind(token)
    return parse


def _no_constant(token: str) -> None:
    raise ValueError(f"{token} is not a JSON number")


def _unique_keys(where: str) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    def build(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise RecipeError(f"{where}: the key {_shown(key)} appears twice in one object")
            seen.add(key)
        return dict(pairs)
    return build


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Read and check a recipe file; only regular files, at most ``MAX_RECIPE_BYTES`` read."""
    path = Path(path)
    try:
        # non-blocking: a named pipe put there after any check must not hang the open
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise RecipeError(f"{path}: no such recipe file") from None
    except OSError as exc:
        raise RecipeError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise RecipeError(f"{path}: is {kind_of_mode(mode)}, not a recipe file")
        data = _read_at_most(descriptor, MAX_RECIPE_BYTES + 1)
    except OSError as exc:
        raise RecipeError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(descriptor)
    return parse_recipe(data, str(path))


def _read_at_most(descriptor: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    while limit > 0:
        chunk = os.read(descriptor, limit)
        if not chunk:
            break
        chunks.append(chunk)
        limit -= len(chunk)
    return b"".join(chunks)


def save_recipe(recipe: Recipe, path: str | os.PathLike[str]) -> Path:
    """Write ``recipe`` atomically; it is checked first as ``load_recipe`` will check it."""
    path = Path(path)
    text = recipe_text(recipe)
    parse_recipe(text, str(path))
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


# rendering


@dataclass(frozen=True)
class OpenedRecipe:
    """A recipe's generator, bank (named as the recipe names its directions) and edit, checked."""

    loaded: LoadedGenerator
    bank: DirectionBank
    edit: CombinedEdit


def open_recipe(
    recipe: Recipe,
    *,
    bank_file: str | os.PathLike[str] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    companions: Mapping[str, str | os.PathLike[str]] | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> OpenedRecipe:
    """Rebuild what ``recipe`` was made with, checking the checkpoint's sha256 and the bank's
    digest. ``checkpoint`` (with its ``companions``): the checkpoint file a recipe of a file
    names; a catalogue model is fetched, or taken from the cache. ``bank_file``: the recipe's bank file
    (needed when the recipe names one; directions factorized on the fly are factorized again)."""
    from .editing import plan_combined

    loaded = _open_model(recipe.model, checkpoint, companions, device, progress)
    bank = _open_bank(recipe, bank_file, checkpoint, companions, progress)
    if recipe.direction_names:
        bank = bank.with_names(dict(recipe.direction_names))
    edit = plan_combined(
        loaded.generator, bank, recipe.distance_map, recipe.seeds, truncation_psi=recipe.truncation_psi,
        truncation_cutoff=recipe.truncation_cutoff, layers=recipe.layers, architecture=loaded.architecture,
        class_index=recipe.class_index, model=loaded.name, to_distance=recipe.to_distance,
    )
    return OpenedRecipe(loaded, bank, edit)


def render_recipe(
    recipe: Recipe,
    *,
    bank_file: str | os.PathLike[str] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    companions: Mapping[str, str | os.PathLike[str]] | None = None,
    device: str = "cpu",
    batch_size: int = 8,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(original, edited) images of ``recipe``, float32 (N, C, H, W) in [-1, 1] on the CPU: the
    pixels the recipe was saved with (see ``open_recipe`` for the arguments)."""
    from .editing import render_combined

    opened = open_recipe(recipe, bank_file=bank_file, checkpoint=checkpoint, companions=companions, device=device,
                         progress=progress)
    return render_combined(opened.loaded.generator, opened.bank, opened.edit, batch_size=batch_size)


def _open_model(
    model: RecipeModel, checkpoint: str | os.PathLike[str] | None,
    companions: Mapping[str, str | os.PathLike[str]] | None, device: str, progress: bool,
) -> LoadedGenerator:
    from .editing import open_generator

    options = dict(model.options)
    if model.from_catalogue:
        if checkpoint is not None or companions:
            raise RecipeError(
                f"the recipe's model is the catalogue's {model.name!r}, which is fetched or taken from the cache; "
                "a checkpoint file goes with a recipe of a checkpoint file"
            )
        known = _catalogue_sha256(model)
        loaded = open_generator(model.name, device=device, options=options, progress=progress)
        if known is None:
            _check_sha256(model, loaded.path, f"the catalogue's {model.name}")
    elif checkpoint is None:
        raise RecipeError(f"the recipe's model is the checkpoint file {model.name!r}: give it with --checkpoint")
    else:
        _check_checkpoint_file(model, Path(checkpoint))
        loaded = open_generator(checkpoint, device=device, architecture=model.architecture, layout=model.layout,
                                companions=companions, options=options)
    if loaded.architecture != model.architecture:
        raise RecipeError(
            f"the recipe's model is a {model.architecture} generator, but this one is {loaded.architecture}"
        )
    return loaded


def _catalogue_sha256(model: RecipeModel) -> str | None:
    """The catalogue's sha256 of the model, refused when it is not the recipe's; None when the
    catalogue does not know it (the file is hashed once fetched)."""
    from .catalogue import get_entry

    try:
        entry = get_entry(model.name)
    except UnknownModelError:
        raise RecipeError(
            f"the recipe's model {model.name!r} is not in the catalogue; give its checkpoint with --checkpoint"
        ) from None
    known = entry.source.sha256
    if known is not None and known != model.checkpoint_sha256:
        raise RecipeError(
            f"the catalogue's {model.name} is now the checkpoint with sha256 {known[:12]}..., not the recipe's "
            f"{model.checkpoint_sha256[:12]}..."
        )
    return known


def _check_checkpoint_file(model: RecipeModel, checkpoint: Path) -> None:
    kind = kind_of(checkpoint)
    if kind is None:
        raise RecipeError(f"{checkpoint}: no such checkpoint file")
    weights = checkpoint_in_folder(checkpoint) if kind == "a folder" else checkpoint
    _check_sha256(model, weights, f"checkpoint {checkpoint}")


def _check_sha256(model: RecipeModel, weights: Path | None, what: str) -> None:
    from .hashing import sha256_file

    actual = sha256_file(weights) if weights is not None else None
    if actual != model.checkpoint_sha256:
        raise RecipeError(
            f"{what} is not the recipe's checkpoint: its sha256 is {(actual or 'unknown')[:12]}..., "
            f"the recipe's {model.name} has {model.checkpoint_sha256[:12]}..."
        )


def _open_bank(
    recipe: Recipe, bank_file: str | os.PathLike[str] | None, checkpoint: str | os.PathLike[str] | None,
    companions: Mapping[str, str | os.PathLike[str]] | None, progress: bool,
) -> DirectionBank:
    from .bank import load_bank

    made = recipe.bank
    if bank_file is not None:
        bank = load_bank(bank_file)
        if bank.digest() != made.digest:
            origin = f"the bank file {made.file_name}" if made.file_name else "directions factorized on the fly"
            raise RecipeError(
                f"bank {bank_file} is not the recipe's: its digest is {bank.digest()[:12]}..., the recipe's "
                f"({origin}) is {made.digest[:12]}..."
            )
        return bank
    if not made.factorized:
        raise RecipeError(f"the recipe's directions come from the bank file {made.file_name!r}: give it with --bank")
    bank = _factorize_again(recipe.model, made, checkpoint, companions, progress)
    if bank.digest() != made.digest:
        raise RecipeError(
            f"the directions factorized now (layers {made.layers}, k {made.k}) differ from the recipe's: digest "
            f"{bank.digest()[:12]}..., not {made.digest[:12]}... (factorized with other numerics?); "
            "give the bank they came from with --bank"
        )
    return bank


def _factorize_again(
    model: RecipeModel, made: RecipeBank, checkpoint: str | os.PathLike[str] | None,
    companions: Mapping[str, str | os.PathLike[str]] | None, progress: bool,
) -> DirectionBank:
    from .api import factorize_file, factorize_model

    common = dict(layers=made.layers, k=made.k, normalize=made.normalization == "rows", options=dict(model.options))
    if checkpoint is not None:
        return factorize_file(checkpoint, architecture=model.architecture, layout=model.layout,
                              companions=companions, **common)
    return factorize_model(model.name, progress=progress, **common)
