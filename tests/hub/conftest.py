"""A Hugging Face cache built by hand in a temporary HF_HOME, offline: no test talks to a server.

The layout is the one huggingface_hub documents (and reads): ``hub/models--ORG--NAME/blobs/<hash>``,
``snapshots/<commit>/<file>`` (a relative link to its blob) and ``refs/<revision>`` (the commit)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import SimpleNamespace

import pytest


def place(cache: Path, repo_id: str, files: dict[str, Path | bytes], revision: str = "main") -> Path:
    """Put ``files`` (name -> a file to copy, or its bytes) into ``cache`` as repository ``repo_id``
    at ``revision``; returns the snapshot folder."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    contents = {name: data if isinstance(data, bytes) else Path(data).read_bytes() for name, data in files.items()}
    commit = hashlib.sha1(b"".join(sorted(hashlib.sha256(c).digest() for c in contents.values()))).hexdigest()
    snapshot = repo / "snapshots" / commit
    for name, content in contents.items():
        blob = repo / "blobs" / hashlib.sha256(content).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(content)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    return snapshot


@pytest.fixture
def hub(tmp_path, monkeypatch) -> SimpleNamespace:
    """An empty Hugging Face cache in a temporary HF_HOME, HF_HUB_OFFLINE=1, and empty sak and torch
    weight folders; ``hub.place(repo_id, files)`` fills the cache, ``hub.env`` is the environment a
    ``sak`` subprocess needs to see the same."""
    home = tmp_path / "hf-home"
    env = {"HF_HOME": str(home), "HF_HUB_OFFLINE": "1", "SAK_WEIGHTS": str(tmp_path / "sak-weights"),
           "TORCH_HOME": str(tmp_path / "torch"), "OMP_NUM_THREADS": "1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "SAK_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    cache = home / "hub"
    return SimpleNamespace(cache=cache, env=env, place=lambda repo_id, files, revision="main": place(
        cache, repo_id, files, revision))
