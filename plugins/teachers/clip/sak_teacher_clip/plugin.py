"""Entry point of sak-teacher-clip: registers teacher ``clip`` with sak."""

from sak_core import hookimpl
from sak_teacher_clip.teacher import SPEC


@hookimpl
def sak_register_teachers(register):
    register(SPEC)
