"""Synthetic indoor scenes: a seeded numpy ray caster that renders an image and all six targets.

- :func:`render_index` renders scene ``i`` of a seed (:mod:`.scene` samples it, :mod:`.render`
  casts the rays);
- :func:`write_layout` writes scenes in the NYUD-v2, PASCAL-Context or native layout
  (``sak data synth``);
- :func:`cached_scenes` / the ``synthetic`` dataset: the native layout generated once into the
  user cache, the data a run uses when it names none.
"""

from sak_core.datasets.synthetic.dataset import SyntheticScenes, cached_scenes
from sak_core.datasets.synthetic.layouts import LAYOUTS, write_layout
from sak_core.datasets.synthetic.render import Rendering, render, render_index
from sak_core.datasets.synthetic.scene import CLASSES, PART_GROUPS, sample_scene

__all__ = [
    "CLASSES",
    "LAYOUTS",
    "PART_GROUPS",
    "Rendering",
    "SyntheticScenes",
    "cached_scenes",
    "render",
    "render_index",
    "sample_scene",
    "write_layout",
]
