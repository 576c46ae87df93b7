"""The output writers: labelled grids, the self-contained HTML report, animations, atomicity."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from sefa_zoo import RenderedEdits, factorize_file, plan_edits, write_edit_outputs
from sefa_zoo.outputs.animation import sweep_captions, sweep_frames, sweep_order, video_available, write_gif
from sefa_zoo.outputs.folder import VIDEO_MISSING
from sefa_zoo.outputs.grids import (
    GAP, direction_grid, draw_grid, grid_title, label_font, layout_grid, overview_grid, save_png, text_size,
)
from sefa_zoo.outputs.report import checkpoint_file_name, html_report

from support.editing_toys import FakeWPlusGenerator, fake_tensors, fake_wplus, folder_contents  # noqa: F401  (fixtures)

H, W = 12, 10


@pytest.fixture
def rendered(fake_wplus):
    """2 directions x 3 seeds x 4 distances of random pictures, each cell distinct."""
    bank = factorize_file(fake_wplus, layers="1-2")
    plan = plan_edits(FakeWPlusGenerator(fake_tensors()), bank, [0, 3], [-2.0, -0.5, 0.0, 1.5], [0, 1, 17])
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(2, 3, 4, H, W, 3), dtype=np.uint8)
    return RenderedEdits(pixels, bank, plan, model="fake model <&>")


def test_rendered_edits_checks_its_pixels(rendered):
    with pytest.raises(ValueError, match="uint8 of shape"):
        RenderedEdits(rendered.pixels[:1], rendered.bank, rendered.plan, "m")
    with pytest.raises(ValueError, match="uint8"):
        RenderedEdits(rendered.pixels.astype(np.float32), rendered.bank, rendered.plan, "m")


def _cells_match(picture, layout, cells):
    array = np.asarray(picture)
    for r in range(cells.shape[0]):
        for c in range(cells.shape[1]):
            left, top, right, bottom = layout.cell_box(r, c)
            np.testing.assert_array_equal(array[top:bottom, left:right], cells[r, c])


def test_overview_grid_places_every_cell_with_labels(rendered):
    picture = overview_grid(rendered)
    cells = rendered.pixels.reshape(6, 4, H, W, 3)
    labels = [f"{rendered.direction_name(d)}\n{rendered.eigenvalue_text(d)}\n{rendered.seed_name(s)}"
              for d in range(2) for s in range(3)]
    title = grid_title(rendered, "rows: direction x seed")
    layout = layout_grid(6, 4, H, W, labels, ["-2", "-0.5", "0", "+1.5"], title, label_font())
    # the labels (3 lines) are taller than a 12 px cell, so rows are as tall as the labels
    assert layout.row_height > H
    assert picture.height == layout.title_height + layout.header_height + 6 * (layout.row_height + GAP) + GAP
    assert picture.width >= layout.label_width + 4 * (W + GAP) + GAP
    _cells_match(picture, layout, cells)
    # ink in the label column and the header: the labels were drawn
    array = np.asarray(picture)
    assert (array[:, :layout.label_width] < 100).any()
    assert (array[layout.title_height:layout.title_height + layout.header_height] < 100).any()


def test_direction_grid_and_large_cells(rendered):
    picture = direction_grid(rendered, 1)
    labels = [rendered.seed_name(s) for s in range(3)]
    title = grid_title(rendered, f"direction 3, {rendered.eigenvalue_text(1)}; rows: seed")
    layout = layout_grid(3, 4, H, W, labels, ["-2", "-0.5", "0", "+1.5"], title, label_font())
    _cells_match(picture, layout, rendered.pixels[1])
    big = np.full((2, 3, 64, 80, 3), 7, dtype=np.uint8)
    picture = draw_grid(big, ["a", "b"], ["1", "2", "3"], "title")
    layout = layout_grid(2, 3, 64, 80, ["a", "b"], ["1", "2", "3"], "title", label_font())
    assert layout.row_height == 64 and picture.size == layout.size
    assert picture.width == layout.label_width + 3 * (80 + GAP) + GAP
    _cells_match(picture, layout, big)


def test_grey_images_become_rgb():
    grey = np.arange(2 * 2 * 8 * 8, dtype=np.uint8).reshape(2, 2, 8, 8, 1)
    picture = draw_grid(grey, ["a", "b"], ["x", "y"])
    layout = layout_grid(2, 2, 8, 8, ["a", "b"], ["x", "y"], "", label_font())
    _cells_match(picture, layout, np.repeat(grey, 3, axis=-1))


class _Structure(HTMLParser):
    """Collects tags, attributes and nesting problems."""

    VOID = {"meta", "img", "br", "link", "input", "hr", "col", "source"}

    def __init__(self):
        super().__init__()
        self.stack, self.problems, self.tags = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def test_html_report_is_self_contained_and_complete(rendered):
    text = html_report(rendered)
    assert text.startswith("<!DOCTYPE html>\n<html lang=\"en\">")
    parser = _Structure()
    parser.feed(text)
    assert parser.problems == [] and parser.stack == []
    for external in ("http://", "https://", "<link", "url(", "@import", "//cdn"):
        assert external not in text
    images = [attrs for tag, attrs in parser.tags if tag == "img"]
    assert all(attrs["src"].startswith("data:image/") for attrs in images)
    assert all(tag != "script" or "src" not in attrs for tag, attrs in parser.tags)
    assert len(images) == 2 * 3 * 4
    # every picture is there, in (direction, seed, distance) order, pixel for pixel (PNG when small)
    for i, attrs in enumerate(images):
        data = base64.b64decode(attrs["src"].split(",", 1)[1])
        picture = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        np.testing.assert_array_equal(picture, rendered.pixels.reshape(-1, H, W, 3)[i])
    bank = rendered.bank
    for value in (bank.checkpoint_sha256, bank.layout, bank.created, "style1", "fake model &lt;&amp;&gt;",
                  "directions in bank", f"{bank.eigenvalues[3]:.6g}", "seed 17", "+1.5", "psi 0.7"):
        assert value in text, value
    assert "fake model <&>" not in text  # escaped
    rows = re.findall(r'<tr class="sample" data-direction-order="(\d)" data-seed-order="(\d)"', text)
    assert rows == [(str(d), str(s)) for d in range(2) for s in range(3)]
    assert 'data-group="seed"' in text and 'data-group="direction"' in text


def test_large_pictures_are_embedded_as_jpeg(rendered):
    big = np.repeat(np.repeat(rendered.pixels, 16, axis=3), 16, axis=4)
    text = html_report(RenderedEdits(big, rendered.bank, rendered.plan, "m"))
    assert text.count("data:image/jpeg;base64,") == 24 and "data:image/png" not in text


@pytest.mark.parametrize("steps, frames", [(1, 1), (2, 2), (4, 6), (7, 12)])
def test_sweep_order_goes_there_and_back(steps, frames):
    order = sweep_order(steps)
    assert len(order) == frames and order[:steps] == list(range(steps))
    assert order[steps:] == list(range(steps - 2, 0, -1))


def test_gif_sweeps_the_range_and_back(rendered, tmp_path):
    frames = sweep_frames(rendered, 0)
    path = write_gif(frames, tmp_path / "d.gif", frame_ms=90)
    with Image.open(path) as gif:
        assert gif.n_frames == 2 * 4 - 2 and gif.info["loop"] == 0 and gif.info["duration"] == 90
        assert gif.size == frames[0].size
        assert gif.size[0] == 3 * W + 4 * GAP
    # frame k shows distance sweep_order(4)[k]: the seeds' pictures side by side under the caption
    array = np.asarray(frames[4])
    top = array.shape[0] - GAP - H
    for s in range(3):
        left = GAP + s * (W + GAP)
        np.testing.assert_array_equal(array[top:top + H, left:left + W], rendered.pixels[0, s, 2])


def test_write_edit_outputs_lists_its_files(rendered, tmp_path, monkeypatch):
    monkeypatch.setattr("sefa_zoo.outputs.folder.video_available", lambda: False)
    out = write_edit_outputs(rendered, tmp_path / "out")
    names = [p.name for p in out.written]
    assert names == ["overview.png", "direction_00.png", "direction_00.gif", "direction_03.png",
                     "direction_03.gif", "report.html"]
    assert out.notes == [VIDEO_MISSING]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(names)


def test_an_error_mid_write_leaves_no_file(rendered, tmp_path, monkeypatch):
    def broken_save(self, fp, *args, **kwargs):
        with open(fp, "wb") as f:
            f.write(b"\x89PNG half a file")
        raise OSError("disk full")

    tmp_path = tmp_path / "outputs"
    target = tmp_path / "grid.png"
    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_png(overview_grid(rendered), target)
    with pytest.raises(OSError, match="disk full"):
        write_gif(sweep_frames(rendered, 0), tmp_path / "d.gif")
    with pytest.raises(OSError, match="disk full"):
        write_edit_outputs(rendered, tmp_path / "out", video=False)
    assert list(tmp_path.iterdir()) == []


def test_report_is_written_whole_or_not_at_all(rendered, tmp_path, monkeypatch):
    from pathlib import Path

    tmp_path = tmp_path / "earlier"
    tmp_path.mkdir()
    original = Path.write_text

    def broken_write(self, text, *args, **kwargs):
        original(self, text[: len(text) // 2], *args, **kwargs)
        raise KeyboardInterrupt

    (tmp_path / "notes.txt").write_text("mine")
    monkeypatch.setattr(Path, "write_text", broken_write)
    with pytest.raises(KeyboardInterrupt):
        write_edit_outputs(rendered, tmp_path, video=False)
    # nothing of the run appears, not even the pictures written before the report
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.skipif(not video_available(), reason="imageio-ffmpeg (optional) is not installed")
def test_mp4(rendered, tmp_path):
    from sefa_zoo.outputs.animation import write_mp4

    path = write_mp4(sweep_frames(rendered, 0), tmp_path / "d.mp4")
    head = path.read_bytes()[:12]
    assert head[4:8] == b"ftyp" and path.stat().st_size > 500


def _sized(rendered, seeds, size, distances=(-3.0, -0.6667, 0.0, 12.5)):
    """``rendered``'s first direction at ``size`` px with ``seeds`` seeds and awkward distances."""
    plan = plan_edits(FakeWPlusGenerator(fake_tensors()), rendered.bank, [0], list(distances), list(range(seeds)))
    pixels = np.zeros((1, seeds, len(distances), size, size, 3), dtype=np.uint8)
    return RenderedEdits(pixels, rendered.bank, plan, model="m")


