"""sak-teacher-sam: the Segment Anything image encoder (segment-anything or timm) as a sak teacher."""

from sak_teacher_sam.teacher import BACKENDS, SIZES, SamOptions, SamTeacher, configure, create

__all__ = ["BACKENDS", "SIZES", "SamOptions", "SamTeacher", "configure", "create"]
