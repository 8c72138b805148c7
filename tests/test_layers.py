"""Imports run one way, low to high (../shared/DESIGN.md): no module imports a layer above it,
and families and inference never import each other -- lazy imports inside functions included."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).parent.parent / "ganforge"

# Layer of each top-level part of the package, low to high.
LAYER = {
    "_version": 0, "errors": 0, "registry": 0, "typed": 0, "env": 0, "losses": 0, "augment": 0,
    "assets": 0, "watermark": 0,
    "models": 1, "data": 1,
    "serialization": 2, "visual": 2, "provenance": 2,
    "families": 3, "infer": 3,
    "config": 4,
    "rundir": 5,
    "metrics": 6, "card": 6,
    "training": 7,
    "api": 8,
    "cli": 9, "serve": 9, "__main__": 10, "__init__": 10,
}
NEVER = {("families", "infer"), ("infer", "families"), ("models", "data"), ("data", "models")}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[str, int]]:
    """(absolute ganforge module, line) for every import in a file."""
    rel = path.relative_to(PKG.parent).with_suffix("")
    pkg_parts = list(rel.parts[:-1])  # the package a relative import starts from
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names if a.name.startswith("ganforge")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts[: len(pkg_parts) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("ganforge"):
                continue
            if mod == "ganforge":  # `from .. import infer`: the names are the modules
                out += [(f"ganforge.{a.name}", node.lineno) for a in node.names]
            else:
                out.append((mod, node.lineno))
    return out


def test_no_import_runs_back_up_the_layers():
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        src = _part(".".join(rel.parts))
        for mod, line in _imports(path):
            dst = _part(mod)
            if dst == src:
                continue
            assert dst in LAYER, f"{mod} has no layer in this test; add it"
            if LAYER[dst] > LAYER[src] or (src, dst) in NEVER:
                bad.append(f"{path.relative_to(PKG.parent)}:{line} ({src}) imports {mod} ({dst})")
    assert not bad, "\n".join(bad)


def test_every_part_of_the_package_has_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in PKG.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    assert parts <= set(LAYER), parts - set(LAYER)
