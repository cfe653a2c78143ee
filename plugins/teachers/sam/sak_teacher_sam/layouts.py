"""The Hugging Face ``transformers`` layout of ``SamModel`` (``facebook/sam-vit-*``: ``vision_encoder.*``): the image encoder, the
prompt encoder and mask decoder left out (as from the official file), renamed on the fly to the official SAM layout
(the family owns its format adapter; :mod:`sak_core.weights.layouts` holds the mechanism)."""

from sak_core.plugin import LEAVE_OUT, Layout

TRANSFORMERS = Layout(
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
