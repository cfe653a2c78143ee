"""Entry point of sak-teacher-sam: registers teacher ``sam`` with sak."""

from sak_core import hookimpl
from sak_teacher_sam.teacher import SPEC


@hookimpl
def sak_register_teachers(register):
    register(SPEC)
