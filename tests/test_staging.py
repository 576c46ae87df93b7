"""Staged output folders: a run's files take their places only when the run ends."""

from __future__ import annotations

import os
import stat

import pytest

from sefa_zoo.atomic import OutputPathError
from sefa_zoo.outputs.staging import STAGING_SUFFIX, staged_folder

from support.editing_toys import folder_contents, staging_leftovers, unwritable_folder  # noqa: F401  (fixture)


def ours(name):
    return name.endswith(".png")


def _umask():
    umask = os.umask(0)
    os.umask(umask)
    return umask


def test_a_new_folder_appears_whole_at_the_end(tmp_path):
    target = tmp_path / "a" / "b" / "out"
    with staged_folder(target, owns=ours) as staging:
        (staging.path / "one.png").write_bytes(b"1")
        assert not (tmp_path / "a").exists()
        assert [p.name.endswith(STAGING_SUFFIX) and p.name.startswith(".a.") for p in tmp_path.iterdir()] == [True]
    assert folder_contents(tmp_path) == {"a": None, "a/b": None, "a/b/out": None, "a/b/out/one.png": b"1"}
    assert staging.final_path(staging.path / "one.png") == target / "one.png"
    for folder in (tmp_path / "a", tmp_path / "a" / "b", target):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~_umask()  # not mkdtemp's 0700


def test_an_error_leaves_nothing_behind(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "old.png").write_bytes(b"old")
    before = folder_contents(tmp_path)
    for target in (tmp_path / "new", tmp_path / "out"):
        with pytest.raises(KeyboardInterrupt):
            with staged_folder(target, owns=ours) as staging:
                (staging.path / "old.png").write_bytes(b"new")
                raise KeyboardInterrupt
    assert folder_contents(tmp_path) == before


def test_a_folder_made_meanwhile_is_merged_into(tmp_path):
    target = tmp_path / "out"
    with staged_folder(target, owns=ours) as staging:
        (staging.path / "one.png").write_bytes(b"1")
        target.mkdir()
        (target / "theirs.txt").write_bytes(b"t")
        (target / "two.png").write_bytes(b"stale")
    assert folder_contents(target) == {"one.png": b"1", "theirs.txt": b"t"}
    assert staging_leftovers(tmp_path, target) == []


def test_a_live_runs_staging_folder_is_left_alone(tmp_path):
    target = tmp_path / "out"
    with staged_folder(target, owns=ours) as first:
        (first.path / "first.png").write_bytes(b"1")
        with staged_folder(target, owns=ours) as second:
            (second.path / "second.png").write_bytes(b"2")
        assert (first.path / "first.png").read_bytes() == b"1"
    # the first run ended last: its files replace the second's
    assert folder_contents(target) == {"first.png": b"1"}
    assert staging_leftovers(tmp_path, target) == []


def test_inputs_are_never_replaced_or_removed(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "input.png").write_bytes(b"the input")
    with staged_folder(target, owns=ours, keep=[target / "input.png"]) as staging:
        (staging.path / "new.png").write_bytes(b"n")
    assert folder_contents(target) == {"input.png": b"the input", "new.png": b"n"}
    with pytest.raises(OutputPathError, match=r"out/input.png: is an input of this run; refusing to replace it"):
        with staged_folder(target, owns=ours, keep=[target / "input.png"]) as staging:
            (staging.path / "input.png").write_bytes(b"over it")
    assert folder_contents(target) == {"input.png": b"the input", "new.png": b"n"}


def test_messages_name_paths_as_the_user_wrote_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputPathError) as error:
        with staged_folder("notes.txt/x/out", owns=ours):
            pass
    assert str(error.value) == "notes.txt/x/out: notes.txt is a regular file, not a folder"
    assert folder_contents(tmp_path) == {"notes.txt": b"mine"}


def test_an_unwritable_place_is_named(unwritable_folder):
    with pytest.raises(OutputPathError) as error:
        with staged_folder(unwritable_folder / "out", owns=ours):
            pass
    assert str(error.value).startswith(f"{unwritable_folder}/out: cannot create it in {unwritable_folder} (")
