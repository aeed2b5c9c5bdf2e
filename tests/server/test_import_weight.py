"""The server starts and lists without the media libraries (~30 MB of memory), which load at
the first thumbnail, image size or stats request instead."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.server.conftest import make_image

HEAVY = ("numpy", "pyvips", "PIL", "simplejpeg", "torch")

# Run in a fresh interpreter: this test process has imported all of them already.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from fastapi.testclient import TestClient
    from datasety.server.app import create_app
    from datasety.server.settings import Settings

    heavy = {heavy!r}
    loaded = lambda: sorted(m for m in heavy if m in sys.modules)
    seen = {{}}
    app = create_app(Settings(data_dir=Path({data!r})))
    with TestClient(app, base_url="http://localhost") as client:
        seen["started"] = loaded()
        made = client.post("/v1/datasets", json={{"path": {dataset!r}}})
        assert made.status_code == 201, made.text
        files = "/v1/datasets/" + made.json()["id"] + "/files"
        listing = client.get(files, params={{"limit": 10}})
        assert listing.status_code == 200, listing.text
        assert listing.json()["total"] == 1, listing.text
        assert client.get(files + "/a.png", params={{"info": "true"}}).status_code == 200
        seen["listed"] = loaded()
        assert client.get(files + "/a.png", params={{"thumb": 32}}).status_code == 200
        seen["thumbnail"] = loaded()
    print(json.dumps(seen))
    """
)


def test_server_lists_without_media_libraries(tmp_path: Path) -> None:
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    make_image(dataset / "a.png")
    (dataset / "a.txt").write_text("a caption", encoding="utf-8")
    script = SCRIPT.format(heavy=HEAVY, data=str(tmp_path / "data"), dataset=str(dataset))
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["started"] == []
    assert seen["listed"] == []
    # Loaded on first use: the thumbnail needed libvips (and the test sees the difference).
    assert "pyvips" in seen["thumbnail"]
