"""The package's layering: no module imports a private name of another subpackage (what a
subpackage keeps private can change without notice), and Splink's internals only where its
public API has no equivalent, each import saying why."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "appariement"


def _imports():
    for path in sorted(ROOT.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        package = package.removesuffix(".__init__")
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                yield path, node, target, lines


def _subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and (ROOT / parts[1]).is_dir() else ""


def test_no_module_imports_a_private_name_of_another_subpackage():
    bad = []
    for path, node, target, _ in _imports():
        if not target.startswith("appariement"):
            continue
        module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        src, dst = _subpackage(module), _subpackage(target)
        private_module = any(p.startswith("_") and p != "__init__" for p in target.split("."))
        for alias in node.names:
            if src != dst and (alias.name.startswith("_") or (private_module and dst)):
                bad.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} {target}.{alias.name}")
    assert bad == []



def test_every_splink_internals_import_says_why():
    bare = []
    for path, node, target, lines in _imports():
        if target.startswith("splink.internals"):
            around = " ".join(lines[max(0, node.lineno - 3): node.end_lineno])
            if "#" not in around:
                bare.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} {target}")
    assert bare == []
