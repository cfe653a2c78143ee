"""Tests of the SEISM-protocol boundary evaluation (odsF / oisF / AP) on hand-made maps."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from sak_task_boundaries.odsf import (
    NMS_MULTIPLIER,
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


def raw(pred, gt, matching="exact", **kw):
    """Counts with the maps taken literally: no NMS, GT used as given; a maximum matching
    unless ``matching`` says otherwise."""
    return image_counts(pred, gt, MAX_DIST, nms=False, seism_gt=False, matching=matching, **kw)


def test_perfect_prediction_scores_one():
    labels = np.zeros((H, W), dtype=np.int32)
    labels[15:45, 20:50] = 1
    labels[25:35, 60:75] = 2
    pred = seism_ground_truth(labels).astype(np.uint8) * 255  # exactly the GT SEISM scores against
    scores = evaluate_odsf([pred, pred], [labels, labels], MAX_DIST, nms=False, matching="exact", workers=0)
    assert scores["odsF"] == 1.0 and scores["oisF"] == 1.0
    assert scores["ods_precision"] == 1.0 and scores["ods_recall"] == 1.0
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


@pytest.mark.parametrize("matching", ["exact", "bsds"])
def test_diagonal_shift_uses_euclidean_distance(matching):
    gt = np.zeros((H, W), dtype=bool)
    gt[20, 20] = True
    within = np.zeros((H, W), np.uint8)
    within[22, 22] = 255  # sqrt(8) < 3
    beyond = np.zeros((H, W), np.uint8)
    beyond[23, 22] = 255  # sqrt(13) > 3 although both offsets are <= 3
    assert raw(within, gt, matching, thresholds=(0.5,)).matched_pred[0, 0] == 1
    assert raw(beyond, gt, matching, thresholds=(0.5,)).matched_pred[0, 0] == 0


@pytest.mark.parametrize("matching", ["exact", "bsds"])
def test_matching_is_one_to_one(matching):
    gt = np.zeros((H, W), dtype=bool)
    gt[30, 40] = True
    pred = np.zeros((H, W), np.uint8)
    pred[29, 40] = pred[31, 40] = 255  # two predictions next to one GT pixel
    counts = raw(pred, gt, matching, thresholds=(0.5,))
    assert counts.total_pred[0, 0] == 2
    assert counts.matched_pred[0, 0] == 1
    assert counts.matched_gt[0, 0] == 1
    precision_recall = summarize_counts(counts)
    assert precision_recall["ods_precision"] == pytest.approx(0.5)
    assert precision_recall["ods_recall"] == pytest.approx(1.0)


def test_matching_is_maximum_not_greedy():
    # p is the nearest prediction of both GT pixels; a greedy match p-a leaves q alone, the
    # maximum matching pairs p-b and q-a.
    gt = np.zeros((H, W), dtype=bool)
    gt[30, 10] = gt[30, 14] = True  # a, b
    pred = np.zeros((H, W), np.uint8)
    pred[30, 12] = pred[30, 8] = 255  # p (2 px from a and b), q (2 px from a, 6 px from b)
    counts = raw(pred, gt, thresholds=(0.5,))
    assert counts.matched_pred[0, 0] == counts.matched_gt[0, 0] == 2


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


def slanted_ridge(sigma=2.5, slope=0.05):
    """A smooth ridge along y = 30 + slope * (x - 40), about 6 px thick. Slanted, because on an
    exactly axis-aligned ridge Oxy = 0 and the reference's orientation formula degenerates
    (sign(0) = 0), as it does in MATLAB."""
    yy, xx = np.mgrid[:H, :W].astype(np.float32)
    across = (yy - 30 - slope * (xx - 40)) / np.float32(math.hypot(1, slope))
    return (0.9 * np.exp(-(across**2) / (2 * sigma**2)) * 255).astype(np.uint8)


@pytest.mark.parametrize("radius", [1, 4])
def test_nms_thins_a_thick_ridge_and_fades_the_border(radius):
    out = edge_nms(slanted_ridge(), radius=radius)
    columns = out[:, 10:70] > 0
    assert columns.any(axis=0).all()
    assert (columns.sum(axis=0) <= 2).all()  # the ~6 px thick ridge becomes 1-2 px
    rows = np.nonzero(columns)[0]
    line = 30 + 0.05 * (np.nonzero(columns)[1] + 10 - 40)
    assert np.abs(rows - line).max() <= 1.0  # on the ridge line
    # the 5 px border fade: zero on the outer rows and columns, then 1/5 .. 4/5
    assert not out[0].any() and not out[-1].any() and not out[:, 0].any() and not out[:, -1].any()
    interior = float(out[:, 5:75].max(axis=0).mean())
    for x in range(1, 5):
        assert out[:, x].max() == pytest.approx(interior * x / 5, abs=3)
        assert out[:, W - 1 - x].max() == pytest.approx(interior * x / 5, abs=3)


def reference_nms(edges: np.ndarray, orientation: np.ndarray, radius: int, border: int) -> np.ndarray:
    """edgesNmsMex.cpp transcribed pixel by pixel, in float32 scalars."""
    f32 = np.float32
    h, w = edges.shape

    def interp(x, y):
        x = f32(0) if x < 0 else (f32(w - 1.001) if x > w - 1.001 else x)
        y = f32(0) if y < 0 else (f32(h - 1.001) if y > h - 1.001 else y)
        x0, y0 = int(x), int(y)
        dx0, dy0 = f32(x - f32(x0)), f32(y - f32(y0))
        dx1, dy1 = f32(1) - dx0, f32(1) - dy0
        return (edges[y0, x0] * dx1 * dy1 + edges[y0, x0 + 1] * dx0 * dy1
                + edges[y0 + 1, x0] * dx1 * dy0 + edges[y0 + 1, x0 + 1] * dx0 * dy0)

    out = edges.copy()
    for x in range(w):
        for y in range(h):
            e = edges[y, x]
            if not e:
                continue
            e = e * f32(NMS_MULTIPLIER)
            co, si = np.cos(orientation[y, x]), np.sin(orientation[y, x])
            for d in range(-radius, radius + 1):
                if d and e < interp(f32(x) + f32(d) * co, f32(y) + f32(d) * si):
                    out[y, x] = 0
                    break
    s = min(border, w // 2, h // 2)
    for x in range(s):
        out[:, x] *= f32(x / s)
        out[:, w - 1 - x] *= f32(x / s)
    for y in range(s):
        out[y, :] *= f32(y / s)
        out[h - 1 - y, :] *= f32(y / s)
    return out


@pytest.mark.parametrize("radius", [1, 4])
def test_nms_agrees_with_a_pixel_by_pixel_transcription(radius):
    from sak_task_boundaries.odsf import _conv_tri, _orientation, _suppress

    pred, _ = realistic_pair(7, 24, 32)
    edges = _conv_tri(pred.astype(np.float32) / np.float32(255), 1)
    orientation = _orientation(edges)
    expected = reference_nms(edges, orientation, radius, 5)
    got = _suppress(edges, orientation, radius, 5, NMS_MULTIPLIER)
    np.testing.assert_array_equal(got, expected)


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


def brute_force_reference(pred, labels, thresholds, max_dist=MAX_DIST, nms_radius=4):
    """Per-threshold (matched, predicted) counts and the GT size, by the slow route."""
    gt = seism_ground_truth(labels)
    nms_map = edge_nms(pred, radius=nms_radius) / 255.0
    max_dist_px = max_dist * math.hypot(*gt.shape)
    matched, predicted = [], []
    for t in thresholds:
        thinned = thin(nms_map >= t)
        matched.append(reference_counts(thinned, gt, max_dist_px))
        predicted.append(int(thinned.sum()))
    return np.array(matched), np.array(predicted), int(gt.sum())


@pytest.mark.parametrize("seed", range(6))
def test_counts_equal_brute_force_matching(seed):
    pred, labels = realistic_pair(seed)
    thresholds = (0.01, 0.05, 0.2, 0.4, 0.6)
    counts = image_counts(pred, labels, MAX_DIST, thresholds=thresholds, matching="exact")
    matched, predicted, gt_size = brute_force_reference(pred, labels, thresholds)
    assert counts.matched_pred[0].tolist() == matched.tolist()
    assert counts.matched_gt[0].tolist() == matched.tolist()
    assert counts.total_pred[0].tolist() == predicted.tolist()
    assert (counts.total_gt[0] == gt_size).all()


@pytest.mark.parametrize("seed", range(3))
def test_counts_equal_brute_force_at_nyud_like_tolerance(seed):
    # ~8 px tolerance (NYUD-v2's 0.011 of a 480x640 diagonal is 8.8 px): large, dense graphs
    pred, labels = realistic_pair(100 + seed, 72, 96)
    max_dist = 8.0 / math.hypot(72, 96)
    thresholds = (0.02, 0.1, 0.3, 0.5)
    counts = image_counts(pred, labels, max_dist, thresholds=thresholds, nms_radius=1, matching="exact")
    matched, predicted, _ = brute_force_reference(pred, labels, thresholds, max_dist, nms_radius=1)
    assert counts.matched_pred[0].tolist() == matched.tolist()
    assert counts.total_pred[0].tolist() == predicted.tolist()


def test_dataset_scores_equal_reference_and_pool_equals_serial():
    pairs = [realistic_pair(seed) for seed in range(10, 14)]
    thresholds = (0.1, 0.3, 0.5, 0.7)
    serial = evaluate_odsf(*zip(*pairs), MAX_DIST, thresholds=thresholds, matching="exact", workers=0)
    pooled = evaluate_odsf(*zip(*pairs), MAX_DIST, thresholds=thresholds, matching="exact", workers=2)
    again = evaluate_odsf(*zip(*pairs), MAX_DIST, thresholds=thresholds, matching="exact", workers=0)
    assert serial == pooled == again  # exact and deterministic

    cnt = np.zeros(len(thresholds))
    sum_p = np.zeros(len(thresholds))
    sum_r = 0
    for pred, labels in pairs:
        matched, predicted, gt_size = brute_force_reference(pred, labels, thresholds)
        cnt += matched
        sum_p += predicted
        sum_r += gt_size
    precision, recall = cnt / sum_p, cnt / sum_r
    f = 2 * precision * recall / (precision + recall)
    assert serial["odsF"] == f.max()
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


# ---------------------------------------------------------------- matching="bsds"


def perfect_prediction(seed: int, height: int, width: int, shapes: int = 8):
    """A label map of random ellipses and a prediction equal to its SEISM ground truth."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    labels = np.zeros((height, width), dtype=np.int32)
    for label in range(1, shapes + 1):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry, rx = rng.uniform(8, height / 3), rng.uniform(8, width / 3)
        labels[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = label
    gt = seism_ground_truth(labels)
    return gt.astype(np.uint8) * 255, gt


def test_default_matching_is_bsds_and_unknown_modes_are_refused():
    pred, labels = realistic_pair(0)
    thresholds = (0.1, 0.4)
    default = image_counts(pred, labels, MAX_DIST, thresholds=thresholds)
    bsds = image_counts(pred, labels, MAX_DIST, thresholds=thresholds, matching="bsds")
    np.testing.assert_array_equal(default.matched_pred, bsds.matched_pred)
    with pytest.raises(ValueError, match="'bsds'.*'exact'"):
        image_counts(pred, labels, MAX_DIST, matching="maximum")
    with pytest.raises(ValueError, match="'bsds'.*'exact'"):
        OdsFAccumulator(MAX_DIST, matching="hungarian")


def test_bsds_never_matches_more_than_exact_and_only_slightly_fewer():
    total_bsds = total_exact = 0
    for seed in range(4):
        pred, labels = realistic_pair(20 + seed, 96, 128)
        exact = image_counts(pred, labels, MAX_DIST, matching="exact")
        bsds = image_counts(pred, labels, MAX_DIST, matching="bsds")
        np.testing.assert_array_equal(bsds.total_pred, exact.total_pred)  # same maps, same GT
        np.testing.assert_array_equal(bsds.total_gt, exact.total_gt)
        assert (bsds.matched_pred <= exact.matched_pred).all()
        assert (bsds.matched_pred >= 0.97 * exact.matched_pred - 2).all()  # a few pixels stranded
        np.testing.assert_array_equal(bsds.matched_gt, bsds.matched_pred)
        total_bsds += int(bsds.matched_pred.sum())
        total_exact += int(exact.matched_pred.sum())
    assert total_bsds < total_exact  # the random outlier edges do strand pixels


def test_bsds_undercounts_a_perfect_prediction_as_the_reference_does():
    # With six random outlier edges per node, about exp(-6) of the outlier nodes get none, and
    # each such node costs a real match: the reference matches 3,951-3,955 of 3,963 pixels of
    # a prediction identical to the ground truth. A maximum matching takes them all.
    drops = []
    for seed in range(3):
        pred, gt = perfect_prediction(seed, 180, 240)
        size = int(gt.sum())
        exact = raw(pred, gt, "exact", thresholds=(0.5,)).matched_pred[0, 0]
        assert exact == size
        for draw in range(4):
            bsds = raw(pred, gt, "bsds", thresholds=(0.5,), seed=draw).matched_pred[0, 0]
            drops.append((size - int(bsds)) / size)
    assert min(drops) >= 0
    assert 0.3 * math.exp(-6) < np.mean(drops) < 2.5 * math.exp(-6)


def test_bsds_with_many_outlier_edges_matches_as_many_as_exact(monkeypatch):
    # the undercount comes from the sparse outlier edges: with 50 per node (as match.cc
    # rebuilt with degree = 50) the min-cost optimum is a maximum matching again
    import sak_task_boundaries.odsf as odsf

    pred, gt = perfect_prediction(1, 180, 240)
    assert raw(pred, gt, "bsds", thresholds=(0.5,)).matched_pred[0, 0] < gt.sum()
    monkeypatch.setattr(odsf, "BSDS_OUTLIER_DEGREE", 50)
    assert raw(pred, gt, "bsds", thresholds=(0.5,)).matched_pred[0, 0] == gt.sum()
    for seed in (60, 61):
        pred, labels = realistic_pair(seed, 96, 128)
        exact = image_counts(pred, labels, MAX_DIST, thresholds=(0.05, 0.3, 0.6), matching="exact")
        dense = image_counts(pred, labels, MAX_DIST, thresholds=(0.05, 0.3, 0.6), matching="bsds")
        np.testing.assert_array_equal(dense.matched_pred, exact.matched_pred)


def test_bsds_counts_are_identical_across_runs_and_processes():
    pairs = [realistic_pair(seed) for seed in range(30, 33)]
    thresholds = (0.05, 0.2, 0.4, 0.6)
    first = [image_counts(p, g, MAX_DIST, thresholds=thresholds, matching="bsds") for p, g in pairs]
    again = [image_counts(p, g, MAX_DIST, thresholds=thresholds, matching="bsds") for p, g in pairs]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.matched_pred, b.matched_pred)
    serial = evaluate_odsf(*zip(*pairs), MAX_DIST, thresholds=thresholds, matching="bsds", workers=0)
    pooled = evaluate_odsf(*zip(*pairs), MAX_DIST, thresholds=thresholds, matching="bsds", workers=2)
    assert serial == pooled
    # the seed is what fixes them: other seeds draw other outlier edges
    pred, gt = perfect_prediction(0, 180, 240)
    counts = {int(raw(pred, gt, "bsds", thresholds=(0.5,), seed=s).matched_pred[0, 0]) for s in range(6)}
    assert len(counts) > 1


