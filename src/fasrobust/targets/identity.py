"""What names a target in job ids and results (targets stage): the model itself (a file's hash, the
weights' hash, a URL, a callable's name) and the contract it is read with, so re-runs find their results,
two files never share them, and two contracts on one file never do either. Used by `fasrobust attack`
and by experiment specs' `targets:` entries alike."""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelError
from .contract import Contract


def model_fingerprint(source: str, adapter: str) -> str:
    """What identifies the model itself: a file's hash, the weights' hash, the URL or the callable's name."""
    from ..provenance import file_sha256

    if adapter in ("http", "python"):
        return f"{'url' if adapter == 'http' else 'python'}:{source.removeprefix('python:')}"
    path = Path(source)
    if adapter == "torch":
        run_dir = path if path.is_dir() else path.parent
        weights = run_dir / "model.safetensors"
        if not weights.is_file():
            raise ModelError("no checkpoint in this run directory (model.safetensors is missing; train first)",
                             run_dir)
        return f"torch:{file_sha256(weights)[:16]}"
    if path.is_dir():  # a SavedModel: its graph and its variables
        files = [path / "saved_model.pb", *sorted((path / "variables").glob("*"))]
        return f"{adapter}:" + "".join(file_sha256(f)[:8] for f in files if f.is_file())[:16]
    return f"{adapter}:{file_sha256(path)[:16]}"


def target_id(source: str, contract: Contract | dict | None = None) -> str:
    """The model's fingerprint, plus '#<digest>' of the contract when one that changes scores was stated."""
    from . import detect_adapter

    contract = Contract.coerce(contract)
    digest = contract.digest()
    return model_fingerprint(str(source), detect_adapter(source).value) + (f"#{digest}" if digest else "")
