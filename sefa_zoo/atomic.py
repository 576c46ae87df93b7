"""Write files so that they either appear whole or not at all.

Every file goes to a hidden partial file beside its target, ``.<name>.<pid>-<random>.partial``,
and is renamed over the target only once it is complete. Several files can be written as one
unit: all replace their targets, or none does.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from .errors import OutputPathError
from .file_kinds import kind_of

PARTIAL_SUFFIX = ".partial"
# A partial file nobody has changed for this long is stale, whoever wrote it.
STALE_AFTER_S = 24 * 3600.0
# A partial file whose writer (by process id) is gone is stale once unchanged this long: the
# grace spares a writer on another machine sharing the folder, whose id means nothing here.
WRITER_GONE_AFTER_S = 60.0
# Errors of a write call carry no file name; these are about the file being written.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS})

def check_target(target: str | os.PathLike[str]) -> Path:
    """``target`` as a Path if a file may be written there; an OutputPathError otherwise.

    The target must be absent or a regular file (never a folder, pipe or device), and the
    nearest existing folder above it must be a folder, not a file.
    """
    text = os.fspath(target)
    if text.endswith(tuple(filter(None, (os.sep, os.altsep)))):
        raise OutputPathError(f"{text}: names a folder (it ends with {text[-1]!r}); give a file name")
    path = Path(text)
    kind = _special_kind(path)
    if kind is not None:
        raise OutputPathError(f"{path}: is {kind}, not a regular file; refusing to replace it")
    _check_folders_above(path)
    return path


def check_outputs(
    targets: Iterable[str | os.PathLike[str]], inputs: Iterable[str | os.PathLike[str] | None] = ()
) -> list[Path]:
    """``targets`` as Paths after ``check_target``, refusing any that is the same file as one of
    ``inputs`` or as another target."""
    paths = [check_target(target) for target in targets]
    sources = [Path(source) for source in inputs if source is not None]
    for i, path in enumerate(paths):
        for source in sources:
            if _same_file(path, source):
                raise OutputPathError(f"{path}: is the input file {source}; refusing to overwrite it")
        for other in paths[:i]:
            if _same_file(path, other):
                raise OutputPathError(f"{path}: is also {other}; each output needs its own file")
    return paths


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``.

    Any exception (KeyboardInterrupt included) removes the temporary file and leaves
    ``target`` as it was. Errors about the temporary file name ``target`` instead.
    """
    (path,) = check_outputs([target])
    pending = _PendingFiles([path])
    try:
        with _errors_name(path, pending.partials[0]):
            yield pending.partials[0]
        pending.commit()
    except BaseException:
        pending.discard()
        raise


def write_atomically(writers: Mapping[str | os.PathLike[str], Callable[[Path], object]]) -> list[Path]:
    """Write several files as one unit: each writer fills its own temporary path, then all
    replace their targets, or (on any error, KeyboardInterrupt included) none does."""
    paths = check_outputs(writers)
    pending = _PendingFiles(paths)
    try:
        for path, partial, write in zip(paths, pending.partials, writers.values()):
            with _errors_name(path, partial):
                write(partial)
        pending.commit()
    except BaseException:
        pending.discard()
        raise
    return paths


def remove_stale_partials(target: str | os.PathLike[str]) -> list[Path]:
    """Remove the stale partial files of earlier writes to ``target`` (a writer killed before
    it could clean up); returns those removed. Other files are never touched."""
    target = Path(target)
    pattern = _partial_pattern(target)
    removed = []
    try:
        with os.scandir(target.parent) as found:
            entries = list(found)
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or not entry.is_file(follow_symlinks=False):
            continue
        with contextlib.suppress(OSError):
            if _is_stale(entry.stat(follow_symlinks=False).st_ctime, match["pid"], now):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


