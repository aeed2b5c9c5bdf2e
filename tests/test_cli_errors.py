"""Typical mistakes on every command, run as a user runs them: `python -m datasety ...`.

Each must print exactly one ``Error: ...`` line on stderr, no traceback, exit non-zero and
write nothing. Mistakes already covered by a command's own test file (test_resize.py,
test_degrade.py, test_align.py, test_shuffle.py, test_caption_edit.py, test_workflow.py,
test_inspect.py, test_cli.py) are not repeated here. Also here: ``--dry-run`` writes nothing on
any command, every batch command closes with its ``Done:`` line, and the console script and
``python -m datasety`` behave the same.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import yaml
from PIL import Image

from datasety.commands import commands
from tests.clirun import run_datasety

# Root reads and writes through any permission bits. Dropping the two capabilities that allow
# it (from the bounding set, so the exec'd interpreter never gets them) makes chmod bite for
# root too; without setpriv those cases are skipped when the tests run as root.
DROP_ROOT_POWERS = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def _unprivileged_prefix() -> list[str] | None:
    """The argv prefix that makes chmod apply to the command, or None when none exists."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        return None
    probe = subprocess.run([*DROP_ROOT_POWERS, "true"], capture_output=True, check=False)
    return DROP_ROOT_POWERS if probe.returncode == 0 else None


UNPRIVILEGED = _unprivileged_prefix()


