"""The docs that are generated or executed stay true."""

import re
import subprocess
from pathlib import Path

from sefa_zoo.cli.reference import render

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_current():
    assert (ROOT / "docs" / "cli.md").read_text() == render(), (
        "docs/cli.md is stale: run `python -m sefa_zoo.cli.reference > docs/cli.md`"
    )


def readme_command(marker):
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {marker} -->\s*```bash\n(.*?)\n```", text, re.S)
    assert match, f"README has no {marker} block"
    return match.group(1).strip()


def test_readme_has_the_two_commands_and_installs_cpu_torch_first():
    for marker in ("main-command", "test-command"):
        command = readme_command(marker)
        assert "\n" not in command
        steps = command.split(" && ")
        assert "pip install torch==2.13.0" in steps
        torch_step = steps.index("pip install torch==2.13.0")
        project_step = next(i for i, s in enumerate(steps) if s.startswith("pip install .")
                            or s.startswith('pip install -e "'))
        assert torch_step < project_step


def test_ci_runs_the_readme_test_command():
    extracted = subprocess.run(
        ["bash", ".ci/run", "--print-command"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert extracted == readme_command("test-command")


def test_torch_requirement_is_a_range_that_keeps_an_installed_cpu_build():
    text = (ROOT / "pyproject.toml").read_text()
    (torch_req,) = re.findall(r'"torch[^"]*"', text)
    assert ">=" in torch_req and "==" not in torch_req
