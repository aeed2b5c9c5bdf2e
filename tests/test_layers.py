"""Import arrows point down: edges -> capability packages -> models/media -> core.

A module may import from its own layer or below, never above, so the bottom layers stay
reusable by every command and the server never pulls a model library in through a shared module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "datasety"

# What each bottom layer may import from datasety (besides itself).
ALLOWED_BELOW = {
    "core": set(),
    "media": {"core"},
    "models": {"core", "media"},
}
# The faces: no capability or bottom module may import them.
EDGES = {"commands", "server", "cli", "__main__"}
# workflow runs other commands, so like the server's jobs it validates steps through the
# registry's invocation module.
MAY_READ_REGISTRY = {"workflow"}


def _datasety_imports(path: Path) -> set[str]:
    """The top-level datasety subpackages/modules that ``path`` imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "datasety":
                names = [f"datasety.{alias.name}" for alias in node.names]
            else:
                names = [node.module]
        found.update(name.split(".")[1] for name in names if name.startswith("datasety."))
    return found


def _modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(ALLOWED_BELOW))
def test_bottom_layers_import_only_below(layer: str) -> None:
    allowed = ALLOWED_BELOW[layer] | {layer}
    wrong = {
        str(path.relative_to(PACKAGE)): sorted(_datasety_imports(path) - allowed)
        for path in _modules(layer)
    }
    assert {path: names for path, names in wrong.items() if names} == {}


def test_capability_packages_do_not_import_the_edges() -> None:
    capabilities = [
        child
        for child in PACKAGE.iterdir()
        if child.is_dir() and (child / "__init__.py").exists() and child.name not in EDGES
    ]
    assert {"core", "media", "resize"} <= {child.name for child in capabilities}
    wrong = {
        str(path.relative_to(PACKAGE)): sorted(
            _datasety_imports(path)
            & EDGES - ({"commands"} if package.name in MAY_READ_REGISTRY else set())
        )
        for package in capabilities
        for path in package.rglob("*.py")
    }
    assert {path: names for path, names in wrong.items() if names} == {}


def test_no_flat_modules_beside_the_packages() -> None:
    """Only the entry points live at the package root; everything else has a wing."""
    flat = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert flat == ["__init__.py", "__main__.py", "cli.py"]


def test_server_keeps_only_its_wiring_at_the_top() -> None:
    """The server's work lives in a subpackage per purpose (catalog, files, curation, jobs);
    its top holds the application's wiring only."""
    top = sorted(path.stem for path in (PACKAGE / "server").glob("*.py"))
    assert top == [
        "__init__",
        "app",
        "bodies",
        "connections",
        "datasets",
        "errors",
        "fastpath",
        "middleware",
        "settings",
        "store",
    ]
