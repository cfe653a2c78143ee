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
from sak_core.errors import SakError
from sak_core.hookspecs import hookimpl
from sak_core.specs import DatasetSpec, TaskSpec, TeacherSpec, WeightSource
from sak_core.tasks import Metric, Task
from sak_core.teachers import Teacher, TeacherOutput

__version__ = "0.1.0"

__all__ = [
    "DatasetSpec",
    "Metric",
    "SakError",
    "Task",
    "TaskSpec",
    "Teacher",
    "TeacherOutput",
    "TeacherSpec",
    "WeightSource",
    "create_task",
    "create_teacher",
    "get_dataset_spec",
    "get_task_spec",
    "get_teacher_spec",
    "hookimpl",
    "list_datasets",
    "list_tasks",
    "list_teachers",
]
