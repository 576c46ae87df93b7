"""benchmarks/method_comparison.py's core on tiny counts: the three methods run on the demo model,
every direction is re-scored, each factor gets each method's best match, and the tables and
heat-maps are written."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "method_comparison.py"
FACTORS = ("x", "y", "radius", "hue", "background")


@pytest.fixture(scope="module")
def comparison():
    spec = importlib.util.spec_from_file_location("method_comparison", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    counts = module.Counts(ganspace_samples=300, boundary_samples=100, boundary_ratio=0.2, samples=2, top=1,
                           num_random=1, batch_size=32)
    return module, counts, *module.compare(counts)


def test_each_method_runs_with_the_counts_given(comparison):
    _, counts, runs, evaluation, _ = comparison
    assert [run.method for run in runs] == ["SeFa", "GANSpace", "InterFaceGAN"]
    assert [run.samples for run in runs] == [0, 300, 100]
    assert [[label for label, _ in run.banks] for run in runs] == [
        ["SeFa bottom", "SeFa rest", "SeFa all"], ["GANSpace"], [f"InterFaceGAN {factor}" for factor in FACTORS]]
    assert [bank.method for run in runs for _, bank in run.banks] == ["sefa"] * 3 + ["ganspace"] + ["interfacegan"] * 5
    assert all(run.wall_s > 0 for run in runs)
    assert evaluation.attributes == FACTORS and evaluation.settings.samples == 2
    assert [result.bank.k for result in evaluation.banks] == [1, 1, 1, 1] + [1] * 5


def test_each_factor_gets_each_methods_best_match(comparison):
    module, _, runs, evaluation, matches = comparison
    assert [(m.factor, m.method) for m in matches] == [(f, run.method) for f in FACTORS for run in runs]
    for match in matches:
        result = next(r for r in evaluation.banks if r.label == match.label)
        spreads = evaluation.normalized_rescoring(result, absolute=True)
        assert match.changes == pytest.approx(dict(zip(FACTORS, spreads[match.direction])))
        factor = FACTORS.index(match.factor)
        labels = [label for run in runs if run.method == match.method for label, _ in run.banks]
        best = max(module.match_score(s, factor) for r in evaluation.banks if r.label in labels
                   for s in evaluation.normalized_rescoring(r, absolute=True))
        assert module.match_score(spreads[match.direction], factor) == best
        assert 0 <= match.purity <= 1


def test_the_tables_and_heatmaps_are_written(comparison, tmp_path):
    module, counts, runs, evaluation, matches = comparison
    doc = tmp_path / "comparison.md"
    doc.write_text("# Comparison\n\nprose kept\n")
    written = module.write(counts, runs, evaluation, matches, doc=doc, images=tmp_path / "images")
    assert sorted(path.name for path in written) == ["comparison.md", "ganspace.png", "interfacegan.png", "sefa.png"]
    text = doc.read_text()
    assert text.startswith("# Comparison\n\nprose kept\n")
    assert "GANSpace on 300 sampled codes, InterFaceGAN on 100 sampled and scored codes" in text
    assert text.count("| SeFa |") == 1 + len(FACTORS)
    for method, rows in (("sefa", 3), ("ganspace", 1), ("interfacegan", 5)):
        with Image.open(tmp_path / "images" / f"{method}.png") as image:
            assert image.height > rows * 22
    module.write(counts, runs, evaluation, matches, doc=doc, images=tmp_path / "images")
    assert doc.read_text() == text  # the section is replaced, not added again
    assert np.isfinite([m.changes[m.factor] for m in matches]).all()
