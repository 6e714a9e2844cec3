"""The package's layers point one way, with no import cycles (lazy imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1] / "dimfeaturizer"

# a module's layer and the layers it may import (its own layer included)
LAYERS = {
    "base": ("_version", "config", "distributed", "exceptions", "runtime"),
    "data": ("data", "examples"),
    "model": ("model",),
    "training": ("training",),
    "inference": ("inference",),
    "hub": ("hub",),
    "estimators": ("estimators",),
    "top": ("cli", "cluster", "io", "__init__", "__main__"),
}
MAY_IMPORT = {
    "base": {"base", "data.elements"},
    "data": {"base", "data"},
    "model": {"base", "data", "model"},
    "training": {"base", "data", "model", "training"},
    "inference": {"base", "data", "model", "inference"},
    "hub": {"base", "data", "model", "hub"},
    "estimators": {"base", "data", "model", "training", "inference", "hub", "estimators"},
    "top": set(LAYERS) | {"data.elements"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def _layer(module: str) -> str:
    head = module.split(".")[0]
    for layer, heads in LAYERS.items():
        if head in heads:
            return layer
    raise AssertionError(f"module {module!r} is in no layer")


def _imports(path: Path) -> set[str]:
    """Package modules imported anywhere in ``path`` (top level or inside functions)."""
    module = _module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
            elif (node.module or "").startswith("dimfeaturizer"):
                base = []
                node_module = node.module.split(".")[1:]
                found.add(".".join(node_module) or "__init__")
                continue
            else:
                continue
            target = [*base, *(node.module.split(".") if node.module else [])]
            if node.module is None:  # from . import x: x may be a module of that package
                found.update(".".join([*target, a.name]) or "__init__" for a in node.names)
            else:
                found.add(".".join(target) or "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("dimfeaturizer"):
                    found.add(".".join(alias.name.split(".")[1:]) or "__init__")
    return found


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}


def _resolve(name: str) -> str:
    """An imported name -> the module that defines it (``from .x import y``: x)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or "__init__"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module):
    layer = _layer(module)
    allowed = MAY_IMPORT[layer]
    for target in map(_resolve, _imports(MODULES[module])):
        if target == "__init__":
            assert module == "__init__" or layer == "top", f"{module} imports the package"
            continue
        ok = _layer(target) in allowed or target in allowed
        assert ok, f"{module} ({layer}) imports {target} ({_layer(target)})"


def test_nothing_imports_the_package_init():
    for module, path in MODULES.items():
        if module in ("__init__",) or module.startswith(("cli", "benchmarks")):
            continue
        assert "__init__" not in map(_resolve, _imports(path)), module


def test_no_import_cycles():
    graph = {m: {_resolve(t) for t in _imports(p)} - {m} for m, p in MODULES.items()}
    # a package's __init__ re-exports its modules: following it would be a false cycle
    graph = {m: {t for t in ts if not t.endswith("__init__")} for m, ts in graph.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError(" -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def test_the_checker_sees_a_lazy_upward_import(tmp_path):
    """The checker must be able to fail: an import inside a function is seen."""
    bad = tmp_path / "model" / "sitenet.py"
    bad.parent.mkdir()
    bad.write_text("def f():\n    from ..hub import load_pretrained\n")
    imports = _imports_of_file_as(bad, "model/sitenet.py")
    assert "hub" in imports


def _imports_of_file_as(path: Path, relative: str) -> set[str]:
    global ROOT
    saved = ROOT
    try:
        ROOT = path.parents[len(Path(relative).parts) - 1]
        return _imports(path)
    finally:
        ROOT = saved


def test_the_package_ships_the_product_only():
    """The wheel's packages are the product's: no harness, no lab (benchmarks/ lives
    beside the package, as scikit-learn's does)."""
    import importlib.util

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT.parent / "pyproject.toml").read_text())
    packages = project["tool"]["setuptools"]["packages"]
    assert all(p == "dimfeaturizer" or p.startswith("dimfeaturizer.") for p in packages)
    assert not any("bench" in p for p in packages)
    assert importlib.util.find_spec("dimfeaturizer.benchmarks") is None
    shipped = {p.split(".")[1] for p in packages if "." in p}
    on_disk = {d.name for d in ROOT.iterdir() if (d / "__init__.py").exists()}
    assert on_disk <= shipped | {"pretrained"}, on_disk - shipped
