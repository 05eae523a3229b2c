"""The stages import downward only (DESIGN.md): cli -> report -> experiments -> training -> attacks, defences ->
targets -> models; `data` imports none of them; the small leaf modules are open to all. Checked on the
source of every module, imports inside functions included, so a shortcut upward fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import fasrobust

PACKAGE = Path(fasrobust.__file__).parent
#: Rank of each stage; a module may import stages of lower rank and its own.
RANK = {"models": 0, "targets": 1, "attacks": 2, "defences": 2, "training": 3, "experiments": 4, "report": 5,
        "cli": 6, "api": 6}
#: Leaf modules and packages every stage may import (they import no stage themselves).
LEAVES = {"errors", "labels", "settings", "paper", "paths", "registry", "provenance", "progress", "parallel", "choices",
          "metrics", "stats", "__init__"}
#: `python -m fasrobust`: the entry point, above every stage.
ENTRY = "__main__"


def _stage(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else ""


def _imports(path: Path) -> list[tuple[int, str]]:
    module = "fasrobust." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names] if not node.module else [target]
            found += [(node.lineno, n) for n in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
    return [(line, name) for line, name in found if name.startswith("fasrobust.")]


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PACKAGE)) for p in MODULES])
def test_no_module_imports_a_stage_above_its_own(path):
    own = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    if own == ENTRY:
        return
    upward = []
    for line, name in _imports(path):
        stage = _stage(name)
        if stage in LEAVES or stage == own or stage not in RANK and stage != "data":
            continue
        if own == "data" and stage in RANK:
            upward.append(f"line {line}: {name} (data imports no other stage)")
        elif own in LEAVES and stage in {*RANK, "data"}:
            upward.append(f"line {line}: {name} (a leaf imports no stage)")
        elif own in RANK and stage in RANK and RANK[stage] > RANK[own]:
            upward.append(f"line {line}: {name} ({stage} is above {own})")
    assert not upward, "; ".join(upward)
