"""Where and how sak runs: device and precision, the Ctrl-C policy, durable file writes."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:  # sak-core 0.1's module sak_core.runtime (deprecated)
    from sak_core._moved import moved_name

    return moved_name(__name__, name)
