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


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the modules of ``package`` (sak_core by default, or a plugin's package) it imports
    (a name imported from a package that is one of its submodules counts as that submodule)."""
    modules = {module_name(p, package): p for p in package.rglob("*.py")}
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
    assert "sak_core.model" in graph["sak_core.run.checkpoint"]  # from sak_core.model import SAKStudent
    assert "sak_core.plugin.specs" in graph["sak_core.plugin.lookup"]
    assert "sak_core.evaluation.drawing" in graph["sak_core.evaluation.prediction"]  # inside a function
    assert "sak_core.model" in graph["sak_core.run.binding"]  # under TYPE_CHECKING


def test_sak_core_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle in sak_core: " + " -> ".join(cycle)


# The layers of sak_core, lowest first: a module may import its own package and the layers below
# it, never a layer above it nor a sibling package of its own layer (docs/architecture.md).
LAYERS: list[list[str]] = [
    ["sak_core.errors", "sak_core._moved"],
    ["sak_core.runtime"],
    ["sak_core.config"],
    ["sak_core.weights"],
    ["sak_core.plugin"],
    ["sak_core.plugin.lookup"],
    ["sak_core.model", "sak_core.datasets", "sak_core.presets", "sak_core.baselines"],
    ["sak_core.run"],
    ["sak_core.evaluation", "sak_core.testing"],
    ["sak_core.training", "sak_core.convert", "sak_core.scaffold"],
    ["sak_core.cli"],
    ["sak_core", "sak_core.__main__"],
]
# A face re-exports names for users and may import every layer below the command line; the
# modules of its package stay on the package's own layer.
FACES = {"sak_core.plugin": len(LAYERS) - 3}
MAX_TOP_LEVEL_MODULES = 8


def layer_of(module: str) -> tuple[int, str] | None:
    """(layer index, group) of the longest group that holds ``module``."""
    if module in FACES:
        return FACES[module], module
    found = None
    for index, layer in enumerate(LAYERS):
        for group in layer:
            if (module == group or module.startswith(group + ".")) and (found is None or len(group) > len(found[1])):
                found = (index, group)
    return found


def imports_against_the_layers(graph: dict[str, set[str]]) -> list[str]:
    """Every import that runs up the layers or sideways into a sibling package, and every module
    that is on no layer."""
    wrong = []
    for module, targets in sorted(graph.items()):
        here = layer_of(module)
        if here is None:
            wrong.append(f"{module} is on no layer")
            continue
        for target in sorted(targets):
            there = layer_of(target)
            if there is None or there[0] > here[0] or (there[0] == here[0] and there[1] != here[1]):
                wrong.append(f"{module} -> {target}")
    return wrong


def test_the_layer_check_finds_an_upward_and_a_sideways_import():
    assert imports_against_the_layers({"sak_core.runtime.files": {"sak_core.cli.main"}}) == [
        "sak_core.runtime.files -> sak_core.cli.main"]
    assert imports_against_the_layers({"sak_core.model.stem": {"sak_core.datasets.files"}}) == [
        "sak_core.model.stem -> sak_core.datasets.files"]
    assert imports_against_the_layers({"sak_core.cli.main": {"sak_core.errors"}}) == []


def test_no_import_runs_up_the_layers():
    wrong = imports_against_the_layers(import_graph())
    assert not wrong, "imports against the layers of docs/architecture.md: " + "; ".join(wrong)


def test_the_top_of_sak_core_holds_few_modules():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, f"{len(top)} modules at the top of sak_core: {top}"


def test_the_plugins_have_no_import_cycle():
    roots = [p for p in PACKAGE.parent.glob("plugins/*/*/sak_*") if p.is_dir()]
    roots += [p for p in PACKAGE.parent.glob("examples/*/sak_*") if p.is_dir()]
    assert len(roots) >= 10
    for root in roots:
        cycle = find_cycle(import_graph(root))
        assert cycle is None, f"import cycle in {root.name}: " + " -> ".join(cycle)
