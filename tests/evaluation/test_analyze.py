"""`sak analyze routers`: the numbers written and the bars drawn are the mean router weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from sak_core import load_student
from sak_core.cli.main import main
from sak_core.evaluation import RouterSummary, render_router_chart


def test_analyze_routers_writes_the_mean_weights_and_draws_them(probe, tiny_run, tmp_path):
    png = tmp_path / "fig" / "routers.png"
    assert main(["analyze", "routers", str(tiny_run), "--device", "cpu", "--precision", "fp32",
                 "--out", str(png)]) == 0
    numbers = json.loads(png.with_suffix(".json").read_text())
    student = load_student(tiny_run).eval()
    assert numbers["experts"] == ["stem", "dinov2", "sam"]
    assert numbers["num_images"] == len(probe.SIZES)

    # the mean over the split, computed here from the student's own routing weights
    data = probe.ProbeDataset(probe.INPUT_SIZE, [])
    images = torch.stack([data[i]["image"] for i in range(len(data))])
    expected = student.routing_weights(images)  # task -> B, L, E
    for task in probe.TASKS:
        levels = numbers["weights"][task]
        assert len(levels) == 4
        for l, weights in enumerate(levels.values()):
            assert sum(weights.values()) == pytest.approx(1.0, abs=1e-6)  # float32 softmax
            mean = expected[task][:, l].mean(dim=0)
            assert list(weights.values()) == pytest.approx(mean.tolist(), abs=1e-6)

    # the drawn bars: each expert's segment is as wide as its weight
    summary = RouterSummary(
        tasks=list(numbers["weights"]), levels=numbers["levels"], experts=numbers["experts"],
        weights=np.array([[list(lv.values()) for lv in t.values()] for t in numbers["weights"].values()]),
        num_images=numbers["num_images"],
    )
    chart = render_router_chart(summary)
    drawn = np.asarray(Image.open(png).convert("RGB"))
    assert drawn.shape[:2] == (chart.image.height, chart.image.width)
    check_bars(drawn, chart, summary)


def check_bars(pixels: np.ndarray, chart, summary: RouterSummary) -> None:
    for bar in chart.bars:
        x0, y0, x1, _ = bar.box
        row = pixels[y0 + 1, x0:x1]  # above the percentage labels
        t = summary.tasks.index(bar.task)
        covered = 0
        for e, expert in enumerate(summary.experts):
            width = int(np.all(row == np.array(chart.colours[expert]), axis=-1).sum())
            covered += width
            assert abs(width - summary.weights[t, bar.level, e] * (x1 - x0)) <= 1.0, (bar.task, bar.level, expert)
        assert covered == x1 - x0  # the segments tile the bar


def test_chart_of_known_weights():
    weights = np.array([[[0.5, 0.25, 0.25], [0.1, 0.0, 0.9]], [[1 / 3, 1 / 3, 1 / 3], [0.0, 1.0, 0.0]]])
    summary = RouterSummary(["a", "b"], [5, 11], ["stem", "t1", "t2"], weights, num_images=7)
    chart = render_router_chart(summary, bar_width=400)
    check_bars(np.asarray(chart.image), chart, summary)
    assert len(chart.bars) == 4


def test_a_student_without_routers_is_refused(probe, tmp_path):
    from sak_core import StudentConfig, create_student
    from sak_core.errors import SakError
    from sak_core.evaluation import router_summary

    student = create_student(StudentConfig(
        stem="vit_small", stem_overrides={"embed_dim": 32, "depth": 4, "num_heads": 2},
        input_size=(32, 32), teachers={"a": 0}, tasks={"semseg": 3}, router="sum",
    ))
    with pytest.raises(SakError, match="no learned routers"):
        router_summary(student, [torch.zeros(1, 3, 32, 32)])


def test_an_out_that_is_not_a_png_is_refused_before_any_work(tiny_run, tmp_path, capsys):
    assert main(["analyze", "routers", str(tiny_run), "--device", "cpu", "--out", str(tmp_path / "rt.txt")]) == 1
    assert "give a .png path" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [tiny_run]  # nothing written (rt.png was written before)