def _ink_columns(picture, top, bottom):
    """Columns with dark pixels between rows ``top`` and ``bottom`` (the pictures here are black:
    only look at white areas)."""
    band = np.asarray(picture.convert("L"))[top:bottom]
    return np.flatnonzero((band < 128).any(axis=0))


@pytest.mark.parametrize("size", [1, 8, 16, 24, 48, 64, 128, 256])
@pytest.mark.parametrize("seeds", [1, 2, 5])
def test_gif_captions_fit_the_frame_and_always_show_the_distance(rendered, size, seeds):
    small = _sized(rendered, seeds, size)
    frames = sweep_frames(small, 0)
    width, height = frames[0].size
    captions = sweep_captions(small, 0, width - 2 * GAP, label_font())
    font = label_font()
    for step, caption in enumerate(captions):
        assert text_size(caption, font)[0] <= width - 2 * GAP, caption
        assert small.distance_text(step) in caption.split()
    assert len({caption.count("\n") for caption in captions}) == 1  # one wording for the whole sweep
    caption_bottom = height - GAP - size
    for frame in frames:
        assert frame.size == (width, height)
        ink = _ink_columns(frame, 0, caption_bottom)
        assert ink.size and ink.min() >= GAP - 1 and ink.max() <= width - GAP
    # the frame is only as wide as the pictures need, unless the bare distance would not fit
    pictures_width = seeds * size + (seeds + 1) * GAP
    widest_distance = max(text_size(small.distance_text(i), font)[0] for i in range(4))
    assert width == max(pictures_width, widest_distance + 2 * GAP)


