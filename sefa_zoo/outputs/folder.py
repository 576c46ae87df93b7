"""Every output of an edit run in one folder: grids, the HTML report, animations."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .animation import FRAME_MS, sweep_frames, video_available, write_gif, write_mp4
from .grids import direction_grid, overview_grid, save_png
from .rendered import RenderedEdits
from .report import write_html_report

VIDEO_MISSING = "MP4 animations skipped: install imageio-ffmpeg for them (pip install imageio-ffmpeg)"


@dataclass
class EditOutputs:
    written: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def direction_stem(rendered: RenderedEdits, row: int) -> str:
    """``direction_03``: the bank index, zero-padded so that files sort in bank order."""
    digits = max(2, len(str(rendered.bank.k - 1)))
    return f"direction_{rendered.plan.directions[row]:0{digits}d}"


def write_edit_outputs(
    rendered: RenderedEdits, folder: str | Path, *, video: bool | None = None, frame_ms: int = FRAME_MS
) -> EditOutputs:
    """Write into ``folder``: ``overview.png`` (every direction x seed), ``direction_NN.png``
    and ``direction_NN.gif`` per direction, ``direction_NN.mp4`` when ``video`` (default:
    when imageio-ffmpeg is installed), and ``report.html``. Each file is written atomically."""
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
