"""Properties of the repository as a whole: it names only its own files."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the folder the checkout sits in, as this machine spells it: a file that names it names a path
# that exists on one machine only (the checkout itself when it sits at the top of the file system)
MACHINE = (ROOT.parent if ROOT.parent != Path(ROOT.anchor) else ROOT).as_posix().rstrip("/") + "/"
ABSOLUTE = re.compile(r"(?<![\w.~:/])" + re.escape(MACHINE))
RELATIVE = re.compile(r"(?<![\w/.])(?:\.\./)+[\w.-][\w./-]*")


def outside_paths(name: str, text: str) -> list[str]:
    """Lines of file ``name`` that name an absolute machine path or climb out of the checkout."""
    found = []
    folder = (ROOT / name).parent
    for number, line in enumerate(text.splitlines(), 1):
        climbs = [m for m in RELATIVE.findall(line) if not Path(os.path.normpath(folder / m)).is_relative_to(ROOT)]
        if ABSOLUTE.search(line) or climbs:
            found.append(f"{name}:{number}: {line.strip()}")
    return found


def test_the_check_sees_both_kinds_of_outside_path():
    assert outside_paths("sak_core/x.py", f"see {MACHINE}elsewhere/docs/a.md")
    assert outside_paths("docs/x.md", "see [a](../../elsewhere/docs/a.md)")
    assert not outside_paths("plugins/tasks/semseg/README.md", "see [a](../../../docs/tasks.md)")


def test_no_file_names_a_path_outside_the_repository():
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    offenders = []
    for name in files:
        if name == "tests/test_repository.py":
            continue
        try:
            offenders += outside_paths(name, (ROOT / name).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
    assert not offenders, "files name paths outside the repository:\n" + "\n".join(offenders)
