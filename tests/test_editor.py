"""The editor without a browser: its session (views, combined edits, bad values) on the demo
model, and `sefa-zoo editor`'s arguments; Gradio is never imported by the rest of sefa-zoo."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from sefa_zoo import BankError, SefaZooError, render_edits, save_bank
from sefa_zoo.cli.main import app
from sefa_zoo.editor.pictures import grid
from sefa_zoo.editor.session import MAX_SEEDS, MAX_SLIDERS, ModelSource, Workspace, parse_seeds
from sefa_zoo.outputs.imaging import to_uint8

from support.editing_toys import conditional_dcgan_file, dcgan_file, fake_wplus  # noqa: F401  (fixtures)
from support.hub_server import hub  # noqa: F401  (fixture)

DEMO = "stylegan2-shapes"

NO_GRADIO = """
import sys
from sefa_zoo.cli.main import app
try:
    app(sys.argv[1:], prog_name="sefa-zoo")
except SystemExit as exit:
    assert not exit.code, exit.code
print("GRADIO", "gradio" in sys.modules)
"""


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["editor", "--help"]])
def test_commands_do_not_import_gradio(argv):
    out = subprocess.run([sys.executable, "-c", NO_GRADIO, *argv], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "GRADIO False", (argv, out.stdout[-300:], out.stderr[-300:])


def test_importing_sefa_zoo_and_the_session_does_not_import_gradio():
    code = "import sys, sefa_zoo, sefa_zoo.editor.session; print('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_editor_without_the_extra_says_how_to_install_it(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a))
    result = CliRunner().invoke(app, ["editor", "--no-browser"])
    assert result.exit_code == 1
    assert result.output == 'Error: the editor needs the editor extra: pip install "sefa-zoo[editor]"\n'


@pytest.mark.parametrize("args, message", [
    (["no-such-model"], "no-such-model"),
    (["--bank", "missing.safetensors"], "missing.safetensors: no such direction bank file"),
    ([DEMO, "--checkpoint", "x.pt"], "not both"),
    (["--arch", "stylegan2"], "--arch and --layout go with --checkpoint"),
])
def test_editor_bad_arguments_are_one_line_errors(args, message, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: real("json") if name == "gradio" else real(name, *a))
    result = CliRunner().invoke(app, ["editor", *args, "--no-browser"])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    assert message in result.output


def test_a_bank_for_another_model_stops_the_editor_before_it_serves(monkeypatch, tmp_path):
    import importlib.util

    from sefa_zoo import factorize_model

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: real("json") if name == "gradio" else real(name, *a))
    bank = replace(factorize_model(DEMO, layers="top", k=2, progress=False), architecture="pggan")
    path = save_bank(bank, tmp_path / "pggan.safetensors")
    result = CliRunner().invoke(app, ["editor", "--bank", str(path), "--no-browser"])
    assert result.exit_code == 1
    assert result.output == (f"Error: direction bank of {DEMO!r} was computed for architecture 'pggan', "
                             "but the model is 'stylegan2'\n")


@pytest.fixture(scope="module")
def workspace():
    return Workspace(ModelSource(name=DEMO))


def test_a_slider_changes_the_edited_picture_only(workspace):
    view, _ = workspace.first_view()
    model = workspace.model(view.model)
    still = model.edited(view)
    moved = replace(view, distances=(3.0,) + view.distances[1:])
    assert np.array_equal(model.edited(view), model.sample(view).original)
    assert not np.array_equal(model.edited(moved), still)
    assert np.array_equal(model.sample(moved).original, still)


def test_one_slider_renders_what_sefa_zoo_edit_renders(workspace):
    view, _ = workspace.first_view()
    model = workspace.model(view.model)
    moved = replace(view, seeds=(4, 9), distances=(0.0, -2.5) + view.distances[2:])
    expected = render_edits(model.generator, view.bank, [1], [-2.5], [4, 9], truncation_psi=view.truncation_psi)
    np.testing.assert_array_equal(model.edited(moved), grid(expected[0, :, 0]))


def test_several_sliders_add_their_directions(workspace):
    view, _ = workspace.first_view()
    model = workspace.model(view.model)
    moved = replace(view, distances=(1.5, 0.0, -2.0) + view.distances[3:])
    direction = 1.5 * view.bank.directions[0] - 2.0 * view.bank.directions[2]
    length = float(np.linalg.norm(direction))
    combined_bank = replace(view.bank, directions=(direction / length)[None].astype(np.float32),
                            eigenvalues=view.bank.eigenvalues[:1])
    expected = render_edits(model.generator, combined_bank, [0], [length], [0], truncation_psi=view.truncation_psi)
    assert np.abs(model.edited(moved).astype(int) - grid(expected[0, :, 0]).astype(int)).max() <= 1


def test_seeds_are_read_as_the_cli_reads_them():
    assert parse_seeds(" 0-2,7 ") == (0, 1, 2, 7)
    with pytest.raises(SefaZooError, match=r"^seed 4294967296 in '4294967296' is out of range"):
        parse_seeds("4294967296")
    with pytest.raises(SefaZooError, match=f"at most {MAX_SEEDS} at once"):
        parse_seeds(f"0-{MAX_SEEDS}")


def test_layer_choices_factorize_the_layers_chosen(workspace):
    view, _ = workspace.first_view()
    top = workspace.with_layers(view, "top")
    assert top.bank.layer_indices == (6, 7) and top.origin == "factorized on layers top"
    assert workspace.with_layers(view, "0-1").bank.layer_indices == (0, 1)
    with pytest.raises(SefaZooError, match="layer 9 in '9' is out of range"):
        workspace.with_layers(view, "9")


def test_a_bank_for_another_model_is_the_cli_error(workspace, tmp_path):
    view, _ = workspace.first_view()
    other = replace(view.bank, architecture="pggan")
    with pytest.raises(BankError, match="computed for architecture 'pggan', but the model is 'stylegan2'"):
        workspace.with_bank(view, other, "other.safetensors")
    narrow = replace(view.bank, directions=np.eye(3, 5, dtype=np.float32), eigenvalues=np.array([3.0, 2.0, 1.0]))
    with pytest.raises(BankError, match="5-dimensional directions"):
        workspace.with_bank(view, narrow, "narrow.safetensors")


def test_bank_files_from_the_command_line_open_first_with_names_on_the_sliders(workspace, tmp_path):
    view, _ = workspace.first_view()
    named = view.bank.top(3).with_names({1: "radius"})
    path = save_bank(named, tmp_path / "named.safetensors")
    with_file = Workspace(ModelSource(name=DEMO), [path])
    first, note = with_file.first_view()
    assert note is None and first.bank_file == str(path) and first.shown == 3
    assert [first.slider_label(i) for i in range(3)][1].endswith(" · radius")
    assert first.slider_label(0).startswith("#0 · ") and first.slider_label(0).endswith("%")
    assert first.slider_count == min(3, MAX_SLIDERS)


def test_a_checkpoint_file_opens_with_its_architecture(dcgan_file):
    space = Workspace(ModelSource(checkpoint=dcgan_file))
    view, _ = space.first_view()
    model = space.model(view.model)
    assert model.loaded.architecture == "dcgan" and view.truncation_psi == 1.0
    moved = replace(view, distances=(2.0,) + view.distances[1:])
    assert not np.array_equal(model.edited(moved), model.sample(view).original)


def test_a_grid_puts_several_seeds_in_rows():
    import torch

    images = torch.linspace(-1, 1, 5 * 3 * 4 * 6).reshape(5, 3, 4, 6)
    picture = grid(images)
    assert picture.shape == (2 * 4 + 2, 3 * 6 + 2 * 2, 3)
    np.testing.assert_array_equal(picture[:4, 8:14], to_uint8(images)[1].numpy())


def test_a_recipe_gives_back_the_same_view_and_the_pixels_sefa_zoo_render_makes(workspace):
    from sefa_zoo.recipe import parse_recipe, recipe_text, render_recipe

    view, _ = workspace.first_view()
    view = replace(workspace.with_layers(view, "middle"), seeds=(3, 5), truncation_psi=0.5,
                   distances=(1.25, 0.0, -3.5) + view.distances[3:])
    view = replace(view, bank=view.bank.with_names({2: "hue"}))
    model = workspace.model(view.model)
    recipe = parse_recipe(recipe_text(model.recipe(view)))
    again = workspace.view_of_recipe(recipe)
    assert again.seeds == (3, 5) and again.truncation_psi == 0.5 and again.layers == "2-5"
    assert again.moved() == {0: 1.25, 2: -3.5} and again.bank.name_of(2) == "hue"
    np.testing.assert_array_equal(model.edited(again), model.edited(view))
    _, edited = render_recipe(recipe)
    np.testing.assert_array_equal(grid(edited), model.edited(view))


def test_a_recipe_of_a_bank_file_needs_that_bank(workspace, tmp_path):
    from sefa_zoo.recipe import RecipeError

    view, _ = workspace.first_view()
    bank = view.bank.top(4)
    with_file, _ = workspace.with_bank(view, bank, "four.safetensors")
    recipe = workspace.model(view.model).recipe(replace(with_file, distances=(0.0, 2.0) + view.distances[2:]))
    with pytest.raises(RecipeError, match="come from the bank file 'four.safetensors': upload it first"):
        workspace.view_of_recipe(recipe)
    assert workspace.view_of_recipe(recipe, [(bank, "four.safetensors")]).moved() == {1: 2.0}


def test_a_recipe_of_another_checkpoint_is_refused(workspace):
    from sefa_zoo.recipe import RecipeError

    view, _ = workspace.first_view()
    recipe = workspace.model(view.model).recipe(view)
    other = replace(recipe, model=replace(recipe.model, checkpoint_sha256="0" * 64))
    with pytest.raises(RecipeError, match="the recipe's checkpoint has sha256 000000000000..."):
        workspace.view_of_recipe(other)
    beyond = replace(recipe, distances=((30, 1.0),))
    with pytest.raises(RecipeError, match="moves direction 30; the editor has sliders for 0-19"):
        workspace.view_of_recipe(beyond)


def _fixture_file(architecture: str, folder):
    """A small checkpoint of ``architecture`` with random weights, written by its plugin's fixture writers."""
    import torch

    if architecture == "dcgan":
        from sefa_zoo_plugins.dcgan import random_dcgan_state

        torch.save(random_dcgan_state(nz=8, ngf=4, nc=3, image_size=16), folder / "dcgan.pth")
        return folder / "dcgan.pth"
    if architecture == "pggan":
        from sefa_zoo_plugins.pggan import random_pggan_state, save_pggan

        return save_pggan(random_pggan_state(32, z_dim=16, channel_base=256, channel_max=32), folder / "g.pth",
                          "genforce")
    if architecture == "stylegan":
        from sefa_zoo_plugins.stylegan import random_stylegan_state, save_stylegan

        state = random_stylegan_state(16, z_dim=16, w_dim=16, mapping_layers=2, fmaps_base=256, fmaps_max=16)
        return save_stylegan(state, folder / "stylegan.pth", "genforce")
    if architecture == "stylegan2":
        from sefa_zoo_plugins.stylegan2 import random_stylegan2_state, save_stylegan2

        state = random_stylegan2_state(16, z_dim=16, w_dim=16, mapping_layers=2, channel_base=256, channel_max=16)
        return save_stylegan2(state, folder / "stylegan2.pt", "rosinality")
    if architecture == "stylegan3":
        from sefa_zoo_plugins.stylegan3 import random_stylegan3_state, save_stylegan3

        return save_stylegan3(random_stylegan3_state("T", 16), folder / "stylegan3.pkl")
    from sefa_zoo_plugins.biggan_deep import random_biggan_state, save_biggan, small_config

    return save_biggan(random_biggan_state(small_config()), small_config(), folder / "biggan")


