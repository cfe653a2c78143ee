"""Registering a teacher is cheap: the modules entry points load import no deep-learning library.

The check runs in a fresh interpreter with ``sak_core`` stubbed as a bare namespace (so what is
measured is the plugin and the teacherlib/weights/specs modules it uses, not the rest of
``sak_core``), imports the plugin, runs its hook, and lists the heavy modules that got imported.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "timm", "open_clip", "segment_anything")
PROBE = r"""
import importlib, importlib.util, json, sys, types
locations = importlib.util.find_spec("sak_core").submodule_search_locations
stub = types.ModuleType("sak_core")
stub.__path__ = list(locations)
sys.modules["sak_core"] = stub
from sak_core.plugin.hookspecs import hookimpl
stub.hookimpl = hookimpl
registered = []
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    if hasattr(module, "sak_register_teachers"):
        module.sak_register_teachers(registered.append)
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(%r))
print(json.dumps({"heavy": heavy, "registered": [s.name for s in registered]}))
""" % (HEAVY,)


def probe(*modules: str) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE, *modules], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("name", ["dinov2", "timm", "clip", "sam"])
def test_entry_point_module_registers_without_heavy_imports(name):
    found = probe(f"sak_teacher_{name}", f"sak_teacher_{name}.plugin", "sak_core.plugin.teacher_recipes", "sak_core.weights.sources")
    assert found == {"heavy": [], "registered": [name]}


def test_the_probe_sees_heavy_imports():
    assert "torch" in probe("sak_core.plugin.teachers")["heavy"]
