"""sak-teacher-sam: the Segment Anything image encoder (segment-anything or timm) as a sak teacher."""

from sak_teacher_sam.plugin import BACKENDS, SIZES, SPEC, SamOptions

__all__ = ["BACKENDS", "SIZES", "SPEC", "SamOptions"]
