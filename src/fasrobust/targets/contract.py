"""The contract between fasrobust's uint8 (N, H, W, 3) RGB images and a model someone else built: how the
pixels become the model's input, how its output becomes P(live), and how a web service wants to be asked.

Every field is optional: a field left unset is read from the model where that is unambiguous (an ONNX
input shape of (N, 32, 32, 3) is NHWC; a Keras model ending in a sigmoid outputs a probability), and where
it is not, the adapter stops with one line naming the option to set (`contract_error`). Adapters resolve
the contract once, when they are built, and keep the resolved copy for `describe()`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import ConfigError, TargetError
from ..settings import Settings, describe_validation_error


class Layout(StrEnum):
    NHWC = "nhwc"  # TensorFlow, Keras, TFLite, and fasrobust's own uint8 export
    NCHW = "nchw"  # PyTorch


class Channels(StrEnum):
    RGB = "rgb"
    BGR = "bgr"  # OpenCV-trained models


class OutputKind(StrEnum):
    LOGIT = "logit"  # one score per image; P = sigmoid(score)
    PROBABILITY = "probability"  # one score per image, already in [0, 1]
    SOFTMAX = "softmax"  # N class probabilities per image (the model ends in a softmax); P(live) = p[live]
    LOGITS = "logits"  # N class logits per image; fasrobust applies the softmax
    DECISION = "decision"  # only live or spoof: a label or boolean (a service), a class index or the top class
    # of class scores (a model); the target answers 1.0 (live) or 0.0 (spoof)


class RequestKind(StrEnum):
    FASROBUST = "fasrobust"  # `fasrobust serve`'s protocol: POST /v1/score {"images": [...]} -> {"p_live": [...]}
    JSON = "json"  # the service's own JSON body, base64 image(s) at a key the user names
    MULTIPART = "multipart"  # a multipart/form-data upload, file field named by the user


class Encoding(StrEnum):
    PNG = "png"  # lossless: the service sees exactly the pixels the attack wrote
    JPEG = "jpeg"  # lossy: destroys most few-pixel changes (see the README's measurement)


def _triple(value: Any) -> Any:
    """'0.5,0.5,0.5' (a CLI string) or a sequence of three numbers."""
    if isinstance(value, str):
        try:
            value = [float(v) for v in value.split(",")]
        except ValueError:
            raise ValueError(f"expected three numbers 'a,b,c', got {value!r}") from None
    if value is not None and len(value) != 3:
        raise ValueError(f"expected three numbers 'a,b,c', got {len(value)}")
    return value


class InputContract(Settings):
    """How uint8 RGB NHWC pixels become the model's input: optional resize, channel order, layout, then
    for a float input (x * scale - mean) / std per channel. A uint8 input gets the pixels unscaled."""

    layout: Layout | None = None
    channels: Channels | None = None
    scale: float | None = Field(None, gt=0)
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    input_size: int | None = Field(None, ge=1)
    resize: bool = False  # resize any crop to input_size inside the target (bilinear); the attack then
    # changes pixels before the resize, and describe() says so

    _triples = field_validator("mean", "std", mode="before")(_triple)

    @field_validator("std")
    @classmethod
    def _positive(cls, value: tuple[float, float, float] | None) -> tuple[float, float, float] | None:
        if value is not None and min(value) <= 0:
            raise ValueError("std values must be > 0")
        return value


def _labels(value: Any) -> Any:
    """'realface' or 'a,b' (a CLI string) or a sequence of labels -> a tuple of stripped strings."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    labels = tuple(str(item).strip() for item in items)
    if not labels or any(not label for label in labels):
        raise ValueError(f"expected one or more labels, e.g. 'realface' or 'spoofface,uncertain', got {value!r}")
    return labels


