"""Plugin loading, registry and the `sak plugins` command, through real entry points."""

from __future__ import annotations

import json
import textwrap
import types

import pytest
from hypothesis import given
from hypothesis import strategies as st
import torch

import sak_core
from sak_test_utils import run_sak, write_distribution
from sak_core.errors import DuplicateNameError, PluginError, UnknownNameError
from sak_core.plugin import API_VERSION
from sak_core.plugin.api_version import SUGGESTED_RANGE
from sak_core.plugin.registry import get_plugin_manager, temporary_plugin

TOY_EP = {"sak.teachers": {"toy": "sak_toy_plugin"}}


def test_in_memory_plugin_is_listed_and_removed(toy_plugins):
    assert {"toy_a", "toy_b"} <= set(sak_core.list_teachers())
    assert sak_core.list_teachers("toy_*") == ["toy_a", "toy_b"]
    assert {"toy_seg", "toy_reg"} <= set(sak_core.list_tasks())
    assert "toy" in sak_core.list_datasets()
    entry = get_plugin_manager().registry.get("teacher", "toy_a")
    assert entry.distribution == "sak-toy-plugin"


def test_unregistering_removes_names():
    with temporary_plugin(__import__("sak_toy_plugin")):
        assert "toy_a" in sak_core.list_teachers()
    assert "toy_a" not in sak_core.list_teachers()


def test_create_teacher_and_task(toy_plugins):
    teacher = sak_core.create_teacher("toy_a")
    out = teacher(torch.randn(2, 3, 32, 48))
    assert [tuple(f.shape) for f in out.features] == [(2, 64, 4, 6)] * 4
    task = sak_core.create_task("toy_seg", dataset="toy")
    assert task.num_outputs == 2 and task.name == "toy_seg"


def test_unknown_name_lists_installed_and_suggests(toy_plugins):
    with pytest.raises(UnknownNameError) as info:
        sak_core.create_teacher("toy_aa")
    message = str(info.value)
    assert "unknown teacher 'toy_aa'" in message
    assert "Did you mean 'toy_a'?" in message
    assert "toy_a, toy_b" in message


def test_duplicate_name_names_both_distributions(toy_plugins):
    clash = types.SimpleNamespace(
        sak_register_teachers=sak_core.hookimpl(lambda register: register(toy_plugins.toy_teacher_spec("toy_a", 8)))
    )
    with temporary_plugin(clash, distribution="sak-teacher-clash"):
        assert "toy_a" in sak_core.list_teachers() and "toy_b" in sak_core.list_teachers()  # listing works
        assert get_plugin_manager().registry.conflicts == {("teacher", "toy_a"): ["sak-toy-plugin", "sak-teacher-clash"]}
        sak_core.create_teacher("toy_b")  # the other names still work
        with pytest.raises(DuplicateNameError) as info:  # the name itself is refused
            sak_core.create_teacher("toy_a")
    assert "'sak-toy-plugin'" in str(info.value) and "'sak-teacher-clash'" in str(info.value)


def test_registering_the_wrong_spec_type_is_a_failure_not_a_crash(toy_plugins):
    bad = types.SimpleNamespace(sak_register_tasks=sak_core.hookimpl(lambda register: register("semseg")))
    with temporary_plugin(bad, distribution="sak-task-bad"):
        registry = get_plugin_manager().registry
        assert "toy_seg" in registry.names("task")  # the others still load
        (failure,) = [f for f in registry.failures if f.distribution == "sak-task-bad"]
        assert "registered str as a task" in failure.error


@pytest.mark.parametrize("name", ["dino.v2", "clip,timm", "sam:b", "a=b", "seg/edges", "", "2d", "_x", "x y"])
def test_a_name_that_cannot_be_a_module_key_or_a_cli_word_is_a_failure_naming_the_plugin(toy_plugins, name):
    from sak_core.plugin.specs import TeacherSpec

    spec = TeacherSpec(name=name, factory=lambda **kw: None, feature_dim=8, tap_indices=(0,), patch_size=16,
                       input_size=(32, 32))
    bad = types.SimpleNamespace(sak_register_teachers=sak_core.hookimpl(lambda register: register(spec)))
    with temporary_plugin(bad, distribution="sak-teacher-oddname"):
        registry = get_plugin_manager().registry
        assert name not in registry.names("teacher") and "toy_a" in registry.names("teacher")
        (failure,) = [f for f in registry.failures if f.distribution == "sak-teacher-oddname"]
        assert f"registered the teacher name {name!r}: a name is letters, digits" in failure.error
        assert "rename it in the plugin's spec" in failure.error


