"""sak-teacher-timm: any timm ViT-like model as a sak teacher (``--teachers timm:MODEL_NAME``)."""

from sak_teacher_timm.plugin import SPEC, TimmOptions

__all__ = ["SPEC", "TimmOptions"]
