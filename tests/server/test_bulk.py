"""POST /v1/datasets/<id>/bulk, undo, history and restore (issue 17, Build 1 and 7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from datasety.server.curation import history

from .conftest import make_image


@pytest.fixture
def url(dataset: dict[str, Any]) -> str:
    return f"/v1/datasets/{dataset['id']}"


def captioned(root: Path, captions: dict[str, str | None]) -> None:
    for name, text in captions.items():
        make_image(root / name)
        if text is not None:
            (root / name).with_suffix(".txt").write_text(text, encoding="utf-8")


def bulk(client: TestClient, url: str, status: int = 200, **body: Any) -> dict[str, Any]:
    response = client.post(f"{url}/bulk", json=body)
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def test_prefix_preview_writes_nothing_then_apply(
    client: TestClient, url: str, dataset_dir: Path
) -> None:
    captioned(dataset_dir, {"a.png": "a cat", "b.png": "ohwx, a dog", "c.png": None})
    select = {"filter": {"media": True}}
    preview = bulk(client, url, select=select, op="prefix", text="ohwx, ", preview=True)
    assert preview["preview"] is True
    assert (preview["total"], preview["changed"]) == (3, 2)
    by_path = {item["path"]: item for item in preview["items"]}
    assert by_path["a.png"] == {
        "path": "a.png",
        "caption_path": "a.txt",
        "before": "a cat",
        "after": "ohwx, a cat",
        "status": "change",
    }
    assert by_path["b.png"]["status"] == "unchanged"
    assert by_path["c.png"]["before"] is None
    assert by_path["c.png"]["after"] == "ohwx, "
    assert not (dataset_dir / "c.txt").exists()
    assert (dataset_dir / "a.txt").read_text() == "a cat"

    applied = bulk(client, url, select=select, op="prefix", text="ohwx, ")
    assert applied["id"] and applied["failed"] == 0
    assert [i["status"] for i in applied["items"]] == ["ok", "unchanged", "ok"]
    assert (dataset_dir / "a.txt").read_text() == "ohwx, a cat"
    assert (dataset_dir / "c.txt").read_text() == "ohwx, "
    assert not [p for p in dataset_dir.iterdir() if p.name.startswith(".")]  # no temporaries
    listing = client.get(f"{url}/files", params={"q": "a.png"}).json()["files"]
    assert listing[0]["caption"] == "ohwx, a cat"


@pytest.mark.parametrize(
    ("body", "before", "after"),
    [
        ({"op": "set", "text": "new"}, "old, tags", "new"),
        ({"op": "suffix", "text": ", hd"}, "a cat", "a cat, hd"),
        ({"op": "remove_tag", "tag": "blurry"}, "cat, blurry,  dog,blurry", "cat, dog"),
        ({"op": "replace", "find": "cat", "replace": "dog"}, "cat.* cat", "dog.* dog"),
        ({"op": "replace", "find": ".*", "replace": "x"}, "a.*b", "axb"),
        ({"op": "replace", "find": r"(\w+) cat", "replace": r"\1 kitten", "regex": True},
         "big cat", "big kitten"),
        ({"op": "replace", "find": "CAT", "replace": "dog", "ignore_case": True}, "Cat", "dog"),
    ],
)  # fmt: skip
def test_caption_operations(
    client: TestClient,
    url: str,
    dataset_dir: Path,
    body: dict[str, Any],
    before: str,
    after: str,
) -> None:
    captioned(dataset_dir, {"a.png": before})
    applied = bulk(client, url, select={"paths": ["a.png"]}, **body)
    assert applied["items"][0]["after"] == after
    assert (dataset_dir / "a.txt").read_text() == after


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"op": "nope", "select": {"paths": []}}, "Unknown op 'nope'"),
        ({"op": "prefix", "select": {"paths": []}}, "Missing 'text' in payload"),
        ({"op": "replace", "find": "(", "regex": True, "select": {"paths": []}}, "Invalid regular"),
        ({"op": "set", "text": "x"}, "'select' must be"),
        ({"op": "set", "text": "x", "select": {"paths": "a.png"}}, "'select.paths' must be"),
        ({"op": "move", "folder": "../out", "select": {"paths": []}}, "Access denied"),
    ],
)
def test_bad_requests_are_4xx(
    client: TestClient, url: str, body: dict[str, Any], error: str
) -> None:
    response = client.post(f"{url}/bulk", json=body)
    assert response.status_code in (400, 403)
    assert response.json()["error"].startswith(error)


def test_unknown_path_is_a_404(client: TestClient, url: str, dataset_dir: Path) -> None:
    captioned(dataset_dir, {"a.png": "x"})
    body = {"select": {"paths": ["a.png", "nope.png"]}, "op": "set", "text": "y"}
    response = client.post(f"{url}/bulk", json=body)
    assert (response.status_code, response.json()) == (404, {"error": "File not found: nope.png"})
    assert (dataset_dir / "a.txt").read_text() == "x"


def test_filter_selection_and_undo(client: TestClient, url: str, dataset_dir: Path) -> None:
    captioned(dataset_dir, {"a.png": "a", "extra/b.png": "b", "extra/c.png": None})
    applied = bulk(client, url, select={"filter": {"q": "extra/"}}, op="suffix", text="!")
    assert sorted(i["path"] for i in applied["items"]) == ["extra/b.png", "extra/c.png"]
    assert (dataset_dir / "a.txt").read_text() == "a"
    undone = client.post(f"{url}/operations/{applied['id']}/undo")
    assert undone.status_code == 200, undone.text
    assert undone.json() == {"id": applied["id"], "status": "undone", "restored": 2}
    assert (dataset_dir / "extra" / "b.txt").read_text() == "b"
    assert not (dataset_dir / "extra" / "c.txt").exists()  # did not exist before
    again = client.post(f"{url}/operations/{applied['id']}/undo")
    assert (again.status_code, again.json()) == (409, {"error": "Operation already undone"})
    operations = client.get(f"{url}/operations").json()["operations"]
    assert operations[0]["id"] == applied["id"] and operations[0]["undone_at"]


def test_undo_refuses_when_a_file_changed_since(
    client: TestClient, url: str, dataset_dir: Path
) -> None:
    captioned(dataset_dir, {"a.png": "a", "b.png": "b"})
    applied = bulk(client, url, select={"filter": {}}, op="prefix", text="x ")
    (dataset_dir / "b.txt").write_text("edited by hand")
    response = client.post(f"{url}/operations/{applied['id']}/undo")
    assert response.status_code == 409
    assert response.json() == {"error": "Cannot undo: b.txt changed since"}
    assert (dataset_dir / "a.txt").read_text() == "x a"  # nothing undone


def test_delete_to_trash_and_undo(
    client: TestClient, url: str, dataset_dir: Path, data_dir: Path
) -> None:
    captioned(dataset_dir, {"a.png": "a", "b.png": "b"})
    (dataset_dir / "clip.wav").write_bytes(b"RIFF")
    (dataset_dir / "metadata.csv").write_text("clip|hello\nother|x\n")
    applied = bulk(client, url, select={"paths": ["a.png", "clip.wav"]}, op="delete")
    assert applied["failed"] == 0
    assert sorted(p.name for p in dataset_dir.iterdir()) == ["b.png", "b.txt", "metadata.csv"]
    assert (dataset_dir / "metadata.csv").read_text() == "other|x\n"
    assert (data_dir / "trash" / applied["id"] / "a.png").is_file()
    listing = client.get(f"{url}/files", params={"media": "true"}).json()
    assert [e["name"] for e in listing["files"]] == ["b.png"]

    assert client.post(f"{url}/operations/{applied['id']}/undo").status_code == 200
    names = sorted(p.name for p in dataset_dir.iterdir())
    assert names == ["a.png", "a.txt", "b.png", "b.txt", "clip.wav", "metadata.csv"]
    assert (dataset_dir / "a.txt").read_text() == "a"
    assert (dataset_dir / "metadata.csv").read_text() == "other|x\nclip|hello\n"
    assert not (data_dir / "trash" / applied["id"]).exists()


def test_move_keeps_role_folders_and_undo(client: TestClient, url: str, dataset_dir: Path) -> None:
    make_image(dataset_dir / "control" / "s1.png")
    make_image(dataset_dir / "target" / "s1.png")
    (dataset_dir / "target" / "s1.txt").write_text("cap")
    captioned(dataset_dir, {"a.png": "a"})
    make_image(dataset_dir / "done" / "a.png")  # in the way
    body = {"select": {"paths": ["target/s1.png", "a.png"]}, "op": "move", "folder": "done"}
    preview = bulk(client, url, preview=True, **body)
    statuses = {i["path"]: i["status"] for i in preview["items"]}
    assert statuses == {"target/s1.png": "change", "a.png": "error"}
    applied = bulk(client, url, **body)
    assert applied["failed"] == 1
    assert (dataset_dir / "done" / "control" / "s1.png").is_file()
    assert (dataset_dir / "done" / "target" / "s1.txt").read_text() == "cap"
    assert not (dataset_dir / "target" / "s1.png").exists()
    assert (dataset_dir / "a.png").is_file()
    assert client.post(f"{url}/operations/{applied['id']}/undo").status_code == 200
    assert (dataset_dir / "target" / "s1.png").is_file()
    assert not (dataset_dir / "done" / "control" / "s1.png").exists()


def test_history_of_single_and_bulk_edits_and_restore(
    client: TestClient, url: str, dataset_dir: Path
) -> None:
    captioned(dataset_dir, {"a.png": None})
    assert client.put(f"{url}/files/a.png", json={"caption": "first"}).status_code == 200
    assert client.put(f"{url}/files/a.png", json={"caption": "second"}).status_code == 200
    bulk(client, url, select={"paths": ["a.png"]}, op="prefix", text="ohwx ")
    answer = client.get(f"{url}/history", params={"path": "a.png"}).json()
    assert answer["caption_path"] == "a.txt"
    assert answer["current"] == "ohwx second"
    versions = answer["versions"]
    assert [(v["text"], v["before"], v["source"]) for v in versions] == [
        ("ohwx second", "second", "bulk"),
        ("second", "first", "put"),
        ("first", None, "put"),
    ]
    first = versions[-1]["id"]
    restored = client.post(f"{url}/history/{first}/restore")
    assert restored.json() == {
        "status": "restored",
        "path": "a.png",
        "caption_path": "a.txt",
        "text": "first",
    }
    assert (dataset_dir / "a.txt").read_text() == "first"
    again = client.get(f"{url}/history", params={"path": "a.txt"}).json()
    assert again["versions"][0]["source"] == "restore"
    missing = client.post(f"{url}/history/99999/restore")
    assert (missing.status_code, missing.json()) == (404, {"error": "Version not found"})


def test_history_of_an_audio_transcript(client: TestClient, url: str, dataset_dir: Path) -> None:
    (dataset_dir / "clip.wav").write_bytes(b"RIFF")
    (dataset_dir / "metadata.csv").write_text("clip|old\n")
    client.put(f"{url}/files/clip.wav", json={"caption": "new"})
    answer = client.get(f"{url}/history", params={"path": "clip.wav"}).json()
    assert answer["caption_path"] == "metadata.csv#clip"
    assert [(v["before"], v["text"]) for v in answer["versions"]] == [("old", "new")]


def test_unknown_dataset_and_operation(client: TestClient, url: str) -> None:
    response = client.post("/v1/datasets/nope/bulk", json={"op": "delete", "select": {"paths": []}})
    assert (response.status_code, response.json()) == (404, {"error": "Dataset not found"})
    response = client.post(f"{url}/operations/nope/undo")
    assert (response.status_code, response.json()) == (404, {"error": "Operation not found"})


def test_a_caption_file_written_as_a_file_is_recorded(
    client: TestClient, url: str, dataset_dir: Path
) -> None:
    make_image(dataset_dir / "control" / "s1.png")
    make_image(dataset_dir / "target" / "s1.png")
    headers = {"content-type": "text/plain"}
    assert client.post(f"{url}/files/s1.txt", content=b"one", headers=headers).status_code == 201
    assert client.put(f"{url}/files/s1.txt", content=b"two", headers=headers).status_code == 200
    answer = client.get(f"{url}/history", params={"path": "s1.txt"}).json()
    assert [(v["before"], v["text"]) for v in answer["versions"]] == [
        ("one", "two"),
        (None, "one"),
    ]
    # The pair's own path finds the same history.
    by_image = client.get(f"{url}/history", params={"path": "target/s1.png"}).json()
    assert by_image["caption_path"] == "s1.txt"
    assert len(by_image["versions"]) == 2


def test_operations_past_retention_go_with_their_trash(
    client: TestClient, url: str, dataset_dir: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    captioned(dataset_dir, {"a.png": "a", "b.png": "b"})
    old = bulk(client, url, select={"paths": ["a.png"]}, op="delete")
    assert (data_dir / "trash" / old["id"]).is_dir()
    monkeypatch.setattr(history, "KEEP_SECONDS", -1.0)  # everything is past retention now
    bulk(client, url, select={"paths": ["b.png"]}, op="set", text="new")
    assert not (data_dir / "trash" / old["id"]).exists()
    response = client.post(f"{url}/operations/{old['id']}/undo")
    assert (response.status_code, response.json()) == (404, {"error": "Operation not found"})
