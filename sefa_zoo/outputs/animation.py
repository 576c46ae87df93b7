"""Animations of one direction: the seeds side by side, swept from the first distance to the
last and back. GIF through Pillow; MP4 through imageio-ffmpeg (its wheel ships an ffmpeg
binary) when that optional package is installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..atomic import atomic_path
from .grids import BACKGROUND, GAP, INK, LINE_SPACING, label_font, text_size
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


def caption_wordings(rendered: RenderedEdits, row: int, step: int) -> list[str]:
    """What a frame's caption may say, from the most to the least: the last is the bare distance."""
    direction = rendered.direction_name(row)
    distance = f"{rendered.distance_word} {rendered.distance_text(step)}"
    chosen = rendered.class_text()
    with_class = [
        f"{chosen}, {direction}, {rendered.eigenvalue_text(row)}, {distance}",
        f"{chosen}, {direction} ({rendered.share_text(row)}), {distance}",
        f"{chosen}, {direction}, {distance}",
        f"{chosen}\n{direction}, {distance}",
        f"{chosen}\n{direction}\n{distance}",
    ] if chosen else []
    return [
        *with_class,
        f"{direction}, {rendered.eigenvalue_text(row)}, {distance}",
        f"{direction} ({rendered.share_text(row)}), {distance}",
        f"{direction}, {distance}",
        f"{direction}\n{distance}",
        distance,
        rendered.distance_text(step),
    ]


def sweep_captions(rendered: RenderedEdits, row: int, width: int, font) -> list[str]:
    """A caption per distance, all in the first wording in which every one fits ``width``
    pixels (one wording for the whole sweep, so that the caption does not jump about); the
    bare distances when none does."""
    wordings = [caption_wordings(rendered, row, step) for step in range(rendered.plan.shape[2])]
    for captions in zip(*wordings):
        if all(text_size(caption, font)[0] <= width for caption in captions):
            break
    return list(captions)


def sweep_frames(rendered: RenderedEdits, row: int) -> list[Image.Image]:
    """One frame per sweep step: a caption, then every seed's image at that distance. The frame
    is as wide as the images, or wider when even the bare distance would not fit."""
    font = label_font()
    seeds = rendered.plan.shape[1]
    height, width = rendered.image_size
    pictures_width = seeds * width + (seeds + 1) * GAP
    captions = sweep_captions(rendered, row, pictures_width - 2 * GAP, font)
    caption_sizes = [text_size(caption, font) for caption in captions]
    caption_height = max(h for _, h in caption_sizes) + 2 * GAP
    size = (max(pictures_width, max(w for w, _ in caption_sizes) + 2 * GAP), caption_height + height + GAP)
    frames = []
    for step in sweep_order(rendered.plan.shape[2]):
        frame = Image.new("RGB", size, BACKGROUND)
        ImageDraw.Draw(frame).multiline_text((GAP, GAP), captions[step], font=font, fill=INK, spacing=LINE_SPACING)
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
