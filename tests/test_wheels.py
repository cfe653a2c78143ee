"""`./dev wheels` builds distributions that work installed from wheels, not from the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("sak_", "sak-", "__editable__", "_sak")


def layered_venv(root: Path) -> Path:
    """A venv that sees the test interpreter's third-party packages (torch is not installed
    again) but none of the checkout's: sak's own distributions and editable hooks are left out,
    and no .pth file of the parent environment runs."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    deps = root / "deps"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(OURS) and entry.suffix != ".pth":
            (deps / entry.name).symlink_to(entry)
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "_sak_test_deps.pth").write_text(f"{deps}\n")  # a path line: the parent's .pth files do not run
    return venv


@pytest.mark.slow
def test_wheels_install_and_train(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run([str(ROOT / "dev"), "wheels", str(dist)], check=True, capture_output=True, text=True,
                   env={**os.environ, "SAK_VENV": str(Path(sys.prefix))})
    wheels = sorted(dist.glob("*.whl"))
    names = {w.name.split("-")[0] for w in wheels}
    plugins = [p for p in ROOT.glob("plugins/*/*") if (p / "pyproject.toml").is_file()]
    expected = {"sak_core"} | {f"sak_{p.parent.name.rstrip('s')}_{p.name}" for p in plugins}  # tasks/depth -> sak_task_depth
    assert names == expected

    venv = layered_venv(tmp_path)
    python = venv / "bin" / "python"
    env = {**os.environ, "PYTHONPATH": "", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "OMP_NUM_THREADS": "1"}
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", *map(str, wheels)],
                   check=True, env=env)
    work = tmp_path / "work"
    work.mkdir()

    def run(*args: str) -> str:
        done = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout

    where = run(str(python), "-c", "import sak_core, sak_teacher_dinov2; print(sak_core.__file__, sak_teacher_dinov2.__file__)")
    assert str(ROOT) not in where and str(venv) in where  # the installed copies, not the checkout
    checked = subprocess.run([str(python), "-m", "pip", "check"], env=env, capture_output=True, text=True).stdout
    assert not [line for line in checked.splitlines() if line.startswith("sak")], checked

    listing = run(str(venv / "bin" / "sak"), "plugins")
    for name in ("dinov2", "clip", "sam", "semseg", "normals", "synthetic"):
        assert name in listing
    trained = run(str(venv / "bin" / "sak"), "train", "--preset", "demo", "--iterations", "5", "--out", "demo-run")
    assert (work / "demo-run" / "model.safetensors").is_file(), trained
