"""Labelled PNG grids of edits: one row per (direction, seed), one column per distance."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..atomic import atomic_path
from ..layers import format_layer_spec
from .imaging import to_pil
from .rendered import RenderedEdits

GAP = 4
FONT_SIZE = 12
LINE_SPACING = 2
BACKGROUND = (255, 255, 255)
INK = (24, 24, 24)


def label_font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in font: no font files to find or ship."""
    return ImageFont.load_default(size=FONT_SIZE)


def text_size(text: str, font) -> tuple[int, int]:
    """(width, height) of possibly multi-line ``text``; the height counts whole lines (ascent
    + descent), whatever the glyphs, so that equal line counts get equal heights."""
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left, _, right, _ = scratch.multiline_textbbox((0, 0), text, font=font, spacing=LINE_SPACING)
    ascent, descent = font.getmetrics()
    lines = text.count("\n") + 1
    return right - min(left, 0), lines * (ascent + descent) + (lines - 1) * LINE_SPACING


def wrap_text(text: str, width: int, font, breaks: tuple[str, ...] = ("; ", " ")) -> str:
    """``text`` in lines no wider than ``width`` pixels where it can be: broken at the first of
    ``breaks`` (between clauses), and lines still too wide at the next (between words)."""
    if not breaks or text_size(text, font)[0] <= width:
        return text
    separator, *finer = breaks
    pieces = text.split(separator)
    pieces = [piece + separator.rstrip() for piece in pieces[:-1]] + pieces[-1:]
    lines: list[str] = []
    for piece in pieces:
        joined = f"{lines[-1]} {piece}" if lines else piece
        if lines and text_size(joined, font)[0] <= width:
            lines[-1] = joined
        else:
            lines.append(piece)
    return "\n".join(wrap_text(line, width, font, tuple(finer)) for line in lines)


@dataclass(frozen=True)
class GridLayout:
    """Where everything goes: a title (wrapped to the grid's width), a header of column labels,
    then rows of a label beside one cell per column. Columns are as wide as their cells or
    their widest label; cells sit in the middle of their columns, ``GAP`` apart."""

    rows: int
    columns: int
    cell_width: int
    cell_height: int
    column_width: int
    label_width: int
    row_height: int
    header_height: int
    title: str
    title_height: int
    title_width: int

    @property
    def grid_width(self) -> int:
        return self.label_width + self.columns * (self.column_width + GAP) + GAP

    @property
    def size(self) -> tuple[int, int]:
        width = max(self.grid_width, self.title_width + 2 * GAP)
        height = self.title_height + self.header_height + self.rows * (self.row_height + GAP) + GAP
        return width, height

    def cell_box(self, row: int, column: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of a cell, right and bottom exclusive."""
        left = self.label_width + GAP + column * (self.column_width + GAP) + (self.column_width - self.cell_width) // 2
        top = self.title_height + self.header_height + GAP + row * (self.row_height + GAP)
        return left, top, left + self.cell_width, top + self.cell_height


def layout_grid(
    rows: int, columns: int, cell_height: int, cell_width: int, row_labels: list[str],
    column_labels: list[str], title: str, font,
) -> GridLayout:
    label_sizes = [text_size(label, font) for label in row_labels]
    column_label_sizes = [text_size(label, font) for label in column_labels]
    label_width = max((w for w, _ in label_sizes), default=0) + 2 * GAP
    column_width = max([cell_width] + [w for w, _ in column_label_sizes])
    grid_width = label_width + columns * (column_width + GAP) + GAP
    title = wrap_text(title, grid_width - 2 * GAP, font) if title else ""
    title_w, title_h = text_size(title, font) if title else (0, 0)
    return GridLayout(
        rows=rows,
        columns=columns,
        cell_width=cell_width,
        cell_height=cell_height,
        column_width=column_width,
        label_width=label_width,
        row_height=max(cell_height, max((h for _, h in label_sizes), default=0)),
        header_height=max((h for _, h in column_label_sizes), default=0) + GAP,
        title=title,
        title_height=title_h + 2 * GAP if title else 0,
        title_width=title_w,
    )


def draw_grid(cells: np.ndarray, row_labels: list[str], column_labels: list[str], title: str = "") -> Image.Image:
    """``cells``: uint8 (rows, columns, H, W, C). Labels may have several lines; the title is
    wrapped to the grid's width."""
    rows, columns, height, width = cells.shape[:4]
    if len(row_labels) != rows or len(column_labels) != columns:
        raise ValueError("one label per row and per column is needed")
    font = label_font()
    layout = layout_grid(rows, columns, height, width, row_labels, column_labels, title, font)
    canvas = Image.new("RGB", layout.size, BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    if layout.title:
        draw.multiline_text((GAP, GAP), layout.title, font=font, fill=INK, spacing=LINE_SPACING)
    for column, label in enumerate(column_labels):
        left, _, right, _ = layout.cell_box(0, column)
        label_width = text_size(label, font)[0]
        draw.text(((left + right - label_width) // 2, layout.title_height), label, font=font, fill=INK)
    for row, label in enumerate(row_labels):
        _, top, _, _ = layout.cell_box(row, 0)
        draw.multiline_text((GAP, top), label, font=font, fill=INK, spacing=LINE_SPACING)
        for column in range(columns):
            left, top, _, _ = layout.cell_box(row, column)
            canvas.paste(to_pil(cells[row, column]), (left, top))
    return canvas


def grid_title(rendered: RenderedEdits, what: str) -> str:
    chosen = rendered.class_text()
    return (
        f"{rendered.model}{f', {chosen}' if chosen else ''}: {what}; columns: {rendered.distance_word}; "
        f"layers {format_layer_spec(rendered.plan.layers)}; truncation {rendered.truncation_text()}"
    )


def overview_grid(rendered: RenderedEdits) -> Image.Image:
    """Every direction and seed: rows direction-major (direction 0's seeds, then direction 1's...)."""
    directions, seeds = rendered.plan.shape[:2]
    cells = rendered.pixels.reshape(directions * seeds, *rendered.pixels.shape[2:])
    labels = [
        f"{_direction_label(rendered, d)}\n{rendered.eigenvalue_text(d)}\n{rendered.seed_name(s)}"
        for d in range(directions)
        for s in range(seeds)
    ]
    columns = [rendered.distance_text(a) for a in range(rendered.plan.shape[2])]
    return draw_grid(cells, labels, columns, grid_title(rendered, "rows: direction x seed"))


def _direction_label(rendered: RenderedEdits, row: int) -> str:
    """The direction's name, wrapped between words to the width of its eigenvalue line: a long
    name the user gave it does not widen the label column of every row."""
    font = label_font()
    return wrap_text(rendered.direction_name(row), text_size(rendered.eigenvalue_text(row), font)[0], font, (" ",))


def direction_grid(rendered: RenderedEdits, row: int) -> Image.Image:
    """One direction: a row per seed."""
    labels = [rendered.seed_name(s) for s in range(rendered.plan.shape[1])]
    columns = [rendered.distance_text(a) for a in range(rendered.plan.shape[2])]
    what = f"{rendered.direction_name(row)}, {rendered.eigenvalue_text(row)}; rows: seed"
    return draw_grid(rendered.pixels[row], labels, columns, grid_title(rendered, what))


def save_png(image: Image.Image, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", optimize=False)
    return path
