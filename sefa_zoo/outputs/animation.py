"""Animations of one direction: the seeds side by side, swept from the first distance to the
last and back. GIF through Pillow; MP4 through imageio-ffmpeg (its wheel ships an ffmpeg
binary) when that optional package is installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..atomic import atomic_path
from .grids import BACKGROUND, GAP, INK, label_font, text_size
from .imaging import to_pil
from .rendered import RenderedEdits

FRAME_MS = 150
MACRO_BLOCK = 16  # H.264 encoders want frame sides in multiples of 16


def sweep_order(steps: int) -> list[int]:
    """Distance indices of a sweep there and back without repeating the ends:
    0, 1, ..., n-1, n-2, ..., 1 — 2n - 2 frames (one frame when n is 1), looping seamlessly."""
    if steps < 1:
        raise ValueError("a sweep needs at least one distance")
    return [*range(steps), *range(steps - 2, 0, -1)]


def sweep_frames(rendered: RenderedEdits, row: int) -> list[Image.Image]:
    """One frame per sweep step: a caption line, then every seed's image at that distance."""
    font = label_font()
    seeds = rendered.plan.shape[1]
    height, width = rendered.image_size
    caption_height = text_size("Ag", font)[1] + 2 * GAP
    size = (seeds * width + (seeds + 1) * GAP, caption_height + height + GAP)
    frames = []
    for step in sweep_order(rendered.plan.shape[2]):
        frame = Image.new("RGB", size, BACKGROUND)
        caption = (
            f"{rendered.direction_name(row)} ({rendered.eigenvalue_text(row)}), "
            f"distance {rendered.distance_text(step)}"
        )
        ImageDraw.Draw(frame).text((GAP, GAP), caption, font=font, fill=INK)
        for s in range(seeds):
            frame.paste(to_pil(rendered.pixels[row, s, step]), (GAP + s * (width + GAP), caption_height))
        frames.append(frame)
    return frames


def write_gif(frames: list[Image.Image], path: str | Path, frame_ms: int = FRAME_MS) -> Path:
    """An endlessly looping GIF, one palette per frame."""
    path = Path(path)
    with atomic_path(path) as tmp:
        frames[0].save(
            tmp, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms, loop=0, disposal=1,
        )
    return path


def video_available() -> bool:
    return importlib.util.find_spec("imageio_ffmpeg") is not None


def write_mp4(frames: list[Image.Image], path: str | Path, frame_ms: int = FRAME_MS) -> Path:
    """An H.264 MP4 (yuv420p, plays everywhere); frames are padded to multiples of 16 pixels."""
    import imageio_ffmpeg

    path = Path(path)
    width, height = frames[0].size
    padded = (-(-width // MACRO_BLOCK) * MACRO_BLOCK, -(-height // MACRO_BLOCK) * MACRO_BLOCK)
    with atomic_path(path) as tmp:
        writer = imageio_ffmpeg.write_frames(
            str(tmp), padded, fps=1000 / frame_ms, codec="libx264", macro_block_size=MACRO_BLOCK,
            output_params=["-f", "mp4"],
        )
        writer.send(None)
        try:
            for frame in frames:
                canvas = Image.new("RGB", padded, BACKGROUND)
                canvas.paste(frame, (0, 0))
                writer.send(np.ascontiguousarray(np.asarray(canvas)))
        finally:
            writer.close()
    return path