@given(st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,20}", fullmatch=True))
def test_every_name_the_pattern_accepts_is_a_module_key_and_one_teachers_word(name):
    from sak_core.config import parse_teachers

    torch.nn.ModuleDict({name: torch.nn.Identity()})  # no '.' and not empty
    entries = parse_teachers(f"{name},{name}:large,weights=random")
    assert [e["name"] for e in entries] == [name, f"{name}:large"] and entries[1]["weights"] == "random"


def test_misspelled_hook_is_rejected_with_the_hook_list(toy_plugins):
    typo = types.SimpleNamespace(sak_register_teacher=sak_core.hookimpl(lambda register: None))
    with pytest.raises(PluginError, match="unknown hook 'sak_register_teacher'.*sak_register_teachers"):
        get_plugin_manager().register(typo, distribution="sak-typo")
    assert "toy_a" in sak_core.list_teachers()


def test_blocked_double_registration_is_an_error(toy_plugins):
    manager = get_plugin_manager()
    with pytest.raises(ValueError):
        manager.register(toy_plugins, distribution="again")


# --- through the CLI, with real dist-info entry points -------------------------------------

def test_sak_plugins_lists_installed_distribution(tmp_path):
    write_distribution(tmp_path, "sak-toy-plugin", "1.2.3", TOY_EP)
    result = run_sak("plugins", "--json", site=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["plugins"]
    toy = [r for r in rows if r["name"] == "toy_a"]
    assert toy == [{"kind": "teacher", "name": "toy_a", "distribution": "sak-toy-plugin", "version": "1.2.3",
                    "api": ">=1.0,<2", "description": "toy teacher 64 wide"}]
    assert json.loads(result.stdout)["api_version"] == API_VERSION
    table = run_sak("plugins", site=tmp_path, env={"COLUMNS": "200"})
    assert "toy_a" in table.stdout and "sak-toy-plugin" in table.stdout and "1.2.3" in table.stdout
    assert ">=1.0,<2" in table.stdout and f"plugin API {API_VERSION}" in table.stdout


def test_broken_plugin_is_reported_and_others_load(tmp_path):
    write_distribution(tmp_path, "sak-toy-plugin", "1.0", TOY_EP)
    write_distribution(
        tmp_path, "sak-broken", "0.1", {"sak.tasks": {"broken": "sak_broken_mod"}},
        {"sak_broken_mod": "import not_a_module_anywhere\n"},
    )
    result = run_sak("plugins", "--json", site=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert any(r["name"] == "toy_a" for r in data["plugins"])
    (failure,) = [f for f in data["failures"] if f["distribution"] == "sak-broken"]
    assert "No module named 'not_a_module_anywhere'" in failure["error"]
    table = run_sak("plugins", site=tmp_path)
    assert "plugin 'sak-broken' failed to load" in table.stderr


def test_load_plugins_env_restricts_distributions(tmp_path):
    write_distribution(tmp_path, "sak-toy-plugin", "1.0", TOY_EP)
    write_distribution(
        tmp_path, "sak-other", "1.0", {"sak.teachers": {"other": "sak_other_mod"}},
        {"sak_other_mod": """
            from sak_core.plugin import hookimpl
            import sak_toy_plugin

            SAK_API = ">=1.0,<2"

            @hookimpl
            def sak_register_teachers(register):
                register(sak_toy_plugin.toy_teacher_spec("other_teacher", 16))
        """},
    )

    def names(env):
        out = run_sak("plugins", "--json", site=tmp_path, env=env)
        assert out.returncode == 0, out.stderr
        return {r["name"] for r in json.loads(out.stdout)["plugins"] if r["kind"] == "teacher"}

    assert {"toy_a", "other_teacher"} <= names({})
    only = names({"SAK_LOAD_PLUGINS": "sak-other"})
    assert "other_teacher" in only and "toy_a" not in only
    assert not {"toy_a", "other_teacher"} & names({"SAK_LOAD_PLUGINS": ""})
    # a misspelt distribution is reported, with the close match, instead of loading nothing silently
    out = run_sak("plugins", "--json", site=tmp_path, env={"SAK_LOAD_PLUGINS": "sak-othr"})
    (failure,) = [f for f in json.loads(out.stdout)["failures"] if f["distribution"] == "sak-othr"]
    assert "no installed sak plugin distribution is named 'sak-othr' (did you mean 'sak-other'?)" in failure["error"]


def test_duplicate_names_fail_through_cli(tmp_path):
    write_distribution(tmp_path, "sak-toy-plugin", "1.0", TOY_EP)
    write_distribution(
        tmp_path, "sak-copycat", "2.0", {"sak.teachers": {"copy": "sak_copycat_mod"}},
        {"sak_copycat_mod": """
            from sak_core.plugin import hookimpl
            import sak_toy_plugin

            SAK_API = ">=1.0,<2"

            @hookimpl
            def sak_register_teachers(register):
                register(sak_toy_plugin.toy_teacher_spec("toy_b", 16))
        """},
    )
    result = run_sak("plugins", site=tmp_path)  # the listing works and reports the conflict
    assert result.returncode == 0, result.stderr
    assert "toy_a" in result.stdout and "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    assert "conflict: teacher 'toy_b' is registered by both 'sak-toy-plugin' and 'sak-copycat'" in message
    result = run_sak("describe", "teacher", "toy_b", site=tmp_path)  # the command that needs it names both
    assert result.returncode == 1
    assert result.stderr.startswith("error: teacher 'toy_b' is registered by both")
    assert "sak-toy-plugin" in result.stderr and "sak-copycat" in result.stderr
    assert run_sak("describe", "teacher", "toy_a", site=tmp_path).returncode == 0


def test_a_plugin_taking_a_built_in_name_breaks_only_that_name(tmp_path):
    write_distribution(
        tmp_path, "sak-shadow", "1.0", {"sak.datasets": {"shadow": "sak_shadow_mod"}},
        {"sak_shadow_mod": """
            import dataclasses
            from sak_core.plugin import hookimpl

            SAK_API = ">=1.0,<2"

            @hookimpl
            def sak_register_datasets(register):
                from sak_core.datasets.plugin import SYNTHETIC
                register(dataclasses.replace(SYNTHETIC, description="a copy"))
        """},
    )
    result = run_sak("plugins", "--json", site=tmp_path)
    assert result.returncode == 0, result.stderr
    (conflict,) = json.loads(result.stdout)["conflicts"]
    assert conflict["name"] == "synthetic" and sorted(conflict["distributions"]) == ["sak-core", "sak-shadow"]
    result = run_sak("describe", "dataset", "synthetic", site=tmp_path)
    assert result.returncode == 1 and "sak-core" in result.stderr and "sak-shadow" in result.stderr


def test_a_plugin_that_failed_to_load_is_named_by_the_unknown_name_error_and_by_train(tmp_path):
    write_distribution(tmp_path, "sak-toy-plugin", "1.0", TOY_EP)
    write_distribution(tmp_path, "sak-task-broken", "0.1", {"sak.tasks": {"b": "sak_task_broken_mod"}},
                       {"sak_task_broken_mod": "raise ImportError('needs libfoo')\n"})
    result = run_sak("describe", "task", "broken_task", site=tmp_path)
    assert result.returncode == 1
    assert "failed to load, which may provide it: sak-task-broken" in " ".join(result.stderr.split())
    result = run_sak("train", "--teachers", "toy_a", "--dataset", "toy", "--print-config", site=tmp_path)
    assert result.returncode == 0, result.stderr
    message = " ".join((result.stdout + result.stderr).split())
    assert "plugin 'sak-task-broken' failed to load" in message and "needs libfoo" in message


def test_unknown_teacher_through_cli(tmp_path):
    write_distribution(tmp_path, "sak-toy-plugin", "1.0", TOY_EP)
    result = run_sak("describe", "teacher", "toy_aa", site=tmp_path)
    assert result.returncode == 1
    assert "unknown teacher 'toy_aa'" in result.stderr and "Did you mean 'toy_a'?" in result.stderr
    ok = run_sak("describe", "teacher", "toy_b", site=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "feature_dim" in ok.stdout and "32" in ok.stdout


def test_plugin_error_type_is_exported():
    assert issubclass(DuplicateNameError, PluginError)


# --- the plugin API range each plugin declares (SAK_API) ------------------------------------

KIND_PLUGINS = {  # kind -> (distribution, entry-point group, module registering one of that kind, name)
    "teacher": ("sak-teacher-ranged", "sak.teachers", """
        from sak_core.plugin import hookimpl
        import sak_toy_plugin

        @hookimpl
        def sak_register_teachers(register):
            register(sak_toy_plugin.toy_teacher_spec("ranged_teacher", 16))
    """, "ranged_teacher"),
    "task": ("sak-task-ranged", "sak.tasks", """
        from sak_core.plugin import TaskSpec, hookimpl, lazy

        @hookimpl
        def sak_register_tasks(register):
            register(TaskSpec(name="ranged_task", factory=lazy("sak_toy_plugin:ToyRegTask")))
    """, "ranged_task"),
    "dataset": ("sak-data-ranged", "sak.datasets", """
        import dataclasses
        from sak_core.plugin import hookimpl
        import sak_toy_plugin

        @hookimpl
        def sak_register_datasets(register):
            register(dataclasses.replace(sak_toy_plugin.TOY_DATASET, name="ranged_data"))
    """, "ranged_data"),
}


def install_ranged_plugins(site, ranges: dict[str, str | None]) -> None:
    """One installed plugin of each kind, declaring ``ranges[kind]`` (None: no SAK_API)."""
    for kind, (dist, group, source, _) in KIND_PLUGINS.items():
        module = dist.replace("-", "_") + "_mod"
        declared = "" if ranges[kind] is None else f"SAK_API = {ranges[kind]!r}\n"
        write_distribution(site, dist, "1.0", {group: {kind: module}},
                           {module: declared + textwrap.dedent(source)})


def plugins_json(site) -> dict:
    result = run_sak("plugins", "--json", site=site)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("refused", list(KIND_PLUGINS))
def test_a_plugin_built_for_another_api_is_refused_by_name_while_the_others_load(tmp_path, refused):
    ranges = {kind: ">=1.0,<2" for kind in KIND_PLUGINS} | {refused: ">=2.0,<3"}
    install_ranged_plugins(tmp_path, ranges)
    data = plugins_json(tmp_path)
    loaded = {(r["kind"], r["name"]): r["api"] for r in data["plugins"]}
    for kind, (dist, _, _, name) in KIND_PLUGINS.items():
        assert ((kind, name) in loaded) == (kind != refused), (kind, loaded)
        if kind != refused:
            assert loaded[(kind, name)] == ">=1.0,<2"  # `sak plugins` shows the declared range
    dist = KIND_PLUGINS[refused][0]
    (failure,) = [f for f in data["failures"] if f["distribution"] == dist]
    assert failure["error"] == (
        f"plugin '{dist}' was built for plugin API >=2.0,<3 but the installed sak provides plugin API "
        f"{API_VERSION}: install a version of '{dist}' built for {API_VERSION}, or a sak whose plugin API "
        f"is in >=2.0,<3"
    )
    assert {"semseg", "dinov2", "synthetic"} <= {r["name"] for r in data["plugins"]}  # the built-ins load
    # and a command that needs the refused name says which plugin failed, with why, on one line
    name = KIND_PLUGINS[refused][3]
    result = run_sak("describe", refused, name, site=tmp_path)
    assert result.returncode == 1 and result.stderr.startswith("error: ")
    assert f"failed to load, which may provide it: {dist}" in " ".join(result.stderr.split())


def test_a_plugin_without_a_range_or_with_a_malformed_one_is_a_failure_that_says_what_to_write(tmp_path):
    install_ranged_plugins(tmp_path, {"teacher": None, "task": "1.0", "dataset": ">=1.0,<2"})
    data = plugins_json(tmp_path)
    errors = {f["distribution"]: f["error"] for f in data["failures"]}
    assert errors["sak-teacher-ranged"].startswith("plugin 'sak-teacher-ranged' declares no plugin API range")
    assert f'add `SAK_API = "{SUGGESTED_RANGE}"` next to its hook implementations' in errors["sak-teacher-ranged"]
    assert errors["sak-task-ranged"].startswith(
        "plugin 'sak-task-ranged' declares SAK_API = '1.0', which is not a version range")
    assert "sak-data-ranged" not in errors
    assert "ranged_data" in {r["name"] for r in data["plugins"]}


def test_an_in_memory_plugin_is_checked_when_it_declares_a_range(toy_plugins):
    newer = types.SimpleNamespace(
        SAK_API=">=1.5", sak_register_teachers=sak_core.hookimpl(lambda register: None)
    )
    with pytest.raises(PluginError, match=r"plugin 'sak-newer' was built for plugin API >=1.5 but the installed"):
        get_plugin_manager().register(newer, distribution="sak-newer")
    entry = get_plugin_manager().registry.get("teacher", "toy_a")
    assert entry.api == ">=1.0,<2"
