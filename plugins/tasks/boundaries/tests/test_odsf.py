"""Tests of the SEISM-protocol boundary evaluation (odsF / oisF / AP) on hand-made maps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

pytest.importorskip("pyEdgeEval", reason="pip install pyEdgeEval==0.2.8 opencv-python-headless")

from sak_task_boundaries.odsf import (  # noqa: E402
    THRESHOLDS,
    OdsFAccumulator,
    edge_nms,
    evaluate_odsf,
    image_counts,
    seism_ground_truth,
    summarize_counts,
    thin,
)

# 60 x 80 image: diagonal 100 px, so max_dist 0.03 is exactly 3 px.
H, W = 60, 80
MAX_DIST = 0.03


def square_boundary(top=15, left=20, size=30) -> np.ndarray:
    gt = np.zeros((H, W), dtype=bool)
    gt[top, left : left + size] = gt[top + size - 1, left : left + size] = True
    gt[top : top + size, left] = gt[top : top + size, left + size - 1] = True
    return gt


def raw(pred, gt, **kw):
    """Counts with the maps taken literally: no NMS, GT used as given."""
    return image_counts(pred, gt, MAX_DIST, nms=False, seism_gt=False, **kw)


def test_perfect_prediction_scores_one():
    labels = np.zeros((H, W), dtype=np.int32)
    labels[15:45, 20:50] = 1
    labels[25:35, 60:75] = 2
    pred = seism_ground_truth(labels).astype(np.uint8) * 255  # exactly the GT SEISM scores against
    scores = evaluate_odsf([pred, pred], [labels, labels], MAX_DIST, nms=False, workers=0)
    assert scores["odsF"] == pytest.approx(1.0)
    assert scores["oisF"] == pytest.approx(1.0)
    assert scores["ods_threshold"] == pytest.approx(0.01)


@pytest.mark.parametrize("shift, matched", [(2, True), (3, True), (4, False)])
def test_shift_within_tolerance_matches_and_beyond_does_not(shift, matched):
    gt = np.zeros((H, W), dtype=bool)
    gt[30, 10:70] = True
    pred = np.roll(gt, shift, axis=0).astype(np.uint8) * 255
    counts = raw(pred, gt, thresholds=(0.5,))
    assert counts.total_pred[0, 0] == counts.total_gt[0, 0] == 60
    assert counts.matched_pred[0, 0] == (60 if matched else 0)
    assert counts.matched_gt[0, 0] == (60 if matched else 0)


def test_diagonal_shift_uses_euclidean_distance():
    gt = np.zeros((H, W), dtype=bool)
    gt[20, 20] = True
    within = np.zeros((H, W), np.uint8)
    within[22, 22] = 255  # sqrt(8) < 3
    beyond = np.zeros((H, W), np.uint8)
    beyond[23, 22] = 255  # sqrt(13) > 3 although both offsets are <= 3
    assert raw(within, gt, thresholds=(0.5,)).matched_pred[0, 0] == 1
    assert raw(beyond, gt, thresholds=(0.5,)).matched_pred[0, 0] == 0


def test_matching_is_one_to_one():
    gt = np.zeros((H, W), dtype=bool)
    gt[30, 40] = True
    pred = np.zeros((H, W), np.uint8)
    pred[29, 40] = pred[31, 40] = 255  # two predictions next to one GT pixel
    counts = raw(pred, gt, thresholds=(0.5,))
    assert counts.total_pred[0, 0] == 2
    assert counts.matched_pred[0, 0] == 1
    assert counts.matched_gt[0, 0] == 1
    precision_recall = summarize_counts(counts)
    assert precision_recall["ods_precision"] == pytest.approx(0.5)
    assert precision_recall["ods_recall"] == pytest.approx(1.0)


def test_thresholds_and_scores_follow_seism_bookkeeping():
    gt = np.zeros((H, W), dtype=bool)
    gt[30, 10:70] = True  # 60 GT pixels
    pred = np.zeros((H, W), np.uint8)
    pred[30, 10:40] = 200  # 30 true pixels, strong
    pred[10, 10:70] = 100  # 60 false pixels, weak
    counts = raw(pred, gt)
    assert counts.thresholds.shape == (99,)
    low = THRESHOLDS.index(0.3)  # 100/255 = 0.39 >= 0.3: both strokes
    high = THRESHOLDS.index(0.5)  # only the strong stroke
    assert counts.total_pred[0, low] == 90 and counts.matched_pred[0, low] == 30
    assert counts.total_pred[0, high] == 30 and counts.matched_pred[0, high] == 30
    assert counts.total_pred[0, -1] == 0  # 200/255 < 0.99
    scores = summarize_counts(counts)
    # best: P = 1, R = 0.5 -> F = 2/3, first reached at 100/255 < t, i.e. t = 0.40
    assert scores["odsF"] == pytest.approx(2 / 3)
    assert scores["ods_threshold"] == pytest.approx(0.40)
    assert scores["oisF"] == pytest.approx(2 / 3)
    # curve: (R 0.5, P 1/3) for t <= 0.39, (R 0.5, P 1) up to 0.78, then (R 0, P 1): AP uses
    # the first threshold of each recall, interpolated on R = 0 .. 0.5 -> 51 points.
    expected = np.interp(np.linspace(0, 0.5, 51), [0, 0.5], [1.0, 1 / 3]).sum() / 100
    assert scores["AP"] == pytest.approx(expected)


def test_ods_sums_counts_but_ois_picks_each_images_threshold():
    gt = np.zeros((H, W), dtype=bool)
    gt[30, 10:70] = True
    good = np.zeros((H, W), np.uint8)
    good[30, 10:70] = 200
    good[10, 10:70] = 20  # weak false stroke: best threshold above 20/255
    other = np.zeros((H, W), np.uint8)
    other[30, 10:70] = 20  # only weak true stroke: best threshold at or below 20/255
    counts = summarize_counts(
        type(raw(good, gt)).stack([raw(good, gt), raw(other, gt)])
    )
    assert counts["oisF"] == pytest.approx(1.0)
    assert counts["odsF"] < 0.9


def test_nms_thins_a_thick_ridge_and_fades_the_border():
    yy = np.arange(H, dtype=np.float32)[:, None]
    ridge = np.exp(-((yy - 30) ** 2) / (2 * 2.5**2)) * np.ones((1, W), np.float32)
    # a little texture: on an exactly axis-aligned ridge Oxy = 0 and the reference's
    # orientation formula degenerates (sign(0) = 0), as it would in MATLAB
    ridge = 0.9 * ridge + 0.05 * np.random.default_rng(0).random((H, W), dtype=np.float32)
    out = edge_nms((ridge * 255).astype(np.uint8), radius=1)
    columns = out[:, 10:70] > 0
    assert (columns.sum(axis=0) <= 2).all()  # a ~6 px thick ridge becomes 1-2 px
    assert columns[29:32].any(axis=0).all()  # on the ridge line
    # the 5 px border ramp: zero on the outer column, then 1/5 .. 4/5 of the interior value
    centre = float(out[30, 40])
    assert out[30, 0] == 0 and out[30, W - 1] == 0
    for x in range(1, 5):
        assert out[30, x] == pytest.approx(centre * x / 5, abs=1)
    assert out[30, 5] == pytest.approx(centre, abs=1)


def test_thin_reduces_strokes_to_one_pixel_and_keeps_lines():
    mask = np.zeros((20, 20), dtype=bool)
    mask[5:8, 2:18] = True  # 3 px thick bar
    thinned = thin(mask)
    assert thinned.sum(axis=0)[4:16].max() == 1
    line = np.zeros((20, 20), dtype=bool)
    line[10, 3:17] = True
    assert (thin(line) == line).all()


def test_seism_ground_truth_of_a_label_map():
    labels = np.zeros((H, W), dtype=np.int32)
    labels[20:40, 30:50] = 7
    gt = seism_ground_truth(labels)
    # seg2bmap marks the pixel before each label change, one pixel wide after thinning
    assert gt[19, 35] and gt[39, 35] and not gt[40, 35]
    assert gt[25, 29] and gt[25, 49] and not gt[25, 50]
    assert gt.sum() < 2 * (20 + 20) * 2


def test_size_mismatch_is_rejected_with_a_hint():
    with pytest.raises(ValueError, match="crop"):
        evaluate_odsf([np.zeros((10, 12), np.uint8)], [np.zeros((10, 10))], MAX_DIST, workers=0)


def test_float_maps_are_truncated_to_8_bits_like_the_reference():
    gt = square_boundary()
    pred = np.where(gt, 0.5, 0.0).astype(np.float32)  # 127.5 -> 127
    counts = raw(pred, gt, thresholds=(127 / 255, 128 / 255))
    assert counts.total_pred[0].tolist() == [thin(gt).sum(), 0]


# ---------------------------------------------------------------- independent reference


def reference_counts(pred: np.ndarray, gt: np.ndarray, max_dist_px: float) -> int:
    """Maximum one-to-one matching by brute force: dense assignment with forbidden pairs."""
    py, px = np.nonzero(pred)
    gy, gx = np.nonzero(gt)
    if py.size == 0 or gy.size == 0:
        return 0
    d2 = (py[:, None] - gy[None]) ** 2 + (px[:, None] - gx[None]) ** 2
    allowed = d2 <= max_dist_px**2
    rows, cols = linear_sum_assignment(np.where(allowed, -1.0, 0.0))
    return int(allowed[rows, cols].sum())


def realistic_pair(seed: int, height: int = 48, width: int = 64):
    """A blurred, shifted, noisy boundary map of random shapes, and the shapes' label map."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    labels = np.zeros((height, width), dtype=np.int32)
    for label in range(1, 5):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry, rx = rng.uniform(6, height / 2), rng.uniform(6, width / 2)
        labels[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = label
    boundary = seism_ground_truth(labels).astype(np.float32)
    moved = np.roll(boundary, tuple(rng.integers(-2, 3, size=2)), axis=(0, 1))
    prob = ndimage.gaussian_filter(moved, 1.2) * 4 + 0.15 * ndimage.gaussian_filter(rng.random(moved.shape), 2)
    prob = np.clip(prob + 0.05 * rng.random(moved.shape), 0, 1)
    return (prob * 255).astype(np.uint8), labels


@pytest.mark.parametrize("seed", range(6))
def test_counts_agree_with_brute_force_matching(seed):
    pred, labels = realistic_pair(seed)
    thresholds = (0.05, 0.2, 0.4, 0.6)
    counts = image_counts(pred, labels, MAX_DIST, thresholds=thresholds)
    gt = seism_ground_truth(labels)
    nms_map = edge_nms(pred) / 255.0
    max_dist_px = MAX_DIST * math.hypot(*gt.shape)
    for k, t in enumerate(thresholds):
        thinned = thin(nms_map >= t)
        expected = reference_counts(thinned, gt, max_dist_px)
        assert counts.total_pred[0, k] == thinned.sum()
        assert counts.total_gt[0, k] == gt.sum()
        # correspondPixels is a min-cost assignment over a sparse random outlier graph: it
        # never beats the maximum matching and, as in MATLAB, now and then misses a pixel
        assert expected - 2 <= counts.matched_pred[0, k] <= expected
        assert counts.matched_gt[0, k] == counts.matched_pred[0, k]


def test_dataset_scores_agree_with_reference_and_pool_matches_serial():
    pairs = [realistic_pair(seed) for seed in range(10, 14)]
    thresholds = (0.1, 0.3, 0.5, 0.7)
    serial = evaluate_odsf(*zip(*pairs), MAX_DIST, thresholds=thresholds, workers=0)
    pooled = evaluate_odsf(*zip(*pairs), MAX_DIST, thresholds=thresholds, workers=2)
    # correspondPixels' random outlier edges make the counts vary by a pixel between runs
    assert serial["odsF"] == pytest.approx(pooled["odsF"], abs=0.01)

    cnt = np.zeros(len(thresholds))
    sum_p = np.zeros(len(thresholds))
    sum_r = 0
    for pred, labels in pairs:
        gt = seism_ground_truth(labels)
        nms_map = edge_nms(pred) / 255.0
        sum_r += gt.sum()
        for k, t in enumerate(thresholds):
            thinned = thin(nms_map >= t)
            cnt[k] += reference_counts(thinned, gt, MAX_DIST * math.hypot(*gt.shape))
            sum_p[k] += thinned.sum()
    precision, recall = cnt / sum_p, cnt / sum_r
    f = 2 * precision * recall / (precision + recall)
    assert serial["odsF"] == pytest.approx(f.max(), abs=0.005)
    assert serial["odsF"] <= f.max() + 1e-12
    assert 0 < serial["AP"] <= 1 and serial["oisF"] >= serial["odsF"] - 1e-12


def test_accumulator_streams_and_resets():
    pred, labels = realistic_pair(3)
    acc = OdsFAccumulator(MAX_DIST, thresholds=(0.2, 0.5), workers=0)
    acc.update(pred, labels)
    acc.update(pred, labels)
    first = acc.compute()
    assert first["num_images"] == 2
    acc.reset()
    acc.update(pred, labels)
    again = acc.compute()
    assert again["num_images"] == 1 and again["odsF"] == pytest.approx(first["odsF"])
    with pytest.raises(ValueError, match="fraction of the image diagonal"):
        OdsFAccumulator(6.0)
