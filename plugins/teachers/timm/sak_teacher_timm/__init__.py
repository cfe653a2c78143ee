"""sak-teacher-timm: any timm ViT-like model as a sak teacher (``--teachers timm:MODEL_NAME``)."""

from sak_teacher_timm.teacher import TimmOptions, TimmTeacher, configure, create

__all__ = ["TimmOptions", "TimmTeacher", "configure", "create"]
