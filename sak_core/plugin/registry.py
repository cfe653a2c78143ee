"""Plugin loading (pluggy entry points) and the registry of teachers, tasks and datasets."""

from __future__ import annotations

import difflib
import importlib.metadata
import os
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pluggy

from sak_core.plugin import hookspecs
from sak_core.errors import DuplicateNameError, PluginError, UnknownNameError
from sak_core.plugin.api_version import API_ATTRIBUTE, check_api
from sak_core.plugin.specs import NAME_PATTERN, DatasetSpec, TaskSpec, TeacherSpec

ENTRY_POINT_GROUPS = ("sak.teachers", "sak.tasks", "sak.datasets")
LOAD_PLUGINS_ENV = "SAK_LOAD_PLUGINS"
CORE_DISTRIBUTION = "sak-core"
IN_MEMORY = "<in-memory>"

KINDS = {
    "teacher": ("sak_register_teachers", TeacherSpec),
    "task": ("sak_register_tasks", TaskSpec),
    "dataset": ("sak_register_datasets", DatasetSpec),
}


@dataclass(frozen=True)
class Registered:
    """A spec and the distribution that registered it."""

    kind: str
    name: str
    spec: Any
    distribution: str
    version: str
    api: str = ""  # the plugin API range its plugin declares (SAK_API); "" for in-memory ones without


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be imported or whose hook raised."""

    distribution: str
    entry_point: str
    error: str


@dataclass
class Registry:
    """Every registered spec by kind and name, the plugins that failed, and the names that more
    than one distribution registered (``conflicts[(kind, name)]`` = those distributions; the
    first one's entry is listed, and :meth:`get` refuses the name)."""

    entries: dict[str, dict[str, Registered]] = field(default_factory=lambda: {k: {} for k in KINDS})
    failures: list[PluginFailure] = field(default_factory=list)
    conflicts: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def conflict_message(self, kind: str, name: str) -> str:
        first, *others = self.conflicts[(kind, name)]
        both = " and ".join(f"'{d}'" for d in [first, *others])
        return (f"{kind} '{name}' is registered by both {both}: uninstall one of them, or restrict loading "
                f"with {LOAD_PLUGINS_ENV}=<distributions to load>")

    def get(self, kind: str, name: str) -> Registered:
        """The entry for ``name``; unknown names list what is installed, a close match and the
        plugins that failed to load; a name two distributions registered names both."""
        if (kind, name) in self.conflicts:
            raise DuplicateNameError(self.conflict_message(kind, name))
        try:
            return self.entries[kind][name]
        except KeyError:
            pass
        installed = self.names(kind)
        close = difflib.get_close_matches(name, installed, n=1, cutoff=0.5)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        listed = ", ".join(installed) if installed else "none"
        failed = sorted({f.distribution for f in self.failures})
        broken = (f" Plugin(s) that failed to load, which may provide it: {', '.join(failed)}."
                  if failed else "")
        raise UnknownNameError(
            f"unknown {kind} '{name}'.{hint} Installed {kind}s: {listed}.{broken} "
            f"Install the plugin that provides it "
            f"or run `sak plugins` to see what is loaded."
        ) from None


@dataclass(frozen=True)
class _PluginInfo:
    distribution: str
    version: str
    api: str = ""


class PluginManager:
    """Loads entry-point plugins once and builds the :class:`Registry` from their hooks."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self._info: dict[str, _PluginInfo] = {}
        self._load_failures: list[PluginFailure] = []
        self._entry_points_loaded = False
        self._registry: Registry | None = None

    # -- loading --------------------------------------------------------------------------
    def load_entry_points(self) -> None:
        """Import every plugin in the sak entry-point groups (once).

        ``SAK_LOAD_PLUGINS=a,b`` restricts third-party plugins to those distributions (empty:
        none); sak-core's own built-ins always load. A plugin that fails to import, or whose
        module declares no ``SAK_API`` range holding :data:`~sak_core.plugin.API_VERSION`, is
        recorded in :attr:`Registry.failures` and the others still load.
        """
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        allow = _allowlist()
        seen: set[str] = set()
        for dist in importlib.metadata.distributions():
            dist_name = _canonical(dist.metadata["Name"] or "")
            if dist_name in seen:  # the same distribution found twice on sys.path
                continue
            eps = [ep for ep in dist.entry_points if ep.group in ENTRY_POINT_GROUPS]
            if not eps:
                continue
            seen.add(dist_name)
            if allow is not None and dist_name != CORE_DISTRIBUTION and dist_name not in allow:
                continue
            for ep in eps:
                plugin_name = f"{dist_name}:{ep.group}:{ep.name}"
                if self.pm.has_plugin(plugin_name):
                    continue
                try:
                    module = ep.load()
                    api = check_api(dist_name, module)
                    self.pm.register(module, name=plugin_name)
                    self._check_hook_names(plugin_name)
                except Exception as exc:  # a broken plugin must not stop the others
                    self._load_failures.append(
                        PluginFailure(dist_name, f"{ep.group}:{ep.name} = {ep.value}", _describe(exc))
                    )
                    continue
                self._info[plugin_name] = _PluginInfo(dist_name, dist.version, api)
        for name in sorted((allow or set()) - seen):  # a misspelt name would silently load nothing
            close = difflib.get_close_matches(name, sorted(seen), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            self._load_failures.append(PluginFailure(
                name, LOAD_PLUGINS_ENV, f"no installed sak plugin distribution is named '{name}'{hint}; "
                f"{LOAD_PLUGINS_ENV} lists distribution names, e.g. sak-task-semseg (see `sak plugins`)",
            ))
        self._registry = None

    def _check_hook_names(self, plugin_name: str) -> None:
        """Reject a plugin that implements a hook sak does not define (usually a misspelling)."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self.pm.unregister(name=plugin_name)
            known = ", ".join(name for name in dir(hookspecs) if name.startswith("sak_register_"))
            raise PluginError(f"{exc}; sak's hooks are: {known}") from None

    def register(self, plugin: Any, name: str | None = None, distribution: str = IN_MEMORY) -> str:
        """Register an in-memory plugin (an object or module with hook implementations); its
        ``SAK_API`` range is checked when it declares one."""
        api = check_api(distribution, plugin) if hasattr(plugin, API_ATTRIBUTE) else ""
        plugin_name = self.pm.register(plugin, name=name)
        if plugin_name is None:
            raise PluginError(f"plugin {name or plugin!r} is blocked or already registered")
        self._check_hook_names(plugin_name)
        self._info[plugin_name] = _PluginInfo(distribution, "", api)
        self._registry = None
        return plugin_name

    def unregister(self, name: str) -> None:
        """Remove a plugin registered with :meth:`register`."""
        self.pm.unregister(name=name)
        self._info.pop(name, None)
        self._registry = None

    # -- registry -------------------------------------------------------------------------
    @property
    def registry(self) -> Registry:
        """The registry, built on first use from every loaded plugin's hooks."""
        self.load_entry_points()
        if self._registry is None:
            self._registry = self._build_registry()
        return self._registry

    def _build_registry(self) -> Registry:
        registry = Registry(failures=list(self._load_failures))
        for kind, (hook_name, spec_type) in KINDS.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                info = self._info.get(impl.plugin_name, _PluginInfo(IN_MEMORY, ""))
                register = _Registrar(registry, kind, spec_type, info)
                try:
                    impl.function(**{arg: register for arg in impl.argnames})
                except Exception as exc:
                    registry.failures.append(PluginFailure(info.distribution, hook_name, _describe(exc)))
        return registry

    def hook_names(self, plugin_name: str) -> list[str]:
        """Hooks that ``plugin_name`` implements."""
        plugin = self.pm.get_plugin(plugin_name)
        return sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])

    def plugins(self) -> list[tuple[str, str, str]]:
        """(plugin name, distribution, version) of every loaded plugin."""
        self.load_entry_points()
        return sorted(
            (name, info.distribution, info.version)
            for name, info in self._info.items()
            if self.pm.has_plugin(name)
        )