def test_gif_captions_say_more_when_there_is_room(rendered):
    wide = _sized(rendered, 5, 256)
    (caption, *_) = sweep_captions(wide, 0, 10_000, label_font())
    assert caption == f"direction 0, {wide.eigenvalue_text(0)}, distance -3"
    narrow = sweep_captions(wide, 0, 120, label_font())
    assert narrow[3] in ("direction 0, distance +12.5", "direction 0\ndistance +12.5")


@pytest.mark.parametrize("size", [1, 8, 16, 48, 256])
def test_grid_titles_wrap_to_the_grid_and_column_labels_do_not_overlap(rendered, size):
    small = _sized(rendered, 2, size)
    font = label_font()
    columns = [small.distance_text(a) for a in range(4)]
    widest_column = max([size] + [text_size(label, font)[0] for label in columns])
    widest_word = max(text_size(word, font)[0] for word in small.truncation_text().split())
    overview_labels = [f"{small.direction_name(0)}\n{small.eigenvalue_text(0)}\n{small.seed_name(s)}" for s in (0, 1)]
    grids = ((direction_grid(small, 0), ["seed 0", "seed 1"]), (overview_grid(small), overview_labels))
    for picture, row_labels in grids:
        label_column = max(text_size(label, font)[0] for label in row_labels) + 2 * GAP
        cells = 4 * (widest_column + GAP) + GAP
        # the title is wrapped: the picture is as wide as its labels and cells need, not as its title
        assert picture.width == max(label_column + cells, widest_word + 2 * GAP)
    layout = layout_grid(2, 4, size, size, ["seed 0", "seed 1"], columns, "t", font)
    for c in range(3):
        assert layout.cell_box(0, c + 1)[0] - layout.cell_box(0, c)[0] >= widest_column + GAP


