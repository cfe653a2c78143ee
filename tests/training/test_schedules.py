"""Learning-rate schedules against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from sak_core.config import OptimSection
from sak_core.training.schedules import Schedule, build_schedule


def test_poly_without_warmup():
    s = Schedule("poly", base_lr=1.0, total=10, power=0.9)
    assert s.lr(0) == 1.0
    assert s.lr(5) == pytest.approx(0.5**0.9)
    assert s.lr(9) == pytest.approx(0.1**0.9)
    assert s.lr(10) == 0.0


def test_poly_with_min_lr():
    s = Schedule("poly", base_lr=1.0, total=4, min_lr=0.2, power=1.0)
    assert [s.lr(i) for i in range(5)] == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2])


def test_cosine_with_warmup_and_min_lr():
    s = Schedule("cosine", base_lr=1e-3, total=12, warmup=2, min_lr=1e-5)
    assert s.lr(0) == pytest.approx(5e-4)  # (step + 1) / warmup
    assert s.lr(1) == pytest.approx(1e-3)
    assert s.lr(2) == pytest.approx(1e-3)  # cosine starts at the top
    assert s.lr(7) == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5)  # halfway: cos(pi/2) = 0
    assert s.lr(12) == pytest.approx(1e-5)
    t = 3 / 10
    assert s.lr(5) == pytest.approx(1e-5 + (1e-3 - 1e-5) * (1 + math.cos(math.pi * t)) / 2)


def test_constant_and_apply():
    s = Schedule("constant", base_lr=0.3, total=5, warmup=3)
    assert [s.lr(i) for i in range(5)] == pytest.approx([0.1, 0.2, 0.3, 0.3, 0.3])
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    assert s.apply(opt, 0) == pytest.approx(0.1) and opt.param_groups[0]["lr"] == pytest.approx(0.1)


def test_built_from_the_config_section():
    s = build_schedule(OptimSection(lr=2e-5, schedule="poly", poly_power=0.9), total=40000, warmup=0)
    assert s.lr(20000) == pytest.approx(2e-5 * 0.5**0.9)


def test_bad_schedules_are_refused():
    with pytest.raises(ValueError, match="unknown schedule"):
        Schedule("step", 1.0, 10)
    with pytest.raises(ValueError, match="warmup"):
        Schedule("poly", 1.0, 10, warmup=11)
