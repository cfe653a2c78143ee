"""Errors that end a training run, each saying what state the run directory was left in."""

from __future__ import annotations

from sak_core.errors import SakError


class TrainingError(SakError):
    """Training cannot go on (bad data, a diverged loss, a run directory that does not fit)."""


class NonFiniteLossError(TrainingError):
    """The loss became NaN or infinite; the last good checkpoint was kept."""


class TrainingInterrupted(SakError):
    """SIGINT or SIGTERM stopped training after a checkpoint was written."""

    def __init__(self, message: str, signal_number: int) -> None:
        super().__init__(message)
        self.signal_number = signal_number

    @property
    def exit_code(self) -> int:
        return 128 + self.signal_number
