"""Finding, fetching and loading teacher weights: the teacher-agnostic part of every teacher plugin.

A teacher lists where its weights come from as :class:`~sak_core.plugin.specs.WeightSource` entries
(a local file name and a download URL; a Hub source, :func:`hub_source`, names a Hub repository
and file). ``weights=None`` looks for a file of its sources, in this order, in

1. the Hugging Face cache (huggingface_hub's, shared with timm and ``transformers``; ``HF_HOME`` /
   ``HF_HUB_CACHE`` honoured, :mod:`sak_core.weights.hub`), for every Hub source,
2. the sak weights folder, ``$SAK_WEIGHTS`` or ``~/.cache/sak/weights`` (put files here by hand
   on machines without internet), then torch's hub checkpoint folder for other URLs,

and downloads the first source it can (a Hub source through huggingface_hub, into its cache)
when none is on this machine (never when offline: ``SAK_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``). ``weights="random"`` keeps the random init and says so;
``weights=PATH`` reads that file. Files are read with safetensors or
``torch.load(weights_only=True)``, renamed from the Hugging Face ``transformers`` layout when they
are in a layout the teacher's spec lists (:mod:`sak_core.weights.layouts`, with a note that
says so), and loaded with
``strict=True``: a file that does not fit is an error naming it, never a half-loaded teacher.
"""

from __future__ import annotations

import os
import pickle
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from sak_core.errors import CheckpointError, RandomWeightsWarning
from sak_core.weights import hub
from sak_core.weights.hub import OFFLINE_ENVS, is_offline

if TYPE_CHECKING:  # torch is imported where weights are read, so plugins can name sources cheaply
    import torch
    from torch import nn

WEIGHTS_ENV = "SAK_WEIGHTS"
RANDOM = "random"
HF_HOST = "huggingface.co"


@dataclass(frozen=True)
class WeightSource:
    """Where a teacher's weights come from.

    ``filename`` is the file a user can place in the weights cache folder (or pass with
    ``--teacher-weights NAME=PATH``); ``url`` says where it is downloaded from.
    """

    filename: str
    url: str = ""
    license: str = ""

    @property
    def hub(self) -> HubFile | None:
        """The Hub repository and file of a Hub source (its URL is a huggingface.co ``resolve``
        URL, as :func:`hub_source` writes), else None."""
        return parse_hub_url(self.url) if self.url else None


def weights_dir() -> Path:
    """The sak weights folder: ``$SAK_WEIGHTS`` or ``~/.cache/sak/weights``."""
    raw = os.environ.get(WEIGHTS_ENV)
    return Path(raw).expanduser() if raw else Path.home() / ".cache" / "sak" / "weights"


# -- sources ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HubFile:
    """A file in a Hugging Face hub repository."""

    repo_id: str
    filename: str
    revision: str = "main"


def hub_url(repo_id: str, filename: str, revision: str = "main") -> str:
    """The download URL of a Hugging Face hub file."""
    return f"https://{HF_HOST}/{repo_id}/resolve/{revision}/{filename}"


def parse_hub_url(url: str) -> HubFile | None:
    """``https://huggingface.co/ORG/REPO/resolve/REV/FILE`` -> :class:`HubFile` (else None)."""
    parsed = urlparse(url)
    if parsed.netloc != HF_HOST:
        return None
    parts = parsed.path.strip("/").split("/")
    if len(parts) < 5 or parts[2] != "resolve":
        return None
    return HubFile(f"{parts[0]}/{parts[1]}", "/".join(parts[4:]), parts[3])


def hub_source(repo_id: str, filename: str, local_name: str, license: str = "", revision: str = "main") -> WeightSource:
    """A weight source hosted on the Hugging Face Hub: ``filename`` of repository ``repo_id``
    (looked for in the Hugging Face cache first), or ``local_name`` in the sak weights folder."""
    return WeightSource(filename=local_name, url=hub_url(repo_id, filename, revision), license=license)


def _torch_hub_file(url: str) -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


