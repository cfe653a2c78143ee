"""sak: distil vision foundation models into one multi-task dense-prediction student (SAK)."""

from sak_core.api import (
    create_task,
    create_teacher,
    get_dataset_spec,
    get_task_spec,
    get_teacher_spec,
    list_datasets,
    list_tasks,
    list_teachers,
)
from sak_core.assemble import create_student
from sak_core.checkpoint import load_student, save_student
from sak_core.errors import RandomWeightsWarning, SakError
from sak_core.model import SAKStudent, StudentConfig, StudentOutput
from sak_core.hookspecs import hookimpl
from sak_core.specs import DatasetSpec, TaskSpec, TeacherSpec, WeightSource
from sak_core.tasks import Metric, Task
from sak_core.teachers import Teacher, TeacherOutput

__version__ = "0.1.0"

__all__ = [
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
    "list_datasets",
    "list_tasks",
    "list_teachers",
    "load_student",
    "save_student",
]