class _PendingFiles:
    """Partial files for some targets, and the renames that put them in place."""

    def __init__(self, targets: Sequence[Path]) -> None:
        self.targets = list(targets)
        self.partials: list[Path] = []
        try:
            for target in self.targets:
                remove_stale_partials(target)
                target.parent.mkdir(parents=True, exist_ok=True)
                self.partials.append(_new_partial(target))
        except BaseException:
            self.discard()
            raise

    def commit(self) -> None:
        umask = os.umask(0)
        os.umask(umask)
        for target, partial in zip(self.targets, self.partials):
            with _errors_name(target, partial):
                # Partials are 0600, and some writers replace the file with their own 0600 one:
                # set the mode last so that the result looks like any new file.
                os.chmod(partial, 0o666 & ~umask)
                with open(partial, "rb") as f:
                    os.fsync(f.fileno())
        # A rename that fails after others succeeded puts the earlier targets back as they were.
        backups: dict[Path, Path | None] = {}
        replaced: list[Path] = []
        try:
            for target in self.targets[:-1]:
                backups[target] = _back_up(target)
            for target, partial in zip(self.targets, self.partials):
                with _errors_name(target, partial):
                    os.replace(partial, target)
                replaced.append(target)
        except BaseException:
            _restore(replaced, backups)
            raise
        finally:
            for backup in backups.values():
                if backup is not None:
                    with contextlib.suppress(OSError):
                        backup.unlink()

    def discard(self) -> None:
        for partial in self.partials:
            with contextlib.suppress(OSError):
                partial.unlink()


def _partial_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}{PARTIAL_SUFFIX}")


def _partial_pattern(target: Path) -> re.Pattern[str]:
    # Also matches the names of earlier versions (mkstemp's eight characters, no process id).
    name, suffix = re.escape(target.name), re.escape(PARTIAL_SUFFIX)
    return re.compile(rf"\.{name}\.(?:(?P<pid>\d{{1,10}})-)?[a-z0-9_]{{8}}{suffix}")


def _new_partial(target: Path) -> Path:
    partial = _partial_name(target)
    with _errors_name(target, partial):
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600))
    return partial


def _is_stale(changed: float, pid: str | None, now: float) -> bool:
    idle = now - changed
    if idle >= STALE_AFTER_S:
        return True
    return pid is not None and idle >= WRITER_GONE_AFTER_S and not _process_exists(int(pid))


def _process_exists(pid: int) -> bool:
    if os.name != "posix":  # os.kill(pid, 0) is not a probe elsewhere
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError, OSError):
        return False
    return True


def _back_up(target: Path) -> Path | None:
    """A hard link (or, where links are not supported, a copy) of ``target`` under a partial
    name; None when there is no target to keep."""
    if not target.exists():
        return None
    backup = _partial_name(target)
    try:
        os.link(target, backup)
    except FileNotFoundError:
        return None
    except OSError:
        with _errors_name(target, backup):
            shutil.copy2(target, backup)
    return backup


def _restore(replaced: list[Path], backups: Mapping[Path, Path | None]) -> None:
    for target in reversed(replaced):
        backup = backups.get(target)
        with contextlib.suppress(OSError):
            if backup is None:
                target.unlink()
            else:
                os.replace(backup, target)


@contextlib.contextmanager
def _errors_name(target: Path, partial: Path) -> Iterator[None]:
    """Re-raise OSErrors about ``partial`` as errors about ``target``: the user never sees the
    hidden file's name."""
    try:
        yield
    except OSError as exc:
        if exc.errno is None or not _is_about(exc, partial):
            raise
        raise OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(target)) from exc


def _is_about(exc: OSError, partial: Path) -> bool:
    if exc.filename is None:
        return exc.errno in _WRITE_ERRNOS
    names = {os.fspath(name) for name in (exc.filename, exc.filename2) if isinstance(name, (str, os.PathLike))}
    return str(partial) in names


def _special_kind(path: Path) -> str | None:
    """What ``path`` is when it exists and is not a regular file (following links)."""
    kind = kind_of(path)
    return None if kind == "a regular file" else kind


def _check_folders_above(path: Path) -> None:
    for folder in path.parents:
        try:
            mode = os.stat(folder).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue  # created later, or a file further up is reported on a later step
        if not stat.S_ISDIR(mode):
            raise OutputPathError(f"{path}: {folder} is not a folder")
        return


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are one file: by device and inode when both exist (links
    included), else by their resolved names."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        pass
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # a loop of symbolic links
        return False
