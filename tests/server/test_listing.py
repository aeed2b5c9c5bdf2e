"""GET /v1/datasets/<id>/files: the spec's entry shape, grouping, captions, filters, freshness."""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from datasety.server.catalog import catalogs, watch

from .conftest import RegisterFn


@pytest.fixture(autouse=True, params=["inotify", "disk"])
def freshness(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with changes seen through inotify, and again by checking the disk."""
    if request.param == "disk":
        monkeypatch.setattr(watch.FolderWatch, "open", classmethod(lambda cls: None))
    mode: str = request.param
    return mode


ROLE_KEYS = ["input", "target", "mask", "canny", "pose", "seg", "depth", "normal", "image"]


def write(root: Path, rel: str, content: str | bytes = b"x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def listing(client: TestClient, url: str, **params: Any) -> dict[str, Any]:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    result: dict[str, Any] = response.json()
    return result


def test_entries_have_the_spec_shape(client: TestClient, files_url: str, dataset_dir: Path) -> None:
    write(dataset_dir, "edit_001_input.png", b"i" * 11)
    write(dataset_dir, "edit_001_target.png", b"t" * 7)
    write(dataset_dir, "edit_001.txt", "add a winter hat")
    write(dataset_dir, "subfolder/image002.jpg", b"j" * 5)
    assert listing(client, files_url) == {
        "files": [
            {
                "base": "edit_001",
                "name": "edit_001_input.png",
                "path": "",
                "files": [
                    {
                        "path": "edit_001_input.png",
                        "name": "edit_001_input.png",
                        "size_bytes": 11,
                        "extension": ".png",
                        "file_type": "input",
                    },
                    {
                        "path": "edit_001_target.png",
                        "name": "edit_001_target.png",
                        "size_bytes": 7,
                        "extension": ".png",
                        "file_type": "target",
                    },
                    {
                        "path": "edit_001.txt",
                        "name": "edit_001.txt",
                        "size_bytes": 16,
                        "extension": ".txt",
                        "file_type": "caption",
                    },
                ],
                "caption": "add a winter hat",
                "caption_path": "edit_001.txt",
            },
            {
                "base": "image002",
                "name": "image002.jpg",
                "path": "subfolder",
                "files": [
                    {
                        "path": "subfolder/image002.jpg",
                        "name": "image002.jpg",
                        "size_bytes": 5,
                        "extension": ".jpg",
                        "file_type": "image",
                    }
                ],
                "caption": "",
                "caption_path": "",
            },
        ],
        "total": 2,
    }


def test_group_true_has_every_role_key(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    for rel in [
        "e_start.png",
        "e_end.png",
        "e_mask.png",
        "e_canny.png",
        "e_pose.png",
        "e_seg.png",
        "e_depth.png",
        "e_normal.png",
    ]:
        write(dataset_dir, rel)
    write(dataset_dir, "e.txt", "caption e")
    write(dataset_dir, "plain.jpg")
    pairs = listing(client, files_url, group="true")["pairs"]
    assert [p["base"] for p in pairs] == ["e", "plain"]
    e = pairs[0]
    assert {k: e[k] for k in ROLE_KEYS} == {
        "input": "e_start.png",
        "target": "e_end.png",
        "mask": "e_mask.png",
        "canny": "e_canny.png",
        "pose": "e_pose.png",
        "seg": "e_seg.png",
        "depth": "e_depth.png",
        "normal": "e_normal.png",
        "image": None,
    }
    assert e["caption"] == "caption e"
    assert e["caption_path"] == "e.txt"
    assert len(e["all_files"]) == 9
    assert {k: pairs[1][k] for k in ROLE_KEYS} == {
        **{k: None for k in ROLE_KEYS},
        "image": "plain.jpg",
    }
    assert pairs[1]["caption"] == ""


def test_folder_roles_and_suffixes_only_at_the_end(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    write(dataset_dir, "control/p1.png")
    write(dataset_dir, "output/p1.png")
    write(dataset_dir, "mask/p1.png")
    write(dataset_dir, "p1.txt", "make it blue")
    write(dataset_dir, "my_endpoint.png")
    write(dataset_dir, "data_segments.png")
    pairs = {p["base"]: p for p in listing(client, files_url, group="true")["pairs"]}
    assert pairs["p1"]["input"] == "control/p1.png"
    assert pairs["p1"]["target"] == "output/p1.png"
    assert pairs["p1"]["mask"] == "mask/p1.png"
    assert pairs["p1"]["caption"] == "make it blue"
    assert pairs["my_endpoint"]["image"] == "my_endpoint.png"
    assert pairs["my_endpoint"]["target"] is None
    assert pairs["data_segments"]["image"] == "data_segments.png"
    assert pairs["data_segments"]["seg"] is None


def test_audio_caption_from_metadata_csv(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    write(dataset_dir, "wavs/utt1.wav")
    write(dataset_dir, "wavs/utt2.wav")
    write(dataset_dir, "wavs/utt2.txt", "from the sidecar")
    write(dataset_dir, "metadata.csv", 'utt1|He said "hi"|he said hi\nutt2|from csv\n')
    entries = {e["base"]: e for e in listing(client, files_url)["files"]}
    assert entries["utt1"]["caption"] == 'He said "hi"'
    assert entries["utt1"]["caption_path"] == ""
    assert entries["utt1"]["caption_source"] == "metadata.csv"
    assert entries["utt2"]["caption"] == "from the sidecar"
    assert entries["utt2"]["caption_path"] == "wavs/utt2.txt"


def test_hidden_and_temporary_files_are_not_listed(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    write(dataset_dir, "a.png")
    write(dataset_dir, ".a.1234abcd.partial.png")
    write(dataset_dir, ".git/config")
    assert [e["base"] for e in listing(client, files_url)["files"]] == ["a"]


def test_folder_filter(client: TestClient, files_url: str, dataset_dir: Path) -> None:
    write(dataset_dir, "a.png")
    write(dataset_dir, "sub/b.png")
    write(dataset_dir, "sub/deeper/c.png")
    write(dataset_dir, "subway/d.png")
    found = listing(client, files_url, folder="sub")
    assert [e["files"][0]["path"] for e in found["files"]] == ["sub/b.png", "sub/deeper/c.png"]
    assert found["total"] == 2
    missing = client.get(files_url, params={"folder": "nope"})
    assert (missing.status_code, missing.json()) == (404, {"error": "Folder not found: nope"})


def test_pagination_search_and_missing_caption(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    for i in range(5):
        write(dataset_dir, f"img{i}.png")
    write(dataset_dir, "img1.txt", "A Red Car")
    write(dataset_dir, "img3.txt", "a blue boat")
    page = listing(client, files_url, limit=2, offset=1)
    assert [e["base"] for e in page["files"]] == ["img1", "img2"]
    assert page["total"] == 5
    assert [e["base"] for e in listing(client, files_url, q="red car")["files"]] == ["img1"]
    assert [e["base"] for e in listing(client, files_url, q="IMG4")["files"]] == ["img4"]
    missing = listing(client, files_url, missing="caption")
    assert [e["base"] for e in missing["files"]] == ["img0", "img2", "img4"]
    assert missing["total"] == 3
    pairs = listing(client, files_url, group="true", missing="caption", limit=1)
    assert [p["base"] for p in pairs["pairs"]] == ["img0"]
    assert pairs["total"] == 3


@pytest.mark.parametrize(
    ("params", "name"),
    [({"limit": "x"}, "limit"), ({"offset": "-1"}, "offset"), ({"missing": "image"}, "missing")],
)
def test_bad_query_values(
    client: TestClient, files_url: str, params: dict[str, str], name: str
) -> None:
    response = client.get(files_url, params=params)
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"Invalid value for '{name}'")


def test_listing_errors(client: TestClient, register: RegisterFn, tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    dataset = register(gone)
    gone.rmdir()
    response = client.get(f"/v1/datasets/{dataset['id']}/files")
    assert (response.status_code, response.json()) == (
        404,
        {"error": "Dataset path no longer exists on disk"},
    )
    response = client.get("/v1/datasets/nope/files")
    assert (response.status_code, response.json()) == (404, {"error": "Dataset not found"})


def _age(path: Path, seconds: float = 3600) -> None:
    """Move ``path``'s mtime into the past, so the catalog trusts it (not 'racy')."""
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_listing_sees_external_adds_deletes_and_caption_edits(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    write(dataset_dir, "a.png")
    caption = write(dataset_dir, "a.txt", "old caption")
    write(dataset_dir, "sub/b.png")
    for path in (caption, dataset_dir / "sub", dataset_dir):
        _age(path)
    first = listing(client, files_url)
    assert [e["caption"] for e in first["files"]] == ["old caption", ""]
    assert listing(client, files_url) == first  # warm, cached

    # An in-place edit of a caption (same inode, folder untouched) is seen.
    with open(caption, "r+", encoding="utf-8") as handle:
        handle.write("new")
    assert listing(client, files_url)["files"][0]["caption"] == "new caption"

    write(dataset_dir, "sub/c.png")
    (dataset_dir / "a.png").unlink()
    bases = [(e["path"], e["base"]) for e in listing(client, files_url)["files"]]
    assert bases == [("", "a"), ("sub", "b"), ("sub", "c")]
    assert listing(client, files_url)["files"][0]["files"][0]["name"] == "a.txt"

    caption.unlink()
    write(dataset_dir, "new/deep/d.png")
    bases = [(e["path"], e["base"]) for e in listing(client, files_url)["files"]]
    assert bases == [("new/deep", "d"), ("sub", "b"), ("sub", "c")]


def test_atomic_replace_of_a_file_updates_its_size(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    image = write(dataset_dir, "a.png", b"1234")
    _age(image)
    _age(dataset_dir)
    assert listing(client, files_url)["files"][0]["files"][0]["size_bytes"] == 4
    tmp = write(dataset_dir, ".tmp.png", b"123456789")
    os.replace(tmp, image)
    assert listing(client, files_url)["files"][0]["files"][0]["size_bytes"] == 9


def test_in_place_rewrites_are_caught_by_the_sweep(
    client: TestClient, files_url: str, dataset_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = write(dataset_dir, "a.png", b"1234")
    _age(image)
    _age(dataset_dir)
    assert listing(client, files_url)["files"][0]["files"][0]["size_bytes"] == 4
    with open(image, "ab") as handle:
        handle.write(b"5678")
    _age(dataset_dir)
    monkeypatch.setattr(catalogs, "SWEEP_SECONDS", 0.0)
    assert listing(client, files_url)["files"][0]["files"][0]["size_bytes"] == 8


def test_symlinks_inside_are_listed_and_outside_are_not(
    client: TestClient, files_url: str, dataset_dir: Path, tmp_path: Path
) -> None:
    write(dataset_dir, "real.png", b"12")
    (dataset_dir / "alias.png").symlink_to(dataset_dir / "real.png")
    secret = write(tmp_path, "secret.txt", "outside")
    (dataset_dir / "leak.txt").symlink_to(secret)
    (dataset_dir / "outdir").symlink_to(tmp_path)
    found = listing(client, files_url)
    assert [f["path"] for e in found["files"] for f in e["files"]] == ["alias.png", "real.png"]


def test_full_listing_is_gzipped_for_clients_that_accept_it(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    for i in range(50):
        write(dataset_dir, f"img{i:02d}.png")
        write(dataset_dir, f"img{i:02d}.txt", f"caption {i}")
    packed = client.get(files_url, headers={"accept-encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert packed.headers["vary"] == "Accept-Encoding"
    plain = client.get(files_url, headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert packed.json() == plain.json()  # the client decodes gzip transparently
    assert len(plain.json()["files"]) == 50
    refused = client.get(files_url, headers={"accept-encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_folders_created_renamed_and_removed_by_other_programs(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    write(dataset_dir, "a.png")
    write(dataset_dir, "one/b.png")
    assert [e["path"] for e in listing(client, files_url)["files"]] == ["", "one"]
    write(dataset_dir, "one/two/three/c.png")
    write(dataset_dir, "one/two/three/c.txt", "deep")
    found = listing(client, files_url)["files"]
    assert [(e["path"], e["caption"]) for e in found] == [
        ("", ""),
        ("one", ""),
        ("one/two/three", "deep"),
    ]
    (dataset_dir / "one").rename(dataset_dir / "uno")
    write(dataset_dir, "uno/two/three/c.txt", "renamed")
    found = listing(client, files_url)["files"]
    assert [(e["path"], e["caption"]) for e in found] == [
        ("", ""),
        ("uno", ""),
        ("uno/two/three", "renamed"),
    ]
    # Still watched under its new name.
    write(dataset_dir, "uno/two/three/d.png")
    assert listing(client, files_url)["total"] == 4
    for path in sorted((dataset_dir / "uno").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (dataset_dir / "uno").rmdir()
    assert [e["base"] for e in listing(client, files_url)["files"]] == ["a"]


def test_a_caption_rewritten_at_once_with_the_same_size(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    write(dataset_dir, "a.png")
    caption = write(dataset_dir, "a.txt", "first")
    for text in ("secnd", "third", "forth"):
        assert listing(client, files_url)["files"][0]["caption"] != text
        caption.write_text(text)  # same size, within the clock's granularity
        assert listing(client, files_url)["files"][0]["caption"] == text


def _catalog_with_watch(root: Path) -> tuple[catalogs.Catalog, watch.FolderWatch]:
    folder_watch = watch.FolderWatch.open()
    if folder_watch is None:
        pytest.skip("inotify is not available here")
    return catalogs.Catalog(root.resolve(), folder_watch), folder_watch


def _bases(found: catalogs.Catalog) -> list[str]:
    import json

    body = found.listing(catalogs.Query()).read()
    return [e["base"] for e in json.loads(body)["files"]]


def test_a_queue_overflow_falls_back_to_a_full_check(freshness: str, tmp_path: Path) -> None:
    if freshness == "disk":
        pytest.skip("about inotify")
    write(tmp_path, "a.png")
    found, folder_watch = _catalog_with_watch(tmp_path)
    try:
        assert _bases(found) == ["a"]
        assert found._watching
        write(tmp_path, "b.png")
        image = write(tmp_path, "a.png", b"longer")
        _age(tmp_path)
        _age(image)
        found._events.clear()  # as if the kernel had dropped them...
        folder_watch.drain()
        found._events.clear()
        found._queue_event(None, "", True)  # ...and said so
        assert _bases(found) == ["a", "b"]
        assert b'"size_bytes":6' in found.listing(catalogs.Query()).read()
    finally:
        found.close()
        folder_watch.close()


def test_no_watch_left_falls_back_to_checking_the_disk(
    freshness: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if freshness == "disk":
        pytest.skip("about inotify")
    write(tmp_path, "a.png")
    write(tmp_path, "sub/b.png")
    found, folder_watch = _catalog_with_watch(tmp_path)

    def limit_reached(*args: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(folder_watch, "add", limit_reached)
    try:
        assert _bases(found) == ["a", "b"]
        assert not found._watching
        write(tmp_path, "sub/c.png")
        assert _bases(found) == ["a", "b", "c"]
    finally:
        found.close()
        folder_watch.close()


def test_network_file_systems_are_not_watched(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert watch.watchable(tmp_path) == (watch.fs_type(tmp_path) not in watch.REMOTE_FS)
    for kind in ("nfs4", "cifs", "fuse.sshfs"):
        monkeypatch.setattr(watch, "fs_type", lambda path, kind=kind: kind)
        assert not watch.watchable(tmp_path)
    monkeypatch.setattr(watch, "fs_type", lambda path: "ext4")
    assert watch.watchable(tmp_path) == sys.platform.startswith("linux")


def test_streamed_full_listing_is_the_whole_document_byte_for_byte(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    # More entries than one streamed chunk; text that JSON must escape; role pairs.
    count = catalogs.CHUNK_ENTRIES * 2 + 37
    for i in range(count):
        write(dataset_dir, f"img{i:04d}.png", b"p" * (i % 7))
        if i % 3:
            write(dataset_dir, f"img{i:04d}.txt", f'caption "{i}"\n\tünïcode ✓ \\ {i}')
    write(dataset_dir, "edit_input.png")
    write(dataset_dir, "edit_target.png")
    for path in (*dataset_dir.iterdir(), dataset_dir):
        _age(path)  # not 'racy': checking the disk trusts them, so the body is kept
    for group, key in ((False, "files"), (True, "pairs")):
        params = {"group": "true"} if group else {}
        plain = client.get(files_url, params=params, headers={"accept-encoding": "identity"})
        cached = client.get(files_url, params=params, headers={"accept-encoding": "identity"})
        packed = client.get(files_url, params=params, headers={"accept-encoding": "gzip"})
        assert plain.content == cached.content == packed.content  # rendered, kept, gzipped
        assert cached.headers["content-length"] == str(len(plain.content))
        pages = [
            listing(client, files_url, limit=500, offset=offset, **params)
            for offset in range(0, count + 1, 500)
        ]
        entries = [entry for page in pages for entry in page[key]]
        whole = {key: entries, "total": count + 1}
        # What one json.dumps of the whole listing writes, as the listing was built before.
        assert (
            plain.content == json.dumps(whole, ensure_ascii=False, separators=(",", ":")).encode()
        )


def test_pages_hold_still_while_unrelated_files_change(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    stable = [f"a{i:03d}" for i in range(300)]
    for base in stable:
        write(dataset_dir, f"{base}.png")
        write(dataset_dir, f"{base}.txt", f"caption of {base}")
    stop = threading.Event()

    def churn() -> None:
        # Files that sort after every stable one come and go; stable captions are rewritten.
        i = 0
        while not stop.is_set():
            extra = write(dataset_dir, f"z/b{i % 50:03d}.png", b"x" * (i % 5))
            write(dataset_dir, f"{stable[i % 300]}.txt", f"caption of {stable[i % 300]}")
            if i % 2:
                extra.unlink()
            i += 1

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for _ in range(3):
            seen: list[str] = []
            for offset in range(0, 300, 40):
                page = listing(client, files_url, limit=40, offset=offset)
                seen.extend(e["base"] for e in page["files"] if e["path"] == "")
                assert page["total"] >= 300
            assert seen == stable  # no entry skipped or repeated while others changed
    finally:
        stop.set()
        worker.join()
    final = listing(client, files_url)
    assert [e["base"] for e in final["files"][:300]] == stable
    assert all(e["caption"] == f"caption of {e['base']}" for e in final["files"][:300])


def test_filtered_pages_hold_still_while_other_folders_change(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    # Filters are kept per folder: pages of a folder, a search and missing=caption walk
    # through the same entries while other folders' files come, go and change.
    stable = [f"a{i:03d}" for i in range(240)]
    for i, base in enumerate(stable):
        write(dataset_dir, f"keep/{base}.png")
        if i % 3:
            write(dataset_dir, f"keep/{base}.txt", f"kept caption {base}")
    stop = threading.Event()

    def churn() -> None:
        i = 0
        while not stop.is_set():
            extra = write(dataset_dir, f"z/b{i % 40:03d}.png", b"x" * (i % 5))
            write(dataset_dir, f"z/b{i % 40:03d}.txt", f"kept caption? no, churn {i}")
            write(dataset_dir, f"other/c{i % 7}.txt", f"churn {i}")
            if i % 2:
                extra.unlink()
            i += 1

    captioned = [base for i, base in enumerate(stable) if i % 3]
    uncaptioned = [base for i, base in enumerate(stable) if not i % 3]
    queries = (
        ({"folder": "keep"}, stable),
        ({"q": "kept caption a"}, captioned),
        ({"missing": "caption", "folder": "keep"}, uncaptioned),
    )
    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for _ in range(2):
            for params, expected in queries:
                seen: list[str] = []
                for offset in range(0, len(expected), 30):
                    page = listing(client, files_url, limit=30, offset=offset, **params)
                    seen.extend(e["base"] for e in page["files"])
                    assert page["total"] == len(expected), params
                assert seen == expected, params
    finally:
        stop.set()
        worker.join()


def test_pages_and_filters_see_external_edits(
    client: TestClient, files_url: str, dataset_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Checking the disk sees a file rewritten in place by its sweep (inotify: by its event).
    monkeypatch.setattr(catalogs, "SWEEP_SECONDS", 0.0)
    for i in range(10):
        write(dataset_dir, f"img{i}.png")
    assert listing(client, files_url, missing="caption", limit=3)["total"] == 10
    assert listing(client, files_url, q="sunset")["total"] == 0
    caption = write(dataset_dir, "img4.txt", "a sunset")
    assert listing(client, files_url, missing="caption", limit=3)["total"] == 9
    assert [e["base"] for e in listing(client, files_url, q="sunset")["files"]] == ["img4"]
    caption.write_text("a sunrise")
    assert listing(client, files_url, q="sunset")["total"] == 0
    page = listing(client, files_url, limit=1, offset=4)
    assert (page["files"][0]["base"], page["files"][0]["caption"]) == ("img4", "a sunrise")
    write(dataset_dir, "img0.png", b"bigger")  # rewritten in place
    page = listing(client, files_url, limit=1)
    assert page["files"][0]["files"][0]["size_bytes"] == 6
    (dataset_dir / "img9.png").unlink()
    assert listing(client, files_url, limit=2, offset=8)["total"] == 9


QUERIES = [
    catalogs.Query(),
    catalogs.Query(group=True),
    catalogs.Query(limit=3),
    catalogs.Query(q="step 1"),
    catalogs.Query(q="x", limit=4),
    catalogs.Query(q="sub"),
    catalogs.Query(q="c.png", group=True),
    catalogs.Query(q="b/m"),
    catalogs.Query(missing_caption=True),
    catalogs.Query(media_only=True, limit=5),
    catalogs.Query(folder="sub"),
    catalogs.Query(folder="control"),
    catalogs.Query(folder="sub", missing_caption=True),
    catalogs.Query(folder="sub", q="step"),
]


def test_entries_patched_per_folder_match_a_fresh_catalog(freshness: str, tmp_path: Path) -> None:
    """Random adds, deletes and edits (role folders, sidecars, pairs): after each, the
    listing patched in place equals the listing of a catalog that never saw the dataset."""
    rng = random.Random(18)
    root = tmp_path / "ds"
    names = [
        "a.png", "a.txt", "b_input.png", "b_target.png", "b.txt", "b_input.txt",
        "control/c.png", "control/c.txt", "target/c.png", "c.txt", "sub/d.wav", "sub/d.txt",
        "sub/mask/e.png", "sub/e.png", "sub/e.txt", "notes.md", "control/input/f.png",
    ]  # fmt: skip
    for name in names[::2]:
        write(root, name, f"start {name}")
    folder_watch = watch.FolderWatch.open() if freshness == "inotify" else None
    found = catalogs.Catalog(root.resolve(), folder_watch)
    try:
        for step in range(60):
            name = rng.choice(names)
            path = root / name
            if path.exists() and rng.random() < 0.4:
                path.unlink()
            else:
                write(root, name, "x" * rng.randint(0, 9) + f" step {step}")
            if folder_watch is None:
                found.note_write(name)  # the server's own writes patch it in place too
            fresh = catalogs.Catalog(root.resolve())
            for query in QUERIES:
                # Filters are kept per folder and patched: each equals a catalog's first answer.
                assert found.listing(query).read() == fresh.listing(query).read(), (step, query)
    finally:
        found.close()
        if folder_watch is not None:
            folder_watch.close()


def test_a_folder_swapped_for_a_symlink_after_the_scan_shows_nothing_from_outside(
    tmp_path: Path,
) -> None:
    root = tmp_path / "ds"
    write(root, "sub/a.png")
    write(root, "sub/a.txt", "inside")
    write(tmp_path, "outside/a.png")
    write(tmp_path, "outside/a.txt", "SECRET")
    found = catalogs.Catalog(root.resolve())
    try:
        assert found.listing(catalogs.Query(limit=0)).read().endswith(b'"total":1}')
        (entry,) = found._all_entries()  # scanned; its caption not read yet
        (root / "sub").rename(root / "moved")
        (root / "sub").symlink_to(tmp_path / "outside")
        # Read through the dataset's descriptor: refused, not the file outside.
        with catalogs._CaptionReader(found) as reader:
            assert reader.caption(entry) == ("", False)
    finally:
        found.close()


def test_a_caption_that_is_a_symlink_inside_is_read(
    client: TestClient, files_url: str, dataset_dir: Path
) -> None:
    write(dataset_dir, "a.png")
    write(dataset_dir, "shared/caption.txt", "shared words")
    (dataset_dir / "a.txt").symlink_to(dataset_dir / "shared" / "caption.txt")
    entry = listing(client, files_url, limit=1)["files"][0]
    assert (entry["base"], entry["caption"]) == ("a", "shared words")


def test_a_folder_gone_before_its_watch_keeps_the_others_watched(
    freshness: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if freshness == "disk":
        pytest.skip("about inotify")
    write(tmp_path, "a.png")
    write(tmp_path, "sub/b.png")
    found, folder_watch = _catalog_with_watch(tmp_path)
    add = folder_watch.add

    def vanishing(path: str, folder: str, sink: watch.Sink) -> int:
        if folder == "sub":
            raise FileNotFoundError(2, "No such file or directory")
        return add(path, folder, sink)

    monkeypatch.setattr(folder_watch, "add", vanishing)
    try:
        assert _bases(found) == ["a", "b"]
        assert found._watching  # one folder that went away does not turn inotify off
        write(tmp_path, "c.png")
        assert _bases(found) == ["a", "c", "b"]
    finally:
        found.close()
        folder_watch.close()
