"""What a path is, in words for error messages ("a folder", "a named pipe"), and which file
in a folder is the checkpoint."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import CheckpointError

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


# In a folder, these names are the weights whatever else is there (the Hub's conventions).
WEIGHT_FILE_NAMES = ("pytorch_model.bin", "model.safetensors")
WEIGHT_FILE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt", ".safetensors")


def checkpoint_in_folder(folder: Path) -> Path:
    """The one checkpoint file in ``folder``; a one-line CheckpointError when there is none
    or more than one to choose from."""
    for name in WEIGHT_FILE_NAMES:
        if (folder / name).is_file():
            return folder / name
    try:
        found = sorted(p for p in folder.iterdir() if p.suffix.lower() in WEIGHT_FILE_SUFFIXES and p.is_file())
    except OSError as e:
        raise CheckpointError(f"{folder}: cannot list the folder ({e.strerror or e})") from None
    if len(found) == 1:
        return found[0]
    if not found:
        raise CheckpointError(f"{folder}: no checkpoint file in this folder ({', '.join(WEIGHT_FILE_SUFFIXES)})")
    names = ", ".join(p.name for p in found[:5]) + (", ..." if len(found) > 5 else "")
    raise CheckpointError(f"{folder}: holds several checkpoint files ({names}); name one")
