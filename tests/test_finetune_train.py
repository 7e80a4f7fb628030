"""The app's fine-tuning code in @tensorflow/tfjs itself (node, cpu backend: tests/finetune_train.mjs runs
webapp/static/app/model/finetune/ on tiny models built there).

Head-only training on cached features (the frozen start run once, in inference mode) must give the model that
training the whole model with only the head trainable gives: same start weights, same batches (one seeded
random stream drives tfjs's shuffle and Dropout in both), same optimizer, head weights equal to float32
rounding. A frozen BatchNormalization keeps its exported statistics (tf-keras semantics; plain tfjs moves
them). Where caching would change the result (random layers in the frozen start, a skip connection past it),
the whole model trains and the summary says why. The hold-out split is stratified.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from tfjs_node import NODE, REPO

PARITY = 1e-5  # float32 rounding: the two paths compute the same sums (measured: 0.0 on the cpu backend)

pytestmark = pytest.mark.skipif(
    NODE is None or not (REPO / "node_modules/@tensorflow/tfjs").is_dir(), reason="node and tfjs needed"
)


@pytest.fixture(scope="module")
def findings() -> dict[str, Any]:
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(REPO / "tests" / "finetune_train.mjs")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("shape", ["functional", "sequential"])
def test_cached_head_training_gives_the_full_models_head(shape: str, findings: dict[str, Any]) -> None:
    run = findings[shape]
    assert run["cached"] is True  # the frozen start was run once
    assert run["full"] is False  # the reference trained the whole model
    assert run["headMoved"] > 0.05  # training changed the head: the comparison means something
    assert run["headDiff"] <= PARITY
    assert run["valAccuracy"][0] == run["valAccuracy"][1]
    assert run["leaked"] == [0, 0, 0]  # every tensor of every run disposed


@pytest.mark.parametrize("shape", ["functional", "sequential"])
def test_features_from_another_backend_are_the_same_features(shape: str, findings: dict[str, Any]) -> None:
    # The app runs the frozen start on its fastest inference backend (wasm), switching there and back; the
    # features come in batches, which must join in sample order.
    assert findings[shape]["probedBackend"] == "cpu-again"
    assert findings[shape]["probedDiff"] <= PARITY


@pytest.mark.parametrize("shape", ["functional", "sequential"])
def test_frozen_batch_norm_keeps_its_statistics(shape: str, findings: dict[str, Any]) -> None:
    assert findings[shape]["frozenMovedCached"] == 0
    assert findings[shape]["frozenMovedFull"] == 0


def test_plain_tfjs_would_move_frozen_batch_norm_statistics(findings: dict[str, Any]) -> None:
    # Why train.js forces frozen BatchNormalization into inference mode: tfjs does not do it by itself.
    assert findings["plainTfjsBatchNormMoved"] > 1e-3


@pytest.mark.parametrize(
    ("shape", "reason"),
    [
        ("dropoutInside", "the frozen layers include inner_dropout"),
        ("skip", "a layer after the frozen start also reads the frozen start (a skip connection)"),
    ],
)
def test_what_caching_would_change_trains_whole(shape: str, reason: str, findings: dict[str, Any]) -> None:
    assert findings[shape] == {"cached": False, "reason": reason, "leaked": 0}


def test_validation_is_reported_on_the_held_out_samples(findings: dict[str, Any]) -> None:
    validation = findings["functional"]["validation"]
    assert sum(map(sum, validation["confusion"])) == 9
    assert [entry["count"] for entry in validation["perClass"]] == [3, 3, 3]
    correct = sum(entry["correct"] for entry in validation["perClass"])
    assert validation["accuracy"] == pytest.approx(correct / 9)
    assert validation["accuracy"] == pytest.approx(findings["functional"]["valAccuracy"][0][-1])


def test_hold_out_is_stratified_and_says_when_too_few(findings: dict[str, Any]) -> None:
    # 15 % per class, at least 1 of a class with >= 2 samples, nothing of a class with 1 (or 0).
    assert findings["splits"]["mixed"] == {
        "held": [3, 1, 1, 0, 0],
        "train": 25,
        "validation": 5,
        "note": "1 class(es) have 1 sample, used for training only",
    }
    assert findings["splits"]["singles"] == {
        "held": [0, 0, 0],
        "train": 3,
        "validation": 0,
        "note": "too few samples to hold any out (a class needs at least 2 for one to be held out)",
    }
