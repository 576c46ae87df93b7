"""Where a checkpoint's bytes come from: a length and ``read(offset, length)``, nothing more.

The readers of torch zips and safetensors files ask a ByteSource only for the parts they
need (a zip's central directory, its ``data.pkl``, the members of the tensors actually read;
a safetensors header and its tensors), so a source may be a memory-mapped local file, bytes
in memory, or a file read remotely by HTTP range requests. Formats that need every byte
(legacy torch files, pickles) take a MappedFile or BytesSource.
"""

from __future__ import annotations

import io
import mmap
import os
from typing import Protocol, runtime_checkable

Buffer = bytes | bytearray | memoryview


@runtime_checkable
class ByteSource(Protocol):
    """A read-only run of bytes of known length.

    ``read(offset, length)`` returns exactly ``length`` bytes from ``offset`` (a bytes-like
    object numpy can view); callers never ask past ``len(source)``. A source that fails to
    read raises OSError (or a CheckpointError naming itself).
    """

    def __len__(self) -> int: ...

    def read(self, offset: int, length: int) -> Buffer: ...


class BytesSource:
    """Bytes in memory as a ByteSource; reads are views, not copies."""

    def __init__(self, data: Buffer):
        self._view = memoryview(data).cast("B")

    def __len__(self) -> int:
        return len(self._view)

    def read(self, offset: int, length: int) -> memoryview:
        return _checked_slice(self._view, offset, length)


class MappedFile:
    """A local file, memory-mapped copy-on-write: arrays read from it are views of its pages
    (writable, as torch wants them, never written back), so only the pages read come off the disk."""

    def __init__(self, path: str | os.PathLike[str]):
        with open(path, "rb") as f:
            self.mapping = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        self._view = memoryview(self.mapping)

    def __len__(self) -> int:
        return len(self._view)

    def read(self, offset: int, length: int) -> memoryview:
        return _checked_slice(self._view, offset, length)


def _checked_slice(view: memoryview, offset: int, length: int) -> memoryview:
    if offset < 0 or length < 0 or offset + length > len(view):
        raise EOFError(f"a read of {length} bytes at {offset} runs past the end ({len(view)} bytes)")
    return view[offset : offset + length]


class SourceReader(io.RawIOBase):
    """A ByteSource as a seekable binary file, for zipfile (which then reads only the central
    directory and what is asked of it)."""

    def __init__(self, source: ByteSource):
        self._source = source
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self._source)}[whence]
        if base + offset < 0:
            raise OSError("seek before the start of the file")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        length = max(0, min(len(buffer), len(self._source) - self._position))
        if length:
            buffer[:length] = self._source.read(self._position, length)
            self._position += length
        return length
