"""Writing a benchmark's results into its marked section of a markdown file (docs/benchmarks.md)."""

from __future__ import annotations

from pathlib import Path


def write_section(doc_path: Path, name: str, text: str, heading: str = "") -> None:
    """Put ``text`` between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` in ``doc_path``,
    replacing what was there; a missing section is appended under ``heading``."""
    from sefa_zoo import atomic_path

    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    doc = doc_path.read_text() if doc_path.exists() else ""
    if start in doc:
        head, _, rest = doc.partition(start)
        _, _, tail = rest.partition(end)
    else:
        head = doc + ("\n" if doc else "") + (f"{heading}\n\n" if heading else "")
        tail = "\n"
    with atomic_path(doc_path) as tmp:
        Path(tmp).write_text(f"{head}{start}\n{text}{end}{tail}")
