"""The demo model that ships in the package: it loads offline, looks like its data, and SeFa
finds its factors. The thresholds are deliberately loose; docs/demo-model.md has the full
numbers and pictures."""

import pytest
import torch
from huggingface_hub import constants as hf_constants
from typer.testing import CliRunner

from sefa_zoo import get_architecture, load_bank, open_checkpoint
from sefa_zoo.catalogue import get_entry
from sefa_zoo.cli.main import app
from sefa_zoo.editing import codes_from_seeds
from sefa_zoo.hashing import sha256_file
from sefa_zoo_plugins.stylegan2.demo import shipped
from sefa_zoo_plugins.stylegan2.demo.evaluate import evaluate
from sefa_zoo_plugins.stylegan2.demo.factors import estimate_factors
from sefa_zoo_plugins.stylegan2.demo.shapes import ShapesData

SAMPLES = 256


@pytest.fixture(scope="module")
def checkpoint():
    return open_checkpoint(shipped.weights_path())


@pytest.fixture(scope="module")
def sample_factors(checkpoint):
    generator = get_architecture("stylegan2").build_generator(checkpoint)
    codes = codes_from_seeds(generator, list(range(SAMPLES)), truncation_psi=1.0, truncation_cutoff=None)
    images = torch.cat([generator.synthesize(codes[i:i + 64]) for i in range(0, SAMPLES, 64)])
    return estimate_factors(images)


def test_catalogue_entry_points_at_the_shipped_weights():
    entry = get_entry("stylegan2-shapes")
    path = shipped.weights_path()
    assert entry.layout == "sefa-zoo" and entry.source.path == str(path)
    assert entry.source.sha256 == sha256_file(path)
    assert entry.source.size == path.stat().st_size


def interquartile(values: torch.Tensor) -> float:
    low, high = torch.quantile(values.double(), torch.tensor([0.25, 0.75], dtype=torch.float64))
    return float(high - low)


@pytest.mark.parametrize("factor", ["x", "y", "radius", "background"])
def test_samples_vary_like_the_data(sample_factors, factor):
    _, truth = ShapesData(seed=1).batch(SAMPLES)
    assert interquartile(sample_factors[factor]) > 0.5 * interquartile(truth[factor])


def test_samples_cover_the_hue_circle(sample_factors):
    bins = torch.floor(sample_factors["hue"] % 1.0 * 6).long().clamp(0, 5)
    counts = torch.bincount(bins, minlength=6)
    assert (counts >= SAMPLES * 0.03).all(), counts.tolist()


def test_sefa_directions_move_factors_more_than_random_ones(checkpoint):
    result = evaluate(checkpoint, k=5, seeds=32, num_random=8)
    assert result.best_ratio("all") > 3.0
    assert result.best_ratio("bottom") > 2.0 and result.best_ratio("rest") > 2.0


def test_readme_main_job_runs_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    out = tmp_path / "shapes-demo"
    result = CliRunner().invoke(app, ["edit", "stylegan2-shapes", "-o", str(out)])
    assert result.exit_code == 0, result.output
    bank = load_bank(out / "bank.safetensors")
    assert bank.model == "stylegan2-shapes" and bank.architecture == "stylegan2"
    for name in ("overview.png", "report.html", "direction_00.png", "direction_00.gif"):
        assert (out / name).is_file(), name