class OutputContract(Settings):
    """How the model's answer becomes P(live); a face is called live iff P(live) >= threshold.

    A `decision` answers only live or spoof. From a service: a label at the score path, read with
    `live_values` and `spoof_values` (both required, so a label that is neither stops the run), or a
    boolean (true means live, unless `spoof_score`: true means spoof). From a model: a class index per
    image, or class scores of which the top one is taken, compared with `live_index`. `label_only` turns
    any target into one that answers only its decision (P(live) >= threshold), as a service that hides
    its score would."""

    kind: OutputKind | None = None
    live_index: int | None = Field(None, ge=0)
    output_name: str | None = None  # which output, when the model has several (a JSON path for HTTP)
    spoof_score: bool = False  # the single score means spoof (higher = more likely an attack)
    threshold: float = Field(0.5, ge=0, le=1)
    live_values: tuple[str, ...] | None = None  # decision labels that mean live ('realface')
    spoof_values: tuple[str, ...] | None = None  # decision labels that mean spoof ('spoofface', 'uncertain')
    label_only: bool = False  # answer only the decision, hiding the score

    _label_lists = field_validator("live_values", "spoof_values", mode="before")(_labels)

    @field_validator("kind", mode="before")
    @classmethod
    def _legacy_kind(cls, value: Any) -> Any:
        # 'softmax2' is what fasrobust's model.json and ONNX metadata call two-class logits.
        return OutputKind.LOGITS if str(value).lower() == "softmax2" else value

    @model_validator(mode="after")
    def _direction_once(self) -> OutputContract:
        if self.spoof_score and self.kind in (OutputKind.SOFTMAX, OutputKind.LOGITS):
            raise ValueError("--spoof-score applies to a single score; with class scores name the live class "
                             "with --live-index")
        labels = (self.live_values or ()) + (self.spoof_values or ())
        if labels and self.kind is not OutputKind.DECISION:
            raise ValueError("--live-value and --spoof-value name decision labels; add --output decision")
        overlap = {v.lower() for v in self.live_values or ()} & {v.lower() for v in self.spoof_values or ()}
        if overlap:
            raise ValueError(f"label {sorted(overlap)[0]!r} is given as both live and spoof")
        if self.label_only and self.kind is OutputKind.DECISION:
            raise ValueError("--label-only hides a score, and --output decision already answers only a decision; "
                             "drop one")
        return self


class ServiceContract(Settings):
    """How an HTTP service wants to be asked. Header values never live here, only the names of the
    environment variables that hold them (`headers_env`: header name -> variable name)."""

    request: RequestKind = RequestKind.FASROBUST
    image_key: str = "image"  # JSON key (dotted for nesting) or multipart file field
    score_path: str | None = None  # JSON path to the score: 'result.live', 'scores', 'results[*].p'
    batch_per_request: int | None = Field(None, ge=1)  # None: one image per request, the key holds a string
    encoding: Encoding = Encoding.PNG
    jpeg_quality: int = Field(95, ge=1, le=100)
    rate_limit: float | None = Field(None, gt=0)  # requests per second, over all threads
    headers_env: dict[str, str] = Field(default_factory=dict)