@pytest.mark.parametrize("architecture", ["dcgan", "pggan", "stylegan", "stylegan2", "stylegan3", "biggan-deep"])
def test_every_architecture_that_synthesizes_opens_and_edits(architecture, tmp_path):
    space = Workspace(ModelSource(checkpoint=_fixture_file(architecture, tmp_path)))
    view, note = space.first_view()
    model = space.model(view.model)
    assert note is None and model.loaded.architecture == architecture
    moved = replace(view, distances=(3.0, -2.0) + view.distances[2:])
    assert not np.array_equal(model.edited(moved), model.sample(view).original)
    again = space.view_of_recipe(model.recipe(moved))
    np.testing.assert_array_equal(model.edited(again), model.edited(moved))


def test_a_conditional_model_takes_a_class_and_refuses_one_it_lacks(conditional_dcgan_file):
    space = Workspace(ModelSource(checkpoint=conditional_dcgan_file, options={"classes": "4"}))
    view, _ = space.first_view()
    model = space.model(view.model)
    assert model.conditional and view.chosen_class.index == 0
    other = space.with_class(view, "3")
    assert not np.array_equal(model.sample(other).original, model.sample(view).original)
    with pytest.raises(SefaZooError, match="class 4 is out of range"):
        space.with_class(view, "4")


