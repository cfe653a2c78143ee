"""Evaluation of trained students: dataset-level metrics, dm, router analysis.

Used by ``sak eval`` and ``sak analyze routers``; see docs/evaluation.md.
"""

from sak_core.model.assemble import build_dataset
from sak_core.datasets.batch import collate_samples
from sak_core.run.binding import bind_tasks, require_task_heads, supported_tasks
from sak_core.errors import MissingPluginError
from sak_core.evaluation.report import metrics_document, metrics_path, results_table, write_metrics
from sak_core.evaluation.routers import RouterChart, RouterSummary, render_router_chart, router_summary
from sak_core.run.context import RunContext
from sak_core.evaluation.scoring import EvalResult, GainSummary, evaluate, gain_summary, make_metric, update_metrics
from sak_core.runtime.device import resolve_device

__all__ = [
    "EvalResult",
    "GainSummary",
    "MissingPluginError",
    "RouterChart",
    "RouterSummary",
    "RunContext",
    "bind_tasks",
    "build_dataset",
    "collate_samples",
    "evaluate",
    "gain_summary",
    "make_metric",
    "metrics_document",
    "metrics_path",
    "render_router_chart",
    "require_task_heads",
    "resolve_device",
    "results_table",
    "router_summary",
    "supported_tasks",
    "update_metrics",
    "write_metrics",
]