# where a file was found, as `sak weights` says it
HUB_CACHE, SAK_CACHE, SAK_WEIGHTS_FOLDER, TORCH_HUB = "Hub cache", "sak cache", f"${WEIGHTS_ENV}", "torch hub"


def in_hub_cache(source: WeightSource) -> Path | None:
    """Where the Hugging Face cache holds a Hub source's file (None: not there, or not a Hub source)."""
    found = source.hub
    return hub.cached_file(found.repo_id, found.filename, found.revision) if found is not None else None


def in_sak_places(source: WeightSource) -> tuple[Path, str] | None:
    """Where sak's own places hold ``source`` (the sak weights folder, then torch's hub folder
    for a non-Hub URL), with which place it is."""
    local = weights_dir() / source.filename
    if local.is_file():
        return local, SAK_WEIGHTS_FOLDER if os.environ.get(WEIGHTS_ENV) else SAK_CACHE
    if source.url and source.hub is None:
        candidate = _torch_hub_file(source.url)
        if candidate.is_file():
            return candidate, TORCH_HUB
    return None


def locate(source: WeightSource) -> tuple[Path, str] | None:
    """Where ``source`` already is on this machine and which place that is (the Hub cache,
    then sak's places); no network."""
    found = in_hub_cache(source)
    return (found, HUB_CACHE) if found is not None else in_sak_places(source)


def cached_path(source: WeightSource) -> Path | None:
    """Where ``source`` already is on this machine (Hugging Face cache, then sak's places)."""
    found = locate(source)
    return found[0] if found is not None else None


def find_local(sources: Sequence[WeightSource]) -> Path | None:
    """The file of the first of ``sources`` in the Hugging Face cache, else the first in sak's
    own places (no network)."""
    for source in sources:
        found = in_hub_cache(source)
        if found is not None:
            return found
    for source in sources:
        place = in_sak_places(source)
        if place is not None:
            return place[0]
    return None


def download(source: WeightSource) -> Path:
    """Download ``source`` into its library cache (Hugging Face cache or torch hub checkpoints)."""
    found = source.hub
    if found is not None:
        return hub.download_file(found.repo_id, found.filename, found.revision)
    import torch

    target = _torch_hub_file(source.url)
    target.parent.mkdir(parents=True, exist_ok=True)
    # download_url_to_file writes a temporary file and renames it: no truncated file is left.
    torch.hub.download_url_to_file(source.url, str(target), progress=sys.stderr.isatty())
    return target


def missing_weights_message(teacher: str, sources: Sequence[WeightSource], reason: str) -> str:
    """What to fetch and where to put it, for a teacher whose weights are not on this machine."""
    folder = weights_dir()
    lines = [f"no weights for teacher '{teacher}' ({reason})."]
    not_a_folder = folder.exists() and not folder.is_dir()
    for source in sources:
        on_hub = source.hub
        if on_hub is not None:
            lines.append(f"  - {on_hub.filename} of Hub repository {on_hub.repo_id} in the Hugging Face cache "
                         f"{hub.hub_cache_dir()} (hf download {on_hub.repo_id} {on_hub.filename}),")
            lines.append(f"    or download {source.url}")
        else:
            lines.append(f"  - download {source.url or '(no public URL)'}")
        target = f"<folder>/{source.filename}" if not_a_folder else folder / source.filename
        lines.append(f"    and save it as {target}")
    if not_a_folder:
        lines.append(
            (f"{WEIGHTS_ENV}={os.environ[WEIGHTS_ENV]}" if os.environ.get(WEIGHTS_ENV) else str(folder))
            + f" names a file, not a folder: {WEIGHTS_ENV} must name the folder that holds the weight files "
            "(or, unset, ~/.cache/sak/weights must be a folder)."
        )
    lines.append(
        f"Or pass weights=PATH (--teacher-weights {teacher}=PATH) to use a file elsewhere, set "
        f"{WEIGHTS_ENV} to the folder that holds it, or weights='random' for a random-init teacher "
        "(tests and demos only). Run `sak weights` to see what is present."
    )
    return "\n".join(lines)