def test_bsds_scores_a_map_the_same_at_any_threshold_that_gives_it():
    # the random draw depends on the binary map, not on where it sits in the threshold list
    pred, labels = realistic_pair(40)
    full = image_counts(pred, labels, MAX_DIST, matching="bsds")
    picked = (3, 17, 50)
    some = image_counts(pred, labels, MAX_DIST, thresholds=[THRESHOLDS[k] for k in picked], matching="bsds")
    assert some.matched_pred[0].tolist() == full.matched_pred[0, list(picked)].tolist()


@pytest.mark.slow
def test_bsds_agrees_with_pyedgeeval_correspond_pixels_in_distribution():
    """Mean matched counts over repeated runs: ours over seeds, the reference (BSDS match.cc
    as built by pyEdgeEval, seeded from the clock) over calls."""
    try:
        from pyEdgeEval._lib.correspond_pixels import correspond_pixels
    except ImportError:
        pytest.skip("pyEdgeEval is not installed (pip install pyEdgeEval==0.2.8 builds BSDS match.cc)")
    runs = 24
    cases = [perfect_prediction(seed, 150, 200) for seed in (50, 51)]
    for seed in (52, 53):
        pred, labels = realistic_pair(seed, 150, 200)
        gt = seism_ground_truth(labels)
        cases.append(((thin(edge_nms(pred) / 255.0 >= 0.3) * 255).astype(np.uint8), gt))
    ours_total, reference_total, exact_total, variance = 0.0, 0.0, 0, 0.0
    for pred, gt in cases:
        ours = [raw(pred, gt, "bsds", thresholds=(0.5,), seed=s).matched_pred[0, 0] for s in range(runs)]
        binary, truth = (pred > 0).astype(float), gt.astype(float)
        reference = [int((correspond_pixels(binary, truth, MAX_DIST)[0] > 0).sum()) for _ in range(runs)]
        exact = int(raw(pred, gt, "exact", thresholds=(0.5,)).matched_pred[0, 0])
        assert max(ours) <= exact and max(reference) <= exact
        ours_total += np.mean(ours)
        reference_total += np.mean(reference)
        exact_total += exact
        variance += (np.var(ours, ddof=1) + np.var(reference, ddof=1)) / runs
    spread = math.sqrt(variance)
    # the same mean undercount as the reference, and clearly below the maximum matching
    assert abs(ours_total - reference_total) <= 4 * spread + 1
    assert exact_total - reference_total > 4 * spread
    assert exact_total - ours_total > 4 * spread