def test_another_catalogue_model_opens_beside_the_first(fake_wplus):
    space = Workspace(ModelSource(name=DEMO))
    demo, _ = space.first_view()
    other = space.view_of("fake-wplus")
    assert other.model == "fake-wplus" and other.bank.architecture == "fakewplus"
    assert space.model("fake-wplus").generator is not space.model(DEMO).generator
    moved = replace(other, distances=(1.0,) + other.distances[1:])
    assert not np.array_equal(space.model("fake-wplus").edited(moved), space.model("fake-wplus").sample(other).original)
    assert space.model(DEMO).edited(demo).shape == (32, 32, 3)
    with pytest.raises(SefaZooError, match="no-such-model"):
        space.view_of("no-such-model")


def test_opening_a_model_holds_up_only_the_tabs_waiting_for_it(fake_wplus, monkeypatch):
    import threading

    from support.editing_toys import FakeWPlus

    space = Workspace(ModelSource(name=DEMO))
    space.model(DEMO)
    entered, release = threading.Event(), threading.Event()
    build = FakeWPlus.build_generator

    def slow_build(self, checkpoint, *, layout=None, device="cpu"):  # a download that takes its time
        entered.set()
        release.wait(10)
        return build(self, checkpoint, layout=layout, device=device)

    monkeypatch.setattr(FakeWPlus, "build_generator", slow_build)
    opener = threading.Thread(target=space.model, args=("fake-wplus",))
    opener.start()
    try:
        assert entered.wait(10)
        demo_served = threading.Event()
        threading.Thread(target=lambda: (space.model(DEMO), demo_served.set()), daemon=True).start()
        assert demo_served.wait(5)
    finally:
        release.set()
        opener.join()
    assert space.model("fake-wplus").loaded.architecture == "fakewplus"


