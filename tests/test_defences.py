"""What each defence promises a user, checked for every registered one: it changes what it should and
nothing else, deterministic defences answer the same image the same way, randomized ones draw fresh
noise reproducibly, query counts through stacks are exact (defended-system and model queries), an
attack on a defended pipeline never reports a success that the deployed pipeline does not confirm,
and bad settings are one line naming the key."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attack_targets import MagentaTarget, grey_images
from fasrobust.attacks import apply_perturbation, create_attack
from fasrobust.defences import (
    DEFENCES as REGISTERED,
)
from fasrobust.defences import (
    Transform,
    build_defence,
    create_defence,
    defence_class,
    defend,
    describe_stack,
    list_defences,
    parse_defence,
    parse_stack,
    stack_json,
)
from fasrobust.defences.bits import reduce_bits
from fasrobust.defences.jpeg import jpeg_roundtrip
from fasrobust.errors import ConfigError
from fasrobust.targets import PythonTarget, check_target
from fasrobust.targets.base import Target

#: Each registered defence's declared smoke settings, in their text form.
SMALL = {e.name: parse_defence({"name": e.name, **e.smoke}).describe() for e in REGISTERED.entries()}
DEFENCES = list_defences()


class BrightnessTarget(Target):
    """P(live) = 0.5 + (mean brightness - level) / 8, clipped: a tiny linear model that counts its
    queries, called live when the image is brighter on average than `level`."""

    def __init__(self, level: float = 128.0, **kw):
        super().__init__(**kw)
        self.level = level

    def _predict(self, images: torch.Tensor) -> torch.Tensor:
        return (0.5 + (images.double().mean(dim=(1, 2, 3)) - self.level) / 8).clamp(0, 1)


def smooth_image(size: int = 24) -> np.ndarray:
    """A gentle colour ramp: what JPEG keeps well."""
    ys, xs = np.mgrid[0:size, 0:size]
    return np.stack([60 + 4 * xs, 80 + 3 * ys, 140 + 2 * (xs + ys) // 2], axis=-1).astype(np.uint8)


def constant(value: int, n: int = 2, size: int = 12) -> torch.Tensor:
    return torch.full((n, size, size, 3), value, dtype=torch.uint8)


@pytest.mark.parametrize("name", DEFENCES)
def test_every_registered_defence_declares_a_description_and_smoke_settings(name):
    entry = REGISTERED.entry(name)
    assert entry.description and name in SMALL, "declare them in register_defence(description=..., smoke=...)"


# ----- each defence changes what it should, and nothing else ---------------------------------------------
@pytest.mark.parametrize("size", [3, 5])
def test_median_is_idempotent_on_a_constant_image(size):
    image = constant(93)
    once = create_defence("median", size=size).transform(image)
    assert torch.equal(once, image) and torch.equal(create_defence("median", size=size).transform(once), once)


def test_median_removes_a_single_changed_pixel():
    image = constant(128, n=1)
    changed = image.clone()
    changed[0, 4, 6] = torch.tensor([255, 0, 255], dtype=torch.uint8)
    assert torch.equal(create_defence("median", size=3).transform(changed), image)


def test_jpeg_at_quality_100_is_close_to_the_identity():
    image = torch.from_numpy(smooth_image())[None]
    diff = (create_defence("jpeg", quality=100).transform(image).int() - image.int()).abs()
    assert diff.float().mean() < 1 and diff.max() <= 2
    coarse = (create_defence("jpeg", quality=10).transform(image).int() - image.int()).abs()
    assert coarse.float().mean() > diff.float().mean()  # the quality is what sets the loss


def test_bit_depth_8_is_the_identity_and_1_leaves_black_and_white():
    images = torch.from_numpy(grey_images(3, seed=4) + np.arange(3, dtype=np.uint8)[:, None, None, None] * 40)
    images[0, 0, 0] = torch.tensor([0, 255, 127], dtype=torch.uint8)
    assert torch.equal(create_defence("bits", bits=8).transform(images), images)
    assert set(create_defence("bits", bits=1).transform(images).unique().tolist()) <= {0, 255}


def test_blur_keeps_a_constant_image_and_spreads_a_changed_pixel():
    image = constant(201)
    assert torch.equal(create_defence("blur", sigma=1.5).transform(image), image)
    changed = constant(0, n=1)
    changed[0, 6, 6] = 255
    blurred = create_defence("blur", sigma=1.0).transform(changed)
    assert blurred[0, 6, 6, 0] < 255 and blurred[0, 6, 7, 0] > 0


@pytest.mark.parametrize("name", DEFENCES)
def test_every_defence_answers_in_shape_and_deterministic_ones_repeat_themselves(name):
    images = torch.from_numpy(grey_images(5, seed=2))
    settings = parse_defence(SMALL[name])
    defence = build_defence(settings)
    if isinstance(defence, Transform):
        out = defence.transform(images)
        assert out.dtype == torch.uint8 and out.shape == images.shape
        assert torch.equal(out, defence.transform(images))
    stack = [SMALL[name]]
    target = defend(BrightnessTarget(), stack)
    first, second = target(images), target(images)
    assert first.shape == (5,) and first.dtype == torch.float32 and ((first >= 0) & (first <= 1)).all()
    assert target.randomized == any(s.randomized for s in parse_stack(stack))
    if target.randomized:  # fresh noise every query, the same noise from the same seed
        assert not torch.equal(first, second)
        assert torch.equal(defend(BrightnessTarget(), stack)(images), first)
    else:
        assert torch.equal(first, second)


def test_majority_vote_answers_the_fraction_of_copies_called_live_against_one_half():
    inner = BrightnessTarget(threshold=0.3)
    target = defend(inner, ["smooth:sigma=4,n=5,vote=majority"])
    scores = target(grey_images(6, seed=5)).tolist()
    assert target.threshold == 0.5
    assert all(round(s * 5, 6) == round(s * 5) for s in scores)  # k of 5 copies
    assert defend(inner, ["smooth:sigma=4,n=5"]).threshold == 0.3  # a mean keeps the model's threshold


def test_the_squeezing_detector_calls_an_input_that_squeezing_moves_spoof():
    inner = MagentaTarget()
    detector = defend(inner, ["squeeze:0.2"])
    clean = grey_images(2, seed=6)
    attacked = clean.copy()
    attacked[:, 3, 3] = (255, 0, 255)  # live for the model; the median removes it
    assert inner(attacked).min() >= 0.5
    np.testing.assert_allclose(detector(clean), inner(clean), rtol=1e-6)
    assert (detector(attacked) == 0.0).all()


# ----- counts ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("stack", "factor"), [
    (["median:3", "jpeg:75"], 1),
    (["smooth:sigma=4,n=5"], 5),
    (["squeeze:0.1", "smooth:sigma=4,n=5"], 15),
    (["bits:5", "squeeze:0.1", "smooth:sigma=4,n=2"], 6),
])
def test_query_counts_through_stacked_defences_are_exact(stack, factor):
    inner = BrightnessTarget(max_batch=7)  # small chunks on every level of the stack
    target = defend(inner, stack)
    assert target.model_calls_per_query == factor and target.max_batch >= 1
    target(grey_images(9, seed=1))
    target(grey_images(4, seed=2)[:, :, :, :])
    assert target.queries == 13 and inner.queries == 13 * factor and target.model_queries == inner.queries
    assert describe_stack(target.stack) == describe_stack(parse_stack(stack))
    target.reset_queries()
    assert target.queries == inner.queries == 0


def test_check_target_accepts_a_randomized_stack_and_leaves_every_count_as_it_was():
    inner = BrightnessTarget()
    target = defend(inner, ["median:3", "smooth:sigma=4,n=5"])
    target(grey_images(2))
    before = (target.queries, inner.queries)
    check = check_target(target, grey_images(4, seed=3))
    assert check.images == 4 and (target.queries, inner.queries) == before


# ----- attacks on defended targets ------------------------------------------------------------------------
ATTACKS = [("sparse-rs", dict(pixels=3, queries=200)), ("pixel", dict(pixels=3, population=10, iterations=5))]


@pytest.mark.parametrize(("attack", "settings"), ATTACKS, ids=[a for a, _ in ATTACKS])
def test_an_attack_on_a_deterministic_stack_reports_only_successes_the_pipeline_confirms(attack, settings):
    images = grey_images(4, seed=3)
    target = defend(BrightnessTarget(level=128.1), ["median:3"])  # clean: P(live) 0.41 to 0.48
    results = create_attack(attack, **settings).run(target, images, seed=0)
    assert target.deployed is target and not any(r.already_live for r in results)
    assert any(r.success for r in results)
    for r in results:
        assert "model_queries" not in r.extra  # one model query per query: nothing more to record
        if r.success:
            assert r.verified
            assert target(apply_perturbation(images[r.index], r.perturbation)[None])[0] >= target.threshold


@pytest.mark.parametrize(("attack", "settings"), ATTACKS, ids=[a for a, _ in ATTACKS])
def test_an_attack_with_eot_averages_the_randomized_pipeline_and_verifies_on_one_answer(attack, settings):
    inner = BrightnessTarget(level=128.6)
    deployed = defend(inner, ["smooth:sigma=4,n=5"])
    results = create_attack(attack, **settings, eot=3).run(deployed, grey_images(4, seed=3), seed=0)
    assert any(r.success for r in results)
    checks = sum(r.extra["verification_queries"] for r in results)
    for r in results:
        assert r.verified if r.success else r.verified in (None, False)
        assert r.extra["model_queries"] == r.queries * 15
    # Each attack query was 3 answers of the deployed pipeline; each re-check one.
    assert deployed.queries == 3 * sum(r.queries for r in results) + checks
    assert inner.queries == 5 * deployed.queries


def test_eot_is_chosen_for_a_randomized_pipeline_when_the_attack_does_not_say():
    from fasrobust.attacks.eot import AUTO_DRAWS

    smoothed = defend(BrightnessTarget(level=128.6), ["smooth:sigma=4,n=2"])
    (result,) = create_attack("sparse-rs", pixels=3, queries=5).run(smoothed, grey_images(1, seed=3), seed=0)
    assert result.extra["model_queries"] == result.queries * 2 * AUTO_DRAWS
    plain = defend(BrightnessTarget(level=128.6), ["median:3"])
    (result,) = create_attack("sparse-rs", pixels=3, queries=5).run(plain, grey_images(1, seed=3), seed=0)
    assert "model_queries" not in result.extra, "a deterministic pipeline is asked once per query"


def test_a_defence_works_in_front_of_a_python_callable_in_the_listed_order():
    def brightness(batch: np.ndarray) -> np.ndarray:
        return batch.reshape(len(batch), -1).mean(axis=1) / 255.0

    images = grey_images(3, seed=7) + np.uint8(40)
    target = defend(PythonTarget(brightness), ["jpeg:60", "bits:3"])
    expected = brightness(reduce_bits(jpeg_roundtrip(torch.from_numpy(images), 60), 3).numpy())
    other_order = brightness(jpeg_roundtrip(reduce_bits(torch.from_numpy(images), 3), 60).numpy())
    np.testing.assert_allclose(target(images), expected, rtol=1e-6)
    assert not np.allclose(expected, other_order)  # the order is a real choice, and the listed one is used
    described = target.describe()
    assert described["stack"] == "jpeg:60 + bits:3" and described["inner"]["adapter"] == "python"


# ----- settings --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", DEFENCES)
def test_settings_round_trip_through_json_and_text(name):
    settings = parse_defence(SMALL[name])
    assert parse_defence(settings.as_json()) == settings == parse_defence(settings.describe())
    assert defence_class(name).Settings.positional in settings.as_json()
    assert stack_json([settings]) == [settings.as_json()] and settings.as_json()["name"] == name


def test_text_forms_name_their_fields():
    assert parse_defence("smooth:sigma=8,n=16,vote=majority").describe() == \
        "smooth:sigma=8.0,n=16,vote=majority,seed=0"
    assert parse_defence({"name": "median", "size": 5}) == parse_defence("median:5")
    assert describe_stack(parse_stack(["median:3", "jpeg:75"])) == "median:3 + jpeg:75"
    assert describe_stack(()) == "none" and defend(target := BrightnessTarget(), []) is target


@pytest.mark.parametrize(("given", "key"), [
    ("meadian:3", "meadian"),
    ("median:4", "size"),
    ("median:11", "size"),
    ("jpeg:0", "quality"),
    ("jpeg:quality=abc", "quality"),
    ("smooth:n=0", "n"),
    ("smooth:vote=maybe", "vote"),
    ("blur:sigma=0", "sigma"),
    ("bits:colours=4", "colours"),
    ({"size": 3}, "name"),
])
def test_bad_settings_are_one_line_naming_the_key(given, key):
    with pytest.raises(ConfigError) as err:
        parse_defence(given)
    assert "\n" not in str(err.value) and key in str(err.value)


@pytest.mark.parametrize("stack", [["smooth:sigma=4", "eot:2"], [{"name": "eot", "draws": 4}]])
def test_eot_in_a_stack_is_refused_with_where_it_went(stack):
    """A stack is only what is deployed: eot is the attack's option now, and the line says so."""
    with pytest.raises(ConfigError, match="eot is an attack option now") as err:
        parse_stack(stack)
    assert "\n" not in str(err.value) and "--eot" in str(err.value)