def test_a_long_title_wraps_at_its_semicolons_first():
    cells = np.zeros((1, 2, 16, 16, 3), dtype=np.uint8)
    title = "model: what; columns: distance; layers 0-3; truncation psi 0.7 on layers below 8"
    layout = layout_grid(1, 2, 16, 16, ["seed 0"], ["-1", "+1"], title, label_font())
    lines = layout.title.split("\n")
    assert len(lines) > 1 and " ".join(lines) == title
    assert all(text_size(line, label_font())[0] <= layout.size[0] - 2 * GAP for line in lines)
    assert lines[0] == "model: what;"
    picture = draw_grid(cells, ["seed 0"], ["-1", "+1"], title)
    assert picture.size == layout.size


@pytest.mark.parametrize("source, name", [
    ("/home/someone/private/G.pkl", "G.pkl"),
    ("relative/folder/G.pth", "G.pth"),
    ("C:\\Users\\someone\\G.pt", "G.pt"),
    ("hf://org/repo/weights/G.pkl@0123456789ab", "G.pkl"),
    ("https://host.example/x/G.pkl?token=secret#frag", "G.pkl"),
    ("G.pkl", "G.pkl"),
])
def test_report_names_the_checkpoint_file_only(rendered, source, name):
    from dataclasses import replace

    assert checkpoint_file_name(source) == name
    text = html_report(RenderedEdits(rendered.pixels, replace(rendered.bank, checkpoint_source=source),
                                     rendered.plan, "m"))
    assert f"<th scope=\"row\">checkpoint file</th><td>{name}</td>" in text
    for private in ("someone", "secret", "folder", "weights"):
        assert private not in text


def test_write_edit_outputs_replaces_an_earlier_run_only(rendered, tmp_path, monkeypatch):
    tmp_path = tmp_path / "earlier"
    tmp_path.mkdir()
    monkeypatch.setattr("sefa_zoo.outputs.folder.video_available", lambda: False)
    for name, data in {"direction_07.png": b"old", "direction_07.mp4": b"old", "overview.png": b"old",
                       "bank.safetensors": b"the user's bank", "notes.txt": b"mine"}.items():
        (tmp_path / name).write_bytes(data)
    out = write_edit_outputs(rendered, tmp_path)
    assert [p.parent for p in out.written] == [tmp_path] * 6
    contents = folder_contents(tmp_path)
    assert sorted(contents) == sorted([p.name for p in out.written] + ["bank.safetensors", "notes.txt"])
    assert contents["bank.safetensors"] == b"the user's bank" and contents["overview.png"] != b"old"
