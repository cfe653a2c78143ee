"""The `sak` process's Ctrl-C policy: the first SIGINT stops, more while it stops are ignored.

Outside the training loop the `sak` command's SIGINT handler is :func:`interrupt_once`: the first
Ctrl-C raises ``KeyboardInterrupt``; once a stop is under way (asked for by that Ctrl-C, or by a
signal the training loop caught, see :mod:`sak_core.training.signals`) further Ctrl-Cs are ignored,
so the closing message and the exit status (130) are not cut short. :func:`ignore_while_exiting`
keeps it so while Python shuts down, which otherwise hands SIGINT back to the OS default: one more
Ctrl-C there killed the process by signal 2 instead of letting it exit 130. SIGTERM and SIGKILL
still end a stopping process. Kept free of torch: the command line imports it before anything else.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

_stopping = threading.Event()  # set once a signal has asked this process to stop


def note_stop_requested() -> None:
    """Record that a signal has asked this process to stop."""
    _stopping.set()


def stop_under_way() -> bool:
    """Whether a signal has asked this process to stop."""
    return _stopping.is_set()


def interrupt_once(number: int, frame: FrameType | None) -> None:
    """SIGINT handler of the `sak` command: the first Ctrl-C raises ``KeyboardInterrupt``, later ones
    are ignored while sak stops."""
    if _stopping.is_set():
        return
    _stopping.set()
    raise KeyboardInterrupt


def ignore_while_exiting() -> None:
    """After a stop asked for by a signal, ignore SIGINT and SIGTERM for the rest of the process's
    life: call it last, from the main thread, just before the process exits."""
    if _stopping.is_set() and threading.current_thread() is threading.main_thread():
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
