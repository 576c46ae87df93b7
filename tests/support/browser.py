"""Headless Chromium (Debian's, at /usr/bin/chromium) driven by Playwright, and the editor
served in a subprocess, for the editor's browser tests and latency benchmark.

Without Chromium, Playwright or the editor extra the tests skip, saying which is missing,
except where the environment variable CI is set: there they fail."""

from __future__ import annotations

import base64
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CHROMIUM = os.environ.get("SEFA_ZOO_CHROMIUM", "/usr/bin/chromium")
# Flags for a machine with no network and no GPU: without the background-networking ones
# Chromium keeps trying to reach its own services.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
START_TIMEOUT_S = 120.0
ADDRESS = re.compile(r"on (http://\S+?)/? \(Ctrl-C")


def missing_for_browser_tests() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if importlib.util.find_spec("gradio") is None:
        return 'the editor extra is not installed (pip install "sefa-zoo[editor]")'
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (the test extra)"
    if shutil.which(CHROMIUM) is None:
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


def require_browser() -> None:
    """Skip the calling test when the browser tests cannot run; fail instead under CI."""
    import pytest

    reason = missing_for_browser_tests()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run under CI: {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EditorProcess:
    """``sefa-zoo editor ARGS --no-browser`` on a free port, in a folder of its own (its
    working directory, HOME and TMPDIR are under ``home``), stopped with Ctrl-C."""

    def __init__(self, home: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.home = home
        for name in ("cwd", "home", "tmp"):
            (home / name).mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **(env or {}), "HOME": str(home / "home"), "TMPDIR": str(home / "tmp"),
               "PYTHONUNBUFFERED": "1"}
        self.log = home / "editor.log"
        command = [sys.executable, "-m", "sefa_zoo", "editor", *args, "--no-browser", "--port", str(free_port())]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(command, cwd=home / "cwd", env=env, stdout=log, stderr=subprocess.STDOUT)
        self.address = self._wait_for_address()

    def _wait_for_address(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            found = ADDRESS.search(self.output())
            if found:
                return found.group(1)
            if self.process.poll() is not None:
                raise RuntimeError(f"the editor exited with {self.process.returncode}: {self.output()}")
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the editor printed no address in {START_TIMEOUT_S:.0f} s: {self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


# Draws the <img> inside element ``id`` on a canvas at its own size and returns its RGBA bytes:
# the pixels the browser decoded, not the page's markup.
_READ_PIXELS = """(id) => {
  const img = document.querySelector(`#${id} img`);
  if (!img || !img.complete || !img.naturalWidth) return null;
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(img, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let text = "";
  for (let i = 0; i < data.length; i += 8192) text += String.fromCharCode.apply(null, data.subarray(i, i + 8192));
  return [canvas.width, canvas.height, btoa(text)];
}"""


def shown_pixels(page, element_id: str) -> np.ndarray:
    """The picture shown in element ``element_id`` as the browser decoded it: uint8 (H, W, 3)."""
    found = page.evaluate(_READ_PIXELS, element_id)
    if found is None:
        raise AssertionError(f"no loaded picture in #{element_id}")
    width, height, data = found
    return np.frombuffer(base64.b64decode(data), np.uint8).reshape(height, width, 4)[..., :3].copy()


def picture_source(page, element_id: str) -> str:
    return page.locator(f"#{element_id} img").get_attribute("src") or ""


def wait_for_new_picture(page, element_id: str, old_source: str, timeout_ms: float = 30_000) -> None:
    """Until the picture in ``element_id`` is another one than ``old_source``, and decoded."""
    page.wait_for_function(
        """([id, old]) => { const img = document.querySelector(`#${id} img`);
             return img && img.src !== old && img.complete && img.naturalWidth > 0; }""",
        arg=[element_id, old_source], polling="raf", timeout=timeout_ms,
    )


def move_slider(page, index: int, value: float) -> None:
    """Move slider ``index`` as a drag does: its range input gets the value and an input event."""
    page.locator(f"#slider-{index} input[type=range]").fill(str(value))
