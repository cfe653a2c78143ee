"""Teacher weight files: where they come from, reading them safely, other libraries' layouts."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:  # sak-core 0.1's module sak_core.weights (deprecated)
    from sak_core._moved import moved_name

    return moved_name(__name__, name)
