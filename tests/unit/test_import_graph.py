"""The shape of the package: no import cycle (module-level and function-level imports alike) and
no core module that imports the UI or Streamlit."""
from __future__ import annotations

import ast
import graphlib
import re
from pathlib import Path

import pytest

import ferviz

PACKAGE = Path(ferviz.__file__).resolve().parent


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _imports(tree: ast.AST):
    """Every import statement, at any depth, except those under `if TYPE_CHECKING:` (never run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if _type_checking_only(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the modules it imports (within the package and external top-level names)."""
    files = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        is_pkg = path.name == "__init__.py"
        edges: set[str] = set()
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names)
                continue
            if node.level:
                base = mod if is_pkg else mod.rsplit(".", 1)[0]
                for _ in range(node.level - 1):
                    base = base.rsplit(".", 1)[0]
                target = base + ("." + node.module if node.module else "")
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                edges.add(sub if sub in files else target)
        graph[mod] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among the package's own modules, or None."""
    inner = {m: {t for t in ts if t in graph and t != m} for m, ts in graph.items()}
    try:
        tuple(graphlib.TopologicalSorter(inner).static_order())
    except graphlib.CycleError as e:
        return list(e.args[1])
    return None


def test_the_graph_sees_function_level_imports(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import x\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import x\n")
    graph = import_graph(pkg)
    assert graph["pkg.a"] >= {"pkg.b"} and graph["pkg.b"] >= {"pkg.a"}
    assert "pkg.a" not in graph["pkg.c"]
    assert set(find_cycle(graph)) == {"pkg.a", "pkg.b"}


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("forbidden", ["ferviz.ui", "streamlit", "streamlit_webrtc"])
def test_the_core_never_imports_the_ui(forbidden):
    offenders = sorted(m for m, targets in import_graph().items()
                       if not (m == "ferviz.ui" or m.startswith("ferviz.ui."))
                       and any(t == forbidden or t.startswith(forbidden + ".") for t in targets))
    assert not offenders, f"core modules importing {forbidden}: {offenders}"


def test_the_package_root_holds_its_face_only():
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= 10, modules


def test_the_readme_layout_matches_the_tree():
    readme = (PACKAGE.parent / "README.md").read_text()
    block = readme[readme.index("## Layout"):]
    block = block[block.index("```") + 3:]
    block = block[:block.index("```")]
    named = set(re.findall(r"^  ([a-z_]+(?:\.py|/))", block, re.M))
    subpackages = {p.parent.name + "/" for p in PACKAGE.glob("*/__init__.py")}
    root = {p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    assert named == subpackages | root, (named ^ (subpackages | root))


def test_no_test_module_imports_another_test_module_or_a_conftest():
    """Shared test code lives in fixtures (conftest.py) or helper modules (tiny_models, helpers,
    filecheck), never in another test module or imported from a conftest."""
    tests = PACKAGE.parent / "tests"
    offenders = []
    for path in tests.rglob("*.py"):
        for node in _imports(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if isinstance(node, ast.ImportFrom) and not node.module:
                names = [a.name for a in node.names]
            for name in names:
                last = name.rsplit(".", 1)[-1]
                if last.startswith("test_") or last == "conftest":
                    offenders.append(f"{path.relative_to(tests)}: {name}")
    assert not offenders, offenders
