"""`datasety upload` end to end: the real CLI and the real huggingface_hub client against a
fake Hub on loopback, asserting what was sent (files, card, loader config) and what was not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.hub.conftest import TOKEN, USER, RunUpload
from tests.hub.fakehub import FakeHub
from tests.hub.makers import (
    KOHYA_METADATA,
    captioned_pairs_dataset,
    ljspeech_dataset,
    safetensors,
)

HUB_PATHS = ("/api/", "/lfs", "/datasets/", "/alice/")


def front_matter(card: str) -> dict[str, Any]:
    assert card.startswith("---\n")
    meta = yaml.safe_load(card.split("---\n")[1])
    assert isinstance(meta, dict)
    return meta


def sent(hub: FakeHub) -> list[str]:
    """The upload's requests (huggingface_hub's own agent-registry probe left out)."""
    return [r.path for r in hub.requests if not r.path.startswith("/api/agent-harnesses")]


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_captioned_dataset_with_pairs_goes_up_with_its_card(
    hub: FakeHub, run_upload: RunUpload, tmp_path: Path
) -> None:
    folder = captioned_pairs_dataset(tmp_path / "My Edits")
    before = sorted(p.name for p in folder.rglob("*"))

    result = run_upload("--path", str(folder), "--yes")

    assert_ok(result)
    repo = hub.repo(f"{USER}/my-edits")
    assert repo.repo_type == "dataset" and not repo.private
    assert sorted(repo.files) == [
        ".gitattributes",
        "README.md",
        "cat.png",
        "cat.txt",
        "control/edit_1.png",
        "control/edit_2.png",
        "dog.png",
        "dog.txt",
        "edit_1.txt",
        "edit_2.txt",
        "metadata.jsonl",
        "target/edit_1.png",
        "target/edit_2.png",
    ]
    # Hidden files, the server's temporary file and the credential file stayed home.
    assert "Left out: token (looks like a credential file)" in result.stdout
    assert repo.files["cat.png"] == (folder / "cat.png").read_bytes()
    assert "cat.png" in repo.lfs_paths and "cat.txt" not in repo.lfs_paths
    # The folder is untouched: the card and metadata.jsonl exist only on the Hub.
    assert sorted(p.name for p in folder.rglob("*")) == before

    rows = [json.loads(line) for line in repo.files["metadata.jsonl"].decode().splitlines()]
    assert rows == [
        {"file_name": "cat.png", "input_file_name": None, "target_file_name": None,
         "text": "a cat on a sofa"},
        {"file_name": None, "input_file_name": "control/edit_1.png",
         "target_file_name": "target/edit_1.png", "text": "make it red 1"},
        {"file_name": None, "input_file_name": "control/edit_2.png",
         "target_file_name": "target/edit_2.png", "text": "make it red 2"},
        {"file_name": "dog.png", "input_file_name": None, "target_file_name": None,
         "text": "a dog | in the rain"},
    ]  # fmt: skip

    card = repo.files["README.md"].decode()
    meta = front_matter(card)
    assert meta["configs"] == [
        {
            "config_name": "default",
            "data_files": [{"split": "train", "path": ["**/*.png", "metadata.jsonl"]}],
        }
    ]
    assert meta["license"] == "unknown"
    assert meta["size_categories"] == ["n<1K"]
    assert meta["task_categories"] == ["image-to-image"]
    assert {"datasety", "image", "image-editing", "captions"} <= set(meta["tags"])
    assert "| control/target pairs | 2 |" in card
    assert "| images | 6 |" in card
    assert f'load_dataset("{USER}/my-edits", split="train")' in card
    assert "a dog \\| in the rain" in card  # a sample row, its pipe escaped for the table

    # One commit with everything, the card last; the token only ever in headers.
    assert [c["summary"] for c in repo.commits[1:]] == ["Upload dataset with datasety"]
    assert repo.commits[1]["files"][-1] == "README.md"
    assert all(TOKEN.encode() not in r.body for r in hub.requests)
    assert all(
        r.authorized for r in hub.requests if r.path in sent(hub) and r.path.startswith("/api/")
    )
    assert result.stdout.splitlines()[-1] == "Done: 12 processed, 0 skipped, 0 failed"


def test_the_loader_config_loads_with_datasets_from_a_copy_of_the_repo(
    hub: FakeHub, run_upload: RunUpload, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    assert_ok(run_upload("--path", str(captioned_pairs_dataset(tmp_path / "edits")), "-y"))
    copy = tmp_path / "copy"
    for name, data in hub.repo(f"{USER}/edits").files.items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes(data)

    loaded = datasets.load_dataset(str(copy), split="train", cache_dir=str(tmp_path / "cache"))

    assert loaded.column_names == ["image", "input", "target", "text"]
    assert loaded.num_rows == 4
    pair = loaded[1]
    assert pair["image"] is None and pair["text"] == "make it red 1"
    assert pair["input"].size == (8, 8) and pair["target"].size == (8, 8)
    assert loaded[0]["image"].size == (8, 8) and loaded[0]["text"] == "a cat on a sofa"


def test_an_ljspeech_voice_dataset_loads_as_audiofolder_with_its_transcripts(
    hub: FakeHub, run_upload: RunUpload, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = ljspeech_dataset(tmp_path / "voice")

    result = run_upload("--path", str(folder), "--repo-id", f"{USER}/voice-v1", "-y")

    assert_ok(result)
    repo = hub.repo(f"{USER}/voice-v1")
    rows = [json.loads(line) for line in repo.files["metadata.jsonl"].decode().splitlines()]
    assert rows[1] == {"file_name": "wavs/utt_2.wav", "text": 'It costs "5" dollars.'}
    card = repo.files["README.md"].decode()
    meta = front_matter(card)
    assert meta["task_categories"] == ["text-to-speech"]
    assert meta["configs"][0]["data_files"][0]["path"] == ["**/*.wav", "metadata.jsonl"]
    assert "| audio files | 3 |" in card
    assert "| hours of audio | 0.00 |" in card  # 6 seconds
    assert "metadata.csv" in repo.files  # Piper's own format stays for voice trainers

    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    copy = tmp_path / "copy"
    for name, data in repo.files.items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes(data)
    # Building the rows would need torchcodec (datasets encodes every audio example with it),
    # so this checks what the card decides: the audiofolder builder over those files.
    builder = datasets.load_dataset_builder(str(copy), cache_dir=str(tmp_path / "cache"))
    assert builder.name == "audiofolder"
    train = sorted(Path(f).relative_to(copy).as_posix() for f in builder.config.data_files["train"])
    assert train == ["metadata.jsonl", "wavs/utt_1.wav", "wavs/utt_2.wav", "wavs/utt_3.wav"]


def test_a_lora_goes_to_a_model_repo_with_its_training_metadata(
    hub: FakeHub, run_upload: RunUpload, tmp_path: Path
) -> None:
    weights = safetensors(tmp_path / "ohwx_cat.safetensors", KOHYA_METADATA)

    result = run_upload("-p", str(weights), "-y", "--private")

    assert_ok(result)
    repo = hub.repo(f"{USER}/ohwx-cat", "model")
    assert repo.private
    assert sorted(repo.files) == [".gitattributes", "README.md", "ohwx_cat.safetensors"]
    assert "ohwx_cat.safetensors" in repo.lfs_paths
    card = repo.files["README.md"].decode()
    meta = front_matter(card)
    assert meta["base_model"] == "stabilityai/stable-diffusion-xl-base-1.0"
    assert meta["instance_prompt"] == "ohwx cat"
    assert meta["pipeline_tag"] == "text-to-image"
    assert "lora" in meta["tags"] and "configs" not in meta
    assert "- Trigger words: `ohwx cat`" in card
    assert "| rank | 16 |" in card and "| steps | 1500 |" in card
    assert 'weight_name="ohwx_cat.safetensors"' in card
    assert repo.commits[-1]["summary"] == "Upload model with datasety"


def test_dry_run_prints_the_plan_and_the_card_and_sends_nothing(
    hub: FakeHub, run_upload: RunUpload, tmp_path: Path
) -> None:
    folder = captioned_pairs_dataset(tmp_path / "edits")

    result = run_upload("--path", str(folder), "--dry-run")

    assert_ok(result)
    assert hub.requests == []
    out = result.stdout
    assert "Repository: <the token's user>/edits (dataset, type image)" in out
    assert "Files: 12 (" in out
    assert "  metadata.jsonl  " in out and "(generated)" in out
    assert "configs:" in out and "# edits" in out
    assert out.splitlines()[-1] == "Dry run: nothing was sent."


def test_a_second_run_skips_what_is_on_the_hub_and_sends_only_changes(
    hub: FakeHub, run_upload: RunUpload, tmp_path: Path
) -> None:
    folder = captioned_pairs_dataset(tmp_path / "edits")
    assert_ok(run_upload("--path", str(folder), "-y"))
    repo = hub.repo(f"{USER}/edits")
    commits = len(repo.commits)

    again = run_upload("--path", str(folder), "-y")
    assert_ok(again)
    assert len(repo.commits) == commits  # nothing new: no commit at all
    assert again.stdout.splitlines()[-1] == "Done: 0 processed, 12 skipped, 0 failed"

    (folder / "cat.txt").write_text("a black cat on a sofa", encoding="utf-8")
    changed = run_upload("--path", str(folder), "-y", "--verbose")
    assert_ok(changed)
    # The caption, and the metadata.jsonl and card that quote it.
    assert repo.commits[-1]["files"] == ["cat.txt", "metadata.jsonl", "README.md"]
    assert "a black cat on a sofa" in repo.files["metadata.jsonl"].decode()


def test_a_folder_readme_is_kept_unless_force_and_metadata_and_template_apply(
    hub: FakeHub, run_upload: RunUpload, tmp_path: Path
) -> None:
    folder = ljspeech_dataset(tmp_path / "voice")
    (folder / "README.md").write_text("# my own card\n", encoding="utf-8")
    kept = run_upload("-p", str(folder), "-y")
    assert_ok(kept)
    assert hub.repo(f"{USER}/voice").files["README.md"] == b"# my own card\n"
    assert "Note: keeping the folder's README.md" in kept.stdout

    template = tmp_path / "card.md"
    template.write_text(
        "---\ntags: [speech]\n---\n# {{ name }}\n\nRecorded in a quiet room.\n\n{{contents}}\n",
        encoding="utf-8",
    )
    forced = run_upload(
        "-p", str(folder), "-y", "--force", "--readme-template", str(template),
        "--metadata", "{license: cc-by-4.0, language: [en]}",
    )  # fmt: skip
    assert_ok(forced)
    card = hub.repo(f"{USER}/voice").files["README.md"].decode()
    meta = front_matter(card)
    assert meta["license"] == "cc-by-4.0" and meta["language"] == ["en"]
    assert meta["tags"] == ["speech"]  # the template's front matter replaces the key
    assert "configs" in meta
    assert "# voice\n\nRecorded in a quiet room." in card
    assert "| audio files | 3 |" in card
    assert (folder / "README.md").read_text(encoding="utf-8") == "# my own card\n"


def test_a_text_file_holding_a_token_stops_the_upload_before_any_data_is_sent(
    hub: FakeHub, run_upload: RunUpload, tmp_path: Path
) -> None:
    folder = captioned_pairs_dataset(tmp_path / "edits")
    (folder / "notes.txt").write_text(f"login with {TOKEN}\n", encoding="utf-8")

    result = run_upload("-p", str(folder), "-y")

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: notes.txt contains an access token: remove it before uploading (nothing was sent)"
    )
    assert not any("/commit/" in path or path.startswith("/lfs") for path in sent(hub))
    assert hub.repos == {}


@pytest.mark.parametrize(
    ("token", "args", "message"),
    [
        (
            None,
            [],
            "Error: no Hugging Face token: pass --token, set HF_TOKEN or run `hf auth login`",
        ),
        ("hf_wrong", [], "Error: Hugging Face Hub: Invalid user token."),
        (None, ["--token", "hf_wrong", "--repo-id", "bob/x"], "Error: Hugging Face Hub: "),
        (None, ["--repo-id", "a/b/c", "--token", TOKEN], "Error: --repo-id 'a/b/c' is not"),
        (None, ["--repo-id", "a b"], "Error: --repo-id 'a b' is not"),
        (TOKEN, ["--metadata", "[1, 2]"], "Error: --metadata must be a YAML mapping"),
        (TOKEN, ["--readme-template", "nowhere.md"], "Error: 'nowhere.md' does not exist"),
    ],
    ids=[
        "no-token",
        "bad-token",
        "bad-token-flag",
        "bad-repo-id",
        "bad-name-no-token",
        "bad-metadata",
        "no-template",
    ],
)
def test_mistakes_are_one_line_errors(
    hub: FakeHub,
    run_upload: RunUpload,
    tmp_path: Path,
    token: str | None,
    args: list[str],
    message: str,
) -> None:
    folder = ljspeech_dataset(tmp_path / "voice")

    result = run_upload("-p", str(folder), "-y", *args, token=token)

    assert result.returncode == 1, result.stdout
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(message), result.stderr
    assert "401" in result.stderr or "token" in result.stderr or "Hub" not in message
    assert not any("/commit/" in path for path in sent(hub))


def test_without_yes_and_without_a_terminal_it_asks_for_yes(
    hub: FakeHub, run_upload: RunUpload, tmp_path: Path
) -> None:
    result = run_upload("-p", str(ljspeech_dataset(tmp_path / "voice")))
    assert result.returncode == 1
    assert result.stderr == "Error: no terminal to ask for confirmation: pass --yes to upload\n"
    assert hub.repos == {}


def test_without_the_upload_extra_it_names_the_extra(tmp_path: Path) -> None:
    # A None entry in sys.modules makes `import huggingface_hub` fail as if it were absent.
    code = (
        "import sys; sys.modules['huggingface_hub'] = None\n"
        "from datasety.cli import main\n"
        f"main(['upload', '-p', {str(ljspeech_dataset(tmp_path / 'v'))!r}, '-y'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr == (
        "Error: upload needs huggingface_hub, which is not installed: "
        "pip install 'datasety[upload]'\n"
    )


def test_a_large_folder_goes_in_batches_and_an_interrupted_upload_resumes(
    hub: FakeHub, hub_env: dict[str, str], tmp_path: Path
) -> None:
    folder = captioned_pairs_dataset(tmp_path / "edits")  # 10 files + metadata.jsonl + card
    code = (
        "import datasety.hub.publish as publish; publish.BATCH_FILES = 3\n"
        "from datasety.cli import main\n"
        f"main(['upload', '-p', {str(folder)!r}, '-y'])\n"
    )

    def upload() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", code],
            env={**hub_env, "HF_TOKEN": TOKEN},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    hub.commits_allowed = 2
    interrupted = upload()
    assert interrupted.returncode == 1
    assert interrupted.stderr.startswith("Error: Hugging Face Hub: ")
    repo = hub.repo(f"{USER}/edits")
    assert [c["summary"] for c in repo.commits[1:]] == [
        "Upload dataset with datasety (1/4)",
        "Upload dataset with datasety (2/4)",
    ]
    assert "README.md" not in repo.files  # no card before the data is complete
    # Each file is reported as its batch is committed.
    uploaded = [line for line in interrupted.stdout.splitlines() if " uploaded " in line]
    assert uploaded[-1] == "[6/12] uploaded dog.txt" and len(uploaded) == 6

    hub.commits_allowed = None
    resumed = upload()
    assert resumed.returncode == 0, resumed.stderr
    assert [c["summary"] for c in repo.commits[3:]] == [
        "Upload dataset with datasety (1/2)",
        "Upload dataset with datasety (2/2)",
    ]
    assert resumed.stdout.splitlines()[-1] == "Done: 6 processed, 6 skipped, 0 failed"
    assert repo.commits[-1]["files"][-1] == "README.md"
    assert len(repo.files) == 13


def test_private_on_an_existing_public_repo_says_it_stays_public(
    hub: FakeHub, run_upload: RunUpload, tmp_path: Path
) -> None:
    folder = ljspeech_dataset(tmp_path / "voice")
    assert_ok(run_upload("-p", str(folder), "-y"))

    again = run_upload("-p", str(folder), "-y", "--private")

    assert_ok(again)
    assert not hub.repo(f"{USER}/voice").private
    assert f"{USER}/voice already exists and is public: --private does not change" in again.stdout


def test_a_token_file_named_as_the_path_is_not_uploaded(
    hub: FakeHub, run_upload: RunUpload, tmp_path: Path
) -> None:
    token_file = tmp_path / "hf" / "token"
    token_file.parent.mkdir()
    token_file.write_text("hf_x", encoding="utf-8")

    result = run_upload("-p", str(token_file), "-y", "--repo-id", f"{USER}/x")

    assert result.returncode == 1
    assert result.stderr.endswith("(looks like a credential file)\n"), result.stderr
    assert hub.repos == {}


def test_a_missing_path_is_named_before_the_token_or_the_hub(
    hub: FakeHub, run_upload: RunUpload, tmp_path: Path
) -> None:
    result = run_upload("-p", str(tmp_path / "nowhere"), "-y", token=None)
    assert result.returncode == 1
    assert result.stderr == f"Error: --path {str(tmp_path / 'nowhere')!r} does not exist\n"
    assert sent(hub) == []
