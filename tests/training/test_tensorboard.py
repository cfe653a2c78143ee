"""TensorBoard as the run's picture book: at every validation, prediction grids of the same
validation images and the router chart, read back with TensorBoard's own event reader."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from safetensors.torch import load_file

from sak_core.training import train

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")


def read_events(run):
    acc = event_accumulator.EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    return acc


def decoded(event) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(event.encoded_image_string)).convert("RGB"))


def test_every_validation_writes_prediction_grids_and_the_router_chart(toy_config, tmp_path):
    config = toy_config(optim={"iterations": 4}, output={"tensorboard": True, "val_every": 2, "checkpoint_every": 4})
    run = tmp_path / "run"
    train(config, run)

    acc = read_events(run)
    images = acc.Tags()["images"]
    grids = sorted(t for t in images if t.startswith("predictions/"))
    assert grids == ["predictions/0", "predictions/1", "predictions/2", "predictions/3"]  # the same 4 images
    assert "routers" in images
    validations = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
                   if json.loads(line)["split"] == "val"]
    assert validations == [0, 2, 4]
    for tag in [*grids, "routers"]:
        assert [e.step for e in acc.Images(tag)] == validations, tag
    assert "val/score" in acc.Tags()["scalars"]  # beside the scalars

    first, last = (decoded(e) for e in (acc.Images("predictions/0")[0], acc.Images("predictions/0")[-1]))
    assert first.shape == last.shape and first.shape[0] > 32 and first.shape[1] > 3 * 32  # image + 2 tasks
    assert not np.array_equal(first, last)  # training changed the predictions drawn
    chart = decoded(acc.Images("routers")[0])
    assert chart.std() > 0

    # drawing changes nothing: the student trains as it does without pictures (same mode, same RNG)
    plain = tmp_path / "plain"
    train(toy_config(optim={"iterations": 4}, output={"val_every": 2, "checkpoint_every": 4}), plain)
    with_pictures, without = load_file(str(run / "model.safetensors")), load_file(str(plain / "model.safetensors"))
    assert all((with_pictures[k] == without[k]).all() for k in without)


def test_no_pictures_without_tensorboard_output(toy_config, tmp_path):
    run = tmp_path / "run"
    train(toy_config(optim={"iterations": 2}), run)  # the toy run sets output.tensorboard: false
    assert not (run / "tensorboard").exists()
