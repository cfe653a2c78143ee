"""The Hugging Face ``transformers`` layout of ``Dinov2Model`` (``facebook/dinov2-*``: ``embeddings.*``, ``encoder.layer.*``; also under a
``dinov2.`` prefix, ``Dinov2ForImageClassification``, whose ``classifier.*`` head is left out), renamed on the fly to the original DINOv2 release layout that timm reads
(the family owns its format adapter; :mod:`sak_core.weights.layouts` holds the mechanism)."""

from sak_core.plugin import Layout

_BLOCK = r"encoder\.layer\.(\d+)"
TRANSFORMERS = Layout(
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
