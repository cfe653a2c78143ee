"""sak-teacher-clip: CLIP ViT image towers (open_clip, or timm's CLIP ports) as sak teachers."""

from sak_teacher_clip.plugin import BACKENDS, SPEC, ClipOptions

__all__ = ["BACKENDS", "SPEC", "ClipOptions"]
