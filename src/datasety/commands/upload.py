"""`datasety upload`: publish a dataset folder or trained weights to the Hugging Face Hub."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from datasety.commands import options
from datasety.core.errors import DatasetyError
from datasety.core.humanize import human_bytes
from datasety.core.progress import Progress, jsonl_requested
from datasety.hub import kinds
from datasety.hub.plan import Plan, UploadOptions, build_plan, check_repo_id, repo_name_from

LISTED_FILES = 20  # files the plan lists without --verbose


@click.command("upload")
@click.option(
    "--path",
    "-p",
    type=options.PATH,
    required=True,
    help="Dataset folder, model folder or single weights file to upload",
)
@click.option(
    "--repo-id",
    "-r",
    default=None,
    help="Repository as owner/name or name (default: the folder's name under the token's user)",
)
@click.option(
    "--type",
    "-t",
    "upload_type",
    type=click.Choice(kinds.UPLOAD_TYPES),
    default="auto",
    show_default=True,
    help="What the folder holds; auto detects it as the server does (weights -> model)",
)
@click.option("--private", is_flag=True, default=False, help="Create the repository as private")
@click.option(
    "--token",
    cls=options.SecretOption,
    env="HF_TOKEN",
    default=None,
    help="Hugging Face access token (default: HF_TOKEN, else the cached `hf auth login`); "
    "a token given here shows in the process list, prefer HF_TOKEN",
)
@click.option(
    "--force",
    is_flag=True,
    default=False,
    help="Replace the folder's own README.md with a generated card",
)
@click.option(
    "--dry-run",
    is_flag=True,
    default=False,
    help="Print the plan (files, total size, the card) and send nothing",
)
@click.option(
    "--readme-template",
    type=options.PATH,
    default=None,
    help="Markdown file for the card's body, with {{summary}}, {{contents}}, {{loading}}, "
    "{{samples}}, {{model}}, {{files}}, {{body}}, {{name}}, {{repo_id}}, {{type}} slots",
)
@click.option(
    "--metadata",
    type=options.TextOrPath(),
    default=None,
    help="Extra card front matter as YAML (e.g. 'license: cc-by-4.0'), or a YAML file",
)
@click.option("--yes", "-y", is_flag=True, default=False, help="Do not ask before uploading")
@click.option("--verbose", "-V", is_flag=True, default=False, help="List every file")
def command(
    path: str,
    repo_id: str | None,
    upload_type: str,
    private: bool,
    token: str | None,
    force: bool,
    dry_run: bool,
    readme_template: str | None,
    metadata: str | None,
    yes: bool,
    verbose: bool,
) -> int:
    """Upload a dataset or model folder to the Hugging Face Hub with a generated card.

    The card says what is inside (counts, pairs, captions, hours of audio; for a LoRA its base
    model, trigger words and training settings) and carries a `configs` section so that
    `datasets.load_dataset(repo)` loads the dataset: a metadata.jsonl pairing each file with
    its caption or transcript is added to the upload (the folder itself is never changed).
    Hidden files, the server's temporary files and credential files are left out; files
    already on the Hub unchanged are skipped, so re-running an interrupted upload resumes it.
    Needs the `upload` extra: pip install 'datasety[upload]'.
    """
    upload = UploadOptions(
        path=Path(path),
        repo_id=repo_id,
        upload_type=upload_type,
        force=force,
        readme_template=Path(readme_template) if readme_template else None,
        metadata=metadata,
        token=token,
    )
    # The user's own mistakes first, before any question to the Hub.
    if not upload.path.exists():
        raise DatasetyError(f"--path {path!r} does not exist")
    if repo_id is not None:
        check_repo_id(repo_id)
    if dry_run:
        # The token a real run would use is looked for in the files all the same.
        upload.token = token or os.environ.get("HF_TOKEN")
        plan = build_plan(upload)
        _show_plan(plan, verbose)
        click.echo("\n" + (plan.card or "(the folder's own README.md is the card)"))
        click.echo("Dry run: nothing was sent.")
        return 0

    from datasety.hub import publish

    byte_bars = verbose and sys.stderr.isatty() and not jsonl_requested()
    api = publish.hub_api(token, byte_bars=byte_bars)
    upload.token = publish.resolve_token(token)
    if not upload.token:
        raise DatasetyError(
            "no Hugging Face token: pass --token, set HF_TOKEN or run `hf auth login`"
        )
    if repo_id is None or "/" not in repo_id:
        # Only the Hub knows whose token this is; the card's loading snippet needs the owner.
        owner = publish.whoami(api)
        upload.repo_id = f"{owner}/{repo_id or repo_name_from(upload.path)}"
    plan = build_plan(upload)
    _show_plan(plan, verbose)
    if not yes:
        _confirm(plan)
    items = len(plan.files) + len(plan.generated)
    progress = Progress(total=items, bar=not verbose)
    callbacks = publish.Callbacks(
        uploaded=lambda name: progress.processed(name, f"uploaded {name}"),
        unchanged=lambda name: progress.skipped(name, "unchanged on the Hub"),
        note=progress.note,
    )
    url = publish.publish(api, plan, private=private, on=callbacks)
    progress.note(f"Uploaded to {url}")
    return progress.finish()


def _show_plan(plan: Plan, verbose: bool) -> None:
    owner = "" if plan.namespace else "<the token's user>/"
    click.echo(f"Repository: {owner}{plan.repo_id} ({plan.repo_type}, type {plan.upload_type})")
    total = len(plan.files) + len(plan.generated)
    click.echo(f"Files: {total} ({human_bytes(plan.total_bytes)})")
    listed = [(f.repo_path, f.size) for f in plan.files]
    listed += [(name, len(text.encode("utf-8"))) for name, text in plan.generated.items()]
    limit = len(listed) if verbose else LISTED_FILES
    for name, size in listed[:limit]:
        made = " (generated)" if name in plan.generated else ""
        click.echo(f"  {name}  {human_bytes(size)}{made}")
    if len(listed) > limit:
        click.echo(f"  ... and {len(listed) - limit} more (--verbose lists them all)")
    for name, reason in plan.left_out:
        click.echo(f"Left out: {name} ({reason})")
    for note in plan.notes:
        click.echo(f"Note: {note}")


def _confirm(plan: Plan) -> None:
    if not sys.stdin.isatty():
        raise DatasetyError("no terminal to ask for confirmation: pass --yes to upload")
    if not click.confirm(f"Upload to {plan.repo_id}?", default=False):
        raise DatasetyError("upload cancelled")
