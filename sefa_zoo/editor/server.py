"""Serving the editor: Gradio set up to write nothing outside a private temporary folder,
send nothing anywhere, and listen on the address given."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path

from .session import Workspace


def browser_available() -> bool:
    """A graphical browser can open: not on a Linux or BSD machine without a display, where
    python's webbrowser would start a text browser in this terminal."""
    if sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def serve(
    workspace: Workspace, *, host: str, port: int | None, open_browser: bool,
    announce: Callable[[str], None] = print, stop: threading.Event | None = None,
) -> None:
    """Serve the editor until Ctrl-C (or ``stop`` is set). Uploads go to a private temporary
    folder, removed on the way out; Gradio's telemetry and version check are off."""
    scratch = Path(tempfile.mkdtemp(prefix="sefa-zoo-editor-"))
    os.environ["GRADIO_TEMP_DIR"] = str(scratch)  # read when gradio is first imported
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        first, note = workspace.first_view()  # a model or bank that cannot be shown fails before Gradio loads
        from .page import CSS, Page

        blocks = Page(workspace, scratch).build(first, note)
        _, address, _ = blocks.launch(
            server_name=host, server_port=port, prevent_thread_lock=True, quiet=True, share=False,
            inbrowser=False, ssr_mode=False, pwa=False, mcp_server=False, css=CSS, footer_links=[],
            enable_monitoring=False,
        )
        announce(f"sefa-zoo editor on {address} (Ctrl-C to stop)")
        if open_browser and browser_available():
            webbrowser.open(address)
        try:
            (stop or threading.Event()).wait()
        except KeyboardInterrupt:
            pass
        finally:
            blocks.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
