"""The core's source kinds ``hub``, ``url`` and ``local``, registered through the same hook a
plugin uses.

The fetchers live in sefa_zoo.builtin_fetchers, which imports huggingface_hub (slow to
import); they load on first use, so commands that fetch nothing never pay for it. Whether a file is
cached is answered by sefa_zoo.cached_files without that import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .cached_files import cached_hub, cached_local, cached_url
from .hookspecs import hookimpl


def _deferred(name: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        from . import builtin_fetchers

        return getattr(builtin_fetchers, name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


@hookimpl
def register_checkpoint_sources(register):
    register("hub", _deferred("fetch_hub"), cached=cached_hub, discard=_deferred("discard_download"))
    register("url", _deferred("fetch_url"), cached=cached_url, discard=_deferred("discard_download"))
    register("local", _deferred("fetch_local"), cached=cached_local)
