"""Scorers: the register_scorers hook, the registry's checks, lookup by name and attribute,
the checked call, and the demo model's exact scorers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from sefa_zoo.errors import PluginError
from sefa_zoo.plugins import get_registry
from sefa_zoo.scoring import Scorer, ScorerError, get_scorer, score_change, score_images, scorer_for, scorers
from sefa_zoo_plugins.stylegan2.demo import shapes
from support.plugin_toys import plugin_warnings
from support.scoring_toys import ScorerPlugin, answering, brightness_scorer


def test_a_plugin_registers_scorers_by_name(register_plugin):
    register_plugin(ScorerPlugin(brightness_scorer()), "light-plugin")
    assert get_scorer("toy-light").attributes == ("brightness", "redness")
    assert "toy-light" in scorers()
    (info,) = [p for p in get_registry().plugins if p.name == "light-plugin"]
    assert info.scorers == ["toy-light"]


@pytest.mark.parametrize("registered, problem", [
    ("not a scorer", "registered a str, not a sefa_zoo.scoring.Scorer"),
    (Scorer("", ("a",), len), "a scorer's name must be one line"),
    (Scorer("bad\nname", ("a",), len), "a scorer's name must be one line"),
    (Scorer("empty", (), len), "scorer 'empty': attributes must be a non-empty tuple"),
    (Scorer("listed", ["a"], len), "scorer 'listed': attributes must be a non-empty tuple"),
    (Scorer("twice", ("a", "a"), len), "scorer 'twice': attributes must be distinct"),
    (Scorer("mute", ("a",), "score"), "scorer 'mute': score must be callable"),
    (Scorer("nowhere", ("a",), len, models="stylegan2-shapes"), "scorer 'nowhere': models must be a tuple"),
    (Scorer("round", ("a",), len, periods={"b": 1.0}), "scorer 'round': periods must map some of its attributes"),
    (Scorer("flat", ("a",), len, periods={"a": 0.0}), "scorer 'flat': periods must map some of its attributes"),
    (Scorer("listy", ("a",), len, periods=[("a", 1.0)]), "scorer 'listy': periods must map some of its attributes"),
])
def test_an_unusable_scorer_is_one_warning_and_ignored(register_plugin, registered, problem):
    register_plugin(ScorerPlugin(registered, brightness_scorer("toy-kept")), "faulty-scorers")
    messages = [m for m in plugin_warnings(get_registry) if "faulty-scorers" in m]
    assert len(messages) == 1 and problem in messages[0] and messages[0].endswith("; ignored")
    assert "toy-kept" in scorers()
    assert not any(name in scorers() for name in ("", "empty", "listed", "twice", "mute", "nowhere", "round", "flat",
                                                  "listy"))


def test_a_taken_scorer_name_keeps_the_first(register_plugin):
    first = brightness_scorer("toy-same")
    register_plugin(ScorerPlugin(first), "first-scorers")
    register_plugin(ScorerPlugin(answering(len, name="toy-same")), "second-scorers")
    messages = [m for m in plugin_warnings(get_registry) if "second-scorers" in m]
    assert messages and "scorer name 'toy-same' is already taken by plugin 'first-scorers'" in messages[0]
    assert get_scorer("toy-same") is first


def test_unknown_names_are_one_line_errors_with_close_names():
    with pytest.raises(ScorerError, match=r"^unknown scorer 'shape' \(did you mean shapes\?\)$"):
        get_scorer("shape")
    with pytest.raises(ScorerError, match=r"^unknown scorer 'zzzz' \(known: .*shapes.*\)$"):
        get_scorer("zzzz")


def test_a_scorer_is_found_by_attribute_and_model(register_plugin):
    assert scorer_for("hue", "stylegan2-shapes").name == "shapes"
    with pytest.raises(ScorerError, match=r"no scorer for model 'stylegan2-shapes' scores attribute 'hu' "
                                          r"\(did you mean hue\?\)"):
        scorer_for("hu", "stylegan2-shapes")
    with pytest.raises(ScorerError, match=r"no scorer for model 'other' scores attribute 'hue'"):
        scorer_for("hue", "other")  # the demo's scorers are meant for the demo model only
    register_plugin(ScorerPlugin(brightness_scorer("toy-one"), brightness_scorer("toy-two")), "two-lights")
    with pytest.raises(ScorerError, match=r"scored by several scorers \(toy-one, toy-two\): choose one by name"):
        scorer_for("brightness", "anything")


def test_scores_are_checked_float64_arrays(register_plugin):
    register_plugin(ScorerPlugin(brightness_scorer()), "light-plugin")
    images = torch.linspace(-1, 1, 5)[:, None, None, None].expand(5, 3, 4, 4)
    scores = score_images(get_scorer("toy-light"), images)
    assert set(scores) == {"brightness", "redness"}
    assert scores["brightness"].dtype == np.float64
    np.testing.assert_allclose(scores["brightness"], np.linspace(-1, 1, 5), atol=1e-7)


@pytest.mark.parametrize("answer, message", [
    (lambda images: [1.0] * len(images), r"returned a list, not a mapping"),
    (lambda images: {"b": np.zeros(len(images))}, r"returned no scores for its attribute 'a'"),
    (lambda images: {"a": np.zeros((len(images), 2))}, r"scores of shape \(3, 2\) for attribute 'a'; expected \(3,\)"),
    (lambda images: {"a": np.full(len(images), np.nan)}, r"NaN or infinite scores for attribute 'a'"),
    (lambda images: {"a": ["x"] * len(images)}, r"attribute 'a': the scores are a list, not numbers"),
    (lambda images: {"a": torch.zeros(len(images), dtype=torch.bfloat16)}, None),
])
def test_a_scorer_answering_nonsense_is_a_one_line_error(register_plugin, answer, message):
    register_plugin(ScorerPlugin(answering(answer)), "answer-plugin")
    images = torch.zeros(3, 3, 2, 2)
    if message is None:
        assert score_images(get_scorer("toy-answer"), images)["a"].tolist() == [0.0, 0.0, 0.0]
        return
    with pytest.raises(ScorerError, match=r"^scorer 'toy-answer'.*" + message):
        score_images(get_scorer("toy-answer"), images)


def test_a_scorer_that_fails_is_a_plugin_error_naming_it(register_plugin):
    def fail(images):
        raise ZeroDivisionError("oops")

    register_plugin(ScorerPlugin(answering(fail)), "failing-plugin")
    with pytest.raises(PluginError, match=r"plugin 'failing-plugin' .*scorer 'toy-answer': score\(\) raised "
                                          r"ZeroDivisionError: oops"):
        score_images(get_scorer("toy-answer"), torch.zeros(1, 3, 2, 2))


def test_the_demo_scorer_measures_the_drawn_factors_exactly():
    scorer = get_scorer("shapes")
    assert scorer.attributes == shapes.FACTORS and scorer.models == ("stylegan2-shapes",)
    factors = shapes.sample_factors(16, torch.Generator().manual_seed(0))
    scores = score_images(scorer, shapes.render(factors))
    for name in shapes.FACTORS:
        tolerance = {"radius": 0.05, "hue": 0.01}.get(name, 0.02)
        np.testing.assert_allclose(scores[name], factors[name].double().numpy(), atol=tolerance, err_msg=name)


def test_circular_attributes_change_the_shorter_way_round():
    scorer = get_scorer("shapes")
    assert scorer.periods == {"hue": 1.0}
    np.testing.assert_allclose(score_change(scorer, "hue", np.array([0.02, 0.9]), np.array([0.98, 0.1])),
                               [0.04, -0.2], atol=1e-12)
    np.testing.assert_allclose(score_change(scorer, "x", np.array([0.02]), np.array([0.98])), [-0.96])


def test_registering_the_demo_scorers_imports_no_torch():
    code = ("import sys; from sefa_zoo.scoring import scorers; names = sorted(scorers()); "
            "assert 'shapes' in names, names; assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
