"""Precision is resolved once, at the entry, and passed down as a Precision: the library functions
take the object as it is (no second resolution), accept a setting string for backwards
compatibility, and all default to fp32."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

import sak_core
from sak_core.evaluation import prediction, routers, scoring
from sak_core.runtime import device as device_mod
from sak_core.runtime.device import Precision, as_precision, autocast, resolve_precision
from sak_core.training.pictures import RunPictures

CPU = torch.device("cpu")


def test_a_precision_goes_through_and_a_setting_is_resolved():
    chosen = Precision("bf16", "asked for by a test")
    assert as_precision(chosen, CPU) is chosen
    assert as_precision("fp32", CPU) == resolve_precision("fp32", CPU)
    with pytest.raises(sak_core.errors.ConfigError, match="fp16 needs a CUDA GPU"):
        as_precision("fp16", CPU)


def test_every_function_that_runs_the_student_defaults_to_fp32():
    functions = [prediction.predict, prediction.predict_prepared, scoring.evaluate, routers.router_summary,
                 RunPictures.write]
    assert {f.__qualname__: inspect.signature(f).parameters["precision"].default for f in functions} == {
        f.__qualname__: "fp32" for f in functions}


def test_predict_resolves_a_setting_once_and_a_precision_never(monkeypatch, probe):
    student = probe.tiny_student(tasks={"semseg": 3})
    image = np.random.default_rng(0).integers(0, 255, (40, 52, 3), dtype=np.uint8)
    calls = []
    real = device_mod.resolve_precision
    monkeypatch.setattr(device_mod, "resolve_precision", lambda s, d: calls.append(s) or real(s, d))
    sak_core.predict(student, image, precision=Precision("fp32", "resolved by the caller"))
    assert calls == []
    sak_core.predict(student, image, precision="auto")
    assert calls == ["auto"]


def test_autocast_follows_the_object_it_is_given():
    with autocast(CPU, Precision("bf16", "test")):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")
    with autocast(CPU, Precision("fp32", "test")):
        assert not torch.is_autocast_enabled("cpu")
