"""`./dev gpu-check` on a machine without a GPU stops at once with one error line and writes nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: ./dev gpu-check would run")
def test_gpu_check_refuses_cleanly_without_a_gpu(tmp_path):
    out = tmp_path / "tables.md"
    r = subprocess.run([str(ROOT / "dev"), "gpu-check", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert lines == ["error: ./dev gpu-check needs a CUDA GPU, and torch sees none on this machine; run it where one is"]
    assert r.stdout == "" and not out.exists()
