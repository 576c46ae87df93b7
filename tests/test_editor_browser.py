"""`sefa-zoo editor` in a real browser (Debian's headless Chromium driven by Playwright) on
the demo model: pixels read back from the page, files saved through the browser's downloads
and uploaded through its file chooser. Skipped without Chromium, Playwright or the editor
extra, except under CI (see support/browser.py)."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from support.browser import (
    EditorProcess, launch_chromium, move_slider, picture_source, require_browser, shown_pixels,
    wait_for_new_picture,
)

TIMEOUT_MS = 30_000

pytestmark = pytest.mark.usefixtures("browser_available")


@pytest.fixture(scope="module")
def browser_available():
    require_browser()


@pytest.fixture(scope="module")
def editor(tmp_path_factory, browser_available):
    process = EditorProcess(tmp_path_factory.mktemp("editor"))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def chromium(browser_available):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def hosts_asked():
    """The host of every request any page of these tests made."""
    return set()


@pytest.fixture
def page(chromium, editor, hosts_asked):
    context = chromium.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    context.on("request", lambda request: hosts_asked.add(request.url.split("/")[2] if "://" in request.url
                                                          else request.url.partition(":")[0]))
    tab = context.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    open_editor(tab, editor.address)
    yield tab
    context.close()


def open_editor(tab, address: str) -> None:
    tab.goto(address)
    tab.wait_for_selector("#edited-picture img")
    tab.wait_for_function("() => document.querySelector('#edited-picture img').complete")


def edit_slider(tab, index: int, value: float) -> np.ndarray:
    """Move a slider, wait for the new picture and return its pixels."""
    old = picture_source(tab, "edited-picture")
    move_slider(tab, index, value)
    wait_for_new_picture(tab, "edited-picture", old)
    return shown_pixels(tab, "edited-picture")


def submit_text(tab, element_id: str, text: str) -> None:
    box = tab.locator(f"#{element_id} textarea, #{element_id} input").first
    box.fill(text)
    box.press("Enter")


def status_says(tab, text: str) -> str:
    from playwright.sync_api import expect

    status = tab.locator("#status")
    expect(status).to_contain_text(text)
    return status.inner_text().strip()


def downloaded(tab, button: str) -> tuple[str, bytes]:
    with tab.expect_download() as download:
        tab.click(f"#{button}")
    return download.value.suggested_filename, Path(download.value.path()).read_bytes()


def upload(tab, button: str, path: Path) -> None:
    with tab.expect_file_chooser() as chooser:
        tab.click(f"#{button}")
    chooser.value.set_files(str(path))


def test_a_slider_changes_the_edited_pixels_and_not_the_original(page):
    original = shown_pixels(page, "original-picture")
    np.testing.assert_array_equal(shown_pixels(page, "edited-picture"), original)
    edited = edit_slider(page, 0, 3.0)
    assert edited.shape == original.shape == (32, 32, 3)
    assert np.abs(edited.astype(int) - original.astype(int)).max() > 20
    np.testing.assert_array_equal(shown_pixels(page, "original-picture"), original)
    assert not np.array_equal(edit_slider(page, 1, -4.0), edited)


def test_typed_seeds_change_the_picture_and_a_batch_is_a_grid(page):
    before = shown_pixels(page, "original-picture")
    old = picture_source(page, "original-picture")
    submit_text(page, "seeds", "7")
    wait_for_new_picture(page, "original-picture", old)
    assert not np.array_equal(shown_pixels(page, "original-picture"), before)
    old = picture_source(page, "original-picture")
    submit_text(page, "seeds", "0-3")
    wait_for_new_picture(page, "original-picture", old)
    assert shown_pixels(page, "original-picture").shape == (66, 66, 3)  # 2 x 2 pictures of 32 px, 2 px apart
    np.testing.assert_array_equal(shown_pixels(page, "original-picture")[:32, :32], before)


def test_switching_layer_groups_recomputes_the_directions(page):
    from playwright.sync_api import expect

    old = picture_source(page, "edited-picture")
    move_slider(page, 0, 4.0)
    wait_for_new_picture(page, "edited-picture", old)
    label = page.locator("#slider-0 label").first.inner_text()
    page.locator("#layers label", has_text="top").click()
    expect(page.locator("#info")).to_contain_text("layers 6-7")
    expect(page.locator("#slider-0 label").first).not_to_have_text(label)
    np.testing.assert_array_equal(shown_pixels(page, "edited-picture"), shown_pixels(page, "original-picture"))
    submit_text(page, "custom-layers", "0-1")
    expect(page.locator("#info")).to_contain_text("layers 0-1")


def test_saved_png_and_recipe_give_back_the_same_pixels(page, tmp_path):
    old = picture_source(page, "original-picture")
    submit_text(page, "seeds", "5")
    wait_for_new_picture(page, "original-picture", old)
    edit_slider(page, 0, 2.5)
    shown = edit_slider(page, 2, -3.0)
    name, png = downloaded(page, "save-png")
    assert name.endswith(".png")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")), shown)
    name, text = downloaded(page, "save-recipe")
    recipe = json.loads(text)
    assert name.endswith(".json") and recipe["seeds"] == [5] and recipe["distances"]["2"] == -3.0

    old = picture_source(page, "edited-picture")
    page.click("#reset")
    wait_for_new_picture(page, "edited-picture", old)
    np.testing.assert_array_equal(shown_pixels(page, "edited-picture"), shown_pixels(page, "original-picture"))
    (tmp_path / name).write_bytes(text)
    old = picture_source(page, "edited-picture")
    upload(page, "load-recipe", tmp_path / name)
    wait_for_new_picture(page, "edited-picture", old)
    np.testing.assert_array_equal(shown_pixels(page, "edited-picture"), shown)


def test_two_tabs_keep_their_own_state(page, chromium, editor):
    other = page.context.new_page()
    open_editor(other, editor.address)
    untouched = shown_pixels(other, "edited-picture")
    mine = edit_slider(page, 0, 5.0)
    theirs = edit_slider(other, 1, -5.0)
    assert not np.array_equal(mine, theirs)
    edit_slider(page, 0, 4.5)
    np.testing.assert_array_equal(edit_slider(page, 0, 5.0), mine)  # the other tab's slider 1 is not in this edit
    assert not np.array_equal(theirs, untouched)


def test_bad_values_show_the_cli_message_and_the_editor_goes_on(page, tmp_path):
    submit_text(page, "seeds", "4294967296")
    line = status_says(page, "Error: seed 4294967296")
    assert line == "Error: seed 4294967296 in '4294967296' is out of range: valid seeds are 0-4294967295"
    submit_text(page, "custom-layers", "9")
    status_says(page, "Error: layer 9 in '9' is out of range")

    from sefa_zoo import factorize_model, save_bank

    other = replace(factorize_model("stylegan2-shapes", layers="top", k=3, progress=False), architecture="pggan")
    save_bank(other, tmp_path / "pggan.safetensors")
    upload(page, "bank-upload", tmp_path / "pggan.safetensors")
    status_says(page, "Error: direction bank of 'stylegan2-shapes' was computed for architecture 'pggan'")
    (tmp_path / "__broken__[v2](1).json").write_text('{"format": "sefa-zoo edit recipe", "version": 1')
    upload(page, "load-recipe", tmp_path / "__broken__[v2](1).json")
    line = status_says(page, "Error: __broken__[v2](1).json: not valid JSON")  # the name as it is, not Markdown
    assert "\n" not in line and str(tmp_path) not in line
    assert edit_slider(page, 0, 2.0).shape == (32, 32, 3)
    status_says(page, "")


def test_named_directions_label_the_sliders_and_go_into_the_saved_bank(page, tmp_path):
    from playwright.sync_api import expect

    from sefa_zoo import load_bank

    page.locator("#name-index input").fill("1")
    page.locator("#name-text textarea, #name-text input").first.fill("radius")
    page.click("#name-button")
    expect(page.locator("#slider-1 label").first).to_contain_text("#1 · ")
    expect(page.locator("#slider-1 label").first).to_contain_text(" · radius")
    name, data = downloaded(page, "save-bank")
    (tmp_path / name).write_bytes(data)
    bank = load_bank(tmp_path / name)
    assert bank.name_of(1) == "radius" and bank.name_of(0) == ""


def test_the_editor_asks_nothing_of_the_network_and_leaves_no_file(page, editor, hosts_asked, tmp_path):
    """Last in this file: it stops the editor the others share."""
    (tmp_path / "fake.safetensors").write_bytes(b"not a bank")
    upload(page, "bank-upload", tmp_path / "fake.safetensors")  # refused, and not kept
    status_says(page, "Error: fake.safetensors: not a readable safetensors file")
    assert editor.stop() == 0, editor.output()
    assert hosts_asked <= {editor.address.split("/")[2], "data"}, hosts_asked
    for folder in ("cwd", "home", "tmp"):
        assert list((editor.home / folder).iterdir()) == [], folder
