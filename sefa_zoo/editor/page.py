"""The editor's page, built with Gradio (imported only when the editor runs).

Pictures reach the page as PNG data URLs inside HTML, and saved files reach the browser as
data-URL downloads: no picture is ever written to a file on the server, and a slider move
costs one request, not a request and a file fetch. Slider moves are ``always_last`` events
outside Gradio's queue: while one render runs, the page keeps only the latest position and
sends it next, so no backlog builds up while dragging (renders of one model are serialized
by its lock in session.py)."""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr

from ..bank import load_bank, save_bank
from ..catalogue import find_entries
from ..errors import SefaZooError
from ..layers import format_layer_spec
from ..recipe import load_recipe, recipe_text
from .pictures import data_url, png_bytes
from .session import (
    LAYER_CHOICES, MAX_SLIDERS, SLIDER_LIMIT, View, Workspace, checked_distances, format_seeds, parse_seeds,
    random_seeds, zero_distances,
)

CUSTOM = "custom"
SLIDER_STEP = 0.05
CSS = """
.sefa-picture img { width: 100%; max-width: 512px; height: auto; }
.sefa-picture img.small { image-rendering: pixelated; }
.sefa-picture figure { margin: 0; }
.sefa-picture figcaption { font-size: 0.85em; opacity: 0.7; }
"""
# Hands a {"name", "url"} payload to the browser as a download (no file on the server).
DOWNLOAD_JS = """(payload) => {
  if (!payload) return;
  const file = JSON.parse(payload);
  const link = document.createElement("a");
  link.href = file.url; link.download = file.name;
  document.body.appendChild(link); link.click(); link.remove();
}"""
SMALL_PICTURE = 128


