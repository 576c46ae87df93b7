"""Commands that need no torch do not import it: `--help` and `list` answer in a fraction of a second."""

from __future__ import annotations

import subprocess
import sys

import pytest

CHECK = """
import sys
from sefa_zoo.cli.main import app
try:
    app(sys.argv[1:], prog_name="sefa-zoo")
except SystemExit as exit:
    assert not exit.code, exit.code
heavy = sorted(name for name in ("torch", "numpy", "PIL", "safetensors") if name in sys.modules)
print("HEAVY", ",".join(heavy))
"""


@pytest.mark.parametrize("argv", [
    ["--help"], ["list"], ["list", "--json"], ["list", "stylegan2", "--arch", "stylegan2"], ["plugins"],
    ["factorize", "--help"], ["edit", "--help"], ["download", "--help"], ["info", "--help"],
])
def test_commands_that_need_no_torch_do_not_import_it(argv):
    out = subprocess.run([sys.executable, "-c", CHECK, *argv], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "HEAVY", (argv, out.stdout[-300:], out.stderr[-300:])


def test_names_and_submodules_load_on_first_use():
    code = ("import sys, sefa_zoo; assert 'torch' not in sys.modules; "
            "assert sefa_zoo.loading.open_checkpoint is sefa_zoo.open_checkpoint; "
            "assert sorted(dir(sefa_zoo)) == sorted(sefa_zoo.__all__); "
            "missing = [n for n in sefa_zoo.__all__ if getattr(sefa_zoo, n, None) is None]; assert not missing, missing")
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError):
        import sefa_zoo

        sefa_zoo.no_such_name