class Contract(Settings):
    """Everything fasrobust needs to know about a model it did not build."""

    input: InputContract = Field(default_factory=InputContract)
    output: OutputContract = Field(default_factory=OutputContract)
    service: ServiceContract = Field(default_factory=ServiceContract)

    @classmethod
    def coerce(cls, value: Contract | dict[str, Any] | None) -> Contract:
        if value is None:
            return cls()
        return value if isinstance(value, Contract) else cls.build(dict(value))

    @property
    def threshold(self) -> float:
        return self.output.threshold

    def given(self) -> dict[str, Any]:
        """Only the fields set to something other than their default (what the user stated)."""
        return self.model_dump(mode="json", exclude_defaults=True)

    def digest(self) -> str:
        """A short hash of what was stated, for job ids: two contracts on one file never share results
        ('' when nothing that changes a score was stated: rate limits and credentials do not)."""
        given = self.given()
        # How fast and with which credentials a service is asked does not change its answers.
        for key in ("rate_limit", "headers_env"):
            given.get("service", {}).pop(key, None)
        given = {part: fields for part, fields in given.items() if fields}
        if not given:
            return ""  # nothing stated that changes a score: the model's own id stands alone
        text = json.dumps(given, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


class TargetSpec(Settings):
    """A target as data, for experiment specs and provenance: where the model is, and its contract.
    `source` is a fasrobust run directory, an .onnx / .tflite / .keras / .h5 file, a SavedModel
    directory, 'python:package.module:function', or an http(s) URL."""

    source: str
    contract: Contract = Field(default_factory=Contract)

    def load(self, **options: Any):
        from .adapters import load_target

        return load_target(self.source, self.contract, **options)


class FileMetadata(Settings):
    """The contract a model file states about itself (ONNX metadata_props, a Keras/TFLite sidecar), checked
    like the options before anything uses it; keys it does not know are left alone (other tools write theirs)."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    layout: Layout | None = None
    channels: Channels | None = None
    input_size: int | None = Field(None, ge=1, le=8192)
    output: OutputKind | None = None
    live_index: int | None = Field(None, ge=0)
    preprocessing: dict[str, Any] | None = None

    _legacy = field_validator("output", mode="before")(OutputContract._legacy_kind.__func__)

    @classmethod
    def checked(cls, meta: Mapping[str, Any] | None, source: Any) -> dict[str, Any]:
        """`meta` with its known keys validated (one line naming the key and the file on a bad value)."""
        try:
            model = cls.model_validate(dict(meta or {}))
        except ValidationError as exc:
            raise TargetError(f"the file's own metadata: {describe_validation_error(exc)}", path=source) from None
        return {**(meta or {}), **model.model_dump(mode="json", exclude_none=True)}


def contract_error(problem: str, option: str, source: Any = None) -> TargetError:
    """The one-line error of an ambiguous or wrong contract: what is wrong and the option that fixes it."""
    return TargetError(f"{problem}; set {option}", path=source)


#: Contract field -> the option that sets it, for one-line errors.
_FLAGS = {"input.layout": "--layout", "input.channels": "--channels", "input.scale": "--scale",
          "input.mean": "--mean", "input.std": "--std", "input.input_size": "--input-size",
          "output.kind": "--output", "output.live_index": "--live-index", "output.threshold": "--threshold",
          "output": "--output / --spoof-score", "service.request": "--request",
          "service.encoding": "--encoding", "service.rate_limit": "--rate-limit",
          "service.batch_per_request": "--batch-per-request", "service.image_key": "--image-key",
          "service.score_path": "--score-path", "output.live_values": "--live-value",
          "output.spoof_values": "--spoof-value", "output.label_only": "--label-only"}
_SERVICE_SHAPE = ("image_key", "score_path", "batch_per_request")


def _header_env(values: list[str] | str | None) -> dict[str, str]:
    """['X-Api-Key=LIVENESS_KEY', ...] -> {header: environment variable name}."""
    headers = {}
    for item in [values] if isinstance(values, str) else values or []:
        name, sep, variable = item.partition("=")
        if not sep or not name.strip() or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable.strip()):
            raise ConfigError(f"--header-env {item!r}: expected NAME=ENVVAR, e.g. X-Api-Key=LIVENESS_KEY (the "
                              "header value is read from the environment variable)")
        headers[name.strip()] = variable.strip()
    return headers


def _stated(pairs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in pairs.items() if v is not None}


def contract_from_options(values: Mapping[str, Any]) -> Contract:
    """The `Contract` that flat option values state, keyed by the CLI's parameter names (layout, channels,
    scale, mean, std, input_size, resize, output, live_index, output_name, spoof_score, threshold,
    live_value, spoof_value, label_only, request, image_key, score_path, batch_per_request, encoding,
    rate_limit, header_env). Unset options
    stay unset, to be read from the model. A bad value is one line naming the option."""
    get = values.get
    service = _stated({"image_key": get("image_key"), "score_path": get("score_path"),
                       "batch_per_request": get("batch_per_request"), "rate_limit": get("rate_limit"),
                       "encoding": get("encoding"), "headers_env": _header_env(get("header_env")) or None})
    # Naming where the image goes or where the score is means the service's own JSON contract.
    request = get("request") or ("json" if set(_SERVICE_SHAPE) & set(service) else None)
    if request:
        service["request"] = request
    data = {"input": _stated({"layout": get("layout"), "channels": get("channels"), "scale": get("scale"),
                              "mean": get("mean"), "std": get("std"), "input_size": get("input_size"),
                              "resize": bool(get("resize"))}),
            "output": _stated({"kind": get("output"), "live_index": get("live_index"),
                               "output_name": get("output_name"), "spoof_score": bool(get("spoof_score")),
                               "threshold": get("threshold"), "live_values": get("live_value"),
                               "spoof_values": get("spoof_value"), "label_only": bool(get("label_only"))}),
            "service": service}
    try:
        return Contract.model_validate(data)
    except ValidationError as exc:
        key = ".".join(str(p) for p in exc.errors()[0]["loc"][:2])
        flag = _FLAGS.get(key) or _FLAGS.get(key.split(".")[0]) or key
        raise ConfigError(f"{flag}: {describe_validation_error(exc).split(': ', 1)[-1]}") from None
