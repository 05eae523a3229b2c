"""What names a target in job ids and results (targets stage): the model itself (its adapter's
fingerprint: a file's hash, the weights' hash, a URL, a callable's name) and the contract it is read with,
so re-runs find their results, two files never share them, and two contracts on one file never do either.
Used by `fasrobust attack` and by experiment specs' `targets:` entries alike."""

from __future__ import annotations

from .adapters import detect_adapter
from .contract import Contract


def model_fingerprint(source: str) -> str:
    """What identifies the model itself, as its adapter says."""
    return detect_adapter(source).target.fingerprint(str(source))


def target_id(source: str, contract: Contract | dict | None = None) -> str:
    """The model's fingerprint, plus '#<digest>' of the contract when one that changes scores was stated."""
    digest = Contract.coerce(contract).digest()
    return model_fingerprint(str(source)) + (f"#{digest}" if digest else "")
