"""The command line as a user meets it: help, version, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from datasety import __version__
from datasety.commands import COMMAND_MODULES, commands
from tests.clirun import run_datasety, run_main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_datasety(*args)


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert __version__ in result.stdout


def test_help_lists_every_registered_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for name in commands():
        assert f"  {name} " in result.stdout


def test_registry_matches_module_list() -> None:
    assert len(commands()) == len(COMMAND_MODULES)


def test_help_shows_no_restructuredtext_markup(capsys: pytest.CaptureFixture[str]) -> None:
    # click prints docstrings as they are: ``literal`` would reach the user as-is.
    for name in ["--help", *(f"{name} --help" for name in commands())]:
        code, out, _ = run_main(capsys, *name.split())
        assert code == 0
        assert "``" not in out, name


def test_every_command_and_param_is_documented() -> None:
    for name, command in commands().items():
        assert (command.help or "").strip(), f"{name} has no help"
        for param in command.params:
            if param.name in {"help"}:
                continue
            assert getattr(param, "help", None), f"{name} --{param.name} has no help"


def test_unknown_option_is_one_line_error() -> None:
    result = run_cli("resize", "--no-such-flag")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in result.stderr


def test_unknown_command_is_one_line_error() -> None:
    result = run_cli("nonsense")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("Error: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_command_loads_only_its_own_module() -> None:
    # Every job starts a fresh CLI: `datasety resize` must not pay for numpy or other commands.
    code = (
        "import sys\n"
        "from datasety.cli import cli\n"
        "cli.main(['resize', '--help'], standalone_mode=False)\n"
        "print(sorted(m for m in sys.modules if m.startswith('datasety.commands.')))\n"
        "print('numpy' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    modules, numpy_loaded = result.stdout.strip().splitlines()[-2:]
    # rules: the rules between options, which click checks while it parses (click only).
    assert modules == (
        "['datasety.commands.options', 'datasety.commands.resize', 'datasety.commands.rules']"
    )
    assert numpy_loaded == "False"


# What `make serve` installs has no torch, transformers, Ray or huggingface_hub (extras): the light
# commands and the server must never import them. (scripts/fresh_serve.sh checks a real base
# install in CI; this catches an import that creeps in, in every run.)
BASE_ONLY = """
import sys
from pathlib import Path
from PIL import Image
from fastapi.testclient import TestClient
from datasety.cli import cli
from datasety.server.app import create_app
from datasety.server.settings import Settings

folder, data = sys.argv[1], sys.argv[2]
Image.new("RGB", (40, 30)).save(folder + "/a.png")
for args in (["--help"], ["resize", "-i", folder, "-o", folder + "/out", "-r", "16x16"]):
    cli.main(args=args, standalone_mode=False)
with TestClient(create_app(Settings(data_dir=Path(data))), base_url="http://localhost") as client:
    assert client.get("/v1/commands").status_code == 200
extras = {"torch", "transformers", "ray", "huggingface_hub"}
heavy = sorted({name.split(".")[0] for name in sys.modules} & extras)
print("heavy:", heavy)
"""


def test_light_commands_and_the_server_import_no_model_or_ray_package(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", BASE_ONLY, str(tmp_path), str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "heavy: []"
