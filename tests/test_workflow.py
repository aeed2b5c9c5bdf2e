"""`datasety workflow`: validation before anything runs, steps as processes, stop at failure."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from datasety.workflow.steps import STACK_ENV
from tests.clirun import run_datasety, run_main


def run_workflow(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_datasety("workflow", *args, cwd=cwd, timeout=120)


def run_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run_main(capsys, "workflow", *args)


def dataset(folder: Path, names: tuple[str, ...] = ("a.png", "b.png")) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        Image.new("RGB", (32 + 8 * index, 24), (40 * index, 90, 200)).save(folder / name)
    return folder


def write_yaml(path: Path, steps: Any) -> Path:
    path.write_text(yaml.safe_dump(steps), encoding="utf-8")
    return path


SHUFFLE = {"command": "shuffle", "args": {"input": "data", "output": "captions", "group": "a|b"}}


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    dataset(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(STACK_ENV, raising=False)
    return tmp_path


# -- validation: errors name the step, nothing runs ----------------------------------------------


@pytest.mark.parametrize(
    ("bad_step", "message"),
    [
        ({"command": "resise", "args": {}}, "Step 2 (resise): Unknown command: resise"),
        (
            {"command": "inspect", "args": {"input": "data", "foo": 1}},
            "Step 2 (inspect): Unknown parameter 'foo' for inspect; allowed: directory, input,",
        ),
        (
            {"command": "inspect", "args": {"near-threshold": "close"}},
            "Step 2 (inspect): Parameter 'near_threshold' of inspect expects an integer >= 0 "
            "and <= 64, got 'close'",
        ),
        (
            {"command": "inspect", "args": {"limit": 0}},
            "Step 2 (inspect): Parameter 'limit' of inspect expects an integer >= 1, got '0'",
        ),
        (
            {"command": "inspect", "args": {"json": "yes"}},
            "Step 2 (inspect): Parameter 'json' of inspect is a flag: expects true or false",
        ),
        (
            {"command": "shuffle", "args": {"input": "data"}},
            "Step 2 (shuffle): Missing required parameter 'output' for shuffle",
        ),
        ({"command": "server", "args": {}}, "Step 2 (server): Command 'server' cannot run"),
        ({"args": {"input": "data"}}, "Step 2: missing 'command'"),
        ({"command": "inspect", "arg": {}}, "Step 2 (inspect): unknown key 'arg'"),
        ("inspect data", "Step 2: must be an object with 'command' and 'args'"),
    ],
)
def test_a_bad_step_is_named_and_nothing_runs(
    project: Path, capsys: pytest.CaptureFixture[str], bad_step: Any, message: str
) -> None:
    write_yaml(project / "datasety.yaml", {"steps": [SHUFFLE, bad_step]})
    code, out, err = run_in_process(capsys)
    assert code == 1
    assert err.startswith("Error: " + message), err
    assert len(err.strip().splitlines()) == 1
    assert out == ""
    assert not (project / "captions").exists()  # step 1 is valid but did not run


def test_two_steps_really_run_in_order(project: Path) -> None:
    write_yaml(
        project / "datasety.yaml",
        {
            "steps": [
                {**SHUFFLE, "args": {**SHUFFLE["args"], "seed": 7}},
                {
                    "name": "check",
                    "command": "inspect",
                    "args": {"input": "captions", "json": True},
                },
            ]
        },
    )
    result = run_workflow(project)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    first = out.index("==> Step 1/2 datasety shuffle --input data --output captions --group 'a|b'")
    second = out.index("==> Step 2/2 check: datasety inspect --input captions --json")
    assert first < second
    # Step 1 wrote a caption per image (relative paths: the current folder); step 2 saw them.
    captions = sorted(p.name for p in (project / "captions").iterdir())
    assert captions == ["a.txt", "b.txt"]
    assert all((project / "captions" / n).read_text() in {"a", "b"} for n in captions)
    report = json.loads(out[out.index("{", second) : out.rindex("}") + 1])
    assert report["counts"]["caption"] == 2
    assert "Workflow done: 2 steps succeeded" in out


def test_stops_at_the_first_failing_step(project: Path) -> None:
    steps = [
        {"command": "inspect", "args": {"input": "data"}},
        {"command": "inspect", "args": {"input": "missing"}},
        SHUFFLE,
    ]
    (project / "flow.json").write_text(json.dumps({"steps": steps}))
    result = run_workflow(project, "--file", "flow.json")
    assert result.returncode == 1
    assert "==> Step 2/3" in result.stdout
    assert "==> Step 3/3" not in result.stdout
    assert not (project / "captions").exists()
    lines = result.stderr.strip().splitlines()
    assert lines[-2].startswith("Error: DIRECTORY (or --input) 'missing' does not exist")
    assert lines[-1] == "Error: step 2 (inspect) failed with exit code 1"


def resize_step(**extra: Any) -> dict[str, Any]:
    args = {"input": "data", "output": "small", "resolution": "16x16"}
    return {"command": "resize", "args": args, **extra}


def test_a_step_whose_files_partly_failed_stops_the_workflow(project: Path) -> None:
    (project / "data" / "c.png").write_bytes(b"not a png")
    write_yaml(project / "datasety.yaml", {"steps": [resize_step(), SHUFFLE]})
    result = run_workflow(project)
    assert result.returncode == 1
    assert sorted(p.name for p in (project / "small").iterdir()) == ["a.jpg", "b.jpg"]
    assert "==> Step 2/2" not in result.stdout
    assert not (project / "captions").exists()
    lines = result.stderr.strip().splitlines()
    assert lines[-2:] == [
        "Error: 1 of 3 files failed",
        "Error: step 1 (resize) failed with exit code 3",
    ]


def test_continue_on_error_runs_the_next_steps_and_still_exits_3(project: Path) -> None:
    (project / "data" / "c.png").write_bytes(b"not a png")
    steps = [resize_step(continue_on_error=True), SHUFFLE]
    write_yaml(project / "datasety.yaml", {"steps": steps})
    result = run_workflow(project)
    assert result.returncode == 3, result.stderr
    assert "==> Step 1 (resize) failed with exit code 3; continue_on_error" in result.stdout
    assert "==> Step 2/2" in result.stdout
    assert sorted(p.name for p in (project / "captions").iterdir()) == ["a.txt", "b.txt", "c.txt"]
    assert "Workflow done: 2 steps ran, 1 failed" in result.stdout
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: 1 of 2 steps failed: step 1 (resize, exit code 3)"
    )


def test_continue_on_error_must_be_a_boolean(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_yaml(project / "datasety.yaml", {"steps": [resize_step(continue_on_error="yes")]})
    code, out, err = run_in_process(capsys)
    assert code == 1 and out == ""
    assert err == "Error: Step 1 (resize): continue_on_error expects true or false\n"


def test_strict_inspect_exit_code_is_reported(project: Path) -> None:
    steps = [{"command": "inspect", "args": {"directory": "data", "strict": True}}]
    write_yaml(project / "datasety.yml", steps)  # a top-level list of steps works too
    result = run_workflow(project)
    assert result.returncode == 1
    assert "Images without captions: 2" in result.stdout
    assert result.stderr.strip() == "Error: step 1 (inspect) failed with exit code 1"


def test_dry_run_validates_and_runs_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_yaml(
        project / "datasety.yaml",
        {
            "steps": [
                SHUFFLE,
                {"command": "inspect", "args": {"input": "--odd name", "no-recursive": True}},
            ]
        },
    )
    code, out, err = run_in_process(capsys, "--dry-run")
    assert code == 0, err
    assert out.splitlines() == [
        "Step 1/2 datasety shuffle --input data --output captions --group 'a|b'",
        "Step 2/2 datasety inspect '--input=--odd name' --no-recursive",
        "Dry run: 2 steps valid; nothing ran",
    ]
    assert not (project / "captions").exists()


def test_dash_and_underscore_spellings_in_yaml_and_json(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    step = {"command": "inspect", "args": {"input": "data", "near_threshold": 3, "no-recursive": 1}}
    (project / "datasety.json").write_text(json.dumps({"steps": [step]}))
    code, _, err = run_in_process(capsys, "--dry-run")
    assert code == 1
    assert "Step 1 (inspect): Parameter 'recursive' of inspect is a flag" in err
    step["args"] = {"input": "data", "near_threshold": 3, "no-recursive": True}
    dashed = {"input": "data", "near-threshold": 3, "no_recursive": True}
    (project / "datasety.json").write_text(json.dumps({"steps": [step]}))
    write_yaml(project / "other.yaml", {"steps": [{"command": "inspect", "args": dashed}]})
    expected = "datasety inspect --input data --no-recursive --near-threshold 3"
    for args in ((), ("-f", "other.yaml")):
        code, out, err = run_in_process(capsys, "--dry-run", *args)
        assert code == 0, err
        assert out.splitlines()[0] == f"Step 1/1 {expected}"


def test_default_file_order_and_missing_file(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_in_process(capsys)
    assert code == 1
    assert err.startswith("Error: No workflow file: none of datasety.yaml, datasety.yml, ")
    code, _, err = run_in_process(capsys, "-f", "nope.yaml")
    assert code == 1 and err.strip() == "Error: Workflow file not found: nope.yaml"
    (project / "datasety.json").write_text(json.dumps({"steps": [{"command": "inspect"}]}))
    write_yaml(project / "datasety.yml", [{"command": "inspect", "args": {"input": "yml"}}])
    write_yaml(project / "datasety.yaml", [{"command": "inspect", "args": {"input": "yaml"}}])
    code, out, _ = run_in_process(capsys, "--dry-run")
    assert "--input yaml" in out
    (project / "datasety.yaml").unlink()
    code, out, _ = run_in_process(capsys, "--dry-run")
    assert "--input yml" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("steps: [", "Cannot parse workflow file"),
        ("steps: []", "has no steps"),
        ("name: nothing", "must hold a 'steps' list"),
        ("", "must hold a 'steps' list"),
    ],
)
def test_malformed_files(
    project: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    (project / "datasety.yaml").write_text(content)
    code, _, err = run_in_process(capsys)
    assert code == 1
    assert err.startswith("Error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_a_workflow_that_runs_itself_is_refused(project: Path) -> None:
    write_yaml(
        project / "datasety.yaml",
        {"steps": [{"command": "workflow", "args": {"file": "inner.yaml"}}]},
    )
    write_yaml(
        project / "inner.yaml",
        {"steps": [{"command": "inspect", "args": {"input": "data"}}, {"command": "workflow"}]},
    )
    result = run_workflow(project)
    assert result.returncode == 1
    # The inner workflow ran its first step, then its second step found the loop.
    assert "Dataset: data" in result.stdout
    outer, inner = project.resolve() / "datasety.yaml", project.resolve() / "inner.yaml"
    assert f"runs itself: {outer} -> {inner} -> {outer}" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: step 1 (workflow) failed with exit code 1"
    )
