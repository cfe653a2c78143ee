"""sak-teacher-clip: CLIP ViT image towers (open_clip, or timm's CLIP ports) as sak teachers."""

from sak_teacher_clip.teacher import BACKENDS, ClipOptions, ClipTeacher, configure, create

__all__ = ["BACKENDS", "ClipOptions", "ClipTeacher", "configure", "create"]
