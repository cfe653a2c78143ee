"""Boundary odsF / oisF / AP as the SEISM + BSDS MATLAB protocol computes them, in Python.

Per image (as the authors' SEISM fork, innovator-zero/seism, does it):

1. the 8-bit sigmoid map ``x / 255`` is smoothed with a radius-1 triangle filter, an
   orientation is estimated from second derivatives of a radius-4 smoothed copy, and the
   structured-edge NMS (``edgesNmsMex``) thins it; the result is written back to 8 bits;
2. for each of 99 thresholds ``t = 0.01 .. 0.99`` the map ``nms / 255 >= t`` is thinned to
   one pixel (``bwmorph(.., 'thin', Inf)``);
3. the thinned pixels are matched one-to-one to ground-truth boundary pixels within
   ``max_dist * image diagonal`` by BSDS ``correspondPixels``;
4. the counts (matched / total, for recall and precision) are summed over the dataset.

ODS is the best F over thresholds of the summed counts, OIS sums the counts of each image at
its own best threshold, AP integrates the dataset precision-recall curve.

Everything is NumPy / SciPy: the NMS is a vectorised float32 port of ``edgesNmsMex.cpp``, the
thinning a lookup-table port of ``bwmorph thin``. Two matchings (``matching=``):

- ``"bsds"`` (default): the assignment problem of BSDS ``match.cc`` (the code behind
  ``correspondPixels``): the same nodes, integer edge weights, six random outlier edges per
  node and the costly "perfect match" overlay, drawn with a fixed seed and solved exactly by
  SciPy's sparse min-cost assignment. Its sparse outlier edges strand a few pixels, so it
  matches slightly fewer than a maximum matching, as the reference does; its counts agree
  with the reference's in distribution, and unlike the reference it is deterministic.
- ``"exact"``: a maximum-cardinality matching (unit-capacity maximum flow, SciPy's Dinic
  solver). Faster, and an upper bound: it never matches fewer pixels than ``"bsds"``.

See docs/boundary-evaluation.md.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from scipy import ndimage
from scipy.sparse import csr_array
from scipy.sparse.csgraph import maximum_flow, min_weight_full_bipartite_matching
from scipy.spatial import cKDTree

# SEISM's eval_method.m: 0.0075 for PASCAL-Context (its default), 0.011 for NYUD-v2.
PASCAL_CONTEXT_MAX_DIST = 0.0075
NYUD_MAX_DIST = 0.011

# SEISM's parameters.txt: "0.01" .. "0.99", parsed with str2double.
THRESHOLDS: tuple[float, ...] = tuple(float(f"{k / 100:.2f}") for k in range(1, 100))

# The authors' nms_process.m calls edgesNmsMex(E, O, 4, 5, 1.01, nThreads): radius 4.
# The structured-edge toolbox's own edgesDetect uses radius 1.
SEISM_NMS_RADIUS = 4
TOOLBOX_NMS_RADIUS = 1
NMS_BORDER = 5
NMS_MULTIPLIER = 1.01

# How predicted and ground-truth pixels are paired: "bsds" as BSDS match.cc (the published
# numbers), "exact" a maximum matching (an upper bound of "bsds").
MATCHING_MODES = ("bsds", "exact")
DEFAULT_MATCHING = "bsds"
# BSDS match.cc: integer weights are distances x 100, each node gets 6 random outlier edges,
# and correspondPixels' outlier cost is 100 x maxDist.
BSDS_WEIGHT_SCALE = 100
BSDS_OUTLIER_DEGREE = 6
BSDS_OUTLIER_COST = 100.0

__all__ = [
    "DEFAULT_MATCHING",
    "MATCHING_MODES",
    "NYUD_MAX_DIST",
    "PASCAL_CONTEXT_MAX_DIST",
    "THRESHOLDS",
    "BoundaryCounts",
    "OdsFAccumulator",
    "edge_nms",
    "evaluate_odsf",
    "image_counts",
    "seism_ground_truth",
    "summarize_counts",
    "thin",
]


# --------------------------------------------------------------------------- helpers


def _to_uint8(prediction: np.ndarray) -> np.ndarray:
    """The 8-bit map the reference writes: uint8 as is, float ``p`` in [0, 1] -> ``uint8(p*255)``.

    The reference saves ``np.uint8(sigmoid * 255)``, which truncates; so does this.
    """
    prediction = np.asarray(prediction)
    if prediction.ndim != 2:
        raise ValueError(
            f"a boundary prediction must be a 2-D map (H x W), got shape {prediction.shape}; "
            "squeeze the channel axis and crop to the original image size first"
        )
    if prediction.dtype == np.uint8:
        return prediction
    if not np.issubdtype(prediction.dtype, np.floating):
        raise ValueError(
            f"a boundary prediction must be uint8 (0..255) or float (0..1), got {prediction.dtype}"
        )
    lo, hi = float(np.nanmin(prediction)), float(np.nanmax(prediction))
    if lo < 0.0 or hi > 1.0 or math.isnan(lo):
        raise ValueError(
            f"a float boundary prediction must be a probability in [0, 1], got [{lo}, {hi}]; "
            "apply the sigmoid to the logits first"
        )
    return (prediction.astype(np.float32) * np.float32(255.0)).astype(np.uint8)


def _conv_tri(image: np.ndarray, radius: int) -> np.ndarray:
    """pdollar's ``convTri`` (r >= 1 integer): separable triangle filter, symmetric padding."""
    ramp = np.arange(1, radius + 2, dtype=np.float32)
    kernel = np.concatenate([ramp, ramp[-2::-1]]) / np.float32((radius + 1) ** 2)
    # scipy's "reflect" repeats the edge pixel, which is MATLAB's 'symmetric' padding.
    out = ndimage.correlate1d(image, kernel, axis=0, mode="reflect")
    return ndimage.correlate1d(out, kernel, axis=1, mode="reflect")


