"""HttpTarget against a liveness service with a contract of its own, built with a real third-party
framework (FastAPI on uvicorn, 127.0.0.1, a free port): nested base64 JSON fields, a batch endpoint,
a multipart upload, a spoof score, an API key from the environment. Scores and attack results equal the
same weights in PyTorch; a wrong field or a non-numeric score is one line; retries end transient."""

from __future__ import annotations

import base64
import io
import threading
import time

import numpy as np
import pytest

from asgi_servers import serving
from fasrobust.errors import ConfigError, TargetError, TransientTargetError
from fasrobust.targets import HttpTarget, load_target
from target_models import Net, attack_signature, pick_images, reference

fastapi = pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("multipart")

API_KEY = "not-a-real-key-1234"


def _decode(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def build_app():
    """A service as a team might write it: its own paths, field names, score direction and auth."""
    # Annotations name `fastapi.X` (a module global): FastAPI resolves them from this module's namespace.
    FastAPI, HTTPException = fastapi.FastAPI, fastapi.HTTPException  # noqa: N806
    model = reference(Net())
    lock = threading.Lock()
    app = FastAPI()
    app.state.flaky = 0

    def p_live(images: list[np.ndarray]) -> list[float]:
        with lock:
            return [float(s) for s in model(np.stack(images))]

    def check_key(key: str | None) -> None:
        if key != API_KEY:
            raise HTTPException(status_code=401, detail="bad api key")

    @app.post("/api/v2/liveness")
    async def single(request: fastapi.Request, x_api_key: str | None = fastapi.Header(None)):
        check_key(x_api_key)
        body = await request.json()
        image = _decode(base64.b64decode(body["request"]["photo"]))
        return {"result": {"spoof_probability": 1 - p_live([image])[0], "model": "acme-fas-3"}}

    @app.post("/api/v2/batch")
    async def batch(request: fastapi.Request):
        body = await request.json()
        scores = p_live([_decode(base64.b64decode(text)) for text in body["frames"]])
        return {"results": [{"live": s, "label": "live" if s >= 0.5 else "spoof"} for s in scores]}

    @app.post("/upload")
    async def upload(file: fastapi.UploadFile = fastapi.File(...)):
        return {"data": {"score": p_live([_decode(await file.read())])[0]}}

    @app.post("/wrong-field")
    async def wrong_field(request: fastapi.Request):
        await request.body()
        return {"outcome": {"liveness": 0.5}}

    @app.post("/not-a-number")
    async def not_a_number(request: fastapi.Request):
        await request.body()
        return {"result": {"spoof_probability": "high"}}

    @app.post("/down")
    async def down(request: fastapi.Request):
        await request.body()
        raise HTTPException(status_code=503, detail="overloaded")

    return app


@pytest.fixture(scope="module")
def service():
    with serving(build_app()) as url:
        yield url


SINGLE = {"service": {"request": "json", "image_key": "request.photo", "score_path": "result.spoof_probability",
                      "headers_env": {"X-Api-Key": "ACME_LIVENESS_KEY"}},
          "output": {"spoof_score": True}}


@pytest.fixture
def api_key(monkeypatch):
    monkeypatch.setenv("ACME_LIVENESS_KEY", API_KEY)


def test_json_service_with_spoof_score_and_key_from_env_attacks_like_torch(service, api_key, rng):
    want = reference(Net())
    images = pick_images(want, rng, spoof=4, live=1)
    with load_target(service + "/api/v2/liveness", SINGLE) as target:
        assert isinstance(target, HttpTarget) and target.request_batch == 1
        assert np.max(np.abs(target(images) - want(images))) < 1e-6
        described = target.describe()
        assert described["headers_from_env"] == ["X-Api-Key"] and API_KEY not in str(described)
        assert "1 - score" in described["live_direction"]
        assert attack_signature(target, images) == attack_signature(want, images)


def test_batch_per_request_reads_a_list_path(service, rng):
    want = reference(Net())
    images = pick_images(want, rng, spoof=5, live=2)
    stated = {"service": {"request": "json", "image_key": "frames", "score_path": "results[*].live",
                          "batch_per_request": 3}}
    with load_target(service + "/api/v2/batch", stated) as target:
        assert np.max(np.abs(target(images) - want(images))) < 1e-6
        assert target.queries == len(images)


def test_multipart_upload(service, rng):
    want = reference(Net())
    images = pick_images(want, rng, spoof=3, live=1)
    stated = {"service": {"request": "multipart", "image_key": "file", "score_path": "data.score"},
              "output": {"threshold": 0.4}}
    with load_target(service + "/upload", stated) as target:
        assert np.max(np.abs(target(images) - want(images))) < 1e-6
        assert target.threshold == 0.4


@pytest.mark.parametrize(("path", "score_path", "fix"), [
    ("/wrong-field", "result.spoof_probability", "no field 'result' at the top level (found: outcome)"),
    ("/not-a-number", "result.spoof_probability", "is 'high', not a number"),
])
def test_wrong_answers_are_one_line_contract_errors(service, path, score_path, fix, rng):
    stated = {"service": {"request": "json", "score_path": score_path}}
    with load_target(service + path, stated) as target, pytest.raises(TargetError) as info:
        target(rng.integers(0, 256, (1, 8, 8, 3), dtype=np.uint8))
    assert fix in str(info.value) and "\n" not in str(info.value)
    assert not isinstance(info.value, TransientTargetError), "asking again cannot help"


def test_server_errors_exhaust_retries_as_transient(service, rng):
    stated = {"service": {"request": "json", "score_path": "score"}}
    with HttpTarget(service + "/down", stated, retries=1, backoff=0.01) as target, \
            pytest.raises(TransientTargetError, match="HTTP 503"):
        target(rng.integers(0, 256, (1, 8, 8, 3), dtype=np.uint8))


def test_missing_key_is_refused_by_the_service_not_guessed(service, monkeypatch, rng):
    monkeypatch.delenv("ACME_LIVENESS_KEY", raising=False)
    with pytest.raises(ConfigError, match="ACME_LIVENESS_KEY is not set"):
        load_target(service + "/api/v2/liveness", SINGLE)


def test_rate_limit_spaces_the_requests(service, api_key, rng):
    stated = {**SINGLE, "service": {**SINGLE["service"], "rate_limit": 20.0}}
    images = rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    with load_target(service + "/api/v2/liveness", stated) as target:
        started = time.monotonic()
        target(images)
        assert time.monotonic() - started >= 5 / 20 - 0.02  # 6 requests: 5 intervals of 1/20 s


def test_jpeg_is_allowed_with_a_warning(service, api_key):
    stated = {**SINGLE, "service": {**SINGLE["service"], "encoding": "jpeg"}}
    with pytest.warns(RuntimeWarning, match="JPEG is lossy"):
        target = load_target(service + "/api/v2/liveness", stated)
    target.close()


def test_own_protocol_options_are_refused_where_they_cannot_apply(service):
    with pytest.raises(TargetError, match="--score-path"):
        load_target(service + "/upload", {"service": {"request": "multipart", "image_key": "file"}})
    with pytest.raises(TargetError, match="--request json or multipart"):
        load_target(service, {"output": {"spoof_score": True}})
