"""Named run presets for ``sak train --preset NAME``: the paper's recipes and a CPU demo.

A preset is a partial run config (a dict of the :class:`~sak_core.config.RunConfig` shape);
a config file, command-line flags and ``KEY=VALUE`` overrides are layered on top of it.
``sak train --preset NAME --print-config`` shows it resolved.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass
from typing import Any

from sak_core.errors import ConfigError
from sak_core.presets.demo import DEMO
from sak_core.presets.paper import PAPER_NYUD, PAPER_PASCAL, PAPER_STAGE1


@dataclass(frozen=True)
class Preset:
    """A named partial run config."""

    name: str
    description: str
    config: dict[str, Any]

    def as_layer(self) -> dict[str, Any]:
        """A copy to merge under the user's settings."""
        return copy.deepcopy(self.config)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("paper-stage1", "stage 1 of the paper: distil B teachers into ViT-B on ImageNet-1k", PAPER_STAGE1),
        Preset("paper-pascal", "stage 2 of the paper on PASCAL-Context (5 tasks, 40k iterations)", PAPER_PASCAL),
        Preset("paper-nyud", "stage 2 of the paper on NYUD-v2 (4 tasks, 40k iterations)", PAPER_NYUD),
        Preset("demo", "tiny random-weight DINOv2/CLIP/SAM on synthetic scenes; a few minutes on a CPU", DEMO),
    )
}


def get_preset(name: str) -> Preset:
    """The preset ``name``; an unknown name lists the presets and the closest one."""
    if name in PRESETS:
        return PRESETS[name]
    close = difflib.get_close_matches(name, list(PRESETS), n=1, cutoff=0.4)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ConfigError(f"unknown preset '{name}'.{hint} Presets: {', '.join(PRESETS)}")


def list_presets() -> list[str]:
    return list(PRESETS)
