"""Entry point of sak-teacher-timm: registers the generic teacher ``timm`` with sak."""

from sak_core import hookimpl
from sak_teacher_timm.teacher import SPEC


@hookimpl
def sak_register_teachers(register):
    register(SPEC)
