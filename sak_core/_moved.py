"""The module paths of sak-core 0.1, kept for one release: importing one warns and gives its new home.

sak-core 0.2 grouped its modules into packages by job (docs/architecture.md). Code that imports an
old path (``from sak_core.teacherlib import timm_recipe``) keeps working, with a
:class:`DeprecationWarning` naming the new path; plugins import :mod:`sak_core.plugin` instead.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

MOVED_MODULES = {
    "sak_core.api": "sak_core.plugin.lookup",
    "sak_core.assemble": "sak_core.model.assemble",
    "sak_core.batch": "sak_core.datasets.batch",
    "sak_core.binding": "sak_core.run.binding",
    "sak_core.checkpoint": "sak_core.run.checkpoint",
    "sak_core.distill": "sak_core.model.distill",
    "sak_core.evaluation.run": "sak_core.run.context",
    "sak_core.export": "sak_core.convert.onnx",
    "sak_core.hookspecs": "sak_core.plugin.hookspecs",
    "sak_core.inference": "sak_core.evaluation.prediction",
    "sak_core.interrupts": "sak_core.runtime.interrupts",
    "sak_core.io": "sak_core.runtime.files",
    "sak_core.multitask_gain": "sak_core.evaluation.multitask_gain",
    "sak_core.plugins": "sak_core.plugin.registry",
    "sak_core.specs": "sak_core.plugin.specs",
    "sak_core.taps": "sak_core.plugin.taps",
    "sak_core.tasklib": "sak_core.plugin.task_helpers",
    "sak_core.tasks": "sak_core.plugin.tasks",
    "sak_core.teacherlib": "sak_core.plugin.teacher_recipes",
    "sak_core.teachers": "sak_core.plugin.teachers",
    "sak_core.training.rundir": "sak_core.run.rundir",
    "sak_core.weight_layouts": "sak_core.weights.layouts",
}
# old modules that are now packages of the same name: their names come from one module of the package
MOVED_NAMES = {
    "sak_core.runtime": "sak_core.runtime.device",
    "sak_core.weights": "sak_core.weights.sources",
    "sak_core.config": "sak_core.run.layout",  # resolved_files, write_resolved only (config.__getattr__)
}
REMOVAL = "sak-core 0.3"


def warn_moved(old: str, new: str, stacklevel: int = 3) -> None:
    warnings.warn(
        f"{old} moved to {new} and the old path goes in {REMOVAL}; plugins import from sak_core.plugin "
        "(docs/plugins/api.md)",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


def moved_name(package: str, name: str) -> Any:
    """``package.name`` of sak-core 0.1 (for a package's ``__getattr__``), with a warning."""
    module = MOVED_NAMES[package]
    value = getattr(importlib.import_module(module), name, None)
    if value is None or name.startswith("_"):
        raise AttributeError(f"module '{package}' has no attribute '{name}'")
    warn_moved(f"{package}.{name}", f"{module}.{name}")
    setattr(sys.modules[package], name, value)  # warned once: `from package import name` looks twice
    return value


class _Alias(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        warn_moved(spec.name, self.new, stacklevel=8)
        return importlib.import_module(self.new)

    def exec_module(self, module: ModuleType) -> None:
        pass  # the new module is already executed


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the old paths of moved modules (after every real finder has said no)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        new = MOVED_MODULES.get(fullname)
        return importlib.util.spec_from_loader(fullname, _Alias(new)) if new else None


def install() -> None:
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
