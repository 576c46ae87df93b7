"""Telling a real Ctrl-C from a KeyboardInterrupt that code raised by itself.

Python turns SIGINT into KeyboardInterrupt; a plugin can raise one too, and some libraries turn
an interrupted import into another exception (numpy: ImportError) or swallow it. Here SIGINT is
counted before it interrupts, so that callers can ask whether the user really pressed Ctrl-C.
The ``sefa-zoo`` command counts for its whole run (``listen``); elsewhere plugin calls are
watched one by one (``watching``). Only the main thread receives signals, so only it counts.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

INTERRUPTED = 130  # the exit status shells give a program stopped by Ctrl-C
_count = 0


def _count_then_interrupt(signum: int, frame: Any) -> None:
    global _count
    _count += 1
    raise KeyboardInterrupt


def _install() -> Any:
    """Count SIGINTs from now on; the handler to restore, or None when nothing was installed.

    Only in place of Python's own handler: one set by the application (or SIG_IGN) is kept."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        return None
    signal.signal(signal.SIGINT, _count_then_interrupt)
    return previous


def counting() -> bool:
    return signal.getsignal(signal.SIGINT) is _count_then_interrupt


def listen() -> None:
    """Count every SIGINT for the rest of the process (the ``sefa-zoo`` command)."""
    _install()


def received() -> bool:
    """Whether a SIGINT was counted in this process."""
    return _count > 0


@contextmanager
def watching() -> Iterator[Callable[[], bool | None]]:
    """Count SIGINTs while the block runs; yields a function that tells whether a Ctrl-C came
    during the block: None when unknown (the application handles SIGINT itself); always False
    outside the main thread, where no Ctrl-C can interrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    start = _count
    previous = None if counting() else _install()
    known = counting()
    try:
        yield lambda: _count > start if known else None
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
