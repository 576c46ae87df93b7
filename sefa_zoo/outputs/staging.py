"""A run's output folder, written in a hidden staging folder and moved into place at the end.

A new output folder appears whole, by one rename of its staging folder (made beside the
nearest folder that exists). An existing output folder may hold the user's own files: the run
stages inside it, then moves its files in one by one and removes the files of its own naming
that an earlier run left and this one did not write; nothing else there is touched.

Any exception, KeyboardInterrupt included, removes the staging folder. A run killed outright
leaves it behind; the next run into the same place removes it. A live run holds a lock on its
staging folder, so only folders of runs that are gone are removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import OutputPathError
from ..file_kinds import kind_of, kind_of_mode

try:
    import fcntl
except ImportError:  # not on Windows: staging folders are then never taken for abandoned
    fcntl = None

STAGING_SUFFIX = ".edit-partial"
INSIDE_NAME = "sefa-zoo"  # staging folders inside an existing output folder: .sefa-zoo.<random>.edit-partial


@dataclass(frozen=True)
class StagedFolder:
    """``target``: the output folder as given; ``path``: where the run writes until it ends."""

    target: Path
    path: Path

    def final_path(self, staged: str | os.PathLike[str]) -> Path:
        """Where a file written under ``path`` is once the run has ended."""
        return self.target / Path(staged).relative_to(self.path)


@dataclass(frozen=True)
class _Place:
    """``folder`` made absolute; ``existing``: the nearest existing folder at or above it;
    ``missing``: the topmost folder still to create (None when ``folder`` exists)."""

    folder: Path
    existing: Path
    missing: Path | None


@contextlib.contextmanager
def staged_folder(
    target: str | os.PathLike[str], *, owns: Callable[[str], bool], keep: Iterable[str | os.PathLike[str]] = ()
) -> Iterator[StagedFolder]:
    """Stage a run's files for the folder ``target``; they take their places when the block ends.

    ``owns(name)`` says which file names are the run's own: an earlier run's files of such names
    are replaced or removed. Files in ``keep`` (the run's inputs) are never removed or replaced.
    Problems with ``target`` (a file, a device, not writable) are found on entry, before any work.
    """
    target = Path(target)
    place = _check_output_folder(target, owns)
    for folder in _abandoned_staging_folders(place):
        _remove_if_abandoned(folder)
    root, lock = _create_staging(target, place)
    try:
        staged = StagedFolder(target, root if place.missing is None else root / place.folder.relative_to(place.missing))
        staged.path.mkdir(parents=True, exist_ok=True)
        yield staged
        _move_into_place(staged, place, root, owns, [Path(path) for path in keep])
    finally:
        shutil.rmtree(root, ignore_errors=True)  # gone already when it became the output folder
        if lock is not None:
            os.close(lock)


def _check_output_folder(target: Path, owns: Callable[[str], bool] = lambda name: False) -> _Place:
    """Where ``target`` stands; OutputPathError when it, or the nearest existing path above it,
    is not a folder, or when a name ``owns`` in it is taken by something other than a file."""
    folder = Path(os.path.abspath(target))
    existing, missing = folder, None
    while True:
        try:
            mode = os.stat(existing).st_mode
            break
        except (FileNotFoundError, NotADirectoryError):
            if os.path.islink(existing):
                raise OutputPathError(
                    f"{_about(target, existing)}is a symbolic link to {os.readlink(existing)}, which does not exist"
                ) from None
            existing, missing = existing.parent, existing
    if not stat.S_ISDIR(mode):
        raise OutputPathError(f"{_about(target, existing)}is {kind_of_mode(mode)}, not a folder")
    if missing is None:
        _check_names_are_free(target, owns)
    return _Place(folder, existing, missing)


def _about(target: Path, culprit: Path) -> str:
    """The start of a message about ``culprit``, ``target`` or a folder above it."""
    if culprit == Path(os.path.abspath(target)):
        return f"{target}: "
    return f"{target}: {_shown(target, culprit)} "


def _shown(target: Path, path: Path) -> Path:
    """``path`` (absolute) as the user would write it: relative when ``target`` was."""
    return path if target.is_absolute() else Path(os.path.relpath(path))


def _check_names_are_free(target: Path, owns: Callable[[str], bool]) -> None:
    with os.scandir(target) as entries:
        for entry in entries:
            if owns(entry.name) and not (entry.is_symlink() or entry.is_file(follow_symlinks=False)):
                kind = kind_of(entry.path) or "a special file"
                raise OutputPathError(f"{target / entry.name}: is {kind}, where edit writes a file")


def _staging_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(name)}\.[a-z0-9_]+{re.escape(STAGING_SUFFIX)}")


def _abandoned_staging_folders(place: _Place) -> Iterator[Path]:
    """Staging folders that earlier runs into ``place`` may have left: inside the output folder,
    and beside it and each folder above it that did not exist yet."""
    searches = []
    if place.missing is None:
        searches.append((place.folder, INSIDE_NAME))
    for folder in (place.folder, *place.folder.parents):
        if folder == folder.parent:
            break
        searches.append((folder.parent, folder.name))
        if folder == (place.missing or place.folder):
            break
    for parent, name in searches:
        pattern = _staging_pattern(name)
        try:
            with os.scandir(parent) as entries:
                found = [Path(e.path) for e in entries if pattern.fullmatch(e.name) and e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        yield from found


def _remove_if_abandoned(folder: Path) -> None:
    if fcntl is None:
        return  # without locks a live run's folder cannot be told from an abandoned one
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # a live run holds it
    else:
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        os.close(descriptor)


def _create_staging(target: Path, place: _Place) -> tuple[Path, int | None]:
    """A new staging folder and the lock that marks it as in use (None where there are no locks)."""
    name = INSIDE_NAME if place.missing is None else place.missing.name
    while True:
        try:
            root = Path(tempfile.mkdtemp(dir=place.existing, prefix=f".{name}.", suffix=STAGING_SUFFIX))
        except OSError as exc:
            if place.missing is None:
                raise OutputPathError(f"{target}: cannot write into this folder ({exc.strerror})") from None
            parent = _shown(target, place.existing)
            raise OutputPathError(f"{target}: cannot create it in {parent} ({exc.strerror})") from None
        try:
            lock = _lock(root)
        except FileNotFoundError:
            continue  # another run took it for abandoned before it was locked
        if lock is None or os.fstat(lock).st_nlink > 0:
            return root, lock
        os.close(lock)


def _lock(folder: Path) -> int | None:
    if fcntl is None:
        return None
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
    except OSError:  # a file system without locks: the folder stays unmarked
        os.close(descriptor)
        return None
    return descriptor


def _move_into_place(staged: StagedFolder, place: _Place, root: Path, owns: Callable[[str], bool],
                     keep: list[Path]) -> None:
    if place.missing is not None:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(root, 0o777 & ~umask)  # mkdtemp's folders are private; the output folder is like any new one
        try:
            os.rename(root, place.missing)
            return
        except OSError:
            if kind_of(place.missing) is None:
                raise
        place.folder.mkdir(parents=True, exist_ok=True)  # made by someone else meanwhile: merge into it
    _merge(staged, place.folder, owns, keep)


def _merge(staged: StagedFolder, folder: Path, owns: Callable[[str], bool], keep: list[Path]) -> None:
    """Move the staged files into ``folder`` in the order they were written (the report, written
    last, arrives last), then remove the files of our naming the run did not write."""
    with os.scandir(staged.path) as entries:
        files = sorted((e for e in entries if e.is_file(follow_symlinks=False)),
                       key=lambda e: (e.stat().st_mtime_ns, e.name))
    for entry in files:
        if _is_one_of(folder / entry.name, keep):
            raise OutputPathError(f"{staged.target / entry.name}: is an input of this run; refusing to replace it")
    for entry in files:
        try:
            os.replace(entry.path, folder / entry.name)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(staged.target / entry.name)) from None
    written = {entry.name for entry in files}
    with os.scandir(folder) as entries:
        earlier = [e for e in entries if e.name not in written and owns(e.name)
                   and (e.is_symlink() or e.is_file(follow_symlinks=False))]
    for entry in earlier:
        if not _is_one_of(Path(entry.path), keep):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)


def _is_one_of(path: Path, files: list[Path]) -> bool:
    for other in files:
        with contextlib.suppress(OSError):
            if os.path.samefile(path, other):
                return True
    return False
