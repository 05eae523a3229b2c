"""One registry helper for every kind of plug-in (a leaf, open to every stage): attacks, defences, target
adapters, database readers, face detectors and models. timm's pattern: `register` as a decorator, `get`
and `create` by name, `names` for help texts and error lists.

A plug-in is one file. A registry knows the package its plug-ins live in and, the first time it is asked
anything, imports every public module at the top of that package (subpackages and modules whose names
start with "_" are not plug-ins), so a new file there registers itself with no other edit. Those modules
are light to import by convention (torch, TensorFlow, onnxruntime are imported where they are used), so
`fasrobust --help` can list every plug-in. Plug-ins from other distributions come through the entry-point
group `fasrobust.<kind>` (e.g. `fasrobust.attacks`): each entry point names a module, which registers
what it defines when imported (`pip install fasrobust-myattack`, no edit here).

Every entry declares a one-line description and `smoke`: small settings the tests run it with, so a
test parametrized over a registry covers a new plug-in the moment it exists."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from .errors import ConfigError, FasrobustError

T = TypeVar("T")
ENTRY_POINT_PREFIX = "fasrobust."


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered plug-in: its name, the class or factory, and what it declares about itself."""

    name: str
    target: T
    description: str
    smoke: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)  # kind-specific declarations (an adapter's suffixes ...)
    origin: str = ""  # the module that registered it


class Registry(Generic[T]):
    """Plug-ins of one kind, by name. `kind` names them in messages ("attack"); `package` is where in-tree
    plug-ins live; `error` is the error class an unknown name raises (one line, with the known names)."""

    def __init__(self, kind: str, *, package: str, group: str, error: type[FasrobustError] = ConfigError,
                 check: Callable[[str, T], None] | None = None):
        self.kind, self.package, self.group, self.error = kind, package, group, error
        self._check = check
        self._entries: dict[str, Entry[T]] = {}
        self._loaded = False
        self._loading = False

    # ----- registering ---------------------------------------------------------------------------------
    def register(self, name: str, *, description: str = "", smoke: dict[str, Any] | None = None,
                 **meta: Any) -> Callable[[T], T]:
        """Decorator: `@ATTACKS.register("pixel", description=..., smoke={...})`. Names are unique; a
        description is required (it is the help text)."""

        def decorate(target: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} name {name!r} is registered twice "
                                 f"({self._entries[name].origin} and {getattr(target, '__module__', '?')})")
            text = description or (getattr(target, "__doc__", None) or "").strip().split("\n")[0]
            if not text:
                raise TypeError(f"{self.kind} {name!r}: give a description (it is the help text)")
            if self._check is not None:
                self._check(name, target)
            self._entries[name] = Entry(name, target, text, dict(smoke or {}), dict(meta),
                                        getattr(target, "__module__", ""))
            return target

        return decorate

    # ----- asking --------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        self.load()
        return sorted(self._entries)

    def entries(self) -> list[Entry[T]]:
        self.load()
        return [self._entries[name] for name in sorted(self._entries)]

    def entry(self, name: str) -> Entry[T]:
        self.load()
        if name not in self._entries:
            raise self.error(f"unknown {self.kind} {name!r} (known: {', '.join(self.names())})")
        return self._entries[name]

    def get(self, name: str) -> T:
        return self.entry(name).target

    def create(self, name: str, /, **kwargs: Any) -> Any:
        factory: Any = self.get(name)
        return factory(**kwargs)

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def help_list(self) -> str:
        """"name (description); ..." for help texts."""
        return "; ".join(f"{e.name} ({e.description})" for e in self.entries())

    # ----- discovery -----------------------------------------------------------------------------------
    def load(self) -> None:
        """Import the package's public modules and the entry-point group's modules, once."""
        if self._loaded or self._loading:
            return
        self._loading = True
        try:
            package = importlib.import_module(self.package)
            for info in pkgutil.iter_modules(package.__path__):
                if not info.ispkg and not info.name.startswith("_"):
                    importlib.import_module(f"{self.package}.{info.name}")
            for point in entry_points(group=self.group):
                try:
                    point.load()
                except Exception as exc:  # a broken plug-in must not take the others down
                    raise self.error(f"{self.kind} plug-in {point.name!r} ({point.value}) failed to load: "
                                     f"{type(exc).__name__}: {exc}") from None
            self._loaded = True
        finally:
            self._loading = False
