"""The Hugging Face ``transformers`` layout of ``CLIPModel`` / ``CLIPVisionModelWithProjection`` (``vision_model.*``,
``visual_projection``): the image tower, the text tower left out, renamed on the fly to open_clip's layout
(the family owns its format adapter; :mod:`sak_core.weights.layouts` holds the mechanism)."""

from sak_core.plugin import LEAVE_OUT, Layout

_LAYER = r"vision_model\.encoder\.layers\.(\d+)"
TRANSFORMERS = Layout(
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
