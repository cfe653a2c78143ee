"""SIGINT / SIGTERM during training: finish the current step, write a checkpoint, then exit."""

from __future__ import annotations

import signal
import threading
from types import FrameType

from sak_core.runtime.interrupts import STOP_SIGNALS, note_stop_requested


class StopRequest:
    """Installs handlers that record the first SIGINT/SIGTERM; a second one stops at once.

    Use as a context manager around the training loop and poll :attr:`signal_number` between
    steps. Handlers are only installed from the main thread (elsewhere nothing is caught). Each
    signal is counted by :func:`sak_core.runtime.interrupts.note_stop_requested`: the `sak` command then
    ignores the next while it exits, and the third of a stop ends the process at once.
    """

    SIGNALS = STOP_SIGNALS

    def __init__(self) -> None:
        self.signal_number: int | None = None
        self._gave_up = False
        self._previous: dict[int, object] = {}

    def _handle(self, number: int, frame: FrameType | None) -> None:
        note_stop_requested(number)  # the third signal of a stop ends the process there
        if self._gave_up:
            return
        if self.signal_number is not None:  # second signal: give up on the clean stop
            self._gave_up = True
            raise KeyboardInterrupt
        self.signal_number = number

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)  # type: ignore[arg-type]
        self._previous.clear()

    @property
    def requested(self) -> bool:
        return self.signal_number is not None
