"""A labelled heat-map of a matrix (rows × columns of signed numbers) as a PIL image: blue for
negative, white for zero, red for positive, on a scale symmetric about zero, each cell with its
number; drawn with Pillow alone."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from .grids import BACKGROUND, GAP, INK, LINE_SPACING, label_font, text_size, wrap_text

CELL_WIDTH = 64
CELL_HEIGHT = 22
NEGATIVE = np.array([49, 104, 196], dtype=np.float64)
POSITIVE = np.array([206, 56, 48], dtype=np.float64)
WHITE = np.array([255, 255, 255], dtype=np.float64)
MIN_TITLE_WIDTH = 320
# Cells darker than this (mean of the channels) get white numbers.
DARK = 140


def cell_colour(value: float, scale: float) -> tuple[int, int, int]:
    """White at 0, the full colour of the sign at ``scale`` and beyond."""
    strength = min(abs(value) / scale, 1.0) if scale > 0 else 0.0
    end = POSITIVE if value > 0 else NEGATIVE
    colour = WHITE + (end - WHITE) * strength
    return tuple(int(round(c)) for c in colour)


def draw_heatmap(
    values: np.ndarray, row_labels: Sequence[str], column_labels: Sequence[str], title: str, *, digits: int = 2
) -> Image.Image:
    """``values`` (rows, columns) as a table of coloured cells with ``title`` above it."""
    if values.shape != (len(row_labels), len(column_labels)):
        raise ValueError(f"{values.shape} values for {len(row_labels)} rows and {len(column_labels)} columns")
    font = label_font()
    scale = float(np.abs(values).max()) if values.size else 0.0
    label_width = max((text_size(label, font)[0] for label in row_labels), default=0)
    columns = [max(CELL_WIDTH, text_size(label, font)[0] + GAP) for label in column_labels]
    header_height = max((text_size(label, font)[1] for label in column_labels), default=0)
    left = GAP + label_width + GAP
    title = wrap_text(title, max(left + sum(columns), MIN_TITLE_WIDTH), font)
    title_width, title_height = text_size(title, font)
    top = GAP + title_height + GAP + header_height + GAP
    width = max(left + sum(columns) + GAP, GAP + title_width + GAP)
    image = Image.new("RGB", (width, top + CELL_HEIGHT * len(row_labels) + GAP), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.multiline_text((GAP, GAP), title, font=font, fill=INK, spacing=LINE_SPACING)
    x = left
    for label, column_width in zip(column_labels, columns):
        draw.text((x + (column_width - text_size(label, font)[0]) // 2, top - GAP - header_height), label,
                  font=font, fill=INK)
        x += column_width
    for r, label in enumerate(row_labels):
        y = top + r * CELL_HEIGHT
        draw.text((GAP, y + (CELL_HEIGHT - text_size(label, font)[1]) // 2), label, font=font, fill=INK)
        x = left
        for c, column_width in enumerate(columns):
            value = float(values[r, c])
            colour = cell_colour(value, scale)
            draw.rectangle((x, y, x + column_width - 1, y + CELL_HEIGHT - 1), fill=colour, outline=BACKGROUND)
            number = _shown(value, digits)
            ink = BACKGROUND if sum(colour) / 3 < DARK else INK
            number_width, number_height = text_size(number, font)
            draw.text((x + (column_width - number_width) // 2, y + (CELL_HEIGHT - number_height) // 2), number,
                      font=font, fill=ink)
            x += column_width
    return image


def _shown(value: float, digits: int) -> str:
    """The signed number, and 0 without a sign when it rounds to zero ("-0.00" reads as a change)."""
    text = f"{value:+.{digits}f}"
    return text[1:] if float(text) == 0 else text
