"""What a path is, in words for error messages ("a folder", "a named pipe")."""

from __future__ import annotations

import os
import stat

_KINDS = (
    (stat.S_ISREG, "a regular file"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def kind_of_mode(mode: int) -> str:
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return "a special file"


def kind_of(path: str | os.PathLike[str]) -> str | None:
    """What ``path`` is, following symbolic links; None when nothing is there."""
    try:
        return kind_of_mode(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return None
