"""Path confinement: every dataset path the server touches is resolved, symlinks included, and
must stay inside its dataset folder."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from datasety.core.errors import AccessDeniedError, DatasetyError

TRAVERSAL = "Access denied: Path traversal detected"
SYMLINK_LOOP = "Invalid path: too many levels of symbolic links"
# Linux's limits (NAME_MAX, PATH_MAX); most file systems elsewhere allow no more. Checked up
# front: past them every stat() raises ENAMETOOLONG, which pathlib does not swallow.
NAME_MAX = 255
PATH_MAX = 4096


def _climbs_with_backslashes(rel: str) -> bool:
    # On POSIX "..\x" is a plain name, but it is a traversal attempt on Windows, where the
    # same folder may be shared: never a name worth creating.
    return rel.startswith("\\") or any(
        ".." in part.split("\\") for part in rel.split("/") if "\\" in part
    )


def clean_relative(rel: str) -> str:
    """``rel`` as a normalised dataset-relative POSIX path (``""`` for the root).

    Refuses NUL bytes and names too long for the file system (400), and anything that is
    absolute or climbs out lexically, with ``/`` or ``\\`` (403).
    """
    if "\x00" in rel:
        raise DatasetyError("Invalid path: contains a NUL byte")
    rel = rel.replace("\\", "/") if os.sep == "\\" else rel
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":") or _climbs_with_backslashes(rel):
        raise AccessDeniedError(TRAVERSAL)
    normal = posixpath.normpath(rel) if rel else "."
    if normal == ".." or normal.startswith("../"):
        raise AccessDeniedError(TRAVERSAL)
    if any(len(part.encode("utf-8", "surrogatepass")) > NAME_MAX for part in normal.split("/")):
        raise DatasetyError(f"Invalid path: a name is longer than {NAME_MAX} bytes")
    return "" if normal == "." else normal


def confine(root: Path, rel: str) -> Path:
    """The real path of ``root/rel``, symlinks resolved, which must stay inside ``root``.

    ``root`` must already be resolved. Raises 403 ``Access denied: Path traversal detected``,
    or 400 for a path too long or a symlink loop (pathlib raises RuntimeError on those).
    """
    joined = root / clean_relative(rel)
    if len(os.fsencode(joined)) >= PATH_MAX:
        raise DatasetyError(f"Invalid path: longer than {PATH_MAX} bytes")
    try:
        candidate = joined.resolve()
    except (OSError, RuntimeError):
        raise DatasetyError(SYMLINK_LOOP) from None
    if not is_within(candidate, (root,)):
        raise AccessDeniedError(TRAVERSAL)
    return candidate


def is_within(path: Path, roots: tuple[Path, ...]) -> bool:
    """True if the resolved ``path`` is one of ``roots`` or below one."""
    # Compared as text (both are resolved, so normalised): pathlib's is_relative_to parses
    # both paths again, and this runs on every file request.
    text = str(path)
    for root in roots:
        prefix = str(root)
        if text == prefix or text.startswith(
            prefix if prefix.endswith(os.sep) else prefix + os.sep
        ):
            return True
    return False