def test_an_upload_is_read_then_removed_from_the_private_folder_and_nowhere_else(tmp_path):
    pytest.importorskip("gradio")
    from sefa_zoo.editor.page import uploaded
    from sefa_zoo.recipe import RecipeError, load_recipe

    scratch = tmp_path / "scratch"
    (scratch / "0a1b").mkdir(parents=True)
    inside, outside = scratch / "0a1b" / "mine.json", tmp_path / "elsewhere.json"
    for path in (inside, outside):
        path.write_text("{}")
        with pytest.raises(RecipeError, match=rf"^{path.name}: ") as error:
            uploaded(str(path), load_recipe, scratch)
        assert str(path.parent) not in str(error.value)
    assert not inside.exists() and outside.exists()
    assert uploaded(str(outside), lambda path: path.read_text(), scratch) == ("{}", "elsewhere.json")


def test_a_recipe_with_other_edit_layers_is_refused(workspace):
    from sefa_zoo.recipe import RecipeError

    view, _ = workspace.first_view()
    recipe = workspace.model(view.model).recipe(replace(view, distances=(1.0,) + view.distances[1:]))
    with pytest.raises(RecipeError, match=r"the recipe edits layers 2-3; the editor edits the bank's layers \(0-7\)"):
        workspace.view_of_recipe(replace(recipe, layers=(2, 3)))


