"""Checkpoint layouts: renaming a weights file written by another library to the layout a teacher reads.

A teacher family that is also distributed in another library's layout (the Hugging Face
``transformers`` port of a model, say) owns an adapter for it: a :class:`Layout` listed in its
spec's ``weight_layouts`` (timm's ``checkpoint_filter_fn`` idea: the family owns its format
adapter, the core holds the mechanism). When a file is read for that teacher,
:func:`convert_known_layout` recognises the layout by a key only it has, renames the tensors (fusing
separate query/key/value projections, transposing where asked), and the teacher's usual loader
does the rest, strictly. What is left out is named in the note (a
:class:`~sak_core.errors.ConvertedWeightsWarning`); a key no rule knows keeps its name, so the
strict load lists it rather than skipping it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sak_core.errors import ConvertedWeightsWarning

if TYPE_CHECKING:
    import torch

LEAVE_OUT = None  # a rule's target for tensors that the teacher does not use
Rule = tuple[str, "str | None"]  # (regex on the whole key, replacement or LEAVE_OUT)


@dataclass(frozen=True)
class Layout:
    """A checkpoint layout and how to rename it to the release layout a backend reads.

    signature: a key that only this layout has. rules: ``(pattern, replacement)``, the first
    matching pattern renames a key (``LEAVE_OUT`` drops it); ``fuse``: ``(parts, fused)``, keys
    named ``PREFIX.{part}.SUFFIX`` concatenated (in ``parts`` order, along dim 0) into
    ``fused`` formatted with ``prefix`` and ``suffix``. ``transpose``: keys stored transposed.
    """

    name: str
    target: str
    signature: str
    rules: tuple[Rule, ...]
    fuse: tuple[tuple[str, ...], str] | None = None
    transpose: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ("",)  # model wrappers that put the layout under a prefix

    def prefix_of(self, state: Mapping[str, object]) -> str | None:
        """The prefix under which ``state`` holds this layout, None when it does not."""
        return next((p for p in self.prefixes if p + self.signature in state), None)

    def convert(self, state: Mapping[str, torch.Tensor], prefix: str) -> tuple[dict[str, torch.Tensor], list[str]]:
        """The renamed tensors and the keys left out."""
        import torch

        out: dict[str, torch.Tensor] = {}
        left_out: list[str] = []
        parts: dict[tuple[str, str], dict[str, torch.Tensor]] = {}  # (head, suffix) -> part -> tensor
        for key, value in state.items():
            if not key.startswith(prefix):
                left_out.append(key)
                continue
            new = key[len(prefix):]
            for pattern, replacement in self.rules:
                if re.fullmatch(pattern, new):
                    new = None if replacement is LEAVE_OUT else re.sub(f"^(?:{pattern})$", replacement, new)
                    break
            if new is None:
                left_out.append(key)
            elif self.fuse and (m := re.fullmatch(rf"(.+)\.({'|'.join(self.fuse[0])})\.(\w+)", new)):
                parts.setdefault((m[1], m[3]), {})[m[2]] = value
            else:
                out[new] = value.t().contiguous() if new in self.transpose else value
        for (head, suffix), found in parts.items():
            names, fused = self.fuse  # type: ignore[misc]
            if set(found) != set(names):  # incomplete: keep the pieces, the strict load names them
                out.update({f"{head}.{n}.{suffix}": v for n, v in found.items()})
                continue
            out[fused.format(prefix=head, suffix=suffix)] = torch.cat([found[n] for n in names], dim=0)
        return out, left_out




def _summary(keys: list[str]) -> str:
    """``a.x, a.y, b.z`` -> ``a.* (2 tensors), b.z``: the left-out keys, grouped by their first name."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(key.split(".")[0], []).append(key)
    return ", ".join(g[0] if len(g) == 1 else f"{h}.* ({len(g)} tensors)" for h, g in groups.items())


def convert_known_layout(
    state: Mapping[str, torch.Tensor], layouts: Sequence[Layout] = (), teacher: str = "", path: object = "",
) -> dict[str, torch.Tensor]:
    """``state`` renamed to the layout its teacher reads when it is in one of ``layouts`` (the
    teacher spec's ``weight_layouts``; with a note that says so, :class:`ConvertedWeightsWarning`);
    else ``state`` unchanged."""
    for layout in layouts:
        prefix = layout.prefix_of(state)
        if prefix is None:
            continue
        converted, left_out = layout.convert(state, prefix)
        who = f"teacher '{teacher}': " if teacher else ""
        note = (f"{who}weights file {path} is in the {layout.name} layout; converted to {layout.target} "
                f"on the fly ({len(converted)} tensors)")
        if left_out:
            note += f", left out: {_summary(left_out)}"
        warnings.warn(note, ConvertedWeightsWarning, stacklevel=3)
        return converted
    return dict(state)
