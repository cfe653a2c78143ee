"""Reading weight files safely: ``torch.load`` with ``weights_only=True`` and loads that fit or fail whole."""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from sak_core.errors import CheckpointError


def load_torch_file(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU: tensors and plain containers only.
    A file holding other objects is refused with what it holds (never with torch's advice to
    load it unsafely); an unreadable one with a :class:`CheckpointError` naming it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist") from None
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path} holds objects other than tensors and plain containers ({unpickling_refusal(exc)}); sak "
            "refuses to unpickle them. Re-save only the tensors (e.g. torch.save({'model': ckpt['model']}, "
            "'weights.pth')) where you trust the file"
        ) from None
    except Exception as exc:  # a damaged file fails in torch's reader in many ways, which vary by release
        raise CheckpointError(f"{path} could not be read as a PyTorch file ({type(exc).__name__}: "
                              f"{_first_sentence(str(exc)) or 'no reason given'}); is it truncated?") from None


def _first_sentence(text: str) -> str:
    """The first sentence of an error's first line: torch's further sentences advise loading
    with ``weights_only=False`` or allow-listing classes, which sak never suggests."""
    first = (text.strip().splitlines() or [""])[0]
    return re.split(r"\.\s", first, maxsplit=1)[0].rstrip(".")


_REFUSAL_MARKER = "WeightsUnpickler error:"  # torch's one-line form (torch < 2.4) puts the reason after it


def unpickling_refusal(exc: BaseException) -> str:
    """What torch's weights-only unpickler refused (e.g. 'Unsupported global: GLOBAL posix.system'),
    without its advice to rerun with ``weights_only=False``."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    lines = [line.split(_REFUSAL_MARKER, 1)[1].strip() if _REFUSAL_MARKER in line else line for line in lines]
    found = [line for line in lines if ("GLOBAL" in line or "nsupported" in line) and "weights_only" not in line]
    return _first_sentence(found[0]) if found else "objects the weights-only loader does not accept"


def load_state_strict(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str, target: str = "the model", advice: str = ""
) -> None:
    """Load ``state`` into ``model`` or fail listing every missing, unexpected and misshapen key;
    nothing is loaded then. ``source`` / ``target`` name both sides in the message."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    misshapen = sorted(
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if own[k].shape != state[k].shape
    )
    problems = [
        f"{label}: {_listing(keys)}"
        for label, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                            ("shape mismatches (file vs model)", misshapen))
        if keys
    ]
    if problems:
        raise CheckpointError(f"{source} does not fit {target}: {'; '.join(problems)}. {advice}".strip())
    model.load_state_dict(dict(state), strict=True)


def _listing(keys: list[str], limit: int = 10) -> str:
    shown = ", ".join(keys[:limit])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > limit else shown
