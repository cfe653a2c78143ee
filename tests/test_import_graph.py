"""sak_core's modules import each other without a cycle.

Every ``import`` statement of a module counts, wherever it stands: at the top, under
``if TYPE_CHECKING:``, or inside a function. A deferred import avoids an import-time failure but
not the tangle (``SAKStudent.predict`` importing the inference module that imports the model
was one), so the graph of all of them must have no cycle. Not counted: the implicit import of a
parent package when a submodule is imported (a package's ``__init__`` re-exporting its own
modules is not a cycle), and names that ``sak_core.__getattr__`` loads on first use by
dotted-path string.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "sak_core"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the sak_core modules it imports (a name imported from a package that is one of
    its submodules counts as that submodule)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            for target in targets:
                while target and target not in modules:  # `import sak_core.x.y` -> sak_core.x.y
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_checker_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_graph_sees_deferred_and_type_only_imports():
    graph = import_graph()
    assert "sak_core.model" in graph["sak_core.checkpoint"]  # from sak_core.model import SAKStudent
    assert "sak_core.specs" in graph["sak_core.api"]
    assert "sak_core.evaluation.drawing" in graph["sak_core.inference"]  # inside a function
    assert "sak_core.model" in graph["sak_core.binding"]  # under TYPE_CHECKING


def test_sak_core_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle in sak_core: " + " -> ".join(cycle)
