"""The three layers, checked on the source: front doors (cli, watch, integrations) -> session ->
core. Each layer imports only the ones below it; tools beside the product (bench, report,
preview) are not imported by the session or the core."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = {"cryostream." + name for name in ("config", "io", "convert", "filters", "template",
                                          "cluster", "curve", "diameter", "peaks", "neighbours",
                                          "crowding", "centring", "candidates", "touching", "picker",
                                          "threshold", "star", "metrics", "evaluation")}
FRONT_DOORS = ("cryostream.cli", "cryostream.watch", "cryostream.__main__", "integrations")
TOOLS = ("cryostream.bench", "cryostream.report", "cryostream.preview")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every cryostream or integrations module ``path`` imports (relative imports resolved)."""
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else \
        module_name(path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name.startswith(("cryostream", "integrations"))}


def layer(module: str) -> str:
    if module in CORE or module == "cryostream":
        return "core"
    if module.startswith("cryostream.session"):
        return "session"
    if module.startswith(FRONT_DOORS):
        return "front door"
    if module.startswith(TOOLS):
        return "tool"
    return "other"


SOURCES = sorted([*ROOT.glob("cryostream/**/*.py"), *ROOT.glob("integrations/**/*.py")])
ALLOWED = {"core": {"core"}, "session": {"core", "session"},
           "tool": {"core", "session", "tool"},
           "front door": {"core", "session", "tool", "front door"}}


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_each_layer_imports_only_the_layers_below_it(path: Path) -> None:
    own = layer(module_name(path))
    assert own != "other", f"{module_name(path)} belongs to no layer"
    wrong = sorted(module for module in imported_modules(path)
                   if layer(module) not in ALLOWED[own] and layer(module) != "other")
    assert not wrong, f"{module_name(path)} ({own}) imports {wrong}"
