"""sak-teacher-dinov2: DINOv2 ViT teachers (timm ``vit_*_patch14_dinov2.lvd142m``) for sak."""

from sak_teacher_dinov2.teacher import SIZES, DinoV2Options, DinoV2Teacher, configure, create

__all__ = ["SIZES", "DinoV2Options", "DinoV2Teacher", "configure", "create"]
