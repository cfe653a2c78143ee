"""Entry point of sak-teacher-dinov2: registers teacher ``dinov2`` with sak."""

from sak_core import hookimpl
from sak_teacher_dinov2.teacher import SPEC


@hookimpl
def sak_register_teachers(register):
    register(SPEC)
