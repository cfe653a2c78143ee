"""Boundary maps from label maps: non-zero Laplacian of the labels, thinned to one pixel.

This is how the PASCAL-Context boundary targets are derived from the ``LabelMap`` of
``pascal-context/trainval/<id>.mat`` (the reference uses OpenCV's 3x3 Laplacian and
scikit-image's ``thin``); the synthetic scenes use the same function on their semantic labels,
so their boundaries are semantic edges by construction.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import ndimage

_LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)

# Weights that turn a 3x3 neighbourhood into an 8-bit code; bit k is neighbour x_{k+1} of
# Lam, Lee & Suen (1992): x1 east, then counter-clockwise (x3 north = the row above).
_NEIGHBOUR_BITS = np.array([[8, 4, 2], [16, 0, 1], [32, 64, 128]], dtype=np.int64)


def label_edges(labels: np.ndarray) -> np.ndarray:
    """``H x W`` labels -> ``H x W`` bool boundary map (thinned non-zero Laplacian)."""
    response = ndimage.convolve(labels.astype(np.float64), _LAPLACIAN, mode="mirror")
    return thin(response != 0)


@functools.cache
def _deletion_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per 8-bit neighbourhood code: may the centre pixel be removed in sub-iteration 1 / 2.

    Conditions G1-G3 / G3' of the Guo-Hall style parallel thinning in Lam, Lee & Suen (1992),
    "Thinning methodologies - a comprehensive survey", the algorithm of MATLAB's
    ``bwmorph(..., 'thin')`` and scikit-image's ``thin``.
    """
    codes = np.arange(256)
    x = [(codes >> k) & 1 for k in range(8)]  # x[0] = x1 ... x[7] = x8
    x = [b.astype(bool) for b in x]

    def nb(i: int) -> np.ndarray:  # x_i with 1-based, wrapping index
        return x[(i - 1) % 8]

    crossings = sum((~nb(2 * i - 1) & (nb(2 * i) | nb(2 * i + 1))).astype(int) for i in range(1, 5))
    g1 = crossings == 1
    n1 = sum((nb(2 * k - 1) | nb(2 * k)).astype(int) for k in range(1, 5))
    n2 = sum((nb(2 * k) | nb(2 * k + 1)).astype(int) for k in range(1, 5))
    m = np.minimum(n1, n2)
    g2 = (m >= 2) & (m <= 3)
    g3 = ~((nb(2) | nb(3) | ~nb(8)) & nb(1))
    g3p = ~((nb(6) | nb(7) | ~nb(4)) & nb(5))
    return g1 & g2 & g3, g1 & g2 & g3p


def thin(mask: np.ndarray, max_iter: int | None = None) -> np.ndarray:
    """Morphological thinning of a 2-D bool mask to one-pixel-wide lines."""
    first, second = _deletion_tables()
    skeleton = np.asarray(mask, dtype=bool).copy()
    iteration = 0
    while max_iter is None or iteration < max_iter:
        before = int(skeleton.sum())
        for table in (first, second):
            code = ndimage.correlate(skeleton.astype(np.int64), _NEIGHBOUR_BITS, mode="constant")
            skeleton &= ~table[code]
        iteration += 1
        if int(skeleton.sum()) == before:
            break
    return skeleton