class _Registrar:
    """The ``register`` callback handed to one plugin's hook."""

    def __init__(self, registry: Registry, kind: str, spec_type: type, info: _PluginInfo) -> None:
        self.registry, self.kind, self.spec_type, self.info = registry, kind, spec_type, info

    def __call__(self, spec: Any) -> None:
        if not isinstance(spec, self.spec_type):
            raise PluginError(
                f"plugin '{self.info.distribution}' registered {type(spec).__name__} as a {self.kind}; "
                f"register a {self.spec_type.__name__}"
            )
        if not isinstance(spec.name, str) or not NAME_PATTERN.fullmatch(spec.name):
            raise PluginError(
                f"plugin '{self.info.distribution}' registered the {self.kind} name {spec.name!r}: a name is "
                "letters, digits, '_' and '-', starting with a letter (it becomes a module key, a "
                "command-line word and a file name); rename it in the plugin's spec"
            )
        table = self.registry.entries[self.kind]
        previous = table.get(spec.name)
        if previous is not None:  # recorded, not raised: only the commands that need the name fail
            distributions = self.registry.conflicts.setdefault((self.kind, spec.name), [previous.distribution])
            distributions.append(self.info.distribution)
            return
        table[spec.name] = Registered(self.kind, spec.name, spec, self.info.distribution, self.info.version,
                                      self.info.api)


def _canonical(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def _allowlist() -> set[str] | None:
    raw = os.environ.get(LOAD_PLUGINS_ENV)
    if raw is None:
        return None
    return {_canonical(n) for n in raw.split(",") if n.strip()}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, PluginError):  # sak's own sentence, without the class name
        return str(exc)
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


_manager: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager."""
    global _manager
    if _manager is None:
        _manager = PluginManager()
    return _manager


def get_registry() -> Registry:
    """The process-wide registry (plugins load on first call)."""
    return get_plugin_manager().registry


@contextmanager
def temporary_plugin(plugin: Any, distribution: str = IN_MEMORY) -> Iterator[str]:
    """Register an in-memory plugin for the duration of a ``with`` block (tests, notebooks)."""
    manager = get_plugin_manager()
    manager.load_entry_points()
    name = manager.register(plugin, distribution=distribution)
    try:
        yield name
    finally:
        manager.unregister(name)
