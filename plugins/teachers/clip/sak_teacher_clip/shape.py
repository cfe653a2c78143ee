"""What a CLIP image tower looks like, as the spec needs it (no weights built)."""

from __future__ import annotations

from dataclasses import dataclass

from sak_core.specs import WeightSource


@dataclass(frozen=True)
class TowerShape:
    """Width, depth, grid and weight sources of one CLIP image tower."""

    label: str
    embed_dim: int
    depth: int
    patch_size: int
    input_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    sources: tuple[WeightSource, ...]