def resolve_weights(
    teacher: str, weights: str | os.PathLike[str] | None, sources: Sequence[WeightSource]
) -> Path | None:
    """The file to load for a teacher's ``weights=`` option; None means random weights.

    ``None``: the first source found locally, else downloaded (unless offline). ``"random"``:
    None, announced with a :class:`RandomWeightsWarning`. Anything else: a path that must exist.
    """
    if weights is not None and str(weights) == RANDOM:
        announce_random_weights(teacher)
        return None
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise CheckpointError(
                f"weights file for teacher '{teacher}' not found: {path}. Check the path, or pass "
                f"weights=None to use {', '.join(s.filename for s in sources) or 'the default file'} "
                f"from {weights_dir()}"
            )
        return path
    if not sources:
        raise CheckpointError(
            f"teacher '{teacher}' has no known weight source: pass weights=PATH "
            f"(--teacher-weights {teacher}=PATH) or weights='random'"
        )
    found = find_local(sources)
    if found is not None:
        return found
    if is_offline():
        offline_vars = " or ".join(OFFLINE_ENVS)
        raise CheckpointError(missing_weights_message(teacher, sources, f"offline: {offline_vars} is set"))
    if not any(source.url for source in sources):  # a private file: nothing to download
        raise CheckpointError(missing_weights_message(teacher, sources, "not found, and it has no download URL"))
    errors = []
    for source in (s for s in sources if s.url):
        try:
            return download(source)
        except Exception as exc:  # network, HTTP, hub errors: report them all together
            errors.append(f"{source.url}: {type(exc).__name__}: {exc}".splitlines()[0])
    raise CheckpointError(missing_weights_message(teacher, sources, "download failed: " + "; ".join(errors)))


def announce_random_weights(teacher: str) -> None:
    """Warn that ``teacher`` keeps its random initialisation."""
    warnings.warn(
        f"teacher '{teacher}' uses random weights (weights='random'): its features are noise, "
        "fine for tests and demos, useless for distillation",
        RandomWeightsWarning,
        stacklevel=3,
    )


# -- reading and loading ------------------------------------------------------------------------

_WRAPPER_KEYS = ("state_dict", "model", "module")


def read_state_dict(
    path: str | os.PathLike[str], teacher: str = "", hint: str = "", layouts: Sequence[Any] = (),
) -> dict[str, torch.Tensor]:
    """The tensors in a ``.safetensors`` or ``torch.save`` file (read with ``weights_only=True``).

    Unwraps ``{"state_dict": ...}`` / ``{"model": ...}`` checkpoints and a ``module.`` prefix, and
    renames a file in one of ``layouts`` (the teacher spec's ``weight_layouts``) to the layout
    the teacher reads (:func:`~sak_core.weights.layouts.convert_known_layout`, announced with a
    :class:`~sak_core.errors.ConvertedWeightsWarning`).
    A truncated or unreadable file raises :class:`CheckpointError` naming it; ``hint`` (e.g.
    where to download it again) is appended to the message.
    """
    import torch

    path = Path(path)
    who = f" for teacher '{teacher}'" if teacher else ""
    if not path.is_file():
        raise CheckpointError(f"weights file{who} not found: {path}. {hint}".strip())
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            loaded: Any = load_file(str(path), device="cpu")
        else:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # refused without torch's advice to load it unsafely
        from sak_core.weights.files import unpickling_refusal

        raise CheckpointError(
            f"weights file{who} {path} holds objects other than tensors and plain containers "
            f"({unpickling_refusal(exc)}); sak refuses to unpickle them: re-save only the tensors "
            f"where you trust the file. {hint}".strip()
        ) from None
    except Exception as exc:
        first = (str(exc).splitlines() or [""])[0]
        raise CheckpointError(
            f"could not read weights file{who} {path} ({type(exc).__name__}: {first}); it is "
            f"truncated, corrupt or not a weights file: delete it and fetch it again. {hint}".strip()
        ) from exc
    while isinstance(loaded, Mapping):
        wrapped = next((k for k in _WRAPPER_KEYS if isinstance(loaded.get(k), Mapping)), None)
        if wrapped is None:
            break
        loaded = loaded[wrapped]
    if not isinstance(loaded, Mapping):
        raise CheckpointError(f"weights file{who} {path} holds a {type(loaded).__name__}, not a state dict. {hint}".strip())
    state = {
        (k[len("module.") :] if k.startswith("module.") else k): v
        for k, v in loaded.items()
        if isinstance(v, torch.Tensor)
    }
    if not state:
        raise CheckpointError(f"weights file{who} {path} contains no tensors. {hint}".strip())
    from sak_core.weights.layouts import convert_known_layout

    return convert_known_layout(state, layouts, teacher, path)


