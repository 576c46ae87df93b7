"""One self-contained HTML5 page of edits: every image embedded as a data URI, the bank's
metadata, and a few lines of inline script that regroup the rows by direction or by sample.
Nothing is fetched from anywhere; the page works offline and with scripts off (grouped by
direction)."""

from __future__ import annotations

import base64
import io
import re
from html import escape
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from ..atomic import atomic_path
from .imaging import to_pil
from .rendered import RenderedEdits

PNG_UP_TO = 128  # longer side; larger pictures are embedded as JPEG to keep the page small
JPEG_QUALITY = 92

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #1a1a1a; }
table { border-collapse: collapse; }
table.meta th, table.meta td { text-align: left; padding: 0.15rem 0.8rem 0.15rem 0; vertical-align: top; }
table.meta td { font-family: ui-monospace, monospace; word-break: break-all; }
#edits th, #edits td { padding: 2px; text-align: center; }
#edits tbody th[scope=row] { text-align: right; padding-right: 0.6rem; font-weight: normal; white-space: nowrap; }
#edits tr.group th { text-align: left; padding-top: 0.8rem; }
#edits img { display: block; image-rendering: pixelated; }
button[aria-pressed=true] { font-weight: bold; }
"""

_SCRIPT = """
(function () {
  const body = document.querySelector("#edits tbody");
  const columns = document.querySelectorAll("#edits thead th").length;
  const rows = Array.from(body.querySelectorAll("tr.sample"));
  const buttons = document.querySelectorAll("button[data-group]");
  function groupBy(key) {
    const other = key === "direction" ? "seed" : "direction";
    const order = (row, name) => Number(row.dataset[name + "Order"]);
    const sorted = rows.slice().sort((a, b) => (order(a, key) - order(b, key)) || (order(a, other) - order(b, other)));
    body.replaceChildren();
    let current = null;
    for (const row of sorted) {
      const label = row.dataset[key + "Label"];
      if (label !== current) {
        const head = document.createElement("tr");
        const cell = document.createElement("th");
        head.className = "group";
        cell.colSpan = columns;
        cell.scope = "colgroup";
        cell.textContent = label;
        head.append(cell);
        body.append(head);
        current = label;
      }
      body.append(row);
    }
    for (const button of buttons) button.setAttribute("aria-pressed", String(button.dataset.group === key));
  }
  for (const button of buttons) button.addEventListener("click", () => groupBy(button.dataset.group));
})();
"""


def data_uri(pixels: np.ndarray) -> str:
    """An image as a data URI: PNG when small, else JPEG."""
    picture = to_pil(pixels)
    buffer = io.BytesIO()
    if max(picture.size) <= PNG_UP_TO:
        picture.save(buffer, format="PNG")
        kind = "png"
    else:
        picture.save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
        kind = "jpeg"
    return f"data:image/{kind};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def checkpoint_file_name(source: str) -> str:
    """The file name at the end of a checkpoint's source (a path, a URL, an hf:// address):
    the folders above it may be private, and a report is made to be shared."""
    path = urlsplit(source).path if "://" in source else source
    name = re.split(r"[\\/]", path.rstrip("\\/"))[-1]
    if source.startswith("hf://"):
        name = name.rpartition("@")[0] or name  # the revision, which the sha256 pins anyway
    return name


def _bank_rows(rendered: RenderedEdits) -> list[tuple[str, str]]:
    bank = rendered.bank
    rows = [
        ("checkpoint file", checkpoint_file_name(value)) if key == "checkpoint_source" else (key, value)
        for key, value in bank.metadata().items()
    ]
    return [*rows, ("directions in bank", str(bank.k)), ("latent_dim", str(bank.latent_dim))]


def _meta_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th scope=\"row\">{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<table class=\"meta\"><tbody>{body}</tbody></table>"


def _eigen_table(rendered: RenderedEdits) -> str:
    """Each direction shown, its eigenvalue and share, and its name when the bank names any."""
    bank = rendered.bank
    named = any(bank.name_of(d) for d in rendered.plan.directions)
    shares = bank.shares()
    rows = "".join(
        f"<tr><td>{d}</td>" + (f"<td>{escape(bank.name_of(d))}</td>" if named else "")
        + f"<td>{bank.eigenvalues[d]:.6g}</td><td>{shares[d]:.2%}</td></tr>"
        for d in rendered.plan.directions
    )
    head = "".join(f"<th scope=\"col\">{column}</th>"
                   for column in ("direction", *(["name"] if named else []), "eigenvalue", "share of all"))
    return f"<table class=\"meta\"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _edit_rows(rendered: RenderedEdits) -> str:
    directions, seeds, steps = rendered.plan.shape
    height, width = rendered.image_size
    columns = steps + 1
    out = []
    for d in range(directions):
        direction_label = f"{rendered.direction_name(d)}, {rendered.eigenvalue_text(d)}"
        out.append(
            f"<tr class=\"group\"><th colspan=\"{columns}\" scope=\"colgroup\">{escape(direction_label)}</th></tr>"
        )
        for s in range(seeds):
            cells = []
            for a in range(steps):
                alt = (f"{rendered.direction_name(d)}, {rendered.seed_name(s)}, "
                       f"{rendered.distance_word} {rendered.distance_text(a)}")
                cells.append(
                    f"<td><img src=\"{data_uri(rendered.pixels[d, s, a])}\" width=\"{width}\" height=\"{height}\" "
                    f"alt=\"{escape(alt)}\"></td>"
                )
            out.append(
                f"<tr class=\"sample\" data-direction-order=\"{d}\" data-seed-order=\"{s}\" "
                f"data-direction-label=\"{escape(direction_label)}\" "
                f"data-seed-label=\"{escape(rendered.seed_name(s))}\">"
                f"<th scope=\"row\">{escape(rendered.direction_name(d))}<br>{escape(rendered.seed_name(s))}</th>"
                + "".join(cells) + "</tr>"
            )
    return "\n".join(out)


def _columns_are(rendered: RenderedEdits) -> str:
    if rendered.plan.to_distance:
        return "signed distances from the direction's boundary, where every sample is moved to"
    return "distances along the direction"


def html_report(rendered: RenderedEdits) -> str:
    """The whole page as text."""
    chosen = rendered.class_text()
    title = f"SeFa edits: {rendered.model}" + (f", {chosen}" if chosen else "")
    head_cells = "".join(
        f"<th scope=\"col\">{escape(rendered.distance_text(a))}</th>" for a in range(rendered.plan.shape[2])
    )
    return "\n".join([
        "<!DOCTYPE html>",
        "<html lang=\"en\">",
        "<head>",
        "<meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>{escape(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
        "<h2>Rendering</h2>",
        _meta_table(rendered.settings()),
        "<h2>Directions shown</h2>",
        _eigen_table(rendered),
        "<h2>Images</h2>",
        "<p>Group rows by <button type=\"button\" data-group=\"direction\" aria-pressed=\"true\">direction</button> "
        "<button type=\"button\" data-group=\"seed\" aria-pressed=\"false\">sample</button>; "
        f"columns are {_columns_are(rendered)}.</p>",
        "<table id=\"edits\">",
        f"<thead><tr><th scope=\"col\">{rendered.distance_word}</th>{head_cells}</tr></thead>",
        "<tbody>",
        _edit_rows(rendered),
        "</tbody>",
        "</table>",
        "<h2>Direction bank</h2>",
        _meta_table(_bank_rows(rendered)),
        f"<script>{_SCRIPT}</script>",
        "</body>",
        "</html>",
        "",
    ])


def write_html_report(rendered: RenderedEdits, path: str | Path) -> Path:
    path = Path(path)
    text = html_report(rendered)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
