"""`sefa-zoo edit` end to end: DCGAN checkpoints, saved banks, a W+ catalogue model, bad inputs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from sefa_zoo import latents_from_seeds, load_bank
from sefa_zoo.cli.main import app

from support.editing_toys import (  # noqa: F401  (fixtures)
    FakeWPlus, dcgan_file, fake_wplus, folder_contents, staging_leftovers, unwritable_folder,
)
from support.plugin_toys import ArchitecturePlugin, ToyArchitecture


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
    assert not (tmp_path / "out").exists() and staging_leftovers(tmp_path) == []


def test_usage_errors(dcgan_file, tmp_path):
    bank_file = tmp_path / "b.safetensors"
    run("factorize", "--checkpoint", dcgan_file, "-o", bank_file)
    fifo = tmp_path / "pipe.pt"
    os.mkfifo(fifo)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "empty").mkdir()
    cases = [
        (["edit"], "Error: give a catalogue MODEL (see `sefa-zoo list`) or --checkpoint FILE\n"),
        (["edit", "fake", "--checkpoint", dcgan_file], "give a catalogue MODEL or --checkpoint FILE, not both"),
        (["edit", "--checkpoint", dcgan_file, "--bank", bank_file, "--layers", "0"],
         "with --bank the bank's own layers"),
        (["edit", "--checkpoint", tmp_path / "missing.pt"], "missing.pt: no such checkpoint file"),
        (["edit", "--checkpoint", tmp_path / "notes.txt" / "m.pt"], "notes.txt/m.pt: no such checkpoint file"),
        (["edit", "--checkpoint", tmp_path], f"{tmp_path}: holds several checkpoint files (b.safetensors, dcgan.pth)"),
        (["edit", "--checkpoint", tmp_path / "empty"], "empty: no checkpoint file in this folder"),
        (["edit", "--checkpoint", dcgan_file, "--config", tmp_path / "none.json"], "none.json: no such config file"),
        (["edit", "fake", "--config", tmp_path / "notes.txt"], "--config goes with --checkpoint"),
        (["edit", "--checkpoint", fifo], "pipe.pt: is a named pipe, not a checkpoint file"),
        (["edit", "--checkpoint", "/dev/null"], "Error: /dev/null: is a character device, not a checkpoint file\n"),
        (["edit", "--checkpoint", dcgan_file, "--bank", tmp_path / "nope.safetensors"], "no such direction bank file"),
        (["edit", "no-such-model"], "unknown model 'no-such-model'"),
        (["edit", "some-model", "--arch", "dcgan"], "--arch and --layout go with --checkpoint"),
        (["edit", "some-model", "--layout", "nvidia"], "--arch and --layout go with --checkpoint"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        assert re.fullmatch(r"Error: [^\n]+\n", result.stderr) and message in result.stderr, (args, result.stderr)
    # "not both" only when both were given
    assert "not both" not in run("edit").stderr


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


def _refuse_to_factorize(monkeypatch):
    def factorized(*args, **kwargs):
        raise AssertionError("factorized before the output folder was checked")

    monkeypatch.setattr("sefa_zoo.api.factorize_file", factorized)


@pytest.mark.parametrize("make, message", [
    (lambda base: base / "notes.txt", "notes.txt: is a regular file, not a folder"),
    (lambda base: base / "notes.txt" / "out", "notes.txt is a regular file, not a folder"),
    (lambda base: base / "notes.txt" / "deeper" / "out", "notes.txt is a regular file, not a folder"),
    (lambda base: base / "pipe", "pipe: is a named pipe, not a folder"),
    (lambda base: Path("/dev/null"), "/dev/null: is a character device, not a folder"),
    (lambda base: base / "dangling", "dangling: is a symbolic link to"),
])
def test_output_folder_is_checked_before_anything_is_rendered(dcgan_file, tmp_path, monkeypatch, make, message):
    (tmp_path / "notes.txt").write_text("mine")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    before = folder_contents(tmp_path)
    _refuse_to_factorize(monkeypatch)
    result = run("edit", "--checkpoint", dcgan_file, "-o", make(tmp_path))
    assert result.exit_code == 1, result.output
    assert re.fullmatch(r"Error: [^\n]+\n", result.stderr) and message in result.stderr, result.stderr
    assert folder_contents(tmp_path) == before


def test_a_seed_beyond_numpys_range_is_refused_before_factorizing(dcgan_file, tmp_path, monkeypatch):
    _refuse_to_factorize(monkeypatch)
    result = run("edit", "--checkpoint", dcgan_file, "--seeds", "0,5000000000", "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert re.fullmatch(r"Error: seed 5000000000 [^\n]+ valid seeds are 0-4294967295\n", result.stderr), result.stderr


def test_unwritable_output_folder_is_found_before_rendering(dcgan_file, unwritable_folder, monkeypatch):
    _refuse_to_factorize(monkeypatch)
    for output in (unwritable_folder, unwritable_folder / "new" / "out"):
        result = run("edit", "--checkpoint", dcgan_file, "-o", output)
        assert result.exit_code == 1, result.output
        assert re.fullmatch(rf"Error: {re.escape(str(output))}: [^\n]+\n", result.stderr), result.stderr
        assert ".edit-partial" not in result.stderr


def test_our_file_names_taken_by_folders_are_refused_first(dcgan_file, tmp_path, monkeypatch):
    (tmp_path / "out" / "report.html").mkdir(parents=True)
    _refuse_to_factorize(monkeypatch)
    result = run("edit", "--checkpoint", dcgan_file, "-o", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {tmp_path}/out/report.html: is a folder, where edit writes a file\n"


def test_rerun_replaces_the_earlier_run_and_keeps_the_users_files(dcgan_file, tmp_path):
    out = tmp_path / "out"
    first = run("edit", "--checkpoint", dcgan_file, "-d", "0-3", "-s", "0", "--steps", "2", "-o", out)
    assert first.exit_code == 0, first.output
    users = {"notes.txt": b"mine", "direction_1.png": b"not ours: one digit", "direction_00.png.bak": b"copy",
             ".hidden": b"h", "sub/direction_02.png": b"in a subfolder"}
    for name, data in users.items():
        (out / name).parent.mkdir(exist_ok=True)
        (out / name).write_bytes(data)
    old_report = (out / "report.html").read_bytes()

    second = run("edit", "--checkpoint", dcgan_file, "-d", "2", "-s", "1", "--steps", "2", "-o", out)
    assert second.exit_code == 0, second.output
    ours = {"bank.safetensors", "overview.png", "direction_02.png", "direction_02.gif", "report.html"}
    assert {Path(p).name for p in written(second)} - {"direction_02.mp4"} == ours
    assert all(Path(p).parent == out for p in written(second))
    contents = folder_contents(out)
    assert set(contents) - {"direction_02.mp4", "sub"} == ours | set(users)
    assert all(contents[name] == data for name, data in users.items())
    assert contents["report.html"] != old_report and "seed 1" in contents["report.html"].decode()
    assert staging_leftovers(tmp_path, out) == []


def test_a_bank_given_from_the_output_folder_is_kept(dcgan_file, tmp_path):
    out = tmp_path / "out"
    assert run("edit", "--checkpoint", dcgan_file, "-d", "0-1", "-s", "0", "--steps", "2", "-o", out).exit_code == 0
    bank = (out / "bank.safetensors").read_bytes()
    result = run("edit", "--checkpoint", dcgan_file, "--bank", out / "bank.safetensors", "-d", "3", "-s", "0",
                 "--steps", "2", "-o", out)
    assert result.exit_code == 0, result.output
    assert (out / "bank.safetensors").read_bytes() == bank
    assert not (out / "direction_00.png").exists() and (out / "direction_03.png").exists()


def test_a_checkpoint_where_the_bank_would_go_is_refused(dcgan_file, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    checkpoint = out / "bank.safetensors"
    checkpoint.write_bytes(dcgan_file.read_bytes())
    _refuse_to_factorize(monkeypatch)
    result = run("edit", "--checkpoint", checkpoint, "-o", out)
    assert result.exit_code == 1
    assert re.fullmatch(rf"Error: --checkpoint {re.escape(str(checkpoint))}: [^\n]*--bank[^\n]*\n", result.stderr)
    assert checkpoint.read_bytes() == dcgan_file.read_bytes()


@pytest.mark.parametrize("earlier_run", [False, True])
def test_ctrl_c_leaves_the_output_folder_as_it_was(dcgan_file, tmp_path, monkeypatch, earlier_run):
    out = tmp_path / "deep" / "out"
    if earlier_run:
        assert run("edit", "--checkpoint", dcgan_file, "-d", "0-2", "-s", "0", "--steps", "2", "-o", out).exit_code == 0
    before = folder_contents(tmp_path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("sefa_zoo.outputs.folder.write_html_report", interrupted)
    result = run("edit", "--checkpoint", dcgan_file, "-d", "1", "-s", "3", "--steps", "2", "-o", out)
    assert result.exit_code == 130 and result.stderr.endswith("\nError: interrupted\n")
    assert folder_contents(tmp_path) == before


def test_a_killed_runs_staging_folder_goes_with_the_next_run(dcgan_file, tmp_path):
    out = tmp_path / "out"
    kill_inside = (
        "import os, signal, sys\n"
        "from sefa_zoo.outputs.staging import staged_folder\n"
        "context = staged_folder(sys.argv[1], owns=lambda name: True)\n"
        "staging = context.__enter__()\n"
        "(staging.path / 'overview.png').write_bytes(b'half')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", kill_inside, str(out)], capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(staging_leftovers(tmp_path)) == 1 and not out.exists()
    assert run("edit", "--checkpoint", dcgan_file, "-d", "0", "-s", "0", "--steps", "2", "-o", out).exit_code == 0
    assert staging_leftovers(tmp_path, out) == []

    killed = subprocess.run([sys.executable, "-c", kill_inside, str(out)], capture_output=True)
    assert killed.returncode == -signal.SIGKILL and len(staging_leftovers(out)) == 1
    assert run("edit", "--checkpoint", dcgan_file, "-d", "0", "-s", "0", "--steps", "2", "-o", out).exit_code == 0
    assert staging_leftovers(tmp_path, out) == []
    assert (out / "overview.png").read_bytes() != b"half"


def test_report_shows_no_local_folders_and_names_the_video_extra(tmp_path, monkeypatch):
    from sefa_zoo_plugins.dcgan import random_dcgan_state

    private = tmp_path / "home" / "someone" / "secret-project"
    private.mkdir(parents=True)
    checkpoint = private / "generator.pth"
    torch.save(random_dcgan_state(nz=8, ngf=4, nc=3, image_size=16), checkpoint)
    monkeypatch.setattr("sefa_zoo.outputs.folder.video_available", lambda: False)
    out = tmp_path / "out"
    result = run("edit", "--checkpoint", checkpoint, "-d", "0", "-s", "0", "--steps", "2", "-o", out)
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text()
    assert "secret-project" not in html and "someone" not in html and str(tmp_path) not in html
    assert "generator.pth" in html and "<title>SeFa edits: generator</title>" in html
    assert 'Note: MP4 animations skipped: they need imageio-ffmpeg (pip install "sefa-zoo[video]")' in result.stderr
