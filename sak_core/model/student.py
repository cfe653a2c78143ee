"""The SAK student: stem, one adapter path per teacher, routers per (level, task), decode heads."""

from __future__ import annotations

from typing import NamedTuple

import torch
from pydantic import Field, model_validator
from torch import nn
from torch.utils.checkpoint import checkpoint

from sak_core.config import InputSize, ModelSection
from sak_core.errors import ConfigError

from sak_core.model.adapters import AdapterPath
from sak_core.model.head import DecodeHead
from sak_core.model.router import RepresentationRouter, SumRouter
from sak_core.model.stem import TeacherAgnosticStem, default_tap_indices


class StudentConfig(ModelSection):
    """Everything needed to build a student: the run config's model section plus what the
    plugins and the data resolve (:func:`sak_core.model.assemble.student_config`).

    ``input_size`` is the (H, W) the stem is built for; ``teachers`` maps teacher name -> feature
    width, or one width per tap level for teachers whose levels differ (0: no distillation
    target, no aligner); ``tasks`` maps task name -> head outputs. Both keep their order: it is
    the expert order of the routers and the order of the heads.
    """

    input_size: InputSize = (512, 512)
    teachers: dict[str, int | list[int]] = Field(default_factory=dict)
    tasks: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _needs_a_teacher_or_task(self) -> StudentConfig:
        if not self.teachers and not self.tasks:
            raise ValueError("a student needs at least one teacher or one task")
        return self

    def model_section(self) -> ModelSection:
        """The architecture alone, as a run config's ``model`` section."""
        return ModelSection(**self.model_dump(include=set(ModelSection.model_fields)))


