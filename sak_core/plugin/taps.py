"""Tap levels: which blocks of a backbone feed the levels of the student and of the teachers."""

from __future__ import annotations


def even_taps(depth: int, levels: int = 4) -> tuple[int, ...]:
    """``levels`` block indices spread evenly over ``depth`` blocks, ending at the last one.

    12 blocks -> (2, 5, 8, 11), 24 -> (5, 11, 17, 23), 40 -> (9, 19, 29, 39). With fewer blocks
    than levels an index repeats (depth 2 -> (0, 0, 1, 1)).
    """
    if depth < 1:
        raise ValueError(f"a teacher needs at least one block, got depth={depth}")
    return tuple(max(0, -(-(i + 1) * depth // levels) - 1) for i in range(levels))
