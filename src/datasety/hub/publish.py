"""Sending a plan to the Hub with ``huggingface_hub``: the only module that imports it.

How a large folder goes up:

* the repository is created if needed (``exist_ok``), then its file tree is listed once;
* a file already on the Hub with the same size and content hash (git blob sha1, or the LFS
  sha256) is skipped, so re-running an interrupted upload sends only what is missing;
* the rest goes in commits of at most :data:`BATCH_FILES` files and :data:`BATCH_BYTES` bytes
  (``create_commit``: it asks the Hub which files are LFS/Xet, uploads those, and commits),
  so an interruption loses at most one batch, and each file is reported once its batch is
  committed;
* the generated README card goes in the last commit, so a half-uploaded repository never
  carries a loader config that promises files it does not have yet.

The token is resolved by ``huggingface_hub`` (``--token``, else ``HF_TOKEN``, else the cached
login) and travels only in the ``Authorization`` header.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from datasety.core.errors import DatasetyError
from datasety.hub.files import LocalFile
from datasety.hub.plan import README, Plan
from datasety.models.extras import require

if TYPE_CHECKING:
    from huggingface_hub import HfApi

BATCH_FILES = 256
BATCH_BYTES = 1 << 30
HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Item:
    """One file of the upload: from the folder (``local``) or generated (``data``)."""

    repo_path: str
    size: int
    local: LocalFile | None = None
    data: bytes | None = None

    def content(self) -> Any:
        return str(self.local.local) if self.local is not None else self.data

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            yield self.data
            return
        assert self.local is not None
        with open(self.local.local, "rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                yield chunk


@dataclass(frozen=True)
class Callbacks:
    """How the caller hears about each file."""

    uploaded: Callable[[str], None]
    unchanged: Callable[[str], None]
    note: Callable[[str], None]


def hub_api(token: str | None, *, byte_bars: bool = False) -> HfApi:
    """A client for ``HF_ENDPOINT`` (default: the Hub), or the install hint.

    ``byte_bars`` keeps huggingface_hub's own per-file byte bars (on a terminal, with
    ``--verbose``); otherwise our progress is the only one, so job logs stay readable.
    """
    require("upload", "huggingface_hub", purpose="upload")
    from huggingface_hub import HfApi
    from huggingface_hub.utils import disable_progress_bars

    if not byte_bars:
        disable_progress_bars()
    return HfApi(token=token or None)


def resolve_token(token: str | None) -> str | None:
    """``--token``, else ``HF_TOKEN``, else the cached login (what huggingface_hub would use)."""
    if token:
        return token
    from huggingface_hub import get_token

    return get_token()


def whoami(api: HfApi) -> str:
    """The user name behind the token, for a repository id without an owner."""
    info = _call(api.whoami)
    name = info.get("name") if isinstance(info, dict) else None
    if not isinstance(name, str) or not name:
        raise DatasetyError("the Hub did not say whose token this is: give --repo-id owner/name")
    return name


def publish(api: HfApi, plan: Plan, *, private: bool, on: Callbacks) -> str:
    """Create the repository if needed, send the plan's files, return the repository's URL."""
    repo_type = plan.repo_type
    repo_url = _call(
        api.create_repo, repo_id=plan.repo_id, repo_type=repo_type, private=private, exist_ok=True
    )
    if private:
        # create_repo leaves an existing repository as it is: say so rather than let the
        # user believe a public repository went private.
        info = _call(api.repo_info, plan.repo_id, repo_type=repo_type, revision="main")
        if info.private is False:
            on.note(
                f"{plan.repo_id} already exists and is public: --private does not change "
                "that (the repository's settings on the Hub do)"
            )
    remote = _remote_files(api, plan)
    items = _items(plan)
    todo: list[Item] = []
    for item in items:
        if _unchanged(item, remote.get(item.repo_path)):
            on.unchanged(item.repo_path)
        else:
            todo.append(item)
    batches = list(_batches(todo))
    for number, batch in enumerate(batches, 1):
        from huggingface_hub import CommitOperationAdd

        operations = [CommitOperationAdd(i.repo_path, i.content()) for i in batch]
        what = "model" if repo_type == "model" else "dataset"
        message = f"Upload {what} with datasety"
        if len(batches) > 1:
            message += f" ({number}/{len(batches)})"
        _call(
            api.create_commit,
            repo_id=plan.repo_id,
            repo_type=repo_type,
            operations=operations,
            commit_message=message,
        )
        for item in batch:
            on.uploaded(item.repo_path)
    return str(repo_url)


def _items(plan: Plan) -> list[Item]:
    items = [Item(f.repo_path, f.size, local=f) for f in plan.files]
    generated = [
        Item(path, len(data), data=data)
        for path, text in plan.generated.items()
        for data in [text.encode("utf-8")]
    ]
    # The card last (see the module's docstring); other generated files with the data.
    items += [i for i in generated if i.repo_path != README]
    items += [i for i in generated if i.repo_path == README]
    return items


def _batches(items: list[Item]) -> Iterator[list[Item]]:
    batch: list[Item] = []
    size = 0
    for item in items:
        if batch and (len(batch) >= BATCH_FILES or size + item.size > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item.size
    if batch:
        yield batch


def _remote_files(api: HfApi, plan: Plan) -> dict[str, Any]:
    """Path -> RepoFile of what the repository holds now (empty for a new one)."""
    from huggingface_hub.errors import RevisionNotFoundError

    def listing() -> list[Any]:
        try:
            return list(api.list_repo_tree(plan.repo_id, repo_type=plan.repo_type, recursive=True))
        except RevisionNotFoundError:
            return []  # a repository without a commit has no main branch yet

    return {entry.path: entry for entry in _call(listing) if hasattr(entry, "blob_id")}


def _unchanged(item: Item, remote: Any) -> bool:
    """True when ``remote`` (a RepoFile or None) already holds ``item``'s exact content."""
    if remote is None or remote.size != item.size:
        return False
    if remote.lfs is not None:
        digest = hashlib.sha256()
        for chunk in item.chunks():
            digest.update(chunk)
        return bool(digest.hexdigest() == remote.lfs.sha256)
    blob = hashlib.sha1(f"blob {item.size}\0".encode(), usedforsecurity=False)
    for chunk in item.chunks():
        blob.update(chunk)
    return bool(blob.hexdigest() == remote.blob_id)


def _call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one huggingface_hub call; its failures become one-line errors."""
    try:
        return function(*args, **kwargs)
    except Exception as exc:
        # huggingface_hub raises its own HTTP errors, ValueErrors for answers it cannot use,
        # and its HTTP stack's errors (httpx, httpx2 or requests, by version) for a Hub it
        # cannot reach: each is a failed upload that the user reads as one line.
        raise DatasetyError(f"Hugging Face Hub: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    server = getattr(exc, "server_message", None)
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if server and server not in first:
        first = f"{first} ({server})"
    return " ".join(first.split())
