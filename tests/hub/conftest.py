"""Fixtures for upload tests: a fake Hub on loopback and a clean Hugging Face environment."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.hub.fakehub import FakeHub, serve

# The shape of a real user access token ("hf_" and 34 letters or digits).
TOKEN = "hf_" + "Tk3nF0rTests" * 2 + "abcdefghij"
USER = "alice"

RunUpload = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture()
def hub() -> Iterator[FakeHub]:
    fake = FakeHub(tokens={TOKEN: USER})
    server, thread = serve(fake)
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture()
def hub_env(hub: FakeHub, tmp_path: Path) -> dict[str, str]:
    """The environment of an upload: the fake Hub, and HOME, HF_HOME, XDG in tmp_path."""
    home = tmp_path / "home"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("HF_", "HUGGINGFACE", "DATASETY_", "XDG_"))
    }
    env.update(
        HOME=str(home),
        HF_HOME=str(home / "hf"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        HF_ENDPOINT=hub.url,
        # The fake speaks git-LFS; Xet's content store is a service of its own.
        HF_HUB_DISABLE_XET="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        NO_PROXY="127.0.0.1,localhost",
    )
    return env


@pytest.fixture()
def run_upload(hub_env: dict[str, str]) -> RunUpload:
    """``python -m datasety upload ARGS`` as its own process against the fake Hub."""

    def run(
        *args: str, token: str | None = TOKEN, **extra_env: str
    ) -> subprocess.CompletedProcess[str]:
        env = {**hub_env, **extra_env}
        if token:
            env["HF_TOKEN"] = token
        return subprocess.run(
            [sys.executable, "-m", "datasety", "upload", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    return run
