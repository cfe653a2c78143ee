"""``--init``: start a student from another sak checkpoint (typically stage 1 -> stage 2).

Position embeddings are resampled to the new input size; every key that does not load is
listed, and ``strict`` turns any of them into an error. Parts of tasks the checkpoint has no
head for (its routers and head) are expected to be new and do not count against ``strict``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from timm.layers import resample_abs_pos_embed

from sak_core.run.checkpoint import CONFIG_KEY, is_torch_file_name, read_safetensors, resolve_checkpoint
from sak_core.config import PATCH_SIZE
from sak_core.errors import CheckpointError
from sak_core.model import SAKStudent

POS_EMBED = "stem.vit.pos_embed"
SHOWN = 20  # problem keys listed before "... and N more"


@dataclass
class InitReport:
    """What loading an init checkpoint did, key by key."""

    source: Path
    loaded: list[str] = field(default_factory=list)
    resampled: list[str] = field(default_factory=list)
    new_task_keys: list[str] = field(default_factory=list)  # routers/heads of tasks the checkpoint lacks
    missing: list[str] = field(default_factory=list)  # other model keys the checkpoint lacks
    unexpected: list[str] = field(default_factory=list)  # checkpoint keys the model has no place for
    misshapen: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return (
            [f"missing from checkpoint: {k}" for k in self.missing]
            + [f"not in the model: {k}" for k in self.unexpected]
            + [f"wrong shape: {k}" for k in self.misshapen]
        )

    def summary(self) -> list[str]:
        """Human-readable lines: what loaded, what was resampled, what did not load."""
        lines = [f"init from {self.source}: {len(self.loaded)} tensors loaded"]
        if self.resampled:
            lines.append(f"  resampled to the new input size: {', '.join(self.resampled)}")
        if self.new_task_keys:
            tasks = sorted({k.split(".")[1] if k.startswith("heads.") else k.split(".")[2] for k in self.new_task_keys})
            lines.append(f"  new (not in the checkpoint), for task(s) {', '.join(tasks)}: "
                         f"{len(self.new_task_keys)} tensors of routers and heads")
        for problem in self.problems[:SHOWN]:
            lines.append(f"  did not load - {problem}")
        if len(self.problems) > SHOWN:
            lines.append(f"  ... and {len(self.problems) - SHOWN} more keys that did not load")
        return lines


STEM_PREFIX = "stem."


def _grid(config: dict, prefix: int, tokens: int) -> tuple[int, int]:
    h, w = config.get("input_size", (0, 0))
    if (h // PATCH_SIZE) * (w // PATCH_SIZE) == tokens - prefix:  # the saved student's patch grid
        return h // PATCH_SIZE, w // PATCH_SIZE
    side = int(round((tokens - prefix) ** 0.5))
    return side, side


def init_from_checkpoint(student: SAKStudent, path: str | Path, strict: bool = False) -> InitReport:
    """Load every tensor of checkpoint ``path`` that fits ``student`` (see the module doc)."""
    file = resolve_checkpoint(path)
    if is_torch_file_name(file):
        raise CheckpointError(f"--init {file}: takes a sak run directory or a .safetensors file written by sak; "
                              "turn the authors' .pth checkpoints into one with `sak convert official`")
    meta, state = read_safetensors(file)
    try:
        source_config = json.loads(meta.get(CONFIG_KEY, "{}"))
    except json.JSONDecodeError:
        source_config = {}
    source_tasks = set(source_config.get("tasks", {})) if isinstance(source_config, dict) else set()
    own = student.state_dict()
    report = InitReport(file)
    to_load: dict[str, torch.Tensor] = {}
    prefix = student.stem.num_prefix_tokens

    for key, value in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif value.shape == own[key].shape:
            to_load[key] = value
        elif key == POS_EMBED and value.shape[-1] == own[key].shape[-1]:
            new_grid = _grid(student.config.model_dump(), prefix, own[key].shape[1])
            old_grid = _grid(source_config, prefix, value.shape[1])
            to_load[key] = resample_abs_pos_embed(value, new_grid, old_grid, num_prefix_tokens=prefix)
            report.resampled.append(f"{key} {old_grid[0]}x{old_grid[1]} -> {new_grid[0]}x{new_grid[1]}")
        else:
            report.misshapen.append(f"{key}: checkpoint {tuple(value.shape)} vs model {tuple(own[key].shape)}")

    for key in sorted(set(own) - set(state)):
        parts = key.split(".")
        task = parts[1] if parts[0] == "heads" else parts[2] if parts[0] == "routers" else None
        if task is not None and task not in source_tasks:
            report.new_task_keys.append(key)
        else:
            report.missing.append(key)
    report.loaded = sorted(to_load)
    report.unexpected.sort()
    report.misshapen.sort()
    if not any(key.startswith(STEM_PREFIX) for key in to_load):  # nothing of the student: another model's file
        shown = ", ".join(sorted(state)[:3]) + (", ..." if len(state) > 3 else "")
        raise CheckpointError(
            f"--init {file}: none of its {len(state)} tensor(s) is a weight of this student's stem "
            f"(its keys: {shown or 'none'}; {len(report.misshapen)} have a key of this student but another shape); --init "
            "takes a sak checkpoint of the same stem, e.g. a stage-1 run. Convert the authors' checkpoints "
            "with `sak convert official`"
        )

    if strict and report.problems:
        shown = "\n  ".join(report.problems[:SHOWN]) + (f"\n  ... (+{len(report.problems) - SHOWN} more)"
                                                       if len(report.problems) > SHOWN else "")
        raise CheckpointError(
            f"--strict: {len(report.problems)} key(s) of {file} do not load into this student:\n  {shown}\n"
            "Check that teachers, stem and aligners match the checkpoint's, or drop --strict to load the rest."
        )
    student.load_state_dict(to_load, strict=False)
    return report
