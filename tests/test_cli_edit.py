"""`sefa-zoo edit` end to end: DCGAN checkpoints, saved banks, a W+ catalogue model, bad inputs."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from sefa_zoo import latents_from_seeds, load_bank
from sefa_zoo.cli.main import app

from editing_toys import FakeWPlus, dcgan_file, fake_wplus  # noqa: F401  (fixtures)
from plugin_toys import ArchitecturePlugin, ToyArchitecture


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def written(result):
    return [line.removeprefix("wrote ") for line in result.stdout.splitlines() if line.startswith("wrote ")]


def test_edit_dcgan_checkpoint_factorizes_and_writes_everything(dcgan_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("edit", "--checkpoint", dcgan_file, "--directions", "0-1", "--seeds", "0,3,5",
                 "--range", "-2", "2", "--steps", "3")
    assert result.exit_code == 0, result.output
    folder = "dcgan_edits"
    assert [p for p in written(result) if not p.endswith(".mp4")] == [f"{folder}/{name}" for name in (
        "bank.safetensors", "overview.png", "direction_00.png", "direction_00.gif", "direction_01.png",
        "direction_01.gif", "report.html")]
    assert "MP4 animations skipped" in result.stderr or "direction_00.mp4" in result.stdout
    bank = load_bank(tmp_path / folder / "bank.safetensors")
    assert bank.architecture == "dcgan" and bank.layer_indices == (0,)
    mode = (tmp_path / folder / "bank.safetensors").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # a bank looks like any new file, not 0600
    with Image.open(tmp_path / folder / "overview.png") as grid:
        # 16 px images are shown at 128 px: 3 columns, 2 directions x 3 seeds = 6 rows
        assert grid.width > 3 * 128 and grid.height > 6 * 128
    with Image.open(tmp_path / folder / "direction_01.gif") as gif:
        assert gif.n_frames == 4
    html = (tmp_path / folder / "report.html").read_text()
    assert html.count("<img ") == 2 * 3 * 3 and "seed 5" in html and bank.checkpoint_sha256 in html


def test_edit_with_a_saved_bank_and_explicit_options(dcgan_file, tmp_path):
    bank_file = tmp_path / "bank.safetensors"
    assert run("factorize", "--checkpoint", dcgan_file, "-o", bank_file, "-k", "4").exit_code == 0
    out = tmp_path / "out"
    result = run("edit", "--checkpoint", dcgan_file, "--bank", bank_file, "-d", "1,3", "-s", "2",
                 "--steps", "2", "--size", "40", "-o", out, "--batch-size", "1")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert "bank.safetensors" not in names
    assert {"direction_01.png", "direction_03.gif", "overview.png", "report.html"} <= set(names)
    assert "direction_00.png" not in names
    with Image.open(out / "direction_03.gif") as gif:
        assert gif.n_frames == 2 and gif.width == 40 + 2 * 4
    # default directions: 0-4, fewer when the bank has fewer
    result = run("edit", "--checkpoint", dcgan_file, "--bank", bank_file, "-s", "0", "--steps", "2", "-o", out)
    assert result.exit_code == 0, result.output
    assert [p for p in written(result) if p.endswith(".png")][1:] == [f"{out}/direction_0{i}.png" for i in range(4)]


def test_edit_catalogue_wplus_model_with_layers(fake_wplus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("edit", "fake-wplus", "--layers", "1-2", "-d", "0", "-s", "0-1", "--steps", "3")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fake-wplus_edits" / "report.html").exists()
    bank = load_bank(tmp_path / "fake-wplus_edits" / "bank.safetensors")
    assert bank.layer_indices == (1, 2) and bank.model == "fake-wplus"
    generator = FakeWPlus.built[-1]
    # default truncation: psi 0.7 on the first 8 layers; the edit only on layers 1-2, after it
    (mapped,) = generator.mapped
    w = mapped.clone()
    codes = torch.cat(generator.synthesized)
    np.testing.assert_array_equal(codes[:, [0, 3]], w[[0, 0, 0, 1, 1, 1]][:, [0, 3]])
    step = torch.from_numpy(bank.directions[0]) * 3
    torch.testing.assert_close(codes[0, 1:3], w[0, 1:3] - step)
    w_avg = generator.tensors["w_avg"]
    untruncated = latents_from_seeds([0], generator.z_dim)[0] @ generator.tensors["mapping"].T
    torch.testing.assert_close(codes[1, 0], w_avg + 0.7 * (untruncated - w_avg))
    assert "html" in result.stdout


def test_bank_from_another_model_is_refused(fake_wplus, dcgan_file, tmp_path):
    bank_file = tmp_path / "wplus.safetensors"
    assert run("factorize", "--checkpoint", fake_wplus, "-o", bank_file).exit_code == 0
    result = run("edit", "--checkpoint", dcgan_file, "--bank", bank_file, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: direction bank of 'fake_wplus.safetensors' was computed for architecture 'fakewplus', "
        "but the model is 'dcgan'"
    )
    assert not (tmp_path / "out").exists()


def test_bank_from_another_checkpoint_of_the_same_kind_gets_a_note(dcgan_file, tmp_path):
    from sefa_zoo_plugins.dcgan import random_dcgan_state

    other = tmp_path / "other.pth"
    torch.save(random_dcgan_state(nz=8, ngf=4, nc=3, image_size=16, seed=5), other)
    bank_file = tmp_path / "other_bank.safetensors"
    assert run("factorize", "--checkpoint", other, "-o", bank_file).exit_code == 0
    result = run("edit", "--checkpoint", dcgan_file, "--bank", bank_file, "-s", "0", "--steps", "2",
                 "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "Note: the bank was computed from another checkpoint" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["--seeds", "3-1"], "seed range '3-1' runs backwards; write it as 1-3"),
    (["--seeds", "a"], "seed list item 'a' is not an index N or a range A-B"),
    (["--directions", "6-9"], "direction 9 in '6-9' is out of range: valid directions are 0-7"),
    (["--trunc", "0.7"], "DCGAN has no mapping network or average latent, so it cannot truncate"),
    (["--range", "nan", "1"], "--range needs two finite numbers"),
    (["--device", "toaster"], "--device 'toaster' is not a device torch knows"),
    (["--layers", "3"], "layer 3 in '3' is out of range"),
    (["--arch", "nope"], "unknown architecture 'nope'"),
])
def test_bad_inputs_are_one_line_errors(dcgan_file, tmp_path, args, message):
    result = run("edit", "--checkpoint", dcgan_file, "-o", tmp_path / "out", *args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


def test_usage_errors(dcgan_file, tmp_path):
    bank_file = tmp_path / "b.safetensors"
    run("factorize", "--checkpoint", dcgan_file, "-o", bank_file)
    cases = [
        (["edit"], "give either a catalogue MODEL or --checkpoint FILE"),
        (["edit", "fake", "--checkpoint", dcgan_file], "give either a catalogue MODEL or --checkpoint FILE"),
        (["edit", "--checkpoint", dcgan_file, "--bank", bank_file, "--layers", "0"],
         "with --bank the bank's own layers"),
        (["edit", "--checkpoint", tmp_path / "missing.pt"], "missing.pt: no such checkpoint file"),
        (["edit", "--checkpoint", dcgan_file, "--bank", tmp_path / "nope.safetensors"], "no such direction bank file"),
        (["edit", "no-such-model"], "unknown model 'no-such-model'"),
        (["edit", "some-model", "--arch", "dcgan"], "--arch and --layout go with --checkpoint"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert re.fullmatch(r"Error: [^\n]+\n", result.stderr) and message in result.stderr, (args, result.stderr)


def test_architecture_that_cannot_synthesize(register_plugin, tmp_path):
    from safetensors.torch import save_file

    register_plugin(ArchitecturePlugin(ToyArchitecture("nosynth")), "nosynth-plugin")
    path = tmp_path / "toy.safetensors"
    save_file({"nosynth.weight": torch.randn(6, 4)}, str(path))
    result = run("edit", "--checkpoint", path, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr == "Error: architecture 'nosynth' cannot synthesize images yet\n"


def test_edit_stylegan2_end_to_end(tmp_path):
    from sefa_zoo import codes_from_seeds, load_generator, render_edits
    from sefa_zoo_plugins.stylegan2 import random_stylegan2_state, save_stylegan2

    state = random_stylegan2_state(16, w_dim=16, z_dim=16, channel_base=64, channel_max=16, mapping_layers=2)
    path = save_stylegan2(state, tmp_path / "tiny.pt", "rosinality")
    out = tmp_path / "out"
    result = run("edit", "--checkpoint", path, "--layers", "2-3", "-d", "0-1", "-s", "0-1", "--steps", "3", "-o", out)
    assert result.exit_code == 0, result.output
    bank = load_bank(out / "bank.safetensors")
    assert bank.architecture == "stylegan2" and sorted(set(bank.layer_indices)) == [2, 3]
    assert "psi 0.7 on layers below 8" in (out / "report.html").read_text()
    with Image.open(out / "direction_01.gif") as gif:
        assert gif.n_frames == 4

    generator = load_generator(path)
    images = render_edits(generator, bank, directions=[0], distances=[0.0, 2.0], seeds=[0, 1])
    plain = generator.synthesize(codes_from_seeds(generator, [0, 1]))
    torch.testing.assert_close(images[0, :, 0], plain, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(images[0, :, 1], plain, atol=1e-3)
    # psi 0 on every layer: every seed is the average image
    average = render_edits(generator, bank, distances=[0.0], seeds=[0, 1], truncation_psi=0.0,
                           truncation_cutoff=None)
    torch.testing.assert_close(average[0, 0], average[0, 1])


def test_catalogue_image_size_crops_stylegan2_frames(register_plugin, tmp_path):
    from sefa_zoo import CatalogueEntry, LocalSource, factorize_model, render_edits
    from sefa_zoo_plugins.stylegan2 import random_stylegan2_state, save_stylegan2

    state = random_stylegan2_state(16, w_dim=8, z_dim=8, channel_base=32, channel_max=8, mapping_layers=1)
    path = save_stylegan2(state, tmp_path / "wide.pt", "rosinality")
    entry = CatalogueEntry(
        name="tiny-wide", architecture="stylegan2", layout="rosinality", source=LocalSource(path=str(path)),
        resolution=16, num_layers=6, license="test", provenance="test", description="test", image_size=(16, 12),
    )
    register_plugin(ArchitecturePlugin(entries=(entry,)), "tiny-wide-plugin")
    images = render_edits("tiny-wide", factorize_model("tiny-wide", progress=False), seeds=[0])
    assert images.shape == (1, 1, 3, 3, 12, 16)
