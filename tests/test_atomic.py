import errno
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from sefa_zoo import atomic
from sefa_zoo.atomic import atomic_path, check_outputs, remove_stale_partials, write_atomically
from sefa_zoo.errors import SefaZooError


def write_text(text):
    def write(path):
        path.write_text(text)
    return write


def partials(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


# what a target may be


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_is_not_replaced(tmp_path):
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(SefaZooError, match=f"{pipe}: is a named pipe, not a regular file"):
        with atomic_path(pipe) as tmp:
            tmp.write_text("bank")
    assert pipe.is_fifo()
    assert partials(tmp_path) == []


def test_a_link_to_a_device_is_not_replaced(tmp_path):
    link = tmp_path / "out"
    link.symlink_to(os.devnull)
    with pytest.raises(SefaZooError, match="is a character device"):
        with atomic_path(link) as tmp:
            tmp.write_text("bank")
    assert link.is_symlink()


def test_a_folder_is_not_replaced(tmp_path):
    (tmp_path / "folder").mkdir()
    with pytest.raises(SefaZooError, match="folder: is a folder"):
        with atomic_path(tmp_path / "folder") as tmp:
            tmp.write_text("bank")
    assert (tmp_path / "folder").is_dir()


def test_a_trailing_slash_names_a_folder_not_a_file(tmp_path):
    with pytest.raises(SefaZooError, match="names a folder"):
        with atomic_path(f"{tmp_path}/newdir/") as tmp:
            tmp.write_text("bank")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("below", ["bank.safetensors", "sub/deeper/bank.safetensors"])
def test_a_file_where_a_folder_should_be_is_named(tmp_path, below):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    with pytest.raises(SefaZooError, match=f"{notes} is not a folder$"):
        with atomic_path(notes / below) as tmp:
            tmp.write_text("bank")
    assert notes.read_text() == "mine"


def test_a_regular_file_and_a_new_folder_are_fine(tmp_path):
    (tmp_path / "old").write_text("old")
    for target in (tmp_path / "old", tmp_path / "new" / "sub" / "file"):
        with atomic_path(target) as tmp:
            tmp.write_text("new")
        assert target.read_text() == "new"
    assert partials(tmp_path) == []


def test_outputs_may_not_be_inputs_or_each_other(tmp_path):
    checkpoint = tmp_path / "m.pt"
    checkpoint.write_text("weights")
    os.link(checkpoint, tmp_path / "hard.pt")
    (tmp_path / "soft.pt").symlink_to(checkpoint)
    for alias in ("m.pt", "hard.pt", "soft.pt", "sub/../m.pt"):
        with pytest.raises(SefaZooError, match="is the input file"):
            check_outputs([tmp_path / alias], inputs=[checkpoint])
    with pytest.raises(SefaZooError, match="each output needs its own file"):
        check_outputs([tmp_path / "a", tmp_path / "sub" / ".." / "a"])
    assert check_outputs([tmp_path / "a", tmp_path / "b"], inputs=[checkpoint, None]) == [
        tmp_path / "a", tmp_path / "b"]


# errors name the user's path


def test_errors_of_the_writer_name_the_target(tmp_path):
    target = tmp_path / "bank.safetensors"

    def disk_full(path):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError) as info:
        write_atomically({target: disk_full})
    assert info.value.filename == str(target) and info.value.errno == errno.ENOSPC

    with pytest.raises(FileNotFoundError) as info:
        with atomic_path(target) as tmp:
            tmp.unlink()  # nothing to put in place
    assert info.value.filename == str(target)
    assert partials(tmp_path) == []


def test_a_partial_name_too_long_names_the_target(tmp_path):
    target = tmp_path / ("b" * 240)
    with pytest.raises(OSError) as info:
        with atomic_path(target) as tmp:
            tmp.write_text("bank")
    assert info.value.errno == errno.ENAMETOOLONG
    assert info.value.filename == str(target)


# several files as one unit


