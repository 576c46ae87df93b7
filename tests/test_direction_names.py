"""Direction names: given with `sefa-zoo name`, stored in the bank, shown wherever a direction
is shown (edit's grids, report and animation captions)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sefa_zoo import factorize_file, load_bank, plan_edits, render_for_display, save_bank
from sefa_zoo.cli.main import app
from sefa_zoo.cli.name import name
from sefa_zoo.outputs.animation import caption_wordings
from sefa_zoo.outputs.grids import overview_grid
from sefa_zoo.outputs.report import html_report

from support.editing_toys import (  # noqa: F401  (fixtures)
    FakeWPlusGenerator,
    command_runner,
    fake_tensors,
    fake_wplus,
    folder_contents,
)

run_name = command_runner(name=name)


@pytest.fixture
def bank(fake_wplus):
    return factorize_file(fake_wplus, layers="1-2")


def rendered_with(bank):
    generator = FakeWPlusGenerator(fake_tensors())
    plan = plan_edits(generator, bank, [0, 1], [-2.0, 0.0, 2.0], [0, 1])
    return render_for_display(generator, bank, plan, model="fake")


def test_named_directions_in_captions_grids_and_report(bank):
    plain = rendered_with(bank)
    named = rendered_with(bank.with_names({1: "hair colour"}))
    assert [named.direction_name(row) for row in (0, 1)] == ["direction 0", 'direction 1 "hair colour"']
    assert caption_wordings(named, 1, 0)[0].startswith('direction 1 "hair colour", eigenvalue')
    assert np.asarray(overview_grid(named)).tobytes() != np.asarray(overview_grid(plain)).tobytes()
    html = html_report(named)
    assert 'direction 1 &quot;hair colour&quot;' in html
    assert re.search(r"<th scope=\"col\">direction</th><th scope=\"col\">name</th>", html)
    assert "<tr><td>1</td><td>hair colour</td>" in html and "<tr><td>0</td><td></td>" in html
    assert '<th scope="col">name</th>' not in html_report(plain)


def test_a_long_name_wraps_in_the_overview_instead_of_widening_every_row(bank):
    plain = overview_grid(rendered_with(bank))
    long_name = " ".join(["wide"] * 15)
    named = overview_grid(rendered_with(bank.with_names({0: long_name})))
    assert len(long_name) > 70 and named.width < plain.width + 40


def test_edit_shows_the_names_of_a_named_bank(fake_wplus, bank, tmp_path):
    bank_file = save_bank(bank.with_names({0: "pose"}), tmp_path / "named.safetensors")
    result = CliRunner().invoke(app, ["edit", "--checkpoint", str(fake_wplus), "--bank", str(bank_file), "-d", "0-1",
                                      "-s", "0", "--steps", "3", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "out" / "report.html").read_text()
    assert 'direction 0 &quot;pose&quot;' in html and "<td>pose</td>" in html


# sefa-zoo name


def test_name_writes_the_names_into_the_bank_in_place_and_lists_them(bank, tmp_path):
    path = save_bank(bank, tmp_path / "banks" / "bank.safetensors")
    result = run_name("name", path, "0=pose", '3= hair colour ')
    assert result.exit_code == 0, result.output
    named = load_bank(path)
    assert named.direction_names == ("pose", "", "", "hair colour", "", "")
    assert named.digest() == bank.digest() and named.created == bank.created
    assert named.metadata() == bank.with_names({0: "pose", 3: "hair colour"}).metadata()
    assert re.search(r"3 .*hair colour", result.stdout) and result.stdout.rstrip().endswith(f"wrote {path}")
    assert [p.name for p in path.parent.iterdir()] == ["bank.safetensors"]  # no partial file left
    listing = run_name("name", path)
    assert listing.exit_code == 0 and "pose" in listing.stdout and "wrote" not in listing.stdout
    assert len([line for line in listing.stdout.splitlines() if re.match(r"\s*│?\s*\d+ ", line)]) == bank.k
    assert run_name("name", path, "0=").exit_code == 0
    assert load_bank(path).direction_names == ("", "", "", "hair colour", "", "")


@pytest.mark.parametrize("arguments, message", [
    (["pose"], "'pose' must look like INDEX=NAME"),
    (["x=pose"], "'x=pose' must look like INDEX=NAME"),
    (["--", "-1=pose"], "must look like INDEX=NAME"),
    (["9999999999=pose"], "must look like INDEX=NAME"),
    (["1=a", "1=b"], "direction 1 is named twice"),
    (["6=pose"], "bank.safetensors: direction 6 does not exist \\(the bank has directions 0-5\\)"),
    (["2=" + "x" * 81], "direction 2's name must be one line of at most 80 characters"),
    (["2=two\nlines"], "direction 2's name must be one line"),
])
def test_bad_names_are_one_line_errors_and_leave_the_bank_as_it_was(bank, tmp_path, arguments, message):
    path = save_bank(bank.with_names({1: "kept"}), tmp_path / "banks" / "bank.safetensors")
    before = folder_contents(path.parent)
    result = run_name("name", path, *arguments)
    assert result.exit_code == 1
    assert re.fullmatch(f"Error: .*{message}.*\n", result.stderr), result.stderr
    assert folder_contents(path.parent) == before


def test_name_needs_a_bank_file(tmp_path):
    result = run_name("name", tmp_path / "missing.safetensors", "0=pose")
    assert result.exit_code == 1 and "no such direction bank file" in result.stderr
    (tmp_path / "image.png").write_bytes(b"not a bank")
    result = run_name("name", tmp_path / "image.png", "0=pose")
    assert result.exit_code == 1 and "not a readable safetensors file" in result.stderr
    assert (tmp_path / "image.png").read_bytes() == b"not a bank"


def test_names_survive_into_later_edits(fake_wplus, bank, tmp_path):
    path = save_bank(bank, tmp_path / "bank.safetensors")
    assert run_name("name", path, "1=size").exit_code == 0
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["edit", "--checkpoint", str(fake_wplus), "--bank", str(path), "-d", "1",
                                      "-s", "0", "--steps", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert 'direction 1 &quot;size&quot;' in (out / "report.html").read_text()
    with Image.open(out / "direction_01.gif") as gif:
        assert gif.n_frames == 2
