"""The README's quickstart holds exactly two commands, and CI runs the second one as written."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", section, re.S)]


def test_quickstart_has_a_run_command_and_the_test_command():
    commands = quickstart_commands()
    assert len(commands) == 2
    run, test = commands
    assert run.startswith("pip install") and "asgd run scenarios/" in run
    scenario = run.split("asgd run ", 1)[1].split()[0]
    assert (ROOT / scenario).is_file()
    assert "pytest" in test


def test_ci_runs_the_readme_test_command_as_written():
    test_command = quickstart_commands()[1]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci
