"""The target options, declared once for every command that queries a model (attack, probe, later the
defences): which model (a run directory, --onnx, --tflite, --keras, --python, --url) and its contract
(`fasrobust.targets.contract`). A command adds `TARGET_PARAMETERS` to its signature and hands the values
to `open_target`.

Light at import time, like every CLI module: the choices are plain strings checked by the contract model
when the command runs, so `--help` imports neither torch nor the targets package.
"""

from __future__ import annotations

import inspect
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from ..errors import ConfigError


def _option(name: str, annotation: Any, default: Any, flag: str, help: str, **kwargs: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                             default=typer.Option(default, flag, help=help, **kwargs))


def _source_parameters() -> list[inspect.Parameter]:
    """One option per target adapter that declares one (`--onnx PATH`, `--url URL`, a plug-in's own)."""
    from ..targets.adapters import adapter_info, source_options

    params = []
    for option, entry in source_options():
        info = adapter_info(entry)
        what = f"Target: {entry.description} ({info.describe()})."
        params.append(_option(option.replace("-", "_"), str | None, None, f"--{option}", what))
    return params


#: Every target adapter that declares a command-line option: `open_target` reads them by these names.
SOURCE_PARAMETERS: list[inspect.Parameter] = _source_parameters()
_SOURCES = tuple(p.name for p in SOURCE_PARAMETERS)

#: Keyword-only parameters with typer.Option defaults; `open_target` reads them by these names.
TARGET_PARAMETERS: list[inspect.Parameter] = [
    *SOURCE_PARAMETERS,
    _option("layout", str | None, None, "--layout", "Model input layout: nhwc (TensorFlow, Keras) or nchw "
            "(PyTorch). Default: read from the input shape."),
    _option("channels", str | None, None, "--channels", "Channel order the model expects: rgb (default) or "
            "bgr (OpenCV)."),
    _option("scale", float | None, None, "--scale", "Float inputs are (pixel * scale - mean) / std: "
            "0.00392156862745098 for 0..1, 1 for 0..255."),
    _option("mean", str | None, None, "--mean", "Per-channel mean 'a,b,c' (after --scale). Default 0,0,0."),
    _option("std", str | None, None, "--std", "Per-channel std 'a,b,c' (after --scale). Default 1,1,1."),
    _option("input_size", int | None, None, "--input-size", "Model input side in pixels (default: from the "
            "model).", min=1),
    _option("resize", bool, False, "--resize", "Resize crops to --input-size inside the target (bilinear); "
            "the attack then changes pixels before the resize."),
    _option("output", str | None, None, "--output", "How to read the output: logit, probability, softmax "
            "(class probabilities), logits (class logits) or decision (only live or spoof: a label or "
            "boolean from a service, a class index from a model). Default: from the model where it says."),
    _option("live_index", int | None, None, "--live-index", "Class index of 'live' for softmax / logits "
            "outputs.", min=0),
    _option("output_name", str | None, None, "--output-name", "Which output to read when the model has "
            "several."),
    _option("spoof_score", bool, False, "--spoof-score", "The single score means spoof (higher = attack); "
            "P(live) = 1 - score."),
    _option("threshold", float, 0.5, "--threshold", "A face is called live iff P(live) >= this (on P(live), "
            "after --spoof-score); checked, like every value, by the contract."),
    _option("live_value", str | None, None, "--live-value", "With --output decision: the answer's label(s) "
            "that mean live, e.g. 'realface' (comma-separated for several)."),
    _option("spoof_value", str | None, None, "--spoof-value", "With --output decision: the label(s) that mean "
            "spoof, e.g. 'spoofface,uncertain'; any other label stops the run."),
    _option("label_only", bool, False, "--label-only", "Let the attack see only the decision (P(live) >= "
            "--threshold), as a service that hides its score would; only decision-based attacks run."),
    _option("trust_model", bool, False, "--trust-model", "Run a TensorFlow SavedModel even when its graph holds "
            "operations outside fasrobust's numeric allow-list (files, Python, network): only for your own "
            "model. Recorded with the run."),
    _option("device", str, "auto", "--device", "torch device for a run directory (auto, cpu, cuda ...); "
            "for ONNX, cpu or cuda picks the execution provider."),
    _option("request", str | None, None, "--request", "HTTP request format: json (base64 image at "
            "--image-key) or multipart (file upload field --image-key). Default: fasrobust's own protocol."),
    _option("image_key", str | None, None, "--image-key", "JSON key (dotted for nesting) or multipart field "
            "that carries the image. Default: image."),
    _option("score_path", str | None, None, "--score-path", "JSON path to the score in the answer: "
            "'result.live', 'scores' or 'results[*].score' (with --batch-per-request)."),
    _option("batch_per_request", int | None, None, "--batch-per-request", "Send up to N images per request "
            "as a list at --image-key (default: one image per request).", min=1),
    _option("encoding", str, "png", "--encoding", "Image encoding sent to a service: png (lossless) or jpeg "
            "(lossy: destroys most few-pixel changes)."),
    _option("rate_limit", float | None, None, "--rate-limit", "At most this many HTTP requests per second.",
            min=0.0),
    _option("connect_timeout", float | None, None, "--connect-timeout", "Seconds to connect to a service "
            "(default 5)."),
    _option("timeout", float | None, None, "--timeout", "Seconds to wait for each piece of a service's answer "
            "(default 30)."),
    _option("deadline", float | None, None, "--deadline", "Seconds one request to a service may take, answer "
            "included (default 60); a request past it is retried, then left to a re-run."),
    _option("header_env", list[str] | None, None, "--header-env", "NAME=ENVVAR: send header NAME with the "
            "value of environment variable ENVVAR (repeatable; never put secrets on the command line)."),
]


