"""The student network and its parts."""

from sak_core.model.adapters import Adapter, AdapterPath
from sak_core.model.head import DecodeHead
from sak_core.model.router import RepresentationRouter, SumRouter
from sak_core.model.stem import TeacherAgnosticStem, default_tap_indices
from sak_core.model.student import SAKStudent, StudentConfig, StudentOutput

__all__ = [
    "Adapter",
    "AdapterPath",
    "DecodeHead",
    "RepresentationRouter",
    "SAKStudent",
    "StudentConfig",
    "StudentOutput",
    "SumRouter",
    "TeacherAgnosticStem",
    "default_tap_indices",
]
