"""Target adapters by name (targets stage): each adapter module registers its `Target` class with what it
declares about the sources it serves, and `detect_adapter` and `load_target` read only those declarations,
so a new adapter (TorchScript, a vendor SDK) is one file here or in a plug-in package.

An adapter declares:
- `suffixes`: the file suffixes it opens (".onnx");
- `prefixes`: the source prefixes it owns ("http://", "python:");
- `marker`: a file whose presence makes a folder one of its models ("saved_model.pb");
- `takes_device`: whether it runs on a torch device the user picks (`--device`);
- `option`: the command-line option that names a source of its kind (`--onnx PATH`), if any.
The class itself opens a source (`Target.open`) and names the model in result ids (`Target.fingerprint`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import TargetError
from ..registry import Entry, Registry

if TYPE_CHECKING:
    from .base import Target
    from .contract import Contract


@dataclass(frozen=True)
class AdapterInfo:
    suffixes: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    marker: str | None = None
    takes_device: bool = False
    option: str | None = None

    def describe(self) -> str:
        """"a folder holding model.json or a .json, .safetensors file", "'http://...' or 'https://...'"."""
        kinds = [f"a folder holding {self.marker}"] if self.marker else []
        if self.suffixes:
            kinds.append(f"a {', '.join(self.suffixes)} file")
        kinds += [f"'{prefix}...'" for prefix in self.prefixes]
        return " or ".join(kinds)


#: Every target adapter: the modules of this package, and plug-ins of the entry-point group `fasrobust.targets`.
TARGETS: Registry[type[Target]] = Registry("target adapter", package="fasrobust.targets", group="fasrobust.targets",
                                           error=TargetError)


def register_adapter(name: str, *, description: str, suffixes: Sequence[str] = (), prefixes: Sequence[str] = (),
                     marker: str | None = None, takes_device: bool = False, option: str | None = None,
                     smoke: dict[str, Any] | None = None) -> Callable[[type[Target]], type[Target]]:
    """Class decorator for a `Target` subclass: `@register_adapter("onnx", description=..., suffixes=(".onnx",),
    takes_device=True, option="onnx")`."""
    if not (suffixes or prefixes or marker):
        raise TypeError(f"target adapter {name!r}: declare the suffixes, prefixes or marker of its sources")
    info = AdapterInfo(tuple(s.lower() for s in suffixes), tuple(prefixes), marker, takes_device, option)

    def decorate(cls: type[Target]) -> type[Target]:
        cls.adapter = name
        return TARGETS.register(name, description=description, smoke=smoke, info=info)(cls)

    return decorate


def adapter_info(entry: Entry) -> AdapterInfo:
    return entry.meta["info"]


def sources_text() -> str:
    """What a target source can be, from the declarations: for help texts and errors."""
    return "; ".join(f"{e.name}: {adapter_info(e).describe()}" for e in TARGETS.entries())


def source_options() -> list[tuple[str, Entry]]:
    """(option name, adapter) for every adapter that declares a command-line option."""
    return [(adapter_info(e).option, e) for e in TARGETS.entries() if adapter_info(e).option]


def detect_adapter(source: str | Path) -> Entry:
    """The adapter that serves a source: a declared prefix, else (the path must exist) a folder's marker
    file or a file's suffix."""
    text = str(source)
    entries = TARGETS.entries()
    for entry in entries:
        if any(text.startswith(prefix) for prefix in adapter_info(entry).prefixes):
            return entry
    path = Path(text)
    if not path.exists():
        raise TargetError(f"target not found (a target is {sources_text()})", path=path)
    for entry in entries:
        info = adapter_info(entry)
        if path.is_dir() and info.marker and (path / info.marker).is_file():
            return entry
        if path.is_file() and path.suffix.lower() in info.suffixes:
            return entry
    raise TargetError(f"not a target (a target is {sources_text()})", path=path)


def load_target(source: str | Path, contract: Contract | dict[str, Any] | None = None, **options: Any) -> Target:
    """A target from a source string and its contract; `options` go to the adapter (`device=` where the
    adapter takes one, `timeout=` for a URL, `max_batch=` ...)."""
    from .contract import Contract

    entry = detect_adapter(source)
    if not adapter_info(entry).takes_device:
        options.pop("device", None)  # a service, a callable or a TensorFlow model runs where its own code puts it
    contract = Contract.coerce(contract)
    target = entry.target.open(str(source), contract, **options)
    return target.hide_score() if contract.output.label_only else target