@dataclass
class OpenedTarget:
    """A target ready to query (use it as a context manager), with what identifies it."""

    target: Any  # fasrobust.targets.Target
    target_id: str  # stable across runs; differs for different files and different contracts
    source: str
    contract: dict[str, Any]  # the contract as stated (JSON-ready)
    description: dict[str, Any] = field(default_factory=dict)  # target.describe(): the contract as resolved
    options: dict[str, Any] = field(default_factory=dict)  # adapter options a worker must open it with too

    def source_record(self) -> dict[str, Any]:
        """What a job needs to open the target again in a worker: its source, contract and options."""
        return {"source": self.source, "contract": self.contract, **({"options": self.options} if self.options else {})}


def contract_from_values(values: dict[str, Any]):
    """The `Contract` the options state (unset options stay unset, to be read from the model)."""
    from ..targets.contract import contract_from_options

    return contract_from_options(values)


def _source(run_dir: Path | str | None, values: dict[str, Any]) -> tuple[str, str]:
    """(source string, the option it came from)."""
    from ..targets.adapters import TARGETS, adapter_info

    given = [(str(run_dir), "TARGET")] if run_dir is not None else []
    given += [(str(values[name]), f"--{name.replace('_', '-')}") for name in _SOURCES if values.get(name) is not None]
    if len(given) != 1:
        named = ", ".join(flag for _, flag in given)
        flags = ", ".join(f"--{p.name.replace('_', '-')}" for p in SOURCE_PARAMETERS)
        raise ConfigError(f"give exactly one target: a run directory or model file (the TARGET argument), or one "
                          f"of {flags}" + (f" (got {named})" if given else ""))
    source, flag = given[0]
    source = re.sub(r"^(https?):/(?!/)", r"\1://", source)  # a URL that went through Path() lost a slash
    # An adapter that owns one prefix ('python:') takes the value with or without it.
    for entry in TARGETS.entries():
        info = adapter_info(entry)
        if flag == f"--{info.option}" and len(info.prefixes) == 1 and not source.startswith(info.prefixes[0]):
            source = info.prefixes[0] + source
    return source, flag


def open_target(run_dir: Path | str | None, values: dict[str, Any]) -> OpenedTarget:
    """The target the options name, opened with its contract. `run_dir` is the command's positional
    argument (a run directory, or any other source: a model file, 'python:...', a URL); `values` maps
    the names of `TARGET_PARAMETERS` to what the user gave (missing names take their defaults)."""
    from ..targets.adapters import adapter_info, detect_adapter, load_target
    from ..targets.identity import target_id

    source, _ = _source(run_dir, values)
    contract = contract_from_values(values)
    entry = detect_adapter(source)  # a path that does not exist is one line here
    service = contract.service.model_dump(exclude_defaults=True)
    if entry.name != "http" and service:
        flag = "--header-env" if "headers_env" in service else f"--{sorted(service)[0].replace('_', '-')}"
        raise ConfigError(f"{flag} applies to an HTTP service (--url) only")
    options = {"device": values.get("device") or "auto"} if adapter_info(entry).takes_device else {}
    timing = {k: float(values[k]) for k in ("connect_timeout", "timeout", "deadline") if values.get(k) is not None}
    for key, seconds in timing.items():
        if not math.isfinite(seconds) or seconds <= 0:
            raise ConfigError(f"--{key.replace('_', '-')}: give a finite number of seconds above 0, got {seconds}")
    if timing:
        if entry.name != "http":
            raise ConfigError(f"--{next(iter(timing)).replace('_', '-')} applies to an HTTP service (--url) only")
        options.update(timing)
    if values.get("trust_model"):
        if entry.name != "keras":
            raise ConfigError("--trust-model applies to a TensorFlow SavedModel (--keras DIR) only: the other "
                              "formats hold no program to trust")
        options["trust_model"] = True
    name = target_id(source, contract)
    target = load_target(source, contract, **options)
    return OpenedTarget(target=target, target_id=name, source=source,
                        contract=contract.model_dump(mode="json"), description=target.description(),
                        options={k: v for k, v in options.items() if k != "device"})
