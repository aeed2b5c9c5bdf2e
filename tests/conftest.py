"""The whole suite runs away from the machine's home.

Before any test (and any module- or session-scoped fixture) runs, ``HOME``, every ``XDG_*``
folder, ``HF_HOME`` and ``TMPDIR`` point into one temporary folder made for this run, and the
variables that switch on Ray's token authentication are unset. So what the machine holds
(``~/.ray/auth_token``, which makes Ray turn token authentication on; ``~/.cache/huggingface``;
``$XDG_DATA_HOME/datasety``) or what the user's shell exports cannot change a result. Every
process a test starts (a server, a Ray head, a job) inherits the same environment. The folder
is removed when the run ends. ``tests/server/test_ray_hermetic.py`` proves it with a decoy
token in the home the suite starts from.

Tests still get their own ``tmp_path`` for their files; this folder only stands in for the
home and its configuration.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# Read by Ray when it starts a head or a client: they would turn token auth on or point at a
# cluster the test did not start.
UNSET = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS")

_saved: dict[str, str | None] = {}
_root: Path | None = None


def hermetic_env(root: Path) -> dict[str, str]:
    """The home, configuration, cache and temp variables of a run rooted at ``root``."""
    home = root / "home"
    return {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_RUNTIME_DIR": str(root / "run"),
        "HF_HOME": str(home / ".cache" / "huggingface"),
        "TMPDIR": str(root / "tmp"),
    }


def pytest_configure(config: pytest.Config) -> None:
    global _root
    # pytest's own tmp_path folders stay where they were (the system temp, short paths for
    # the Unix sockets some tests make): fix that choice before TMPDIR changes.
    tempfile.gettempdir()
    _root = Path(tempfile.mkdtemp(prefix="datasety-tests-"))
    env = hermetic_env(_root)
    for name in (*env, *UNSET):
        _saved[name] = os.environ.get(name)
    for value in env.values():
        Path(value).mkdir(parents=True, exist_ok=True)
    os.chmod(env["XDG_RUNTIME_DIR"], 0o700)
    os.environ.update(env)
    for name in UNSET:
        os.environ.pop(name, None)


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, value in _saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if _root is not None:
        shutil.rmtree(_root, ignore_errors=True)
