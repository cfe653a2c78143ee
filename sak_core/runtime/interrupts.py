"""The `sak` process's Ctrl-C policy: the first stops, the second is ignored, the third forces.

* The first SIGINT stops the command. Outside the training loop, :func:`interrupt_once` (the
  `sak` command's handler) raises ``KeyboardInterrupt``. In the loop, the loop's own handler
  (:mod:`sak_core.training.signals`) asks it to finish the step and write a checkpoint; a second
  signal there stops it at once.
* Further signals while sak stops are ignored, so that the closing sentence and the exit status
  (130) are not cut short. This holds while Python shuts down too: Python hands SIGINT back to the
  OS default at the end of shutdown, where one more Ctrl-C used to kill the process by signal 2.
  :func:`ignore_while_exiting` closes that window; the command registers it as its last exit step.
* The third signal of a stop ends the process at once, by that signal: the way out of an exit
  that hangs (a worker pool that does not stop, a stuck file system).

Kept free of torch: the command line imports it before anything else.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
FORCE_AFTER = 3  # the third signal of a stop ends the process at once

_requests = 0  # signals that asked this process to stop (handlers run in the main thread only)


def note_stop_requested(number: int) -> None:
    """Count a signal that asks this process to stop; the :data:`FORCE_AFTER`-th ends it at once."""
    global _requests
    _requests += 1
    if _requests >= FORCE_AFTER:
        force_quit(number)


def stop_under_way() -> bool:
    """Whether a signal has asked this process to stop."""
    return _requests > 0


def force_quit(number: int) -> None:
    """End the process at once, by signal ``number`` (no clean-up, no checkpoint)."""
    sys.stderr.write(f"\nsak: signal {number} a third time: ending at once\n")
    sys.stderr.flush()
    signal.signal(number, signal.SIG_DFL)
    os.kill(os.getpid(), number)


def interrupt_once(number: int, frame: FrameType | None) -> None:
    """SIGINT handler of the `sak` command: the first Ctrl-C raises ``KeyboardInterrupt``; later
    ones are ignored while sak stops, and the third ends it at once."""
    first = not stop_under_way()
    note_stop_requested(number)
    if first:
        raise KeyboardInterrupt


def ignore_while_exiting() -> None:
    """After a stop asked for by a signal, ignore SIGINT and SIGTERM for the rest of the process's
    life: register it as the last exit step (``atexit``), from the main thread."""
    if stop_under_way() and threading.current_thread() is threading.main_thread():
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
