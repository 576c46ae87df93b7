"""Every output of an edit run in one folder: grids, the HTML report, animations."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .animation import FRAME_MS, sweep_frames, video_available, write_gif, write_mp4
from .grids import direction_grid, overview_grid, save_png
from .rendered import RenderedEdits
from .report import write_html_report
from .staging import staged_folder

VIDEO_MISSING = 'MP4 animations skipped: they need imageio-ffmpeg (pip install "sefa-zoo[video]")'
_OUTPUT_NAME = re.compile(r"overview\.png|report\.html|direction_\d{2,}\.(?:png|gif|mp4)")


@dataclass
class EditOutputs:
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def direction_stem(rendered: RenderedEdits, row: int) -> str:
    """``direction_03``: the bank index, zero-padded so that files sort in bank order."""
    digits = max(2, len(str(rendered.bank.k - 1)))
    return f"direction_{rendered.plan.directions[row]:0{digits}d}"


def is_edit_output(name: str) -> bool:
    """Whether a file called ``name`` is of the naming of the files that ``write_edit_outputs``
    writes: a later run into the same folder replaces or removes it."""
    return _OUTPUT_NAME.fullmatch(name) is not None


def write_edit_outputs(
    rendered: RenderedEdits, folder: str | Path, *, video: bool | None = None, frame_ms: int = FRAME_MS
) -> EditOutputs:
    """Write into ``folder``: ``overview.png`` (every direction x seed), ``direction_NN.png``
    and ``direction_NN.gif`` per direction, ``direction_NN.mp4`` when ``video`` (default:
    when imageio-ffmpeg is installed), and ``report.html``.

    The files take their places only once all are written, or (on any error) none does; the files of
    an earlier run into ``folder`` are replaced, and those it wrote that this run does not
    (other directions) removed. Other files in ``folder`` are left alone."""
    with staged_folder(folder, owns=is_edit_output) as staging:
        out = write_edit_files(rendered, staging.path, video=video, frame_ms=frame_ms)
    out.written = [staging.final_path(path) for path in out.written]
    return out


def write_edit_files(
    rendered: RenderedEdits, folder: str | Path, *, video: bool | None = None, frame_ms: int = FRAME_MS
) -> EditOutputs:
    """``write_edit_outputs`` without the staging: each file is written atomically, in turn,
    straight into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = EditOutputs()
    if video is None:
        video = video_available()
        if not video:
            out.notes.append(VIDEO_MISSING)
    out.written.append(save_png(overview_grid(rendered), folder / "overview.png"))
    for row in range(rendered.plan.shape[0]):
        stem = direction_stem(rendered, row)
        out.written.append(save_png(direction_grid(rendered, row), folder / f"{stem}.png"))
        frames = sweep_frames(rendered, row)
        out.written.append(write_gif(frames, folder / f"{stem}.gif", frame_ms))
        if video:
            out.written.append(write_mp4(frames, folder / f"{stem}.mp4", frame_ms))
    out.written.append(write_html_report(rendered, folder / "report.html"))
    return out
