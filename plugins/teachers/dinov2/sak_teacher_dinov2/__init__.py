"""sak-teacher-dinov2: DINOv2 ViT teachers (timm ``vit_*_patch14_dinov2.lvd142m``) for sak."""

from sak_teacher_dinov2.plugin import SIZES, SPEC, DinoV2Options

__all__ = ["SIZES", "SPEC", "DinoV2Options"]
