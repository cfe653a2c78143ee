"""Example sak task plugin `fg_distance`: distance from foreground pixels to the background.

This module registers the task and imports no torch; its code is in ``task.py``.
"""

from __future__ import annotations

from sak_core.plugin import TaskSpec, hookimpl, lazy

SAK_API = ">=1.0,<2"  # the sak plugin API versions this plugin is built for (docs/plugins/api.md)

__all__ = ["SPEC", "sak_register_tasks"]

SPEC = TaskSpec(
    name="fg_distance",
    factory=lazy("sak_task_fg_distance.task:FgDistanceTask"),
    default_outputs=1,
    loss_weight=1.0,
    metric_name="mae",
    higher_is_better=False,
    derive_target=lazy("sak_task_fg_distance.task:distance_target"),
    requires=("saliency",),
    description="distance from foreground to background (example plugin)",
)


@hookimpl
def sak_register_tasks(register):
    register(SPEC)
