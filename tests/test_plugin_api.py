"""The plugin API facade (sak_core.plugin): light, complete, documented, the only import of the
built-in plugins, scaffolds and examples; its version range check; the declared Task.metric."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import sak_core.plugin as facade
from sak_core.errors import PluginError
from sak_core.plugin.api_version import API_VERSION, check_api, in_range, parse_range

ROOT = Path(__file__).resolve().parents[1]
API_DOC = ROOT / "docs" / "plugins" / "api.md"
# what plugin code may import from sak; examples/predict_image.py is an application of the user
# API (sak_core.load_student, sak_core.predict), not a plugin
ALLOWED = re.compile(r"^\s*(from|import) sak_core\.(plugin|testing)\b")
APPLICATIONS = {ROOT / "examples" / "predict_image.py"}


def plugin_sources() -> list[Path]:
    # the built-in plugins' packages and tests (which read the registry through sak_core.testing), the
    # examples with their tests, both scaffolds with theirs
    trees = [*ROOT.glob("plugins/*/*/sak_*"), *ROOT.glob("plugins/*/*/tests"), *ROOT.glob("examples/*"),
             ROOT / "sak_core" / "scaffold" / "templates"]
    files = [f for tree in trees for f in ([tree] if tree.is_file() else tree.rglob("*"))
             if f.suffix in (".py", ".tmpl") and f.name != "README.md.tmpl"]
    return sorted(set(files) - APPLICATIONS)


def test_importing_the_facade_loads_no_torch():
    code = "import sys, sak_core.plugin; print(sorted(m for m in ('torch', 'timm', 'numpy') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_every_exported_name_resolves_once_and_is_listed_by_dir():
    assert len(facade.__all__) == len(set(facade.__all__))
    missing = object()
    assert [name for name in facade.__all__ if getattr(facade, name, missing) is missing] == []
    assert set(facade.__all__) <= set(dir(facade))
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        facade.Nope  # noqa: B018


def test_the_facade_gives_the_same_objects_as_their_homes():
    from sak_core.plugin.task_helpers import LabelMapTask
    from sak_core.plugin.tasks import Task
    from sak_core.plugin.teacher_recipes import teacher_spec

    assert facade.Task is Task and facade.LabelMapTask is LabelMapTask and facade.teacher_spec is teacher_spec


def test_plugins_scaffolds_and_examples_import_only_the_facade_and_the_kit():
    sources = plugin_sources()
    assert len(sources) > 30  # the globs found the plugins
    assert ROOT / "plugins" / "tasks" / "depth" / "tests" / "test_depth.py" in sources  # and their tests
    offending = [f"{f.relative_to(ROOT)}:{n}: {line.strip()}"
                 for f in sources for n, line in enumerate(f.read_text().splitlines(), 1)
                 if re.match(r"^\s*(from|import) sak_core\b", line) and not ALLOWED.match(line)]
    assert offending == []


def documented_names() -> list[str]:
    """The names docs/plugins/api.md lists: the bullets that start with a name in backticks."""
    return re.findall(r"^- `([A-Za-z_][A-Za-z0-9_]*)`", API_DOC.read_text(), flags=re.MULTILINE)


def test_every_exported_name_is_documented_once_and_nothing_else_is():
    documented = documented_names()
    assert sorted(documented) == sorted(set(documented)), "a name is documented twice"
    assert sorted(set(facade.__all__) - set(documented)) == [], "exported but not in docs/plugins/api.md"
    assert sorted(set(documented) - set(facade.__all__)) == [], "documented but not exported"


def test_the_doc_states_the_api_version():
    assert f"plugin API **{API_VERSION}**" in API_DOC.read_text()


def test_every_built_in_plugin_declares_a_range_holding_the_installed_api():
    from sak_core.plugin.registry import get_registry

    registry = get_registry()
    built_in = [e for kind in registry.entries for e in registry.entries[kind].values()
                if e.distribution.startswith("sak-") and e.distribution != "sak-toy-plugin"]
    assert {"dinov2", "semseg", "synthetic"} <= {e.name for e in built_in}
    assert {e.name: e.api for e in built_in if not in_range(API_VERSION, e.api or "==0")} == {}
    assert not [f for f in registry.failures if f.distribution.startswith("sak-")]


VERSIONS = st.lists(st.integers(0, 30), min_size=1, max_size=3).map(lambda parts: ".".join(map(str, parts)))


@given(VERSIONS, VERSIONS)
def test_a_range_compares_versions_as_numbers_with_missing_parts_zero(version, bound):
    def key(text):
        parts = [int(p) for p in text.split(".")]
        return parts + [0] * (3 - len(parts))

    assert in_range(version, f">={bound}") == (key(version) >= key(bound))
    assert in_range(version, f"<{bound}") == (key(version) < key(bound))
    assert in_range(version, f"=={bound}") == (key(version) == key(bound))
    assert in_range(version, f">={bound}, !={bound}") == (key(version) > key(bound))


@pytest.mark.parametrize("declared", ["", "1.0", ">=1.0;<2", ">=one", "~=1.0", ">=1.0,", None, 1])
def test_a_malformed_range_is_refused(declared):
    with pytest.raises(ValueError, match="is not a version range"):
        parse_range(declared)


def test_check_api_names_the_plugin_its_range_and_the_installed_api():
    class Module:
        SAK_API = "<1.0"

    with pytest.raises(PluginError) as info:
        check_api("sak-teacher-old", Module, installed="1.3")
    assert str(info.value).startswith(
        "plugin 'sak-teacher-old' was built for plugin API <1.0 but the installed sak provides plugin API 1.3")
    Module.SAK_API = ">=1.0,<2"
    assert check_api("sak-teacher-old", Module, installed="1.3") == ">=1.0,<2"
    assert check_api("sak-teacher-old", Module) == ">=1.0,<2"


def test_task_metric_is_declared_with_full_and_options():
    parameters = inspect.signature(facade.Task.metric).parameters
    assert parameters["full"].default is False and parameters["full"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def test_every_built_in_task_answers_the_declared_metric_call():
    from sak_core.plugin import Metric, create_task, get_dataset_spec, list_tasks

    dataset = get_dataset_spec("synthetic")
    names = [n for n in list_tasks() if n in dataset.tasks]
    assert {"semseg", "depth", "normals", "saliency", "boundaries", "parts"} <= set(names)
    for name in names:
        task = create_task(name, dataset="synthetic")
        for full in (False, True):
            assert isinstance(task.metric(full=full), Metric), (name, full)