def _orientation(edges: np.ndarray) -> np.ndarray:
    """Edge normal angle in [0, pi) from second derivatives, as edgesDetect/nms_process do."""
    oy, ox = np.gradient(_conv_tri(edges, 4))  # MATLAB gradient2: central inside, one-sided at borders
    oxx = np.gradient(ox, axis=1)
    oyy, oxy = np.gradient(oy)
    ratio = oyy * np.sign(-oxy) / (oxx + np.float32(1e-5))
    return np.mod(np.arctan(ratio), np.float32(np.pi)).astype(np.float32)


def _interp(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``edgesNmsMex``'s bilinear ``interp`` (float32, clamped to the image) at points x, y."""
    height, width = image.shape
    # The C++ clamps at the double w - 1.001; for a float32 x, clamping at its float32
    # rounding gives the same value.
    x = np.minimum(np.maximum(x, np.float32(0)), np.float32(width - 1.001))
    y = np.minimum(np.maximum(y, np.float32(0)), np.float32(height - 1.001))
    x0 = x.astype(np.intp)  # int() truncates; x, y >= 0 here
    y0 = y.astype(np.intp)
    dx0 = x - x0.astype(np.float32)
    dy0 = y - y0.astype(np.float32)
    dx1 = np.float32(1) - dx0
    dy1 = np.float32(1) - dy0
    flat = image.reshape(-1)
    at = y0 * width + x0
    return (
        flat[at] * dx1 * dy1
        + flat[at + 1] * dx0 * dy1
        + flat[at + width] * dx1 * dy0
        + flat[at + width + 1] * dx0 * dy0
    )


def _suppress(edges: np.ndarray, orientation: np.ndarray, radius: int, border: int, multiplier: float) -> np.ndarray:
    """``edgesNmsMex(E, O, r, s, m)`` in float32: the suppression loop, then the border fade."""
    height, width = edges.shape
    out = edges.copy()
    ys, xs = np.nonzero(edges)
    strength = edges[ys, xs] * np.float32(multiplier)
    angle = orientation[ys, xs]
    cos_o, sin_o = np.cos(angle), np.sin(angle)
    fx, fy = xs.astype(np.float32), ys.astype(np.float32)
    # A pixel goes when any neighbour along its normal beats it (the C++ breaks at the first
    # one); nearest neighbours first, so each later pass only looks at the survivors.
    left = np.arange(ys.size)
    for d in sorted((d for d in range(-radius, radius + 1) if d), key=abs):
        step = np.float32(d)
        beaten = strength[left] < _interp(edges, fx[left] + step * cos_o[left], fy[left] + step * sin_o[left])
        out[ys[left[beaten]], xs[left[beaten]]] = 0
        left = left[~beaten]
    border = min(border, width // 2, height // 2)
    if border > 0:
        ramp = np.arange(border, dtype=np.float32) / np.float32(border)  # x / float(s)
        out[:, :border] *= ramp
        out[:, width - border :] *= ramp[::-1]
        out[:border, :] *= ramp[:, None]
        out[height - border :, :] *= ramp[::-1, None]
    return out


def edge_nms(
    prediction: np.ndarray,
    radius: int = SEISM_NMS_RADIUS,
    border: int = NMS_BORDER,
    multiplier: float = NMS_MULTIPLIER,
) -> np.ndarray:
    """Structured-edge non-maximum suppression of an 8-bit (or [0, 1] float) boundary map.

    Returns the uint8 map ``nms_process.m`` writes: smoothed with a radius-1 triangle filter,
    a pixel dropped when a pixel up to ``radius`` away along its normal is stronger than
    ``multiplier`` times it, the ``border`` pixels next to the image edge faded linearly
    (outermost row and column to zero), then ``uint8(E * 255)`` (rounded). ``radius`` is 4 in
    the authors' SEISM fork (the default), 1 in the structured-edge toolbox's ``edgesDetect``.
    """
    image = _to_uint8(prediction).astype(np.float32) / np.float32(255.0)
    edges = _conv_tri(image, 1)
    suppressed = _suppress(edges, _orientation(edges), radius, border, multiplier)
    scaled = suppressed * np.float32(255.0)
    # MATLAB's uint8() rounds half away from zero and saturates.
    return np.clip(np.floor(scaled + np.float32(0.5)), 0, 255).astype(np.uint8)


# bwmorph 'thin' (Guo & Hall 1989, algorithm A1, as in Lam, Lee & Suen 1992, p. 879),
# driven by a lookup on the 8-neighbourhood code. Bit k of the code is neighbour x_{k+1}
# counted anticlockwise from east: E, NE, N, NW, W, SW, S, SE.
def _thinning_tables() -> tuple[np.ndarray, np.ndarray]:
    codes = np.arange(256)
    x = [(codes >> k) & 1 for k in range(8)] + [codes & 1]  # x[8] wraps to x[0]
    crossings = sum((1 - x[2 * i]) & (x[2 * i + 1] | x[2 * i + 2]) for i in range(4))
    n1 = sum(x[2 * k] | x[2 * k + 1] for k in range(4))
    n2 = sum(x[2 * k + 1] | x[2 * k + 2] for k in range(4))
    smaller = np.minimum(n1, n2)
    common = (crossings == 1) & (smaller >= 2) & (smaller <= 3)
    first = common & (((x[1] | x[2] | (1 - x[7])) & x[0]) == 0)
    second = common & (((x[5] | x[6] | (1 - x[3])) & x[4]) == 0)
    return first.astype(bool), second.astype(bool)


_THIN_FIRST, _THIN_SECOND = _thinning_tables()


def thin(mask: np.ndarray) -> np.ndarray:
    """``bwmorph(mask, 'thin', Inf)``: thin binary strokes to one pixel, keeping connectivity."""
    mask = np.asarray(mask, dtype=bool)
    height, width = mask.shape
    padded = np.zeros((height + 2, width + 2), dtype=bool)  # outside the image counts as 0
    padded[1:-1, 1:-1] = mask
    flat = padded.reshape(-1)
    row = width + 2
    offsets = (1, 1 - row, -row, -1 - row, -1, row - 1, row, row + 1)
    alive = np.flatnonzero(flat)
    while alive.size:
        removed_any = False
        for table in (_THIN_FIRST, _THIN_SECOND):
            code = np.zeros(alive.size, dtype=np.uint8)
            for bit, offset in enumerate(offsets):
                code |= flat[alive + offset].astype(np.uint8) << np.uint8(bit)
            drop = table[code]
            if drop.any():
                flat[alive[drop]] = False  # both sub-iterations decide on a snapshot, then delete
                alive = alive[~drop]
                removed_any = True
        if not removed_any:
            break
    return padded[1:-1, 1:-1].copy()


def _seg2bmap(labels: np.ndarray) -> np.ndarray:
    """BSDS ``seg2bmap``: 1 where a pixel's label differs from its east, south or south-east one."""
    labels = np.asarray(labels)
    east = np.zeros_like(labels)
    south = np.zeros_like(labels)
    south_east = np.zeros_like(labels)
    east[:, :-1] = labels[:, 1:]
    south[:-1, :] = labels[1:, :]
    south_east[:-1, :-1] = labels[1:, 1:]
    bmap = (labels != east) | (labels != south) | (labels != south_east)
    bmap[-1, :] = labels[-1, :] != east[-1, :]
    bmap[:, -1] = labels[:, -1] != south[:, -1]
    bmap[-1, -1] = False
    return bmap


def seism_ground_truth(annotation: np.ndarray) -> np.ndarray:
    """The boundary map SEISM scores against: ``thin(seg2bmap(annotation))``.

    ``annotation`` is what SEISM loads: for PASCAL-Context the ``LabelMap`` of
    ``pascal-context/trainval/<id>.mat`` (any integer labels), for NYUD-v2 the 0/1 (or 0/255)
    boundary map (``edge/<id>.png``, the ``groundTruth{1}.Boundaries`` of SEISM's .mat files).
    A boundary map goes through ``seg2bmap`` too, exactly as SEISM does.
    """
    annotation = np.asarray(annotation)
    if annotation.ndim != 2:
        raise ValueError(f"a ground-truth annotation must be 2-D (H x W), got shape {annotation.shape}")
    return thin(_seg2bmap(annotation))


# --------------------------------------------------------------------------- per image


@dataclass
class BoundaryCounts:
    """Per-threshold counts of one or more images (BSDS's cntR, sumR, cntP, sumP).

    Arrays have shape ``(N, K)``: N images, K thresholds.
    """

    thresholds: np.ndarray
    matched_gt: np.ndarray  # cntR
    total_gt: np.ndarray  # sumR
    matched_pred: np.ndarray  # cntP
    total_pred: np.ndarray  # sumP

    @classmethod
    def stack(cls, rows: Sequence["BoundaryCounts"]) -> "BoundaryCounts":
        if not rows:
            raise ValueError("no images to score; add at least one prediction / ground-truth pair")
        return cls(
            rows[0].thresholds,
            np.concatenate([r.matched_gt for r in rows]),
            np.concatenate([r.total_gt for r in rows]),
            np.concatenate([r.matched_pred for r in rows]),
            np.concatenate([r.total_pred for r in rows]),
        )


def _check_matching(matching: str) -> str:
    if matching not in MATCHING_MODES:
        raise ValueError(
            f"matching must be 'bsds' (BSDS correspondPixels' counts, as published numbers) or "
            f"'exact' (a maximum matching: faster, an upper bound), got {matching!r}"
        )
    return matching


def _pairs_within(pred_yx: np.ndarray, gt_yx: np.ndarray, max_dist_px: float):
    """Index pairs (into ``pred_yx``, ``gt_yx``) and squared distances of the pixels within
    reach, tested as BSDS ``match.cc`` does: ``dx^2 + dy^2 <= maxDist^2``."""
    if pred_yx.size == 0 or gt_yx.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    pairs = cKDTree(pred_yx).sparse_distance_matrix(
        cKDTree(gt_yx), max_dist_px + 1.0, output_type="ndarray"
    )  # a superset; the exact test follows
    p, g = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
    dist_sq = ((pred_yx[p] - gt_yx[g]) ** 2).sum(axis=1)
    keep = dist_sq <= max_dist_px * max_dist_px
    return p[keep], g[keep], dist_sq[keep]


class _MatchingGraph:
    """``matching="exact"``: maximum one-to-one matchings, on a graph built once per image.

    A predicted and a GT pixel are linked when they are within ``max_dist_px``. The graph holds
    every pixel that is predicted at any threshold and has a GT pixel in reach, as the flow
    network ``source -> predicted -> GT -> sink`` with unit capacities; a threshold switches
    its predicted pixels on through the source capacities, and the maximum flow (SciPy's Dinic
    solver) is the size of a maximum matching. That is an upper bound of what
    ``correspondPixels`` matches (see :class:`_ReferenceMatching`).
    """

    def __init__(self, candidates: np.ndarray, ground_truth: np.ndarray, max_dist_px: float) -> None:
        pred_yx = np.argwhere(candidates)
        gt_yx = np.argwhere(ground_truth)
        self.shape = candidates.shape
        self.flat = np.empty(0, dtype=np.int64)  # flat image index of each predicted node
        self._previous: tuple[np.ndarray, np.ndarray, int] | None = None  # on, matched, size
        p, g, _ = _pairs_within(pred_yx, gt_yx, max_dist_px)
        if p.size == 0:
            return
        pred_nodes, p = np.unique(p, return_inverse=True)
        gt_nodes, g = np.unique(g, return_inverse=True)
        n_pred, n_gt = pred_nodes.size, gt_nodes.size
        self.flat = np.ravel_multi_index(tuple(pred_yx[pred_nodes].T), self.shape)
        # nodes: predicted 0..n_pred-1, GT n_pred.., source, sink
        self.source, self.sink = n_pred + n_gt, n_pred + n_gt + 1
        tails = np.concatenate([np.full(n_pred, self.source), p, n_pred + np.arange(n_gt)])
        heads = np.concatenate([np.arange(n_pred), n_pred + g, np.full(n_gt, self.sink)])
        size = n_pred + n_gt + 2
        self.network = csr_array((np.ones(tails.size, dtype=np.int32), (tails, heads)), shape=(size, size))
        self.network.sort_indices()
        start, stop = self.network.indptr[self.source], self.network.indptr[self.source + 1]
        self.source_edges = slice(start, stop)  # their heads are 0..n_pred-1, in order

    def max_matching(self, predicted: np.ndarray) -> int:
        """Size of a maximum one-to-one matching of the ``predicted`` pixels (a boolean map)
        to the GT pixels.

        Called with shrinking pixel sets (rising thresholds), it first tries the previous
        maximum matching: restricted to the pixels still predicted it is a matching, and when
        its size reaches an upper bound (every predicted pixel matched, or, for a subset of
        the previous pixels, the previous maximum) it is maximum and the solver is skipped.
        """
        if self.flat.size == 0:
            return 0
        on = predicted.reshape(-1)[self.flat]
        count = int(np.count_nonzero(on))
        if count == 0:
            return 0
        if self._previous is not None:
            previous_on, previous_matched, previous_size = self._previous
            kept = previous_matched & on
            lower = int(np.count_nonzero(kept))
            upper = count
            if not (on & ~previous_on).any():  # a subset: the matching cannot grow
                upper = min(upper, previous_size)
            if lower == upper:
                self._previous = (on, kept, lower)
                return lower
        self.network.data[self.source_edges] = on
        result = maximum_flow(self.network, self.source, self.sink, method="dinic")
        flow = result.flow  # its source row lists the predicted nodes that carry flow (matched)
        row = slice(flow.indptr[self.source], flow.indptr[self.source + 1])
        matched = np.zeros(self.flat.size, dtype=bool)
        matched[flow.indices[row][flow.data[row] > 0]] = True
        size = int(result.flow_value)
        self._previous = (on, matched, size)
        return size


def _random_subsets(rng: np.random.Generator, rows: int, k: int, n: int) -> np.ndarray:
    """``rows`` independent uniform ``k``-subsets of ``range(n)``, one per row (BSDS ``kOfN``)."""
    if rows == 0 or k == 0:
        return np.empty((rows, k), dtype=np.int64)
    if n <= 4 * k:  # few to choose from: a random permutation per row
        return np.argsort(rng.random((rows, n)), axis=1)[:, :k]
    picks = rng.integers(0, n, size=(rows, k))
    while True:  # redraw the rows that repeat a value: uniform over k-subsets
        ordered = np.sort(picks, axis=1)
        repeated = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
        if not repeated.any():
            return picks
        picks[repeated] = rng.integers(0, n, size=(int(repeated.sum()), k))


class _ReferenceMatching:
    """``matching="bsds"``: the assignment problem of BSDS ``match.cc`` (``correspondPixels``).

    Per binary map, as the reference builds it: nodes are the predicted and the GT pixels with
    a pixel of the other map in reach (numbered column by column); real edges join pixels
    within ``maxDist`` with weight ``rint(100 * distance)``; every node has an outlier twin on
    the other side, each predicted node gets edges to 6 random predicted-outlier nodes, each GT
    node from 6 random GT-outlier nodes, each outlier node of the larger side to 6 random
    outlier nodes of the smaller one, all of weight ``ow = ceil(100 * outlierCost)``
    (``outlierCost = 100 * maxDist``), and the "perfect match" overlay joins every node to its
    own twin at ``100 * ow``. The minimum-cost perfect matching (SciPy's sparse LAPJV) gives
    the counts: its real edges. The random edges strand a few pixels that a maximum matching
    would pair, as in the reference; they are drawn from ``seed`` and the map's pixel count,
    so the counts are reproducible (the reference seeds from the clock).

    The pairs in reach are found once per image over every pixel predicted at any threshold.
    """

    def __init__(
        self,
        candidates: np.ndarray,
        ground_truth: np.ndarray,
        max_dist_px: float,
        outlier_cost_px: float,
        seed: int,
    ) -> None:
        # np.argwhere of the transpose lists pixels by x, then y: the reference's node order
        pred_yx = np.argwhere(candidates.T)[:, ::-1]
        gt_yx = np.argwhere(ground_truth.T)[:, ::-1]
        self.flat = np.ravel_multi_index(tuple(pred_yx.T), candidates.shape)  # flat index of each pixel
        self.pred, self.gt, dist_sq = _pairs_within(pred_yx, gt_yx, max_dist_px)
        self.weight = np.rint(np.sqrt(dist_sq) * BSDS_WEIGHT_SCALE).astype(np.int64)
        self.outlier_weight = math.ceil(outlier_cost_px * BSDS_WEIGHT_SCALE)
        self.seed = seed

    def count(self, predicted: np.ndarray, key: int) -> int:
        """Pixels matched in the ``predicted`` map (boolean); ``key`` picks its random draw."""
        if self.pred.size == 0:
            return 0
        live = predicted.reshape(-1)[self.flat][self.pred]
        if not live.any():
            return 0
        # node ids in the reference's order: candidate indices already run column by column
        _, i = np.unique(self.pred[live], return_inverse=True)
        _, j = np.unique(self.gt[live], return_inverse=True)
        n1, n2 = int(i.max()) + 1, int(j.max()) + 1
        n, small, large = n1 + n2, min(n1, n2), max(n1, n2)
        ow = self.outlier_weight
        degree = BSDS_OUTLIER_DEGREE
        d1, d2, d3 = max(0, min(degree, n1 - 1)), max(0, min(degree, n2 - 1)), min(degree, small)
        rng = np.random.default_rng((self.seed, key))
        # rows: predicted nodes 0..n1-1, then GT-outlier nodes; columns: GT nodes 0..n2-1,
        # then predicted-outlier nodes
        own1 = np.arange(n1)
        own2 = np.arange(n2)
        others1 = _random_subsets(rng, n1, d1, n1 - 1)
        others1 += others1 >= own1[:, None]  # not its own twin
        others2 = _random_subsets(rng, n2, d2, n2 - 1)
        others2 += others2 >= own2[:, None]
        larger = np.repeat(np.arange(large), d3)
        smaller = _random_subsets(rng, large, d3, small).reshape(-1)
        outlier_rows, outlier_cols = (n1 + larger, n2 + smaller) if n1 < n2 else (n1 + smaller, n2 + larger)
        rows = np.concatenate([i, np.repeat(own1, d1), n1 + others2.reshape(-1), outlier_rows, own1, n1 + own2])
        cols = np.concatenate([j, n2 + others1.reshape(-1), np.repeat(own2, d2), outlier_cols, n2 + own1, own2])
        weights = np.concatenate([
            self.weight[live],
            np.full(rows.size - live.sum() - n, ow, dtype=np.int64),
            np.full(n, ow * BSDS_WEIGHT_SCALE, dtype=np.int64),
        ])
        costs = csr_array((weights.astype(np.float64), (rows, cols)), shape=(n, n))
        # Subtracting a row's minimum changes every perfect matching's cost alike (and makes
        # the solver several times faster); + 1 because SciPy drops explicit zeros.
        minima = np.minimum.reduceat(costs.data, costs.indptr[:-1])
        costs.data += 1.0 - np.repeat(minima, np.diff(costs.indptr))
        matched_rows, matched_cols = min_weight_full_bipartite_matching(costs)
        return int(np.count_nonzero((matched_rows < n1) & (matched_cols < n2)))


def image_counts(
    prediction: np.ndarray,
    ground_truth: np.ndarray,
    max_dist: float,
    *,
    thresholds: Sequence[float] = THRESHOLDS,
    nms: bool = True,
    nms_radius: int = SEISM_NMS_RADIUS,
    seism_gt: bool = True,
    matching: str = DEFAULT_MATCHING,
    seed: int = 0,
) -> BoundaryCounts:
    """Per-threshold match counts of one image (one row of :class:`BoundaryCounts`).

    Args:
        prediction: boundary probability, uint8 0..255 or float 0..1, cropped to the
            original image size.
        ground_truth: with ``seism_gt`` (default) the annotation SEISM loads (PASCAL-Context
            ``LabelMap``, NYUD-v2 boundary map), converted by :func:`seism_ground_truth`;
            without it, the final binary boundary map.
        max_dist: match tolerance as a fraction of the image diagonal.
        thresholds: the binarisation thresholds on ``nms / 255``.
        nms: apply :func:`edge_nms` first (the protocol); off, the map is thresholded as is.
        nms_radius: suppression radius of the NMS.
        matching: ``"bsds"`` (BSDS ``correspondPixels``' assignment, the published protocol)
            or ``"exact"`` (a maximum matching: faster, an upper bound of ``"bsds"``).
        seed: the random outlier edges of ``"bsds"``; the same seed gives the same counts.
    """
    _check_matching(matching)
    pred8 = _to_uint8(prediction)
    gt = np.asarray(ground_truth)
    if gt.shape != pred8.shape:
        raise ValueError(
            f"prediction {pred8.shape} and ground truth {gt.shape} differ in size; crop the "
            "prediction back to the original image size (remove the test-time padding)"
        )
    gt = seism_ground_truth(gt) if seism_gt else gt.astype(bool)
    edges = edge_nms(pred8, radius=nms_radius) if nms else pred8
    height, width = gt.shape
    diagonal = math.sqrt(height * height + width * width)
    max_dist_px = max_dist * diagonal

    scores = edges.astype(np.float64) / 255.0
    floor = np.finfo(float).eps  # edgesEvalImg thresholds at max(eps, t)
    cutoffs = [max(float(t), floor) for t in thresholds]
    k = len(cutoffs)
    # The binary maps are nested: the same pixel count means the same map, thinned once.
    thinned: dict[int, np.ndarray] = {}
    sizes = []
    for cutoff in cutoffs:
        binary = scores >= cutoff
        size = int(np.count_nonzero(binary))
        if size not in thinned:
            thinned[size] = thin(binary)
        sizes.append(size)
    candidates = np.zeros_like(gt)
    for mask in thinned.values():
        candidates |= mask
    if matching == "exact":
        graph = _MatchingGraph(candidates, gt, max_dist_px)
        matches = {size: graph.max_matching(mask) for size, mask in thinned.items()}
    else:
        # correspondPixels: outlier cost = outlierCost * maxDist * diagonal, in that order
        reference = _ReferenceMatching(candidates, gt, max_dist_px, BSDS_OUTLIER_COST * max_dist * diagonal, seed)
        matches = {size: reference.count(mask, key=size) for size, mask in thinned.items()}
    matched = np.array([matches[size] for size in sizes], dtype=np.int64)
    total_pred = np.array([np.count_nonzero(thinned[size]) for size in sizes], dtype=np.int64)
    total_gt = np.full(k, int(np.count_nonzero(gt)), dtype=np.int64)
    return BoundaryCounts(
        np.asarray(thresholds, dtype=np.float64),
        matched[None],  # one GT map: as many GT pixels matched as predicted ones
        total_gt[None],
        matched.copy()[None],
        total_pred[None],
    )


# --------------------------------------------------------------------------- scores


def _precision_recall(cnt_r, sum_r, cnt_p, sum_p):
    """SEISM's conventions: no GT -> R 1, P 0; no prediction -> R 0, P 1 (the latter wins)."""
    cnt_r, sum_r, cnt_p, sum_p = (np.asarray(a, dtype=np.float64) for a in (cnt_r, sum_r, cnt_p, sum_p))
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(sum_r == 0, 1.0, cnt_r / sum_r)
        precision = np.where(sum_r == 0, 0.0, cnt_p / sum_p)
    recall = np.where(sum_p == 0, 0.0, recall)
    precision = np.where(sum_p == 0, 1.0, precision)
    return precision, recall


def _f_measure(precision, recall):
    total = precision + recall
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total == 0, 0.0, 2.0 * precision * recall / total)


def _average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """SEISM's general_ap: one point per distinct recall (its first threshold), linear
    interpolation at recall 0, 0.01, .., 1 inside the curve's range, summed / 100."""
    values, first = np.unique(recall, return_index=True)
    if values.size <= 1:
        return 0.0
    grid = np.linspace(0.0, 1.0, 101)
    inside = (grid >= values[0]) & (grid <= values[-1])
    return float(np.interp(grid[inside], values, precision[first]).sum() / 100.0)


def summarize_counts(counts: BoundaryCounts) -> dict[str, float]:
    """odsF, oisF, AP (and the ODS threshold, precision, recall) from per-image counts."""
    sums = [a.sum(axis=0) for a in (counts.matched_gt, counts.total_gt, counts.matched_pred, counts.total_pred)]
    precision, recall = _precision_recall(*sums)
    f_dataset = _f_measure(precision, recall)
    best = int(np.argmax(f_dataset))  # first maximum, as MATLAB's max

    p_image, r_image = _precision_recall(counts.matched_gt, counts.total_gt, counts.matched_pred, counts.total_pred)
    own = np.argmax(_f_measure(p_image, r_image), axis=1)
    pick = np.arange(own.size)
    p_ois, r_ois = _precision_recall(
        *(a[pick, own].sum() for a in (counts.matched_gt, counts.total_gt, counts.matched_pred, counts.total_pred))
    )
    return {
        "odsF": float(f_dataset[best]),
        "oisF": float(_f_measure(p_ois, r_ois)),
        "AP": _average_precision(precision, recall),
        "ods_threshold": float(counts.thresholds[best]),
        "ods_precision": float(precision[best]),
        "ods_recall": float(recall[best]),
        "num_images": int(counts.matched_gt.shape[0]),
    }


# --------------------------------------------------------------------------- datasets


def _default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class OdsFAccumulator:
    """Streaming odsF: :meth:`update` one image at a time, :meth:`compute` at the end.

    Images are scored in a process pool (``workers`` processes, default: one per CPU) while
    more are added; ``workers=0`` scores each image in :meth:`update` itself. ``matching`` is
    ``"bsds"`` (the reference's counts, default) or ``"exact"`` (an upper bound), see
    :func:`image_counts`; :attr:`matching` says which one scored.
    """

    def __init__(
        self,
        max_dist: float,
        *,
        thresholds: Sequence[float] = THRESHOLDS,
        nms: bool = True,
        nms_radius: int = SEISM_NMS_RADIUS,
        seism_gt: bool = True,
        matching: str = DEFAULT_MATCHING,
        workers: int | None = None,
    ) -> None:
        if not 0 < max_dist < 1:
            raise ValueError(
                f"max_dist is a fraction of the image diagonal (0.0075 PASCAL-Context, "
                f"0.011 NYUD-v2), got {max_dist}"
            )
        self.max_dist = max_dist
        self.matching = _check_matching(matching)
        self.options = dict(
            thresholds=tuple(thresholds), nms=nms, nms_radius=nms_radius, seism_gt=seism_gt, matching=matching
        )
        self.workers = _default_workers() if workers is None else workers
        self._executor: Executor | None = None
        self._pending: list[Future | BoundaryCounts] = []

    def update(self, prediction: np.ndarray, ground_truth: np.ndarray) -> None:
        """Add one image: its boundary probability map and its ground truth (see :func:`image_counts`)."""
        prediction = _to_uint8(prediction)
        ground_truth = np.asarray(ground_truth)
        if prediction.shape != ground_truth.shape:
            raise ValueError(
                f"prediction {prediction.shape} and ground truth {ground_truth.shape} differ in "
                "size; crop the prediction back to the original image size"
            )
        if self.workers <= 0:
            self._pending.append(image_counts(prediction, ground_truth, self.max_dist, **self.options))
            return
        if self._executor is None:
            self._executor = ProcessPoolExecutor(max_workers=self.workers)
        self._pending.append(
            self._executor.submit(image_counts, prediction, ground_truth, self.max_dist, **self.options)
        )

    def counts(self) -> BoundaryCounts:
        """Per-image counts of everything added so far (waits for the pool)."""
        rows = [p.result() if isinstance(p, Future) else p for p in self._pending]
        self._pending = list(rows)
        return BoundaryCounts.stack(rows)

    def compute(self) -> dict[str, float]:
        """odsF, oisF, AP, ods_threshold, ods_precision, ods_recall, num_images."""
        try:
            return summarize_counts(self.counts())
        finally:
            self._shutdown()

    def reset(self) -> None:
        """Forget every image added."""
        self._shutdown()
        self._pending = []

    def _shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __del__(self) -> None:
        executor = getattr(self, "_executor", None)
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


def evaluate_odsf(
    predictions: Iterable[np.ndarray],
    ground_truths: Iterable[np.ndarray],
    max_dist: float,
    *,
    thresholds: Sequence[float] = THRESHOLDS,
    nms: bool = True,
    nms_radius: int = SEISM_NMS_RADIUS,
    seism_gt: bool = True,
    matching: str = DEFAULT_MATCHING,
    workers: int | None = None,
) -> dict[str, float]:
    """Score boundary predictions with the SEISM protocol: odsF, oisF, AP.

    Args:
        predictions: per-image 2-D boundary probability maps, uint8 0..255 or float 0..1,
            cropped to the original image size.
        ground_truths: per-image annotations, same sizes. With ``seism_gt`` (default) they go
            through :func:`seism_ground_truth` as in SEISM: pass the PASCAL-Context
            ``LabelMap`` or the NYUD-v2 boundary map (a binary boundary map is fine for both).
            With ``seism_gt=False`` they are used as the final binary boundary maps.
        max_dist: tolerance as a fraction of the image diagonal: 0.0075 for PASCAL-Context
            (``PASCAL_CONTEXT_MAX_DIST``), 0.011 for NYUD-v2 (``NYUD_MAX_DIST``).
        thresholds: thresholds on the NMS map / 255 (default 0.01 .. 0.99).
        nms: run :func:`edge_nms` first (the protocol does).
        nms_radius: NMS suppression radius; 4 as the authors' SEISM fork, 1 as the
            structured-edge toolbox's ``edgesDetect``.
        matching: ``"bsds"`` (default) reproduces BSDS ``correspondPixels``' counts, as the
            published numbers were computed; ``"exact"`` uses a maximum matching, several
            times faster and an upper bound (it scores slightly higher).
        workers: processes to score images in parallel (default: one per CPU; 0: no pool).

    Returns:
        ``{"odsF", "oisF", "AP", "ods_threshold", "ods_precision", "ods_recall",
        "num_images"}``; F, precision and recall as fractions in [0, 1].
    """
    accumulator = OdsFAccumulator(
        max_dist,
        thresholds=thresholds,
        nms=nms,
        nms_radius=nms_radius,
        seism_gt=seism_gt,
        matching=matching,
        workers=workers,
    )
    try:
        for prediction, ground_truth in zip(predictions, ground_truths, strict=True):
            accumulator.update(prediction, ground_truth)
        return accumulator.compute()
    finally:
        accumulator.reset()
