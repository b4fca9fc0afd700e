"""The package is a one-way stack: each subpackage imports only from the layers below it
(and its modules stay small enough to read).

    (top-level modules)  <  git  <  archive  <  spotify | history  <  questions | ops  <  cli

Every import counts, also one inside a function (a lazy import is still a dependency).
Siblings on one rank (spotify and history; questions and ops) do not import each other,
and no set of modules imports itself round in a circle, not even inside one subpackage.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "gitarchive"

# Subpackage -> rank; the top-level modules (errors, exitcodes, progress, redact) are rank 0.
RANKS = {"git": 1, "archive": 2, "spotify": 3, "history": 3, "questions": 4, "ops": 4, "cli": 5}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The gitarchive modules ``path`` imports, anywhere in it (``from a import b``: a.b if b
    is a module, else a)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in modules else node.module)
    return {name for name in found if name in modules and name != "gitarchive"}


def layer(module: str) -> tuple[str, int]:
    """(subpackage, rank) of a module; ``__main__`` belongs to the command line."""
    parts = module.split(".")
    if len(parts) == 1:
        return "", 0
    if parts[1:] == ["__main__"]:
        return "cli", RANKS["cli"]
    if len(parts) > 2 or parts[1] in RANKS:
        return parts[1], RANKS[parts[1]]
    return "", 0


def graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports_of(path, modules) - {name} for name, path in modules.items()}


def test_every_subpackage_has_a_rank() -> None:
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(RANKS)


def test_imports_only_go_down() -> None:
    wrong = []
    for module, targets in graph().items():
        package, rank = layer(module)
        for target in sorted(targets):
            their_package, their_rank = layer(target)
            if their_package != package and their_rank >= rank:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_no_import_circles() -> None:
    edges = graph()
    circles: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            circles.append(path[path.index(module):] + [module])
            return
        if module in done:
            return
        for target in sorted(edges[module]):
            visit(target, [*path, module])
        done.add(module)

    for module in sorted(edges):
        visit(module, [])
    assert circles == []


def test_the_checker_sees_function_level_imports(tmp_path: Path) -> None:
    """The graph is only as good as its parser: a lazy import must count."""
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from gitarchive.git import store\n    import gitarchive.cli\n")
    modules = {"gitarchive.git.store": source, "gitarchive.git": source, "gitarchive.cli": source}
    assert imports_of(source, modules) == {"gitarchive.git.store", "gitarchive.cli"}


MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
WHOLE = "better whole"  # what a longer module's or function's docstring says, with why


def test_modules_and_functions_stay_small_or_say_why() -> None:
    """A module over 400 lines, or a function over 80, says in its docstring why it is
    better whole; everything else is cut into pieces a reader can name."""
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        name = module_name(path)
        if len(text.splitlines()) > MAX_MODULE_LINES and WHOLE not in (
            ast.get_docstring(tree) or ""
        ).lower():
            long.append(name)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES and WHOLE not in (
                    ast.get_docstring(node) or ""
                ).lower():
                    long.append(f"{name}.{node.name} ({lines} lines)")
    assert long == []


STDLIB_PRIVATE = {"os._exit"}  # the standard library's own (a child killed mid-way)


def test_tests_use_public_names() -> None:
    """Tests import and touch only public names (no ``_private`` of the package)."""
    tests = Path(__file__).resolve().parent
    private = []
    for path in sorted(tests.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gitarchive"):
                private += [f"{path.name}: {a.name}" for a in node.names if a.name[0] == "_"]
            elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not (
                node.attr.startswith("__") and node.attr.endswith("__")
            ) and ast.unparse(node) not in STDLIB_PRIVATE:
                private.append(f"{path.name}:{node.lineno} .{node.attr}")
            elif (
                isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("setattr", "object") and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
                and str(node.args[1].value).startswith("_")
                and not str(node.args[1].value).startswith("__")
            ):  # monkeypatch.setattr(module, "_name", ...), mock.patch.object(...)
                private.append(f"{path.name}:{node.lineno} '{node.args[1].value}'")
    assert private == []
