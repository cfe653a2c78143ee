"""The module paths of sak-core 0.1 still import for one release, each with a DeprecationWarning
that names its new home; the new paths import without one."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sak_core._moved import MOVED_MODULES, MOVED_NAMES

OLD_MODULES = ["sak_core.teacherlib", "sak_core.tasklib", "sak_core.checkpoint", "sak_core.training.rundir",
               "sak_core.evaluation.run"]
OLD_NAMES = [("sak_core.runtime", "resolve_precision"), ("sak_core.weights", "hub_source"),
             ("sak_core.config", "write_resolved"), ("sak_core.config", "resolved_files")]

# One fresh interpreter answers every case: the DeprecationWarnings each import raises.
PROBE = """
import importlib, json, sys, warnings

def caught(do):
    with warnings.catch_warnings(record=True) as found:
        warnings.simplefilter("always")
        do()
    return [str(w.message) for w in found if w.category is DeprecationWarning]

news, old_modules, old_names = json.loads(sys.argv[1])
answer = {"new": caught(lambda: [importlib.import_module(n) for n in news])}
for old in old_modules:
    def load(old=old):
        module = importlib.import_module(old)
        answer["same:" + old] = module is importlib.import_module(old_modules[old])
    answer[old] = caught(load)
for package, name in old_names:
    answer[package + "." + name] = caught(lambda: exec(f"from {package} import {name}"))
try:
    importlib.import_module("sak_core.runtime").no_such_name
except AttributeError as exc:
    answer["missing"] = str(exc)
print(json.dumps(answer))
"""


@pytest.fixture(scope="module")
def answers() -> dict:
    news = sorted(set(MOVED_MODULES.values()) | set(MOVED_NAMES.values()) | {"sak_core.plugin"})
    cases = [news, {old: MOVED_MODULES[old] for old in OLD_MODULES}, OLD_NAMES]
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(cases)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("old", OLD_MODULES)
def test_an_old_module_path_warns_and_gives_the_new_module(answers, old):
    new = MOVED_MODULES[old]
    found = answers[old]
    assert len(found) == 1 and old in found[0] and new in found[0] and "sak_core.plugin" in found[0]
    assert answers["same:" + old]


@pytest.mark.parametrize(("package", "name"), OLD_NAMES)
def test_a_name_of_an_old_module_that_is_now_a_package_warns_once(answers, package, name):
    found = answers[f"{package}.{name}"]
    assert len(found) == 1 and f"{MOVED_NAMES[package]}.{name}" in found[0]


def test_the_new_paths_import_without_a_warning(answers):
    assert answers["new"] == []


def test_a_name_that_never_was_is_still_an_attribute_error(answers):
    assert "no_such_name" in answers["missing"]
