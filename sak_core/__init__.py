"""sak: distil vision foundation models into one multi-task dense-prediction student (SAK).

``import sak_core`` is light: the registry API, the specs and the errors load at once; the names
that need torch (the student, tasks, teachers, checkpoints, prediction) load on first use, so
that ``sak --help`` and ``sak plugins`` start without the deep-learning stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sak_core.plugin.lookup import (
    create_task,
    create_teacher,
    get_dataset_spec,
    get_task_spec,
    get_teacher_spec,
    list_datasets,
    list_tasks,
    list_teachers,
)
from sak_core._moved import install as _install_moved_modules
from sak_core.errors import ConvertedWeightsWarning, RandomWeightsWarning, SakError
from sak_core.plugin.hookspecs import hookimpl
from sak_core.plugin.specs import DatasetSpec, TaskSpec, TeacherSpec, WeightSource, lazy
from sak_core.plugin.specs import names_on_first_use as _names_on_first_use

if TYPE_CHECKING:
    from sak_core.model.assemble import create_student
    from sak_core.run.checkpoint import load_student, save_student
    from sak_core.evaluation.prediction import predict
    from sak_core.model import SAKStudent, StudentConfig, StudentOutput
    from sak_core.plugin.tasks import Metric, Task
    from sak_core.plugin.teachers import Teacher, TeacherOutput

__version__ = "0.1.0"

_install_moved_modules()  # the module paths of sak-core 0.1 still import, with a warning

# name -> module that defines it, imported on first access (PEP 562)
_ON_FIRST_USE = {
    "create_student": "sak_core.model.assemble",
    "load_student": "sak_core.run.checkpoint",
    "save_student": "sak_core.run.checkpoint",
    "predict": "sak_core.evaluation.prediction",
    "SAKStudent": "sak_core.model",
    "StudentConfig": "sak_core.model",
    "StudentOutput": "sak_core.model",
    "Metric": "sak_core.plugin.tasks",
    "Task": "sak_core.plugin.tasks",
    "Teacher": "sak_core.plugin.teachers",
    "TeacherOutput": "sak_core.plugin.teachers",
}


__getattr__, __dir__ = _names_on_first_use(globals(), _ON_FIRST_USE)


__all__ = [
    "ConvertedWeightsWarning",
    "DatasetSpec",
    "Metric",
    "RandomWeightsWarning",
    "SAKStudent",
    "StudentConfig",
    "StudentOutput",
    "SakError",
    "Task",
    "TaskSpec",
    "Teacher",
    "TeacherOutput",
    "TeacherSpec",
    "WeightSource",
    "create_student",
    "create_task",
    "create_teacher",
    "get_dataset_spec",
    "get_task_spec",
    "get_teacher_spec",
    "hookimpl",
    "lazy",
    "list_datasets",
    "list_tasks",
    "list_teachers",
    "load_student",
    "predict",
    "save_student",
]
