"""sak_core.runtime.files: several files written as one, never half old and half new."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from sak_core.runtime.files import staged_writes


def _files(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(folder.iterdir())}


def test_staged_files_replace_their_targets_together(tmp_path):
    (tmp_path / "a.txt").write_text("old a")
    with staged_writes() as stage:
        stage(tmp_path / "a.txt").write_text("new a")
        stage(tmp_path / "sub" / "b.txt").write_text("new b")
        assert (tmp_path / "a.txt").read_text() == "old a"  # nothing is in place before the block ends
    assert (tmp_path / "a.txt").read_text() == "new a" and (tmp_path / "sub" / "b.txt").read_text() == "new b"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.txt", "b.txt", "sub"]  # no temporary file left


def test_a_failure_part_way_renames_nothing_and_leaves_no_temporary_file(tmp_path):
    (tmp_path / "a.txt").write_text("old a")
    (tmp_path / "b.txt").write_text("old b")
    with pytest.raises(OSError, match="No space left"):
        with staged_writes() as stage:
            stage(tmp_path / "a.txt").write_text("new a")
            stage(tmp_path / "b.txt")
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "b.txt"))
    assert _files(tmp_path) == {"a.txt": "old a", "b.txt": "old b"}
