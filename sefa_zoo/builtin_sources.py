"""The core's source kinds ``hub``, ``url`` and ``local``, registered through the same hook a
plugin uses.

The fetchers live in sefa_zoo.builtin_fetchers, which imports huggingface_hub (slow to
import); they load on first use, so commands that fetch nothing never pay for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .hookspecs import hookimpl


def _deferred(name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        from . import builtin_fetchers

        return getattr(builtin_fetchers, name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


@hookimpl
def register_checkpoint_sources(register):
    register("hub", _deferred("fetch_hub"), cached=_deferred("cached_hub"), discard=_deferred("discard_download"))
    register("url", _deferred("fetch_url"), cached=_deferred("cached_url"), discard=_deferred("discard_download"))
    register("local", _deferred("fetch_local"), cached=_deferred("cached_local"))
