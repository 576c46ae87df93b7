"""sefa_zoo.evaluation and `sefa-zoo evaluate`: image change against random directions on the
same layers, cosine similarity between banks, the output folder; on every architecture."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from sefa_zoo import SefaZooError, factorize_file, save_bank
from sefa_zoo.cli.evaluate import evaluate
from sefa_zoo.editing import codes_from_seeds, default_truncation_psi, latents_from_seeds, open_generator
from sefa_zoo.evaluation import (
    EvaluationSettings, cosine_similarities, evaluate_banks, images_to_render, output_files, random_directions,
)
from sefa_zoo.scoring import Scorer

from support.direction_toys import ARCHITECTURE_CASES, architecture_fixtures, random_bank  # noqa: F401
from support.editing_toys import command_runner, fake_wplus, folder_contents  # noqa: F401  (fixtures)
from support.scoring_toys import ScorerPlugin, answering, brightness_scorer

run = command_runner(evaluate=evaluate)
SMALL = EvaluationSettings(samples=5, distance=2.0, seed=3, num_random=4, batch_size=2)


def expected_change(generator, codes, direction, layers, distance):
    """mean over seeds of mean |ΔI| / distance, computed directly on the generator."""
    moved = codes.clone()
    moved[:, list(layers)] += distance * torch.from_numpy(np.asarray(direction, dtype=np.float32))
    change = (generator.synthesize(moved).double() - generator.synthesize(codes).double()).abs()
    return float(change.flatten(1).mean(dim=1).mean()) / abs(distance)


def test_image_change_is_the_mean_pixel_change_per_unit_of_distance(fake_wplus):
    generator = open_generator(fake_wplus).generator
    bank = factorize_file(fake_wplus, layers="1-2")
    result = evaluate_banks(generator, [("b", bank)], settings=SMALL).banks[0]
    codes = codes_from_seeds(generator, SMALL.seeds)
    for i in range(bank.k):
        assert result.image_change[i] == pytest.approx(expected_change(generator, codes, bank.directions[i], (1, 2),
                                                                       2.0), rel=1e-6)
    randoms = random_directions(bank.latent_dim, 4, seed=3)
    baseline = np.mean([expected_change(generator, codes, v, (1, 2), 2.0) for v in randoms])
    assert result.baselines[0].layers == (1, 2)
    assert result.baselines[0].mean_image_change == pytest.approx(baseline, rel=1e-6)
    np.testing.assert_allclose(result.ratios(), result.image_change / baseline)


def test_each_direction_is_compared_with_random_directions_on_its_own_layers(fake_wplus):
    generator = open_generator(fake_wplus).generator
    low, high = factorize_file(fake_wplus, layers="0"), factorize_file(fake_wplus, layers="2-3")
    own = replace(factorize_file(fake_wplus), direction_layers=((3,), (0, 1), (), (), (), ()))
    evaluation = evaluate_banks(generator, [("low", low), ("high", high), ("own", own)], settings=SMALL)
    layers = {result.label: [baseline.layers for baseline in result.baselines] for result in evaluation.banks}
    assert layers == {"low": [(0,)] * 6, "high": [(2, 3)] * 6, "own": [(3,), (0, 1)] + [(0, 1, 2, 3)] * 4}
    codes = codes_from_seeds(generator, SMALL.seeds)
    randoms = random_directions(6, 4, seed=3)
    for result in evaluation.banks:
        for i, baseline in enumerate(result.baselines):
            expected = np.mean([expected_change(generator, codes, v, baseline.layers, 2.0) for v in randoms])
            assert baseline.mean_image_change == pytest.approx(expected, rel=1e-6)
    own_result = evaluation.banks[2]
    assert own_result.image_change[0] == pytest.approx(
        expected_change(generator, codes, own.directions[0], (3,), 2.0), rel=1e-6)


def test_the_same_arguments_give_the_same_files(fake_wplus):
    generator = open_generator(fake_wplus).generator
    banks = [("a", factorize_file(fake_wplus)), ("b", factorize_file(fake_wplus, layers="0-1"))]
    first = output_files(evaluate_banks(generator, banks, settings=SMALL))
    second = output_files(evaluate_banks(generator, banks, settings=SMALL))
    assert first == second
    other_seed = output_files(evaluate_banks(generator, banks, settings=replace(SMALL, seed=4)))
    assert other_seed["image_change.csv"] != first["image_change.csv"]


def test_work_is_what_the_arguments_ask_for(fake_wplus):
    generator = open_generator(fake_wplus).generator
    banks = [("a", factorize_file(fake_wplus).top(3)), ("b", factorize_file(fake_wplus, layers="0-1").top(2))]
    done = []
    evaluate_banks(generator, banks, settings=SMALL, advance=done.append)
    # 5 seeds x (unedited + 3 + 2 directions + 4 random on each of two layer sets)
    assert sum(done) == images_to_render(banks, SMALL) == 5 * (1 + 5 + 8)
    assert sum(len(codes) for codes in generator.synthesized) == sum(done)
    assert max(len(codes) for codes in generator.synthesized) == SMALL.batch_size


def test_cosine_similarity_of_every_pair_of_banks():
    a, b, c = random_bank(k=3, dim=8, seed=1), random_bank(k=2, dim=8, seed=2), random_bank(k=2, dim=9, seed=3)
    pairs = cosine_similarities([("a", a), ("b", b), ("c", c)])
    assert [(p.first, p.second) for p in pairs] == [("a", "b"), ("a", "c"), ("b", "c")]
    np.testing.assert_allclose(pairs[0].cosines, a.directions.astype(np.float64) @ b.directions.astype(np.float64).T)
    assert pairs[1].cosines is None
    assert pairs[1].skipped == "a holds 8-dimensional 'w' directions, c 9-dimensional 'w' ones"
    same = cosine_similarities([("a", a), ("again", a)])[0].cosines
    np.testing.assert_allclose(same, np.eye(3), atol=1e-6)


@pytest.mark.parametrize("change, message", [
    (dict(samples=0), "samples must be a whole number from 1 to 100000, got 0"),
    (dict(num_random=0), "random directions must be a whole number from 1 to 1000, got 0"),
    (dict(distance=0.0), "the distance must be a finite number other than 0, got 0.0"),
    (dict(distance=float("nan")), "the distance must be a finite number other than 0"),
    (dict(seed=2**32 - 2, samples=5), "seeds 4294967294-4294967298 go past the largest seed, 4294967295"),
    (dict(batch_size=0), "batch size must be a whole number of at least 1, got 0"),
])
def test_settings_out_of_range_are_one_line_errors(fake_wplus, change, message):
    generator = open_generator(fake_wplus).generator
    with pytest.raises(SefaZooError) as error:
        evaluate_banks(generator, [("a", factorize_file(fake_wplus))], settings=replace(SMALL, **change))
    assert str(error.value).startswith(message)


def test_banks_that_do_not_fit_the_model_are_refused(fake_wplus):
    generator = open_generator(fake_wplus).generator
    with pytest.raises(SefaZooError, match="has 8-dimensional directions, but the model's latent codes have 6"):
        evaluate_banks(generator, [("toy", random_bank(k=2, dim=8, seed=1))], settings=SMALL)
    with pytest.raises(SefaZooError, match="each bank needs its own label"):
        bank = factorize_file(fake_wplus)
        evaluate_banks(generator, [("a", bank), ("a", bank)], settings=SMALL)


@pytest.mark.parametrize("case", ARCHITECTURE_CASES)
def test_every_built_in_architecture_is_evaluated(architecture_fixtures, case):
    path, options, class_index = architecture_fixtures[case]
    loaded = open_generator(path, options=options)
    bank = factorize_file(path, options=options).top(2)
    settings = EvaluationSettings(samples=1, num_random=1, distance=1.0, class_index=class_index)
    evaluation = evaluate_banks(loaded.generator, [("all", bank)], settings=settings,
                                architecture=loaded.architecture, model=loaded.name)
    result = evaluation.banks[0]
    assert np.isfinite(result.image_change).all() and (result.image_change > 0).all()
    assert np.isfinite(result.ratios()).all()
    assert evaluation.class_index == class_index
    again = evaluate_banks(loaded.generator, [("all", bank)], settings=settings,
                           architecture=loaded.architecture, model=loaded.name)
    assert output_files(again) == output_files(evaluation)


def read_csv(path):
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_the_command_prints_and_writes_the_folder(fake_wplus, tmp_path):
    first = save_bank(factorize_file(fake_wplus), tmp_path / "all.safetensors")
    second = save_bank(factorize_file(fake_wplus, layers="0-1"), tmp_path / "low.safetensors")
    out = tmp_path / "evaluation"
    result = run("evaluate", "--checkpoint", fake_wplus, "-b", first, "-b", second, "-n", 4, "--random", 3,
                 "--top", 2, "-o", out)
    assert result.exit_code == 0, result.output
    assert "image change" in result.stdout and "closest direction of the other bank" in result.stdout
    assert [line for line in result.stdout.splitlines() if line.startswith("wrote")] == [
        f"wrote {out / name}" for name in ("evaluation.json", "image_change.csv", "similarity.csv")]
    report = json.loads((out / "evaluation.json").read_text())
    assert (report["samples"], report["seeds"], report["random_directions"], report["scorer"]) == (4, [0, 3], 3, None)
    assert [bank["label"] for bank in report["banks"]] == ["all.safetensors", "low.safetensors"]
    assert [len(bank["directions"]) for bank in report["banks"]] == [2, 2]
    rows = read_csv(out / "image_change.csv")
    assert [(row["bank"], row["direction"], row["layers"]) for row in rows] == [
        ("all.safetensors", "0", "0-3"), ("all.safetensors", "1", "0-3"),
        ("low.safetensors", "0", "0-1"), ("low.safetensors", "1", "0-1")]
    assert float(rows[0]["ratio"]) == pytest.approx(float(rows[0]["image_change"]) / float(rows[0]["random_image_change"]))
    assert len(read_csv(out / "similarity.csv")) == 4
    assert report["similarity"][0]["banks"] == ["all.safetensors", "low.safetensors"]


def test_a_later_run_removes_what_it_no_longer_writes_and_keeps_other_files(fake_wplus, tmp_path):
    bank = save_bank(factorize_file(fake_wplus), tmp_path / "all.safetensors")
    out = tmp_path / "evaluation"
    out.mkdir()
    (out / "rescoring.png").write_bytes(b"an earlier run's")
    (out / "notes.txt").write_text("mine")
    result = run("evaluate", "--checkpoint", fake_wplus, "-b", bank, "-n", 2, "--random", 2, "-o", out)
    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in out.iterdir()) == ["evaluation.json", "image_change.csv", "notes.txt"]


@pytest.mark.parametrize("arguments, message", [
    ([], "give at least one --bank to evaluate"),
    (["-b", "{tmp}/missing.safetensors"], "{tmp}/missing.safetensors: no such direction bank file"),
    (["-b", "{bank}", "--distance", "nan"], "the distance must be a finite number other than 0"),
    (["-b", "{bank}", "--seed", "4294967295", "-n", "2"], "go past the largest seed"),
    (["-b", "{bank}", "-o", "{bank}"], "is a regular file, not a folder"),
    (["-b", "{other}"], "direction bank of 'toy' was computed for architecture 'toy', but the model is 'fakewplus'"),
])
def test_bad_arguments_are_one_line_errors_and_nothing_is_written(fake_wplus, tmp_path, arguments, message):
    bank = save_bank(factorize_file(fake_wplus), tmp_path / "all.safetensors")
    other = save_bank(random_bank(k=2, dim=8, seed=1), tmp_path / "other.safetensors")
    names = dict(tmp=tmp_path, bank=bank, other=other)
    before = folder_contents(tmp_path)
    arguments = [argument.format(**names) for argument in arguments]
    if "-o" not in arguments:
        arguments += ["-o", str(tmp_path / "out")]
    result = run("evaluate", "--checkpoint", fake_wplus, *arguments)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert message.format(**names) in result.stderr
    assert folder_contents(tmp_path) == before


def test_the_heatmap_colours_each_cell_by_its_sign_and_size():
    from sefa_zoo.outputs.heatmap import CELL_HEIGHT, draw_heatmap

    values = np.array([[2.0, -2.0], [0.0, 1.0]])
    image = draw_heatmap(values, ["a 0", "a 1"], ["x", "y"], "title")
    pixels = np.asarray(image).astype(int)
    bottom = image.height - 4  # GAP below the last row

    def corner(row, column):  # a cell's pixel away from its number
        x = image.width - 4 - (2 - column) * 64 + 3
        return pixels[bottom - (2 - row) * CELL_HEIGHT + 3, x]

    red, blue, white, pale = corner(0, 0), corner(0, 1), corner(1, 0), corner(1, 1)
    assert red[0] > 180 and red[2] < 80
    assert blue[2] > 180 and blue[0] < 80
    assert white.tolist() == [255, 255, 255]
    assert 200 < pale[0] < 255 and pale[1] < pale[0] and pale[2] < pale[0]
    with pytest.raises(ValueError):
        draw_heatmap(values, ["a 0"], ["x", "y"], "title")


def direct_rescoring(generator, codes, direction, layers, distance, scorer, absolute=False):
    """mean over seeds of score(edited) - score(original) (``absolute``: of its absolute value), per
    attribute, computed directly."""
    moved = codes.clone()
    moved[:, list(layers)] += distance * torch.from_numpy(np.asarray(direction, dtype=np.float32))
    before, after = scorer.score(generator.synthesize(codes)), scorer.score(generator.synthesize(moved))
    change = np.abs if absolute else np.asarray
    return np.array([np.mean(change(after[a] - before[a])) for a in scorer.attributes])


def test_rescoring_is_the_mean_score_change_also_in_spreads(fake_wplus):
    scorer = brightness_scorer()
    generator = open_generator(fake_wplus).generator
    bank = factorize_file(fake_wplus, layers="1-2")
    evaluation = evaluate_banks(generator, [("b", bank)], settings=SMALL, scorer=scorer)
    result = evaluation.banks[0]
    codes = codes_from_seeds(generator, SMALL.seeds)
    assert evaluation.attributes == ("brightness", "redness")
    for i in range(bank.k):
        np.testing.assert_allclose(result.rescoring[i],
                                   direct_rescoring(generator, codes, bank.directions[i], (1, 2), 2.0, scorer),
                                   rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(result.absolute_rescoring[i], direct_rescoring(
            generator, codes, bank.directions[i], (1, 2), 2.0, scorer, absolute=True), rtol=1e-5, atol=1e-7)
    originals = scorer.score(generator.synthesize(codes))
    spread = np.array([np.std(originals[a]) for a in scorer.attributes])
    np.testing.assert_allclose(evaluation.score_spread, spread, rtol=1e-6)
    np.testing.assert_allclose(evaluation.normalized_rescoring(result), result.rescoring / spread, rtol=1e-6)
    np.testing.assert_allclose(evaluation.normalized_rescoring(result, absolute=True),
                               result.absolute_rescoring / spread, rtol=1e-6)
    assert (result.absolute_rescoring >= np.abs(result.rescoring) - 1e-12).all()
    randoms = random_directions(bank.latent_dim, 4, seed=3)
    expected = np.mean([np.abs(direct_rescoring(generator, codes, v, (1, 2), 2.0, scorer)) for v in randoms], axis=0)
    np.testing.assert_allclose(result.baselines[0].mean_abs_rescoring, expected, rtol=1e-5, atol=1e-7)


def test_the_command_rescores_with_a_registered_scorer(fake_wplus, register_plugin, tmp_path):
    register_plugin(ScorerPlugin(brightness_scorer()), "toy-scorers")
    bank = save_bank(factorize_file(fake_wplus), tmp_path / "all.safetensors")
    out = tmp_path / "evaluation"
    result = run("evaluate", "--checkpoint", fake_wplus, "-b", bank, "-n", 3, "--random", 2, "--top", 3,
                 "--scorer", "toy-light", "-o", out)
    assert result.exit_code == 0, result.output
    assert "re-scoring (toy-light)" in result.stdout
    assert sorted(path.name for path in out.iterdir()) == [
        "evaluation.json", "image_change.csv", "rescoring.csv", "rescoring.png"]
    rows = read_csv(out / "rescoring.csv")
    assert [(row["direction"], row["attribute"]) for row in rows] == [
        (str(i), attribute) for i in range(3) for attribute in ("brightness", "redness")]
    report = json.loads((out / "evaluation.json").read_text())
    first = report["banks"][0]["directions"][0]
    assert first["rescoring"]["brightness"] == pytest.approx(float(rows[0]["change"]))
    assert first["rescoring_in_spreads"]["brightness"] == pytest.approx(
        float(rows[0]["change"]) / report["score_spread"]["brightness"])
    assert first["absolute_rescoring"]["brightness"] == pytest.approx(float(rows[0]["absolute_change"]))
    with Image.open(out / "rescoring.png") as image:
        assert image.format == "PNG" and image.height > 3 * 22
    result = run("evaluate", "--checkpoint", fake_wplus, "-b", bank, "-n", 2, "--scorer", "toy-lite", "-o", out)
    assert result.exit_code == 1
    assert result.stderr == "Error: unknown scorer 'toy-lite' (did you mean toy-light?)\n"


def test_a_scorer_that_fails_is_a_one_line_error_naming_it(fake_wplus, register_plugin, tmp_path):
    register_plugin(ScorerPlugin(answering(lambda images: {"a": np.zeros(len(images) + 1)})), "toy-scorers")
    bank = save_bank(factorize_file(fake_wplus), tmp_path / "all.safetensors")
    result = run("evaluate", "--checkpoint", fake_wplus, "-b", bank, "-n", 2, "--scorer", "toy-answer",
                 "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: scorer 'toy-answer' returned scores of shape")
    assert not (tmp_path / "out").exists()


def test_units_are_latent_whatever_the_method(fake_wplus):
    """A GANSpace bank's edits count in standard deviations; its evaluation is per unit of latent
    distance all the same, as every other bank's and the random directions'."""
    generator = open_generator(fake_wplus).generator
    sefa = factorize_file(fake_wplus).top(3)
    ganspace = replace(sefa, method="ganspace", eigenvalues=np.array([9.0, 4.0, 0.25]), eigenvalue_total=20.0,
                       mean=np.zeros(sefa.latent_dim, dtype=np.float32))
    evaluation = evaluate_banks(generator, [("sefa", sefa), ("ganspace", ganspace)], settings=SMALL)
    np.testing.assert_allclose(evaluation.banks[1].image_change, evaluation.banks[0].image_change, rtol=1e-6)


def test_a_circular_attribute_changes_the_shorter_way_round(fake_wplus):
    def turns(images):
        return {"angle": (images.double().flatten(1).mean(dim=1).numpy() * 40) % 1.0}

    scorer = Scorer("toy-circle", ("angle",), turns, periods={"angle": 1.0})
    generator = open_generator(fake_wplus).generator
    bank = factorize_file(fake_wplus).top(3)
    result = evaluate_banks(generator, [("b", bank)], settings=SMALL, scorer=scorer).banks[0]
    codes = codes_from_seeds(generator, SMALL.seeds)
    before = turns(generator.synthesize(codes))["angle"]
    wrapped = []
    for i in range(bank.k):
        moved = codes.clone()
        moved[:, :] += 2.0 * torch.from_numpy(bank.directions[i])
        plain = turns(generator.synthesize(moved))["angle"] - before
        shorter = (plain + 0.5) % 1.0 - 0.5
        assert result.rescoring[i, 0] == pytest.approx(shorter.mean(), abs=1e-6)
        assert result.absolute_rescoring[i, 0] == pytest.approx(np.abs(shorter).mean(), abs=1e-6)
        wrapped.append(not np.allclose(plain, shorter))
    assert any(wrapped)  # some change went past half a turn: the plain difference would differ


def test_a_z_bank_of_a_per_layer_model_moves_z_before_the_mapping(fake_wplus):
    """An InterFaceGAN boundary in z of a style model: edits move z, then map it."""
    generator = open_generator(fake_wplus).generator
    z_bank = replace(random_bank(k=2, dim=generator.z_dim, seed=5, model="fake_wplus.safetensors",
                                 layers=tuple(range(generator.num_layers))),
                     architecture="fakewplus", latent_space="z")
    result = evaluate_banks(generator, [("z", z_bank)], settings=SMALL).banks[0]
    z = latents_from_seeds(SMALL.seeds, generator.z_dim)
    psi = default_truncation_psi(generator)

    def change(direction):
        codes, moved = generator.map(z, truncation_psi=psi, truncation_cutoff=8), generator.map(
            z + 2.0 * torch.from_numpy(np.asarray(direction, dtype=np.float32)), truncation_psi=psi, truncation_cutoff=8)
        difference = generator.synthesize(moved).double() - generator.synthesize(codes).double()
        return float(difference.abs().flatten(1).mean(dim=1).mean()) / 2.0

    for i in range(2):
        assert result.image_change[i] == pytest.approx(change(z_bank.directions[i]), rel=1e-5)
    randoms = random_directions(generator.z_dim, 4, seed=3)
    assert result.baselines[0].mean_image_change == pytest.approx(np.mean([change(v) for v in randoms]), rel=1e-5)