class StudentOutput(NamedTuple):
    """What the student returns.

    tasks: task name -> ``B x outputs x H x W`` raw head output at input size.
    distill: teacher name -> one ``B x C_teacher x h x w`` map per tap level (aligned when the
        student has aligners, otherwise the normalised adapter-path representation).
    """

    tasks: dict[str, torch.Tensor]
    distill: dict[str, list[torch.Tensor]]


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.LayerNorm, nn.BatchNorm2d)):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class SAKStudent(nn.Module):
    """The multi-task student of the SAK method (see docs/concepts.md)."""

    def __init__(self, config: StudentConfig) -> None:
        super().__init__()
        self.config = config
        self.stem = TeacherAgnosticStem(
            config.stem, config.input_size, config.stem_pretrained, **config.stem_overrides
        )
        dim, depth = self.stem.embed_dim, self.stem.depth
        self.tap_indices = list(config.tap_indices or default_tap_indices(depth))
        if any(not 0 <= i < depth for i in self.tap_indices) or len(set(self.tap_indices)) != len(self.tap_indices):
            raise ConfigError(f"tap_indices {self.tap_indices} must be distinct blocks in 0..{depth - 1}: the stem "
                              f"'{config.stem}' has {depth} blocks (model.tap_indices)")
        self.teacher_names = list(config.teachers)
        self.task_names = list(config.tasks)
        levels = range(len(self.tap_indices))

        self.adapter_paths = nn.ModuleDict(
            {t: AdapterPath(dim, depth, config.adapter_ratio) for t in self.teacher_names}
        )
        # keys "level{l}" -> teacher -> module
        self.norms = nn.ModuleDict(
            {f"level{l}": nn.ModuleDict({t: nn.LayerNorm(dim) for t in self.teacher_names}) for l in levels}
        )
        self.aligners: nn.ModuleDict | None = None
        widths = {t: self._level_widths(t, w) for t, w in config.teachers.items()}
        if config.aligners:
            self.aligners = nn.ModuleDict(
                {
                    f"level{l}": nn.ModuleDict(
                        {t: nn.Linear(dim, w[l]) for t, w in widths.items() if w[l] > 0}
                    )
                    for l in levels
                }
            )
        else:
            for teacher, per_level in widths.items():
                if any(w not in (0, dim) for w in per_level):
                    width = config.teachers[teacher]
                    raise ConfigError(
                        f"teacher '{teacher}' is {width} wide but the stem is {dim}: "
                        f"set aligners: true (model.aligners) or use a stem of width {width}"
                    )
        experts = 1 + len(self.teacher_names)
        self.routers = nn.ModuleDict(
            {
                f"level{l}": nn.ModuleDict(
                    {
                        task: RepresentationRouter(dim, experts, config.noisy_gating)
                        if config.router == "mor"
                        else SumRouter()
                        for task in self.task_names
                    }
                )
                for l in levels
            }
        )
        self.heads = nn.ModuleDict(
            {task: DecodeHead(dim, n, len(self.tap_indices)) for task, n in config.tasks.items()}
        )
        for part in (self.adapter_paths, self.norms, self.routers):
            part.apply(_init_weights)
        if self.aligners is not None:
            self.aligners.apply(_init_weights)
        self._apply_freezing()

    def _level_widths(self, teacher: str, width: int | list[int]) -> list[int]:
        if isinstance(width, int):
            return [width] * len(self.tap_indices)
        if len(width) != len(self.tap_indices):
            raise ConfigError(
                f"teacher '{teacher}' gives {len(width)} level widths {width} but the student taps "
                f"{len(self.tap_indices)} levels ({self.tap_indices})"
            )
        return list(width)

    def _apply_freezing(self) -> None:
        if self.config.freeze_stem or self.config.freeze_all_but_routers:
            self.stem.requires_grad_(False)
        if self.config.freeze_all_but_routers:
            for part in (self.adapter_paths, self.norms, self.aligners):
                if part is not None:
                    part.requires_grad_(False)

    @property
    def embed_dim(self) -> int:
        return self.stem.embed_dim

    def forward(self, images: torch.Tensor) -> StudentOutput:
        """``images``: ``B x 3 x H x W``, H and W multiples of 16."""
        B, _, H, W = images.shape
        h, w = H // self.stem.patch_size, W // self.stem.patch_size
        prefix = self.stem.num_prefix_tokens

        def to_map(tokens: torch.Tensor) -> torch.Tensor:
            return tokens.transpose(1, 2).reshape(B, -1, h, w)  # B, L, C -> B, C, h, w

        x = self.stem.embed(images)  # B, prefix + h*w, C
        states = {t: path.start(x) for t, path in self.adapter_paths.items()}
        distill: dict[str, list[torch.Tensor]] = {t: [] for t in self.teacher_names}
        routed: dict[str, list[torch.Tensor]] = {task: [] for task in self.task_names}
        level_of = {block: level for level, block in enumerate(self.tap_indices)}

        checkpointed = self.config.grad_checkpointing and torch.is_grad_enabled()
        for i in range(len(self.stem.blocks)):
            if checkpointed:  # keep only the block's inputs; recompute its inside in the backward pass
                x, *paths = checkpoint(self._block_step, i, x, *states.values(), use_reentrant=False)
            else:
                x, *paths = self._block_step(i, x, *states.values())
            states = dict(zip(states, paths))
            if i not in level_of:
                continue
            key = f"level{level_of[i]}"
            stem_tokens = x[:, prefix:]  # B, h*w, C
            representations = []
            for t in self.teacher_names:
                rep = self.norms[key][t](states[t][:, prefix:])  # B, h*w, C
                representations.append(rep)
                aligned = rep
                if self.aligners is not None and t in self.aligners[key]:
                    aligned = self.aligners[key][t](rep)  # B, h*w, C_teacher
                distill[t].append(to_map(aligned))
            if self.task_names:
                experts = torch.stack([to_map(r) for r in [stem_tokens, *representations]], dim=1)  # B, E, C, h, w
                for task in self.task_names:
                    routed[task].append(self.routers[key][task](stem_tokens, experts))

        tasks = {task: self.heads[task](routed[task], (H, W)) for task in self.task_names}
        return StudentOutput(tasks=tasks, distill=distill)

    def _block_step(self, i: int, x: torch.Tensor, *states: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Stem block ``i`` and the adapter-path steps that follow it: ``(x, *states)`` -> the same after
        block ``i``, states in teacher order. One unit for activation checkpointing (exact: the
        recomputation replays the same operations, dropout included, from the saved inputs)."""
        x = self.stem.blocks[i](x)  # B, prefix + h*w, C
        return (x, *(path.step(i, state, x) for path, state in zip(self.adapter_paths.values(), states)))

    def routing_weights(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Eval-mode expert weights per task: ``task -> B x levels x E`` (for router analysis)."""
        weights: dict[str, list[torch.Tensor]] = {task: [] for task in self.task_names}
        hooks = []
        for key, per_task in self.routers.items():
            for task, router in per_task.items():
                if isinstance(router, RepresentationRouter):
                    hooks.append(
                        router.register_forward_hook(
                            lambda m, args, out, task=task: weights[task].append(m.weights(args[0]))
                        )
                    )
        was_training = self.training
        self.eval()  # clean gates and running BN statistics, whatever mode the caller left us in
        try:
            with torch.no_grad():
                self.forward(images)
        finally:
            self.train(was_training)
            for h in hooks:
                h.remove()
        return {task: torch.stack(w, dim=1) for task, w in weights.items() if w}