def test_all_files_of_a_unit_or_none(tmp_path):
    first, second = tmp_path / "bank.safetensors", tmp_path / "bank_factor.pt"
    first.write_text("old bank")

    def interrupted(path):
        path.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomically({first: write_text("new bank"), second: interrupted})
    assert first.read_text() == "old bank" and not second.exists()
    assert partials(tmp_path) == []

    assert write_atomically({first: write_text("new bank"), second: write_text("factor")}) == [first, second]
    assert first.read_text() == "new bank" and second.read_text() == "factor"


@pytest.mark.parametrize("failing_rename", [2, 3])
def test_a_failed_rename_puts_earlier_files_back(tmp_path, monkeypatch, failing_rename):
    targets = [tmp_path / name for name in ("a", "b", "c")]
    targets[0].write_text("old a")
    renames = []
    real_replace = os.replace

    def replace(source, destination):
        renames.append(destination)
        if len(renames) == failing_rename:
            raise OSError(errno.EIO, "Input/output error", str(source))
        real_replace(source, destination)

    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(OSError, match="Input/output error") as info:
        write_atomically({target: write_text(f"new {target.name}") for target in targets})
    assert info.value.filename == str(targets[failing_rename - 1])
    assert targets[0].read_text() == "old a"
    assert not targets[1].exists() and not targets[2].exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


# partial files left by a killed writer


def start_killable_writer(target):
    """A process that has begun writing ``target`` and waits, so that it can be killed mid-write."""
    script = textwrap.dedent(f"""
        import time
        from sefa_zoo.atomic import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            tmp.write_text("half")
            print("writing", flush=True)
            time.sleep(120)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "writing"
    return process


def test_partials_of_a_killed_writer_are_removed_by_the_next_write(tmp_path, monkeypatch):
    target = tmp_path / "bank.safetensors"
    writer = start_killable_writer(target)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    writer.stdout.close()
    (left,) = partials(tmp_path)
    assert left.startswith(f".bank.safetensors.{writer.pid}-")

    with atomic_path(target) as tmp:  # too soon: a writer elsewhere might still be busy
        tmp.write_text("bank")
    assert partials(tmp_path) == [left]
    monkeypatch.setattr(atomic, "WRITER_GONE_AFTER_S", 0.0)
    with atomic_path(target) as tmp:
        tmp.write_text("bank")
    assert partials(tmp_path) == [] and target.read_text() == "bank"


def test_a_running_writers_partial_is_left_alone(tmp_path, monkeypatch):
    target = tmp_path / "bank.safetensors"
    monkeypatch.setattr(atomic, "WRITER_GONE_AFTER_S", 0.0)
    writer = start_killable_writer(target)
    try:
        (busy,) = partials(tmp_path)
        with atomic_path(target) as tmp:
            tmp.write_text("bank")
        assert partials(tmp_path) == [busy]
    finally:
        writer.kill()
        writer.wait()
        writer.stdout.close()


def test_only_our_own_stale_partials_of_that_target_are_removed(tmp_path, monkeypatch):
    target = tmp_path / "bank.safetensors"
    ours_old_style = tmp_path / ".bank.safetensors.1qvtokde.partial"
    kept = [
        tmp_path / ".bank.safetensors.partial",
        tmp_path / ".bank.safetensors.1qvtokde.partial.bak",
        tmp_path / ".other.safetensors.1qvtokde.partial",
        tmp_path / "bank.safetensors.1qvtokde.partial",
        tmp_path / ".bank.safetensors.1qvtokdeX.partial",
    ]
    for path in [ours_old_style, *kept]:
        path.write_text("x")
    (tmp_path / ".bank.safetensors.2ab3cd4e.partial").mkdir()
    assert remove_stale_partials(target) == []  # fresh: it may belong to a writer elsewhere
    monkeypatch.setattr(atomic, "STALE_AFTER_S", 0.0)
    assert remove_stale_partials(target) == [ours_old_style]
    assert all(path.exists() for path in kept)