def picture_html(pixels, caption: str, element_id: str) -> str:
    small = " class=\"small\"" if max(pixels.shape[:2]) < SMALL_PICTURE else ""
    url = data_url(png_bytes(pixels), "image/png")
    return (f'<figure id="{element_id}"><img{small} alt="{html.escape(caption)}" src="{url}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def literal(text: str) -> str:
    """``text`` as Markdown shows it letter for letter (a file name with * or _ stays as it is)."""
    return re.sub(r"([\\`*_{}\[\]<>()#+\-.!|~])", r"\\\1", text)


def error_line(exc: Exception) -> str:
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return literal(f"Error: {where}{exc.strerror or exc}")
    return literal(f"Error: {exc}")


def uploaded(upload: Any, read: Callable[[Path], Any], scratch: Path) -> tuple[Any, str]:
    """What ``read`` makes of an uploaded file, and the file's name; errors name the file as the
    user knows it, and the upload is removed from the private folder at once (only from there:
    Gradio refuses other paths, and this does not rely on it)."""
    path = Path(upload if isinstance(upload, str) else upload.name)
    try:
        return read(path), path.name
    except SefaZooError as exc:
        raise type(exc)(str(exc).replace(str(path), path.name)) from None
    finally:
        if scratch.resolve() in path.resolve().parents:
            path.unlink(missing_ok=True)


def download(name: str, data: bytes, kind: str) -> str:
    return json.dumps({"name": name, "url": data_url(data, kind)})


class Page:
    """The components of one editor page and what each control does."""

    def __init__(self, workspace: Workspace, scratch: Path) -> None:
        self.workspace = workspace
        self.scratch = scratch

    # --- what the page shows of a view -------------------------------------------------

    def describe(self, view: View) -> str:
        model = self.workspace.model(view.model)
        bank = view.bank
        height, width = model.sample(replace(view, seeds=view.seeds[:1])).original.shape[:2]
        return (f"**{literal(view.model)}** · {model.loaded.architecture}, {width}x{height} px, "
                f"{model.generator.num_layers} layers · directions: {literal(view.origin)} "
                f"(method {bank.method}, layers {format_layer_spec(list(bank.layer_indices))}, {bank.k} directions)")

    def picture_values(self, view: View) -> tuple[str, str]:
        model = self.workspace.model(view.model)
        seeds = format_seeds(view.seeds)
        return (picture_html(model.sample(view).original, f"original · seeds {seeds}", "original-picture"),
                self.edited_value(view))

    def edited_value(self, view: View) -> str:
        pixels = self.workspace.model(view.model).edited(view)
        return picture_html(pixels, f"edited · seeds {format_seeds(view.seeds)}", "edited-picture")

    def everything(self, view: View, note: str | None = None) -> dict:
        """Every control and picture as ``view`` has them."""
        model = self.workspace.model(view.model)
        layers_choice = (view.layers if view.layers in LAYER_CHOICES else CUSTOM) if view.layers else None
        sliders = [gr.update(label=view.slider_label(i), visible=i < view.shown, value=view.distances[i])
                   for i in range(MAX_SLIDERS)]
        original, edited = self.picture_values(view)
        return {
            self.state: view,
            self.info: self.describe(view),
            self.status: literal(f"Note: {note}") if note else "",
            self.model_choice: gr.update(value=view.model),
            self.layer_choice: gr.update(value=layers_choice),
            self.custom_layers: gr.update(value=view.layers if layers_choice == CUSTOM else ""),
            self.bank_choice: gr.update(value=view.bank_file if view.bank_file in self.workspace.bank_files else None),
            self.shown: gr.update(maximum=view.slider_count, value=view.shown),
            self.seeds: format_seeds(view.seeds),
            self.psi: view.truncation_psi,
            self.cutoff: view.truncation_cutoff,
            self.class_box: gr.update(visible=model.conditional,
                                      value=str(view.chosen_class.index) if view.chosen_class else ""),
            self.name_index: gr.update(maximum=view.bank.k - 1),
            self.to_distance: gr.update(visible=view.bank.offsets is not None, value=view.to_distance),
            **dict(zip(self.sliders, sliders)),
            self.original: original,
            self.edited: edited,
        }

    # --- building -------------------------------------------------------------------------

    def build(self, first: View, note: str | None) -> gr.Blocks:
        with gr.Blocks(title="sefa-zoo editor", analytics_enabled=False) as blocks:
            self.state = gr.State(first)
            gr.Markdown("## sefa-zoo editor")
            self.info = gr.Markdown(self.describe(first), elem_id="info")
            self.status = gr.Markdown(literal(f"Note: {note}") if note else "", elem_id="status")
            with gr.Row():
                with gr.Column(scale=1, min_width=320):
                    self._model_controls(first)
                    self._direction_controls(first)
                    self._sample_controls(first)
                with gr.Column(scale=2):
                    with gr.Row():
                        original, edited = self.picture_values(first)
                        self.original = gr.HTML(original, elem_id="original", elem_classes="sefa-picture")
                        self.edited = gr.HTML(edited, elem_id="edited", elem_classes="sefa-picture")
                    self._file_controls()
                    self.sliders = [
                        gr.Slider(-SLIDER_LIMIT, SLIDER_LIMIT, value=0.0, step=SLIDER_STEP, elem_id=f"slider-{i}",
                                  label=first.slider_label(i), visible=i < first.shown)
                        for i in range(MAX_SLIDERS)
                    ]
                    self._name_controls(first)
            self.download = gr.Textbox(visible="hidden", elem_id="download-payload")
            self._wire()
        return blocks

    def _model_controls(self, first: View) -> None:
        choices = list(dict.fromkeys([first.model, *(entry.name for entry in find_entries())]))
        self.model_choice = gr.Dropdown(choices, value=first.model, label="Model", elem_id="model")

    def _direction_controls(self, first: View) -> None:
        layers_value = (first.layers if first.layers in LAYER_CHOICES else CUSTOM) if first.layers else None
        self.layer_choice = gr.Radio([*LAYER_CHOICES, CUSTOM], value=layers_value, label="Directions from layers",
                                     elem_id="layers")
        self.custom_layers = gr.Textbox(label="Custom layers (as --layers: 2-5, 0-1,4, ...), then Enter",
                                        value=first.layers if layers_value == CUSTOM else "", elem_id="custom-layers")
        bank_names = list(self.workspace.bank_files)
        self.bank_choice = gr.Dropdown(bank_names, value=first.bank_file or None, label="...or from a bank file",
                                       elem_id="bank-file", visible=bool(bank_names))
        self.bank_upload = gr.UploadButton("Upload a bank", file_types=[".safetensors"], elem_id="bank-upload")
        self.shown = gr.Slider(1, first.slider_count, value=first.shown, step=1, label="Directions shown",
                               elem_id="shown")
        self.to_distance = gr.Checkbox(first.to_distance, label="Sliders are distances from the boundary (move to)",
                                       visible=first.bank.offsets is not None, elem_id="to-distance")

    def _sample_controls(self, first: View) -> None:
        with gr.Row():
            self.seeds = gr.Textbox(format_seeds(first.seeds), label="Seeds (0, 0-3, 0,7,42), then Enter",
                                    elem_id="seeds")
            self.random = gr.Button("Random", elem_id="random")
        self.psi = gr.Slider(0.0, 1.5, value=first.truncation_psi, step=0.01, label="Truncation psi", elem_id="psi")
        self.cutoff = gr.Number(first.truncation_cutoff, precision=0, minimum=0, label="Truncation cutoff (layers)",
                                elem_id="cutoff")
        self.class_box = gr.Textbox(str(first.chosen_class.index) if first.chosen_class else "",
                                    label="Class (index or name), then Enter", elem_id="class",
                                    visible=self.workspace.model(first.model).conditional)

    def _file_controls(self) -> None:
        with gr.Row():
            self.reset = gr.Button("Reset", elem_id="reset")
            self.save_png = gr.Button("Save PNG", elem_id="save-png")
            self.save_recipe = gr.Button("Save recipe", elem_id="save-recipe")
            self.load_recipe = gr.UploadButton("Load recipe", file_types=[".json"], elem_id="load-recipe")

    def _name_controls(self, first: View) -> None:
        with gr.Row():
            self.name_index = gr.Number(0, precision=0, minimum=0, maximum=first.bank.k - 1, label="Direction #",
                                        elem_id="name-index")
            self.name_text = gr.Textbox(label="Name", elem_id="name-text")
            self.name_button = gr.Button("Name it", elem_id="name-button")
            self.save_bank = gr.Button("Save bank with names", elem_id="save-bank")

    # --- events ---------------------------------------------------------------------------

    @property
    def view_outputs(self) -> list:
        return [self.state, self.info, self.status, self.model_choice, self.layer_choice, self.custom_layers,
                self.bank_choice, self.shown, self.seeds, self.psi, self.cutoff, self.class_box, self.name_index,
                self.to_distance, *self.sliders, self.original, self.edited]

    def guarded(self, handler: Callable[..., dict]) -> Callable[..., dict]:
        """``handler``, with any error a user can cause shown as one line in the page."""

        @functools.wraps(handler)
        def wrapper(*args: Any) -> dict:
            try:
                return handler(*args)
            except (SefaZooError, OSError) as exc:
                return {self.status: error_line(exc)}

        return wrapper

    def _wire(self) -> None:
        quick = {"queue": False, "show_progress": "hidden"}
        for slider in self.sliders:
            slider.input(self.guarded(self.on_slide), [self.state, *self.sliders],
                         [self.state, self.edited, self.status], trigger_mode="always_last", **quick)
        self.model_choice.input(self.guarded(self.on_model), [self.state, self.model_choice], self.view_outputs)
        self.layer_choice.input(self.guarded(self.on_layers), [self.state, self.layer_choice, self.custom_layers],
                                self.view_outputs)
        self.custom_layers.submit(self.guarded(self.on_custom_layers), [self.state, self.custom_layers],
                                  self.view_outputs)
        self.bank_choice.input(self.guarded(self.on_bank_file), [self.state, self.bank_choice], self.view_outputs)
        self.bank_upload.upload(self.guarded(self.on_bank_upload), [self.state, self.bank_upload], self.view_outputs)
        self.shown.release(self.guarded(self.on_shown), [self.state, self.shown], self.view_outputs, **quick)
        self.to_distance.input(self.guarded(self.on_to_distance), [self.state, self.to_distance], self.view_outputs,
                               **quick)
        sample = [self.state, self.seeds, self.psi, self.cutoff, self.class_box]
        for event in (self.seeds.submit, self.psi.release, self.cutoff.submit, self.class_box.submit):
            event(self.guarded(self.on_sample), sample, self.view_outputs, **quick)
        self.random.click(self.guarded(self.on_random), sample, self.view_outputs, **quick)
        self.reset.click(self.guarded(self.on_reset), self.state, self.view_outputs, **quick)
        self.name_button.click(self.guarded(self.on_name), [self.state, self.name_index, self.name_text],
                               self.view_outputs, **quick)
        self.load_recipe.upload(self.guarded(self.on_load_recipe), [self.state, self.load_recipe], self.view_outputs)
        for button, handler in ((self.save_png, self.on_save_png), (self.save_recipe, self.on_save_recipe),
                                (self.save_bank, self.on_save_bank)):
            button.click(self.guarded(handler), self.state, [self.download, self.status], **quick).then(
                None, self.download, None, js=DOWNLOAD_JS)

    def on_slide(self, view: View, *values: float) -> dict:
        view = replace(view, distances=checked_distances(values))
        return {self.state: view, self.edited: self.edited_value(view), self.status: ""}

    def on_model(self, view: View, key: str, progress=gr.Progress(track_tqdm=True)) -> dict:
        progress(0, desc=f"opening {key}")
        return self.everything(self.workspace.view_of(key))

    def on_layers(self, view: View, choice: str, custom: str) -> dict:
        if choice == CUSTOM:
            if not (custom or "").strip():
                return {self.status: "Type a layer spec in Custom layers and press Enter"}
            choice = custom
        return self.everything(self.workspace.with_layers(view, choice))

    def on_custom_layers(self, view: View, spec: str) -> dict:
        return self.everything(self.workspace.with_layers(view, spec))

    def on_bank_file(self, view: View, name: str) -> dict:
        return self.everything(*self.workspace.with_bank_file(view, name))

    def on_bank_upload(self, view: View, upload: Any) -> dict:
        bank, name = uploaded(upload, load_bank, self.scratch)
        return self.everything(*self.workspace.with_bank(view, bank, name))

    def on_shown(self, view: View, shown: float) -> dict:
        count = max(1, min(int(shown), view.slider_count))
        distances = tuple(d if i < count else 0.0 for i, d in enumerate(view.distances))
        return self.everything(replace(view, shown=count, distances=distances))

    def on_to_distance(self, view: View, flag: bool) -> dict:
        return self.everything(replace(view, to_distance=bool(flag)))

    def on_sample(self, view: View, seeds: str, psi: float, cutoff: float | None, wanted_class: str) -> dict:
        return self.everything(self.sampled(view, parse_seeds(seeds), psi, cutoff, wanted_class))

    def on_random(self, view: View, seeds: str, psi: float, cutoff: float | None, wanted_class: str) -> dict:
        return self.everything(self.sampled(view, random_seeds(len(view.seeds)), psi, cutoff, wanted_class))

    def sampled(self, view: View, seeds: tuple[int, ...], psi: float, cutoff: float | None, wanted: str) -> View:
        if psi is None or cutoff is None:
            raise SefaZooError("truncation psi and cutoff need a value")
        if cutoff < 0 or cutoff != int(cutoff):
            raise SefaZooError(f"truncation cutoff must be a whole number, 0 or more, got {cutoff}")
        if view.chosen_class is not None or (wanted or "").strip():
            view = self.workspace.with_class(view, wanted)
        view = replace(view, seeds=seeds, truncation_psi=float(psi), truncation_cutoff=int(cutoff))
        self.workspace.model(view.model).plan(view)  # a bad value fails here, before the page changes
        return view

    def on_reset(self, view: View) -> dict:
        return self.everything(replace(view, distances=zero_distances()))

    def on_name(self, view: View, index: float | None, name: str) -> dict:
        if index is None:
            raise SefaZooError("give the number of the direction to name")
        return self.everything(replace(view, bank=view.bank.with_names({int(index): (name or "").strip()})))

    def on_load_recipe(self, view: View, upload: Any) -> dict:
        recipe, _ = uploaded(upload, load_recipe, self.scratch)
        known = [(view.bank, view.bank_file)] if view.bank_file else []
        return self.everything(self.workspace.view_of_recipe(recipe, known))

    def on_save_png(self, view: View) -> dict:
        pixels = self.workspace.model(view.model).edited(view)
        name = f"{self.file_stem(view)}.png"
        return {self.download: download(name, png_bytes(pixels), "image/png"), self.status: literal(f"Saved {name}")}

    def on_save_recipe(self, view: View) -> dict:
        text = recipe_text(self.workspace.model(view.model).recipe(view))
        name = f"{self.file_stem(view)}.json"
        return {self.download: download(name, text.encode("utf-8"), "application/json"), self.status: literal(f"Saved {name}")}

    def on_save_bank(self, view: View) -> dict:
        name = f"{Path(view.model).stem}_named.safetensors"
        path = save_bank(view.bank, self.scratch / name)
        try:
            data = path.read_bytes()
        finally:
            path.unlink()
        return {self.download: download(name, data, "application/octet-stream"), self.status: literal(f"Saved {name}")}

    @staticmethod
    def file_stem(view: View) -> str:
        return f"{Path(view.model).stem}_seeds-{format_seeds(view.seeds)}_edited"