def run_cli(
    cwd: Path, *args: str, prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_datasety(*args, cwd=cwd, prefix=prefix)


def snapshot(root: Path) -> dict[str, tuple[str, bytes | None, int]]:
    """Every path under ``root`` with its kind, content (files) and mode: 'wrote nothing'."""
    tree: dict[str, tuple[str, bytes | None, int]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            path = Path(folder, name)
            tree[str(path.relative_to(root))] = ("dir", None, path.lstat().st_mode)
        for name in files:
            path = Path(folder, name)
            try:
                content: bytes | None = path.read_bytes()
            except PermissionError:  # the unreadable fixtures, when not run as root
                content = None
            tree[str(path.relative_to(root))] = ("file", content, path.lstat().st_mode)
    return tree


def small_png(path: Path, size: tuple[int, int] = (40, 30), colour: int = 90) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (colour, 120, 200)).save(path)


@pytest.fixture()
def workspace(tmp_path: Path) -> Iterator[Path]:
    """in/ (two images), afile (a file), ro/ (not writable), locked/ (chmod 000),
    control/ (a partner for in/), a folder and an unreadable file for workflow --file."""
    small_png(tmp_path / "in" / "a.png")
    small_png(tmp_path / "in" / "b.png", colour=10)
    small_png(tmp_path / "control" / "a.png", colour=200)
    (tmp_path / "afile").write_text("not a folder\n", encoding="utf-8")
    small_png(tmp_path / "ro" / "a.png")
    small_png(tmp_path / "locked" / "a.png")
    (tmp_path / "flows").mkdir()
    locked_flow = tmp_path / "locked.yaml"
    locked_flow.write_text("steps: [{command: inspect, args: {input: in}}]\n", encoding="utf-8")
    (tmp_path / "ro").chmod(0o555)
    (tmp_path / "locked").chmod(0)
    locked_flow.chmod(0)
    try:
        yield tmp_path
    finally:
        # Give the bits back, or pytest could not remove the folder when run as a user.
        (tmp_path / "ro").chmod(0o755)
        (tmp_path / "locked").chmod(0o755)
        locked_flow.chmod(0o644)


# A mistake: its id, the command line (split as a shell would), what the error line says, and
# whether it needs permission bits to bite.
Mistake = tuple[str, str, str, bool]


def case(id: str, command_line: str, says: str) -> Mistake:
    return (id, command_line, says, False)


def locked_case(id: str, command_line: str, says: str) -> Mistake:
    """A case that needs chmod to bite: an unreadable input, an unwritable output."""
    return (id, command_line, says, True)


MISTAKES = [
    # The input folder is a file.
    case("resize-input-file", "resize -i afile -o out -r 8x8", "--input 'afile'"),
    case("degrade-input-file", "degrade -i afile -o out", "--input 'afile'"),
    case("align-target-file", "align -t afile -c control", "--target 'afile'"),
    case("shuffle-input-file", "shuffle -i afile -o out -g a", "--input 'afile'"),
    case("caption-input-file", "caption -i afile --dry-run", "--input 'afile'"),
    case("inspect-input-file", "inspect afile", "'afile' does not exist or is not a directory"),
    # The output is missing.
    case("degrade-no-output", "degrade -i in", "--output is required"),
    # The output is an existing file, or a folder below one.
    case(
        "resize-output-file", "resize -i in -o afile -r 8x8", "--output 'afile' is not a directory"
    ),
    case("resize-output-below-file", "resize -i in -o afile/sub -r 8x8", "'afile' is a file"),
    case(
        "resize-output-image-below-file",
        "resize --input-image in/a.png --output-image afile/x.jpg -r 8x8",
        "the folder of --output-image 'afile'",
    ),
    case("degrade-output-file", "degrade -i in -o afile", "--output 'afile' is not a directory"),
    case(
        "degrade-output-image-below-file",
        "degrade --input-image in/a.png --output-image afile/x.png",
        "the folder of --output-image 'afile'",
    ),
    case(
        "shuffle-output-file", "shuffle -i in -o afile -g a", "--output 'afile' is not a directory"
    ),
    case(
        "caption-output-file",
        "caption -i in -o afile --append x",
        "--output 'afile' is not a directory",
    ),
    # Values out of range or malformed.
    case("resize-resolution-zero", "resize -i in -o out -r 0x5", "at least 1x1"),
    case("resize-resolution-huge", "resize -i in -o out -r 99999999999x8", "at most 1000000"),
    case("degrade-input-image-folder", "degrade --input-image in -o out", "is not a file"),
    case(
        "resize-megapixel-zero",
        "resize -i in -o out --megapixel 0",
        "--megapixel': 0.0 is not in the range x>0",
    ),
    case("resize-workers-negative", "resize -i in -o out -r 8x8 --workers -1", "--workers"),
    case(
        "degrade-output-format", "degrade -i in -o out --output-format gif", "'gif' is not one of"
    ),
    case(
        "align-output-format", "align -t in -c control --output-format gif", "'gif' is not one of"
    ),
    case("degrade-intensity-range-text", "degrade -i in -o out --intensity-range abc", "MIN,MAX"),
    case(
        "degrade-intensity-range-above-1",
        "degrade -i in -o out --intensity-range 0.5,2",
        "MAX <= 1",
    ),
    case("degrade-num-variants-zero", "degrade -i in -o out --num-variants 0", "--num-variants"),
    case(
        "shuffle-empty-group", "shuffle -i in -o out -g ''", "--group '': the group has no variants"
    ),
    case("shuffle-seed-text", "shuffle -i in -o out -g a --seed x", "--seed"),
    case("caption-num-beams-zero", "caption -i in --num-beams 0 --dry-run", "--num-beams"),
    case("resize-megapixel-inf", "resize -i in -o out --megapixel inf", "not a finite number"),
    case("degrade-intensity-nan", "degrade -i in -o out --intensity nan", "not a finite number"),
    case("caption-temperature-inf", "caption -i in --temperature inf --dry-run", "not a finite"),
    case("server-port-too-big", "server --port 70000", "--port"),
    # Flags that contradict each other.
    case(
        "resize-aspect-without-megapixel",
        "resize -i in -o out -r 8x8 --aspect-ratio 1:1",
        "only applies with --megapixel",
    ),
    case(
        "degrade-output-image-alone",
        "degrade -i in --output-image x.png",
        "--output-image needs --input-image",
    ),
    case("resize-output-image-alone", "resize --output-image x.jpg -r 8x8", "go together"),
    # Workflow files.
    case("workflow-file-is-folder", "workflow -f flows", "is a directory"),
    case("workflow-step-list", "workflow -f {steps_list}", "Step 1: must be an object"),
    # chmod: an unreadable input, an unwritable output.
    locked_case(
        "resize-input-unreadable", "resize -i locked -o out -r 8x8", "cannot read folder 'locked'"
    ),
    locked_case(
        "degrade-input-unreadable", "degrade -i locked -o out", "cannot read folder 'locked'"
    ),
    locked_case(
        "shuffle-input-unreadable", "shuffle -i locked -o out -g a", "cannot read folder 'locked'"
    ),
    locked_case(
        "caption-input-unreadable", "caption -i locked --dry-run", "cannot read folder 'locked'"
    ),
    locked_case("inspect-input-unreadable", "inspect locked", "cannot read folder 'locked'"),
    locked_case(
        "align-control-unreadable", "align -t in -c locked --dry-run", "cannot read folder 'locked'"
    ),
    locked_case(
        "workflow-file-unreadable",
        "workflow -f locked.yaml",
        "Cannot read workflow file locked.yaml",
    ),
    locked_case(
        "resize-output-unwritable", "resize -i in -o ro -r 8x8", "--output 'ro' is not writable"
    ),
    locked_case(
        "resize-output-below-unwritable",
        "resize -i in -o ro/new -r 8x8",
        "cannot create it in 'ro'",
    ),
    locked_case(
        "degrade-output-unwritable", "degrade -i in -o ro", "--output 'ro' is not writable"
    ),
    locked_case(
        "shuffle-output-unwritable", "shuffle -i in -o ro -g a", "--output 'ro' is not writable"
    ),
    locked_case(
        "caption-output-unwritable",
        "caption -i in -o ro --dry-run",
        "--output 'ro' is not writable",
    ),
    locked_case(
        "align-target-unwritable", "align -t ro -c control", "--target 'ro' is not writable"
    ),
]


@pytest.mark.parametrize(
    ("argv", "says", "chmod"),
    [pytest.param(shlex.split(line), says, chmod, id=id) for id, line, says, chmod in MISTAKES],
)
def test_mistake_is_one_error_line_and_writes_nothing(
    workspace: Path, argv: list[str], says: str, chmod: bool
) -> None:
    prefix: list[str] = []
    if chmod:
        if UNPRIVILEGED is None:
            pytest.skip("running as root without setpriv: chmod does not stop root")
        prefix = UNPRIVILEGED
    steps_list = workspace / "steps.yaml"
    steps_list.write_text(yaml.safe_dump({"steps": [["inspect", "in"]]}), encoding="utf-8")
    argv = [arg.replace("{steps_list}", steps_list.name) for arg in argv]
    before = snapshot(workspace)
    result = run_cli(workspace, *argv, prefix=prefix)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and says in lines[0], lines[0]
    assert result.stdout == ""
    assert snapshot(workspace) == before


# -- --dry-run writes nothing, and every batch closes with its Done: line -------------------------

DONE = re.compile(r"^Done: (\d+) processed, (\d+) skipped, (\d+) failed$")


DryRun = tuple[str, str, "tuple[int, int, int] | None"]


def dry(id: str, command_line: str, counts: tuple[int, int, int] | None) -> DryRun:
    """A dry run and the Done: counts it reports (None: a command that is no batch)."""
    return (id, command_line, counts)


DRY_RUNS = [
    dry("resize", "resize -i in -o out -r 16x16 --dry-run", (2, 0, 0)),
    dry(
        "resize-numbers", "resize -i in -o out -r 16x16 --output-name-numbers --dry-run", (2, 0, 0)
    ),
    dry(
        "resize-single",
        "resize --input-image in/a.png --output-image new/x.png -r 16x16 --dry-run",
        (1, 0, 0),
    ),
    dry("degrade", "degrade -i in -o out --num-variants 2 --dry-run", (2, 0, 0)),
    dry("degrade-paired", "degrade -i in -o in --paired -t blur --dry-run", (2, 0, 0)),
    dry(
        "degrade-single",
        "degrade --input-image in/a.png --output-image new/x.png --dry-run",
        (1, 0, 0),
    ),
    dry(
        "align", "align -t in -c control --multiple-of 16 --output-format jpg --dry-run", (1, 1, 0)
    ),
    dry("shuffle", "shuffle -i in -o out -g 'a|b' --show-distribution --dry-run", (2, 0, 0)),
    dry("caption", "caption -i in --dry-run", (2, 0, 0)),
    dry("caption-output", "caption -i in -o out --template t --dry-run", (2, 0, 0)),
    dry("caption-append", "caption -i in --append more --dry-run", (1, 1, 0)),
    dry("caption-api", "caption -i in --llm-api --dry-run", (2, 0, 0)),
    dry("synthetic", "synthetic -i in -o out -p 'add a hat' --num-images 2 --dry-run", (2, 0, 0)),
    dry("synthetic-api", "synthetic -i in -o out -p x --image-api --dry-run", (2, 0, 0)),
    dry("synthetic-single", "synthetic --input-image in/a.png -p x --dry-run", (1, 0, 0)),
    dry("workflow", "workflow -f flow.yaml --dry-run", None),
    dry("upload", "upload -p in --dry-run", None),
]
# The last line of the dry runs that are no batch.
NO_BATCH_LAST_LINES = {
    "workflow": "Dry run: 2 steps valid; nothing ran",
    "upload": "Dry run: nothing was sent.",
}


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    small_png(tmp_path / "in" / "a.png", (50, 40))
    small_png(tmp_path / "in" / "b.png", (40, 40), colour=10)
    (tmp_path / "in" / "a.txt").write_text("a caption", encoding="utf-8")
    small_png(tmp_path / "control" / "a.png", (48, 36), colour=200)
    steps = [
        {"command": "resize", "args": {"input": "in", "output": "out", "resolution": "8x8"}},
        {"command": "shuffle", "args": {"input": "in", "output": "in", "group": "x"}},
    ]
    (tmp_path / "flow.yaml").write_text(yaml.safe_dump({"steps": steps}), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    ("argv", "counts"),
    [pytest.param(shlex.split(line), counts, id=id) for id, line, counts in DRY_RUNS],
)
def test_dry_run_writes_nothing(
    dataset: Path, argv: list[str], counts: tuple[int, int, int] | None
) -> None:
    before = snapshot(dataset)
    mtimes = {p: p.stat().st_mtime_ns for p in dataset.rglob("*")}
    result = run_cli(dataset, *argv)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert snapshot(dataset) == before
    assert {p: p.stat().st_mtime_ns for p in dataset.rglob("*")} == mtimes
    last = result.stdout.splitlines()[-1]
    if counts is None:
        assert last == NO_BATCH_LAST_LINES[argv[0]]
        return
    done = DONE.match(last)
    assert done, result.stdout
    assert tuple(int(n) for n in done.groups()) == counts


# Dry runs that score or segment, so they load their model, or that need an LLM server: each is
# tested (with a tiny model in a temporary Hugging Face cache, or a local fake API) beside the
# command's other tests.
MODEL_DRY_RUNS = {
    "mask": "tests/masking/test_mask.py::test_sam3_single_image_dry_run_then_real",
    "filter": "tests/filtering/test_filter.py::test_dry_run_changes_nothing",
    "character": "tests/generation/test_character.py::test_prompts_only_dry_run_and_one_line_errors",  # noqa: E501
    "audio": "tests/speech/test_audio.py::test_dry_run_lists_sources_and_writes_nothing",
    "video": "tests/speech/test_video.py::test_dry_run_lists_videos_and_writes_nothing",
}


def test_every_command_with_dry_run_is_in_the_table() -> None:
    with_dry_run = {
        name
        for name, command in commands().items()
        if any(isinstance(p, click.Option) and "--dry-run" in p.opts for p in command.params)
    }
    assert with_dry_run == {line.split()[0] for _, line, _ in DRY_RUNS} | set(MODEL_DRY_RUNS)
    root = Path(__file__).resolve().parents[1]
    for test in MODEL_DRY_RUNS.values():
        path, name = test.split("::")
        assert f"def {name}(" in (root / path).read_text(encoding="utf-8"), test


# -- the console script and `python -m datasety` are one program ---------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["resize", "--help"],
        ["resize", "-i", "nowhere", "-r", "8x8"],
        ["nope"],
    ],
    ids=["help", "version", "command-help", "error", "unknown-command"],
)
def test_console_script_and_module_behave_alike(tmp_path: Path, argv: list[str]) -> None:
    script = Path(sys.executable).with_name("datasety")
    if not script.exists():
        pytest.skip("the datasety console script is not installed in this environment")
    module = run_cli(tmp_path, *argv)
    console = subprocess.run(
        [str(script), *argv], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    assert (console.returncode, console.stdout, console.stderr) == (
        module.returncode,
        module.stdout,
        module.stderr,
    )
    assert module.stdout or module.stderr


# -- an output that cannot be written fails its own image, not the batch -------------------------


@pytest.mark.parametrize(
    ("command_line", "written", "size_or_text"),
    [
        ("resize -i in -o out -R -r 8x8", "a.jpg", (8, 8)),
        ("degrade -i in -o out -R -t blur", "a.png", (40, 30)),
        ("shuffle -i in -o out -R -g x", "a.txt", "x"),
        ("caption -i in -o out -R --append more", "a.txt", "one more"),
    ],
    ids=["resize", "degrade", "shuffle", "caption"],
)
def test_unwritable_subfolder_fails_only_its_images(
    tmp_path: Path, command_line: str, written: str, size_or_text: tuple[int, int] | str
) -> None:
    if UNPRIVILEGED is None:
        pytest.skip("running as root without setpriv: chmod does not stop root")
    small_png(tmp_path / "in" / "a.png")
    small_png(tmp_path / "in" / "sub" / "b.png", colour=10)
    (tmp_path / "out" / "sub").mkdir(parents=True)
    # caption --append edits the captions that --output already holds.
    (tmp_path / "out" / "a.txt").write_text("one", encoding="utf-8")
    (tmp_path / "out" / "sub" / "b.txt").write_text("two", encoding="utf-8")
    (tmp_path / "out" / "sub").chmod(0o555)
    try:
        result = run_cli(tmp_path, *shlex.split(command_line), prefix=UNPRIVILEGED)
    finally:
        (tmp_path / "out" / "sub").chmod(0o755)
    assert result.returncode == 3, result.stderr
    assert result.stdout.splitlines()[-1] == "Done: 1 processed, 0 skipped, 1 failed"
    failures = result.stderr.splitlines()
    assert len(failures) == 2 and failures[0].startswith("Failed: sub/b.png: "), result.stderr
    assert failures[1] == "Error: 1 of 2 files failed"
    assert sorted(p.name for p in (tmp_path / "out" / "sub").iterdir()) == ["b.txt"]
    assert (tmp_path / "out" / "sub" / "b.txt").read_text(encoding="utf-8") == "two"
    output = tmp_path / "out" / written
    if isinstance(size_or_text, str):
        assert output.read_text(encoding="utf-8") == size_or_text
    else:
        with Image.open(output) as image:
            assert image.size == size_or_text