def load_state_dict_strict(
    module: nn.Module, state_dict: Mapping[str, torch.Tensor], teacher: str, path: str | os.PathLike[str], hint: str = ""
) -> None:
    """``module.load_state_dict(state_dict, strict=True)`` with an error that says what did not fit.

    Missing keys, unexpected keys and shape mismatches are all listed; nothing is loaded then.
    """
    from sak_core.weights.files import load_state_strict

    load_state_strict(
        module, state_dict, source=f"weights file {path}", target=f"teacher '{teacher}'",
        advice=f"Check the teacher's size/variant options match the file, or fetch the right file. {hint}",
    )


# -- timm models --------------------------------------------------------------------------------


def timm_weight_sources(model_name: str) -> tuple[WeightSource, ...]:
    """Where timm's pretrained weights for ``model_name`` (``arch.tag``) come from.

    The timm hub copy (``model.safetensors``, saved locally as ``<model_name>.safetensors``) and,
    when timm names one, the original release file (``.pth``/``.bin``/``.safetensors``).
    """
    import timm.models

    cfg = timm.models.get_pretrained_cfg(model_name)
    if cfg is None:
        return ()
    full_name = model_name if "." in model_name else f"{model_name}.{cfg.tag}" if cfg.tag else model_name
    sources = []
    if cfg.hf_hub_id:
        filename = cfg.hf_hub_filename or "model.safetensors"
        suffix = Path(filename).suffix
        sources.append(hub_source(cfg.hf_hub_id, filename, f"{full_name}{suffix}", cfg.license or ""))
    if cfg.url and Path(urlparse(cfg.url).path).suffix in {".pth", ".pt", ".bin", ".safetensors"}:
        sources.append(WeightSource(os.path.basename(urlparse(cfg.url).path), cfg.url, cfg.license or ""))
    return tuple(sources)


def timm_checkpoint_filter(model: nn.Module) -> Callable[[dict, nn.Module], dict] | None:
    """The ``checkpoint_filter_fn`` of the timm module defining ``model`` (converts original
    release layouts to timm's and resamples position embeddings), if it has one."""
    module = sys.modules.get(type(model).__module__)
    return getattr(module, "checkpoint_filter_fn", None)


def load_timm_weights(
    model: nn.Module, path: str | os.PathLike[str], teacher: str, hint: str = "", layouts: Sequence[Any] = (),
) -> None:
    """Read ``path`` (renaming ``layouts``), convert it with timm's filter for the model's family,
    load it strictly."""
    state = read_state_dict(path, teacher, hint, layouts)
    convert = timm_checkpoint_filter(model)
    if convert is not None:
        state = convert(state, model)
    load_state_dict_strict(model, state, teacher, path, hint)


# -- status -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceStatus:
    """A weight source and where it was found on this machine (None: not present), and which
    place that is (``Hub cache``, ``sak cache``, ``$SAK_WEIGHTS`` or ``torch hub``; "" when absent)."""

    source: WeightSource
    path: Path | None
    place: str = ""


def sources_status(sources: Sequence[WeightSource]) -> list[SourceStatus]:
    """Which of ``sources`` are present locally, and where (no network)."""
    statuses = []
    for source in sources:
        found = locate(source)
        statuses.append(SourceStatus(source, *found) if found is not None else SourceStatus(source, None))
    return statuses
