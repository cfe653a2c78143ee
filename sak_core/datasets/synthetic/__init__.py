"""Synthetic indoor scenes: a seeded numpy ray caster that renders an image and all six targets.

- :func:`render_index` renders scene ``i`` of a seed (:mod:`.scene` samples it, :mod:`.render`
  casts the rays);
- :func:`write_layout` writes scenes in the NYUD-v2, PASCAL-Context or native layout
  (``sak data synth``);
- :func:`cached_scenes` / the ``synthetic`` dataset: the native layout generated once into the
  user cache, the data a run uses when it names none.

The package imports nothing itself (the class tables in :mod:`.scene` stay free of torch).
"""
