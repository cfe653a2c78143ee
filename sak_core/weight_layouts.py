"""Teacher weights in the Hugging Face ``transformers`` layout, renamed to the original releases' layouts.

Each teacher backend already reads its model's original release: timm converts the DINOv2
release (``blocks.*``, ``mask_token``) and open_clip's CLIP (``visual.*``) with its own checkpoint
filters, and both SAM backends read the official SAM file (``image_encoder.*``). A ``transformers``
file of the same model holds the same tensors under other names, so :func:`convert_known_layout`
renames them to the release layout (fusing the separate query/key/value projections) and the
backend's usual loader does the rest, strictly. Supported, recognised by a key only that layout has:

- ``Dinov2Model`` (``facebook/dinov2-small|base|large|giant``: ``embeddings.*``,
  ``encoder.layer.*``), also under a ``dinov2.`` prefix (``Dinov2ForImageClassification``, whose
  ``classifier.*`` head is left out);
- ``CLIPModel`` / ``CLIPVisionModelWithProjection`` (``vision_model.*``, ``visual_projection``):
  the image tower, the text tower left out;
- ``SamModel`` (``facebook/sam-vit-base|large|huge``: ``vision_encoder.*``): the image encoder,
  the prompt encoder and mask decoder left out (as from the official SAM file).

What is left out is named in the note (a :class:`~sak_core.errors.ConvertedWeightsWarning`); a key
no rule knows keeps its name, so the strict load lists it rather than skipping it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
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


_BLOCK = r"encoder\.layer\.(\d+)"
DINOV2 = Layout(
    "transformers Dinov2Model", "the original DINOv2 release", "encoder.layer.0.layer_scale1.lambda1",
    rules=(
        (r"embeddings\.cls_token", "cls_token"),
        (r"embeddings\.mask_token", "mask_token"),  # masked pretraining only: timm drops it, as from the release
        (r"embeddings\.position_embeddings", "pos_embed"),
        (r"embeddings\.patch_embeddings\.projection\.(weight|bias)", r"patch_embed.proj.\1"),
        (rf"{_BLOCK}\.attention\.attention\.(query|key|value)\.(weight|bias)", r"blocks.\1.attn.\2.\3"),
        (rf"{_BLOCK}\.attention\.output\.dense\.(weight|bias)", r"blocks.\1.attn.proj.\2"),
        (rf"{_BLOCK}\.layer_scale([12])\.lambda1", r"blocks.\1.ls\2.gamma"),
        (rf"{_BLOCK}\.(norm[12]|mlp\.fc[12])\.(weight|bias)", r"blocks.\1.\2.\3"),
        (rf"{_BLOCK}\.mlp\.weights_in\.(weight|bias)", r"blocks.\1.mlp.w12.\2"),  # giant's SwiGLU
        (rf"{_BLOCK}\.mlp\.weights_out\.(weight|bias)", r"blocks.\1.mlp.w3.\2"),
        (r"layernorm\.(weight|bias)", r"norm.\1"),
    ),
    fuse=(("query", "key", "value"), "{prefix}.qkv.{suffix}"),
    prefixes=("", "dinov2."),
)

_LAYER = r"vision_model\.encoder\.layers\.(\d+)"
CLIP = Layout(
    "transformers CLIPModel", "open_clip's CLIP layout", "vision_model.pre_layrnorm.weight",
    rules=(
        (r"vision_model\.embeddings\.class_embedding", "visual.class_embedding"),
        (r"vision_model\.embeddings\.patch_embedding\.weight", "visual.conv1.weight"),
        (r"vision_model\.embeddings\.position_embedding\.weight", "visual.positional_embedding"),
        (r"vision_model\.embeddings\.position_ids", LEAVE_OUT),  # a buffer of 0..N-1, not a weight
        (r"vision_model\.pre_layrnorm\.(weight|bias)", r"visual.ln_pre.\1"),
        (rf"{_LAYER}\.self_attn\.(q|k|v)_proj\.(weight|bias)", r"visual.transformer.resblocks.\1.attn.\2.\3"),
        (rf"{_LAYER}\.self_attn\.out_proj\.(weight|bias)", r"visual.transformer.resblocks.\1.attn.out_proj.\2"),
        (rf"{_LAYER}\.layer_norm([12])\.(weight|bias)", r"visual.transformer.resblocks.\1.ln_\2.\3"),
        (rf"{_LAYER}\.mlp\.fc1\.(weight|bias)", r"visual.transformer.resblocks.\1.mlp.c_fc.\2"),
        (rf"{_LAYER}\.mlp\.fc2\.(weight|bias)", r"visual.transformer.resblocks.\1.mlp.c_proj.\2"),
        (r"vision_model\.post_layernorm\.(weight|bias)", r"visual.ln_post.\1"),
        (r"visual_projection\.weight", "visual.proj"),
        (r"text_model\..*|text_projection\.weight|logit_scale", LEAVE_OUT),  # the text tower
    ),
    fuse=(("q", "k", "v"), "{prefix}.in_proj_{suffix}"),
    transpose=("visual.proj",),  # open_clip multiplies x @ proj, transformers uses a Linear
)

SAM = Layout(
    "transformers SamModel", "the official SAM layout", "vision_encoder.neck.conv1.weight",
    rules=(
        (r"vision_encoder\.patch_embed\.projection\.(weight|bias)", r"image_encoder.patch_embed.proj.\1"),
        (r"vision_encoder\.pos_embed", "image_encoder.pos_embed"),
        (r"vision_encoder\.layers\.(\d+)\.layer_norm([12])\.(weight|bias)", r"image_encoder.blocks.\1.norm\2.\3"),
        (r"vision_encoder\.layers\.(\d+)\.(attn\.(?:qkv|proj)\.(?:weight|bias)|attn\.rel_pos_[hw]|mlp\.lin[12]\.(?:weight|bias))",
         r"image_encoder.blocks.\1.\2"),
        (r"vision_encoder\.neck\.conv1\.weight", "image_encoder.neck.0.weight"),
        (r"vision_encoder\.neck\.layer_norm1\.(weight|bias)", r"image_encoder.neck.1.\1"),
        (r"vision_encoder\.neck\.conv2\.weight", "image_encoder.neck.2.weight"),
        (r"vision_encoder\.neck\.layer_norm2\.(weight|bias)", r"image_encoder.neck.3.\1"),
        (r"(prompt_encoder|mask_decoder|shared_image_embedding)\..*", LEAVE_OUT),  # prompts and masks
    ),
)

LAYOUTS = (DINOV2, CLIP, SAM)


def _summary(keys: list[str]) -> str:
    """``a.x, a.y, b.z`` -> ``a.* (2 tensors), b.z``: the left-out keys, grouped by their first name."""
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(key.split(".")[0], []).append(key)
    return ", ".join(g[0] if len(g) == 1 else f"{h}.* ({len(g)} tensors)" for h, g in groups.items())


def convert_known_layout(state: Mapping[str, torch.Tensor], teacher: str = "", path: object = "") -> dict[str, torch.Tensor]:
    """``state`` renamed to its model's release layout when it is in a layout of :data:`LAYOUTS`
    (with a note that says so, :class:`ConvertedWeightsWarning`); else ``state`` unchanged."""
    for layout in LAYOUTS:
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
