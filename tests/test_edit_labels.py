"""What edit's grids, captions and report say about the distances and the truncation when the
bank is an InterFaceGAN boundary: distances *to* the boundary with to_distance, and a z bank of a
per-layer model, whose truncation is still the model's per-layer one."""

from __future__ import annotations

import numpy as np
import pytest

from sefa_zoo import plan_edits, render_for_display
from sefa_zoo.outputs.animation import caption_wordings
from sefa_zoo.outputs.grids import grid_title
from sefa_zoo.outputs.report import html_report

from support.editing_toys import FakeWPlusGenerator, boundary_bank_of, fake_tensors


@pytest.fixture
def generator():
    return FakeWPlusGenerator(fake_tensors())


def rendered(generator, bank, **kwargs):
    plan = plan_edits(generator, bank, [0], [-1.0, 2.0], [0], **kwargs)
    return render_for_display(generator, bank, plan, model="fake")


def test_distances_to_a_boundary_are_said_to_be_from_the_boundary(generator):
    bank = boundary_bank_of(generator, "w", np.ones(6), 0.0)
    moved_to = rendered(generator, bank, to_distance=True)
    assert "columns: distance from the boundary;" in grid_title(moved_to, "rows: seed")
    assert caption_wordings(moved_to, 0, 1)[-2] == "distance from the boundary +2"
    assert ("distances from the boundary", "-1, +2") in moved_to.settings()
    html = html_report(moved_to)
    assert '<th scope="col">distance from the boundary</th>' in html
    assert "columns are signed distances from the direction's boundary" in html
    moved_by = rendered(generator, bank)
    assert "columns: distance;" in grid_title(moved_by, "rows: seed")
    assert caption_wordings(moved_by, 0, 1)[-2] == "distance +2" and ("distances", "-1, +2") in moved_by.settings()
    assert "columns are distances along the direction" in html_report(moved_by)


def test_a_z_bank_of_a_per_layer_model_shows_the_models_truncation(generator):
    bank = boundary_bank_of(generator, "z", np.ones(5), 0.0)
    assert rendered(generator, bank).truncation_text() == "psi 0.7 on layers below 8"
