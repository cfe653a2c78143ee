"""The plugin API: everything a teacher, task or dataset plugin imports from sak, in one place.

``from sak_core.plugin import ...`` is the contract (docs/plugins/api.md lists every name and what
may change between versions); the modules these names live in are internal and may move. A
plugin declares the API range it was built for next to its hook implementations::

    from sak_core.plugin import TaskSpec, hookimpl, lazy

    SAK_API = ">=1.0,<2"

    @hookimpl
    def sak_register_tasks(register):
        register(TaskSpec(name="my_task", factory=lazy("my_package.task:MyTask")))

Importing this module is light (no torch): the specs, recipe builders, weight helpers, errors and
``hookimpl`` load at once; the names that need torch (base classes, task helpers, dataset base
classes) and the registry look-ups load on first use (PEP 562), so a plugin's entry-point module
stays cheap for ``sak plugins`` and ``sak --help``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sak_core.errors import (
    CheckpointError,
    ConfigError,
    ConvertedWeightsWarning,
    CorruptFileError,
    DataNotFoundError,
    DatasetError,
    PluginError,
    RandomWeightsWarning,
    SakError,
    SpecError,
    TargetError,
)
from sak_core.plugin.hookspecs import hookimpl
from sak_core.plugin.api_version import API_VERSION
from sak_core.plugin.specs import (
    IGNORE_INDEX,
    IMAGENET_MEAN,
    IMAGENET_STD,
    LABEL_MASK,
    TEACHER_PRECISIONS,
    DatasetSpec,
    TaskSpec,
    TeacherSpec,
    WeightSource,
    label_mask,
    lazy,
    refuse_unknown_options,
)
from sak_core.plugin.specs import names_on_first_use as _names_on_first_use
from sak_core.plugin.taps import even_taps
from sak_core.plugin.teacher_recipes import (
    Recipe,
    Shape,
    TeacherOptions,
    parse_options,
    pick,
    teacher_spec,
    timm_recipe,
    timm_shape,
)
from sak_core.weights.layouts import LEAVE_OUT, Layout
from sak_core.weights.sources import hub_source, load_state_dict_strict, read_state_dict, resolve_weights, timm_weight_sources

if TYPE_CHECKING:
    from sak_core.plugin.task_helpers import (
        VOID_COLOUR,
        ConfusionMatrix,
        CrossEntropyLoss,
        LabelMapTask,
        MeanIoU,
        check_shapes,
        class_id_error,
        colour_grey,
        colour_labels,
        colour_scalars,
        count_at_or_above,
        cross_entropy_sum_over_valid,
        f_beta,
        l1_sum_over_valid,
        label_map,
        label_palette,
        threshold_grid,
        to_numpy,
        to_uint8,
        valid_pixels,
        with_suffix,
        write_npy,
        write_png,
    )
    from sak_core.plugin.tasks import Metric, Task
    from sak_core.plugin.teachers import Teacher, TeacherOutput, TimmTeacher, fit_to_patch_grid, take_levels

# name -> module that defines it, imported on first access (PEP 562): these need torch, or the
# registry (which imports this package's api_version)
_ON_FIRST_USE = {
    **dict.fromkeys(
        ("create_task", "create_teacher", "get_dataset_spec", "get_task_spec", "get_teacher_spec",
         "list_datasets", "list_tasks", "list_teachers"),
        "sak_core.plugin.lookup",
    ),
    **dict.fromkeys(("DenseDataset", "parse_size", "select_tasks"), "sak_core.datasets.base"),
    **dict.fromkeys(("DenseTransform", "Raw"), "sak_core.datasets.transforms"),
    **dict.fromkeys(
        ("VOID_COLOUR", "ConfusionMatrix", "CrossEntropyLoss", "LabelMapTask", "MeanIoU", "check_shapes",
         "class_id_error", "colour_grey", "colour_labels", "colour_scalars", "count_at_or_above",
         "cross_entropy_sum_over_valid", "f_beta", "l1_sum_over_valid", "label_map", "label_palette",
         "threshold_grid", "to_numpy", "to_uint8", "valid_pixels", "with_suffix", "write_npy", "write_png"),
        "sak_core.plugin.task_helpers",
    ),
    **dict.fromkeys(("Metric", "Task"), "sak_core.plugin.tasks"),
    **dict.fromkeys(("Teacher", "TeacherOutput", "TimmTeacher", "fit_to_patch_grid", "take_levels"),
                    "sak_core.plugin.teachers"),
}


__getattr__, __dir__ = _names_on_first_use(globals(), _ON_FIRST_USE)


__all__ = [
    # the API version
    "API_VERSION",
    # registering
    "hookimpl",
    "lazy",
    # specs and their constants
    "DatasetSpec",
    "IGNORE_INDEX",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LABEL_MASK",
    "TEACHER_PRECISIONS",
    "TaskSpec",
    "TeacherSpec",
    "WeightSource",
    "label_mask",
    "refuse_unknown_options",
    # teachers
    "Recipe",
    "Shape",
    "Teacher",
    "TeacherOptions",
    "TeacherOutput",
    "TimmTeacher",
    "even_taps",
    "fit_to_patch_grid",
    "parse_options",
    "pick",
    "take_levels",
    "teacher_spec",
    "timm_recipe",
    "timm_shape",
    # teacher weights
    "LEAVE_OUT",
    "Layout",
    "hub_source",
    "load_state_dict_strict",
    "read_state_dict",
    "resolve_weights",
    "timm_weight_sources",
    # tasks
    "ConfusionMatrix",
    "CrossEntropyLoss",
    "LabelMapTask",
    "MeanIoU",
    "Metric",
    "Task",
    "VOID_COLOUR",
    "check_shapes",
    "class_id_error",
    "colour_grey",
    "colour_labels",
    "colour_scalars",
    "count_at_or_above",
    "cross_entropy_sum_over_valid",
    "f_beta",
    "l1_sum_over_valid",
    "label_map",
    "label_palette",
    "threshold_grid",
    "to_numpy",
    "to_uint8",
    "valid_pixels",
    "with_suffix",
    "write_npy",
    "write_png",
    # datasets
    "DenseDataset",
    "DenseTransform",
    "Raw",
    "parse_size",
    "select_tasks",
    # looking plugins up (a plugin's tests)
    "create_task",
    "create_teacher",
    "get_dataset_spec",
    "get_task_spec",
    "get_teacher_spec",
    "list_datasets",
    "list_tasks",
    "list_teachers",
    # errors and warnings
    "CheckpointError",
    "ConfigError",
    "ConvertedWeightsWarning",
    "CorruptFileError",
    "DataNotFoundError",
    "DatasetError",
    "PluginError",
    "RandomWeightsWarning",
    "SakError",
    "SpecError",
    "TargetError",
]
