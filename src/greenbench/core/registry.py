"""One registry for every kind of plugin (recipes, runtimes, energy meters, forecasters, routing
policies, figures): ``Registry(kind, package)`` maps a name to a plugin and remembers the module that
registered it, so a workflow job can depend on exactly the plugin modules its cells use.

Entries are lazy: the registry imports every module of its plugin package, and of its subpackages
(``pkgutil``, in name order), the first time it is asked for an entry, not when the package is imported. Adding a plugin therefore
touches its own module only, and the package's ``__init__`` (an input of every job that imports the
package) does not name its plugins, so editing one plugin reruns only its own jobs.

The order of entries does not depend on import order: plugins registered outside the package (built-ins
kept beside the code that uses them, toy plugins in tests) come first in registration order, then the
package's modules in name order, each in its own registration order. Unknown names raise a ``KeyError``
listing the known ones.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Callable, Generic, Iterable, TypeVar

T = TypeVar("T")


def defining_module(helpers: Iterable[str]) -> str:
    """The module that called a register function, looking past ``helpers`` (the registry's own
    modules and shared registration helpers): where a plugin is defined."""
    helpers = {__name__, *helpers}
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name not in helpers:
            return name
        frame = frame.f_back
    return ""


class Registry(MutableMapping, Generic[T]):
    """``name -> plugin`` for one kind of plugin.

    - ``kind``: what the plugins are, for messages ("variant", "runtime", ...).
    - ``package``: the package whose modules are the plugins (imported lazily, all of them and those of its
      subpackages, on the first lookup), or None when every entry is registered by code that is imported anyway.
    - ``support``: modules of the package that register nothing (shared helpers, named relative to the
      package: ``base``, ``gpu.common``); not imported by discovery.
    - ``helpers``: modules whose frames are looked past to find the defining module (shared registration
      helpers such as ``greenbench.cells.variants.trained``).
    - ``check(name, plugin)``: returns why a plugin cannot be registered, or None.
    - ``reserved``: names no plugin may take (e.g. the runtime ``eager``).
    """

    def __init__(
        self,
        kind: str,
        package: str | None = None,
        *,
        support: Iterable[str] = (),
        helpers: Iterable[str] = (),
        check: Callable[[str, T], str | None] | None = None,
        reserved: Iterable[str] = (),
    ) -> None:
        self.kind, self.package = kind, package
        self._support, self._helpers = tuple(support), tuple(helpers)
        self._check, self._reserved = check, frozenset(reserved)
        self._entries: dict[str, T] = {}
        self._defined_in: dict[str, str] = {}
        self._loaded = package is None
        self._loading = False

    # ---- registering
    def register(self, plugin: T, name: str | None = None) -> T:
        """Register ``plugin`` under ``name`` (default: its ``name`` attribute); returns the plugin, so
        it also works as a decorator."""
        name = name if name is not None else getattr(plugin, "name")
        if name in self._entries or name in self._reserved:
            first = self._defined_in.get(name, "the registry itself")
            raise ValueError(f"{self.kind} '{name}' registered twice (first by {first})")
        why = self._check(name, plugin) if self._check else None
        if why:
            raise ValueError(f"{self.kind} '{name}': {why}")
        self._entries[name] = plugin
        self._defined_in[name] = defining_module(self._helpers)
        if self._loaded and not self._loading:
            self._reorder()
        return plugin

    def named(self, name: str) -> Callable[[T], T]:
        """A decorator registering a function or class under ``name``: ``@MONITORS.named("cpu")``."""
        return lambda plugin: self.register(plugin, name)

    # ---- discovery
    def load(self) -> "Registry[T]":
        """Import every plugin module of the package (once)."""
        if self._loaded or self._loading:
            return self
        self._loading = True
        try:
            self._import_all(self.package, "")
            self._loaded = True
        finally:
            self._loading = False
        self._reorder()
        return self

    def _import_all(self, package: str, prefix: str) -> None:
        """Import the modules of ``package`` in name order, and those of its subpackages (plugins grouped
        by kind, as meters by device class: ``meters/gpu/nvidia.py``), skipping ``support`` modules
        (named relative to the registry's package: ``base``, ``gpu.common``) and private ones."""
        module = importlib.import_module(package)
        for info in sorted(pkgutil.iter_modules(list(module.__path__)), key=lambda i: i.name):
            relative = prefix + info.name
            if relative in self._support or info.name.startswith("_"):
                continue
            importlib.import_module(f"{package}.{info.name}")
            if info.ispkg:
                self._import_all(f"{package}.{info.name}", relative + ".")

    def _in_package(self, module: str) -> bool:
        return self.package is not None and module.startswith(self.package + ".")

    def _reorder(self) -> None:
        """Outside plugins first (registration order), then the package's modules in name order."""
        position = {name: i for i, name in enumerate(self._entries)}

        def key(name: str) -> tuple:
            module = self._defined_in[name]
            return (1, module, position[name]) if self._in_package(module) else (0, "", position[name])

        self._entries = {name: self._entries[name] for name in sorted(self._entries, key=key)}

    # ---- lookups (each loads the package first)
    def __getitem__(self, name: str) -> T:
        self.load()
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} '{name}' (known: {', '.join(self.known())})") from None

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        self.load()
        return iter(list(self._entries))

    def __len__(self) -> int:
        self.load()
        return len(self._entries)

    def __setitem__(self, name: str, plugin: T) -> None:
        """Replace or add an entry without checks (tests patch entries this way)."""
        self.load()
        self._entries[name] = plugin
        self._defined_in.setdefault(name, defining_module(self._helpers))

    def __delitem__(self, name: str) -> None:
        self.load()
        del self._entries[name]
        self._defined_in.pop(name, None)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.package!r}, {len(self._entries)} entries)"

    def copy(self) -> "Registry[T]":
        """A registry with the same entries that later registrations do not share (for tests)."""
        self.load()
        other = Registry(
            self.kind,
            self.package,
            support=self._support,
            helpers=self._helpers,
            check=self._check,
            reserved=self._reserved,
        )
        other._entries, other._defined_in, other._loaded = dict(self._entries), dict(self._defined_in), True
        return other

    def known(self) -> list[str]:
        """The registered names, sorted (for messages)."""
        self.load()
        return sorted([*self._entries, *self._reserved])

    def module_of(self, name: str) -> str:
        """The module that registered ``name``."""
        self.load()
        return self._defined_in[name]

    @property
    def modules(self) -> Mapping[str, str]:
        """``{name: defining module}`` for the plugins defined in the package (not shared code, not tests)."""
        return _Modules(self)


class _Modules(Mapping):
    """A live, lazy view ``name -> module`` of a registry's package plugins."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def _items(self) -> dict[str, str]:
        r = self._registry.load()
        return {name: r._defined_in[name] for name in r._entries if r._in_package(r._defined_in[name])}

    def __getitem__(self, name: str) -> str:
        return self._items()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())

    def __repr__(self) -> str:
        return repr(self._items())