def test_a_z_bank_of_a_per_layer_model_moves_z_before_the_mapping_as_render_combined_does(workspace):
    from sefa_zoo.editing import plan_combined, render_combined

    view, _ = workspace.first_view()
    model = workspace.model(view.model)
    generator = model.generator
    rows = np.linalg.qr(np.random.default_rng(0).standard_normal((generator.z_dim, 3)))[0].T
    z_bank = replace(view.bank, directions=rows.astype(np.float32), eigenvalues=np.array([3.0, 2.0, 1.0]),
                     latent_space="z", method="interfacegan", layer_indices=tuple(range(generator.num_layers)),
                     layer_names=tuple(f"layer{i}" for i in range(generator.num_layers)))
    moved, _ = workspace.with_bank(view, z_bank, "z.safetensors")
    moved = replace(moved, seeds=(1, 2), distances=(1.5, 0.0, -1.0) + view.distances[3:])
    edit = plan_combined(generator, z_bank, {0: 1.5, 2: -1.0}, [1, 2], truncation_psi=moved.truncation_psi)
    _, expected = render_combined(generator, z_bank, edit)
    np.testing.assert_array_equal(model.edited(moved), grid(expected))
    assert not np.array_equal(model.edited(moved), model.sample(moved).original)


def test_boundary_sliders_can_say_where_to_move_to_and_recipes_keep_it(workspace):
    from sefa_zoo.editing import plan_combined, render_combined
    from sefa_zoo.recipe import parse_recipe, recipe_text

    view, _ = workspace.first_view()
    model = workspace.model(view.model)
    boundary = replace(view.bank.top(2), method="interfacegan", offsets=np.array([0.5, -0.25]))
    with_boundary, _ = workspace.with_bank(view, boundary, "boundary.safetensors")
    target = replace(with_boundary, shown=2, distances=(1.0,) + view.distances[1:], to_distance=True)
    assert target.moved() == {0: 1.0, 1: 0.0}  # the slider at 0 puts the samples on that boundary
    edit = plan_combined(model.generator, boundary, {0: 1.0, 1: 0.0}, [0], truncation_psi=view.truncation_psi,
                         to_distance=True)
    np.testing.assert_array_equal(model.edited(target), grid(render_combined(model.generator, boundary, edit)[1]))
    assert not np.array_equal(model.edited(target), model.edited(replace(target, to_distance=False)))
    recipe = parse_recipe(recipe_text(model.recipe(target)))
    assert recipe.to_distance
    again = workspace.view_of_recipe(recipe, [(boundary, "boundary.safetensors")])
    assert again.to_distance and np.array_equal(model.edited(again), model.edited(target))
    assert not workspace.with_layers(again, "all").to_distance


def test_a_catalogue_model_not_yet_cached_is_downloaded_with_a_progress_bar_the_page_tracks(
        hub, register_plugin, monkeypatch):  # noqa: F811  (fixture)
    """The page's model picker wraps opening in gr.Progress(track_tqdm=True), which patches tqdm's
    update and forwards every call to the page (whether the terminal bar shows or not): the download
    must report all its bytes through a tqdm bar while the model opens."""
    import hashlib

    from huggingface_hub.utils import tqdm as hub_tqdm

    from sefa_zoo.hookspecs import hookimpl
    from sefa_zoo_plugins.stylegan2.demo.shipped import catalogue_entry, weights_path

    data = weights_path().read_bytes()
    repo = hub.add_repo("org/shapes", {"G.safetensors": data})
    entry = {**catalogue_entry(), "name": "test-hub-shapes",
             "source": {"kind": "hub", "repo_id": "org/shapes", "filename": "G.safetensors", "revision": repo.commit,
                        "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}}

    class Entries:
        @hookimpl
        def register_catalogue_entries(self, register):
            register(entry)

    register_plugin(Entries(), "test-hub-shapes")
    reported = []
    update = hub_tqdm.update
    monkeypatch.setattr(hub_tqdm, "update", lambda bar, n=1: (reported.append(n), update(bar, n))[1])
    space = Workspace(ModelSource(name=DEMO))
    space.first_view()
    view = space.view_of("test-hub-shapes")
    assert view.model == "test-hub-shapes" and space.model("test-hub-shapes").edited(view).shape == (32, 32, 3)
    assert sum(n for n in reported) == len(data)
    assert any(request.path.endswith("/G.safetensors") for request in hub.seen("GET"))
