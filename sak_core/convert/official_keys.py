"""The explicit key mapping between the authors' state dicts and :class:`~sak_core.model.SAKStudent`.

Authors' layout (``P`` = ``""`` for a stage-1 backbone, ``"backbone."`` for a stage-2
multi-task model; ``<b>`` a tapped block index, ``<task>`` the authors' task name)::

    P vit.<timm ViT key>                              stem.vit.<timm ViT key>
    P tsap.<teacher>.<i>.{down,up}.{weight,bias}      adapter_paths.<teacher>.adapters.<i>.{down,up}.*
    P tsap.<teacher>.<i>.scale                        adapter_paths.<teacher>.adapters.<i>.scale
    P out_norms.<b>_<teacher>.{weight,bias}           norms.level<l>.<teacher>.*
    P ts_aligners.<b>_<teacher>.{weight,bias}         aligners.level<l>.<teacher>.*
    P mor.<b>_<task>.router.module.{0,1,3}.*          routers.level<l>.<sak task>.gate.{0,1,3}.*
    heads.<task>.linears.<l>.*                        heads.<sak task>.reduce.<l>.*
    heads.<task>.linear_fuse.{0,1}.*                  heads.<sak task>.fuse.{0,1}.*
    heads.<task>.last_conv.*                          heads.<sak task>.classify.*

``l`` is the position of block ``b`` among the student's tap blocks. Every pair is spelled out
here; nothing is matched by similarity.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from sak_core.convert.official_config import TASK_NAMES_BACK
from sak_core.errors import CheckpointError
from sak_core.model import SAKStudent

STAGE2_PREFIX = "backbone."
_ADAPTER_LEAVES = ("scale", "down.weight", "down.bias", "up.weight", "up.bias")
_AFFINE = ("weight", "bias")
_GATE_LAYERS = (0, 1, 3)  # Linear, LayerNorm, (GELU has no weights), Linear
_BATCH_NORM = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def official_task_name(task: str) -> str:
    """This toolkit's task name -> the authors' (unknown names are kept)."""
    return TASK_NAMES_BACK.get(task, task)


def _pairs(student: SAKStudent, prefix: str) -> Iterator[tuple[str, str]]:
    config = student.config
    teachers = list(config.teachers)
    for key in student.stem.vit.state_dict():
        yield f"stem.vit.{key}", f"{prefix}vit.{key}"
    for teacher in teachers:
        for i in range(len(student.adapter_paths[teacher].adapters)):
            for leaf in _ADAPTER_LEAVES:
                yield f"adapter_paths.{teacher}.adapters.{i}.{leaf}", f"{prefix}tsap.{teacher}.{i}.{leaf}"
    # The authors' order: all norms, then all aligners, then all routers (block-major each).
    levels = list(enumerate(student.tap_indices))
    for level, block in levels:
        for teacher in teachers:
            for leaf in _AFFINE:
                yield f"norms.level{level}.{teacher}.{leaf}", f"{prefix}out_norms.{block}_{teacher}.{leaf}"
    if student.aligners is not None:
        for level, block in levels:
            for teacher in student.aligners[f"level{level}"]:
                for leaf in _AFFINE:
                    yield f"aligners.level{level}.{teacher}.{leaf}", f"{prefix}ts_aligners.{block}_{teacher}.{leaf}"
    if config.router == "mor":
        for level, block in levels:
            for task in config.tasks:
                for layer in _GATE_LAYERS:
                    for leaf in _AFFINE:
                        yield (
                            f"routers.level{level}.{task}.gate.{layer}.{leaf}",
                            f"{prefix}mor.{block}_{official_task_name(task)}.router.module.{layer}.{leaf}",
                        )
    for task in config.tasks:
        theirs = f"heads.{official_task_name(task)}"
        for level in range(len(student.tap_indices)):
            for leaf in _AFFINE:
                yield f"heads.{task}.reduce.{level}.{leaf}", f"{theirs}.linears.{level}.{leaf}"
        for leaf in _AFFINE:
            yield f"heads.{task}.fuse.0.{leaf}", f"{theirs}.linear_fuse.0.{leaf}"
        for leaf in _BATCH_NORM:
            yield f"heads.{task}.fuse.1.{leaf}", f"{theirs}.linear_fuse.1.{leaf}"
        for leaf in _AFFINE:
            yield f"heads.{task}.classify.{leaf}", f"{theirs}.last_conv.{leaf}"


def official_key_map(student: SAKStudent) -> dict[str, str]:
    """This toolkit's state-dict key -> the authors' key, for every tensor of ``student``.

    A student with tasks maps to the stage-2 multi-task layout (``backbone.`` prefix and
    ``heads.``), one without to the stage-1 backbone layout.
    """
    prefix = STAGE2_PREFIX if student.config.tasks else ""
    mapping = dict(_pairs(student, prefix))
    own = set(student.state_dict())
    if set(mapping) != own or len(set(mapping.values())) != len(mapping):
        extra, unmapped = sorted(set(mapping) - own), sorted(own - set(mapping))
        raise CheckpointError(
            "the official key map does not cover this student (a bug in sak_core.convert): "
            f"mapped but absent {extra[:10]}, present but unmapped {unmapped[:10]}"
        )
    return mapping


def _listing(label: str, keys: list[str], limit: int = 25) -> str:
    shown = ", ".join(keys[:limit]) + (f" ... (+{len(keys) - limit} more)" if len(keys) > limit else "")
    return f"{len(keys)} {label}: {shown}"


def remap_state(
    state: dict[str, torch.Tensor],
    mapping: dict[str, str],
    shapes: dict[str, torch.Size],
    source: str,
    hint: str = "",
) -> dict[str, torch.Tensor]:
    """``state`` with keys renamed by ``mapping`` (source key -> target key).

    Every source tensor must be used, every target key (``shapes``) filled, and each tensor must
    have the target's shape; otherwise :class:`CheckpointError` lists every leftover.
    """
    missing = sorted(src for src in mapping if src not in state)
    unused = sorted(set(state) - set(mapping))
    misshapen = sorted(
        f"{src} {tuple(state[src].shape)} -> {dst} {tuple(shapes[dst])}"
        for src, dst in mapping.items()
        if src in state and tuple(state[src].shape) != tuple(shapes[dst])
    )
    if missing or unused or misshapen:
        parts = [
            _listing(label, keys)
            for label, keys in (
                ("source tensors not used", unused),
                ("target tensors without a source", missing),
                ("tensors of the wrong shape", misshapen),
            )
            if keys
        ]
        raise CheckpointError(f"{source} does not convert: " + "; ".join(parts) + (f". {hint}" if hint else ""))
    return {dst: state[src] for src, dst in mapping.items()}
