"""The Hugging Face Hub, offline-first: files and snapshots through ``huggingface_hub`` and its cache.

Teacher weight sources that name a Hub repository and file (:func:`~sak_core.weights.sources.hub_source`)
and students named ``hf://ORG/NAME[@REVISION]`` are both read through here. The cache is
huggingface_hub's own (``models--ORG--NAME/blobs``, ``snapshots/<commit>/``, ``refs/<revision>``),
in the folder ``HF_HUB_CACHE`` names, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``.
huggingface_hub reads those variables once, when it is imported; sak reads them on every call
(:func:`hub_cache_dir`) and passes the folder and ``local_files_only`` explicitly, so a variable
set later (a test, a notebook cell) is honoured too. Offline (``HF_HUB_OFFLINE=1`` or
``SAK_OFFLINE=1``) nothing is downloaded: a file that is not cached is one error line naming
the repository, the file and the cache folder.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from sak_core.errors import CheckpointError

HUB_SCHEME = "hf://"
OFFLINE_ENVS = ("SAK_OFFLINE", "HF_HUB_OFFLINE")
_TRUE = {"1", "true", "yes", "on"}
# ORG/NAME as the Hub spells repository ids: letters, digits, '-', '_', '.', one slash
_REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def is_offline() -> bool:
    """True when ``SAK_OFFLINE`` or ``HF_HUB_OFFLINE`` is set to a true value (read now)."""
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in OFFLINE_ENVS)


def hub_cache_dir() -> Path:
    """huggingface_hub's cache folder as the environment names it now: ``HF_HUB_CACHE``
    (or its old name ``HUGGINGFACE_HUB_CACHE``), else ``$HF_HOME/hub``, else
    ``$XDG_CACHE_HOME/huggingface/hub`` / ``~/.cache/huggingface/hub``."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(os.path.expandvars(explicit)).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface")
    return Path(os.path.expandvars(home)).expanduser() / "hub"


@dataclass(frozen=True)
class HubRef:
    """A model repository on the Hub at a revision (a branch, tag or commit)."""

    repo_id: str
    revision: str = "main"

    def __str__(self) -> str:
        return f"{HUB_SCHEME}{self.repo_id}" + ("" if self.revision == "main" else f"@{self.revision}")

    @property
    def folder_name(self) -> str:
        """``ORG--NAME``: the repository as one path component (as the Hub cache names it)."""
        return self.repo_id.replace("/", "--")


def is_hub_ref(text: object) -> bool:
    """Whether ``text`` is a ``hf://`` name (a string; a Path never is)."""
    return isinstance(text, str) and text.startswith(HUB_SCHEME)


def parse_hub_ref(text: str) -> HubRef:
    """``hf://ORG/NAME[@REVISION]`` -> :class:`HubRef`; anything else is a :class:`CheckpointError`
    saying the form."""
    body = text[len(HUB_SCHEME):] if text.startswith(HUB_SCHEME) else text
    repo_id, _, revision = body.partition("@")
    repo_id = repo_id.strip("/")
    if not _REPO_ID.match(repo_id) or ("@" in body and not revision.strip()) or any(c.isspace() for c in revision):
        raise CheckpointError(f"{text!r} is not a Hub name: write hf://ORG/NAME or hf://ORG/NAME@REVISION "
                              "(a branch, tag or commit), e.g. hf://my-org/sak-pascal-student")
    return HubRef(repo_id, revision or "main")


def cached_file(repo_id: str, filename: str, revision: str = "main") -> Path | None:
    """Where the Hub cache holds ``filename`` of ``repo_id`` at ``revision`` (None: not there).
    Never contacts a server."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=hub_cache_dir(), revision=revision)
    return Path(found) if isinstance(found, str) and os.path.isfile(found) else None


def download_file(repo_id: str, filename: str, revision: str = "main") -> Path:
    """``filename`` of ``repo_id`` from the Hub cache, downloaded into it first when it is not
    there and sak is online; a :class:`CheckpointError` naming the repository and file otherwise."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id, filename, revision=revision, cache_dir=hub_cache_dir(),
                                    local_files_only=is_offline(), library_name="sak"))
    except Exception as exc:  # noqa: BLE001 - every hub and network failure is told the same way
        raise hub_error(exc, repo_id, revision, filename) from None


def download_snapshot(ref: HubRef, files: list[str]) -> Path:
    """The cached snapshot folder of ``ref`` holding ``files`` (downloaded first when online and
    not cached); every file must be there: a missing one is a :class:`CheckpointError` naming it."""
    from huggingface_hub import snapshot_download

    try:
        folder = Path(snapshot_download(ref.repo_id, revision=ref.revision, cache_dir=hub_cache_dir(),
                                        allow_patterns=files, local_files_only=is_offline(), library_name="sak"))
    except Exception as exc:  # noqa: BLE001 - every hub and network failure is told the same way
        raise hub_error(exc, ref.repo_id, ref.revision, files[0]) from None
    return folder


def hub_error(exc: BaseException, repo_id: str, revision: str, filename: str) -> CheckpointError:
    """One line saying why ``filename`` of ``repo_id`` could not be had, and what to do."""
    from huggingface_hub import errors

    where = f"{filename} of {repo_id}" + ("" if revision == "main" else f" at revision {revision}")
    if isinstance(exc, errors.LocalEntryNotFoundError) or is_offline():
        return CheckpointError(
            f"{where} is not in the Hugging Face cache ({hub_cache_dir()}) and sak is offline "
            f"({' / '.join(OFFLINE_ENVS)} set): download it on a machine with internet "
            f"(hf download {repo_id} {filename}) and copy the cache folder here, or unset the offline variable")
    if isinstance(exc, errors.GatedRepoError):
        return CheckpointError(f"{where}: the repository is gated: accept its terms on huggingface.co and log in "
                               "(hf auth login)")
    if isinstance(exc, errors.RepositoryNotFoundError):
        return CheckpointError(f"{where}: no repository {repo_id} on the Hub (or it is private: log in with "
                               "hf auth login); check the name")
    if isinstance(exc, errors.RevisionNotFoundError):
        return CheckpointError(f"{where}: {repo_id} has no revision {revision!r}; check the branch, tag or commit")
    if isinstance(exc, errors.EntryNotFoundError):
        return CheckpointError(f"{where}: the repository has no such file")
    first = (str(exc).splitlines() or [""])[0]
    return CheckpointError(f"could not download {where} ({type(exc).__name__}: {first}); check the connection, "
                           f"or set HF_HUB_OFFLINE=1 to use only what is cached in {hub_cache_dir()}")
