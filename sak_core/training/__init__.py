"""Training: both SAK stages, checkpoints, resumption, mixed precision and multi-process runs.

``train(config, run_dir)`` is the whole of ``sak train`` without the command line; see
docs/training.md for the run directory it writes.
"""

from sak_core.training.errors import NonFiniteLossError, TrainingError, TrainingInterrupted
from sak_core.training.loop import Trainer, TrainResult, train
from sak_core.run.rundir import RunDir
from sak_core.training.schedules import Schedule

__all__ = [
    "NonFiniteLossError",
    "RunDir",
    "Schedule",
    "TrainResult",
    "Trainer",
    "TrainingError",
    "TrainingInterrupted",
    "train",
]
