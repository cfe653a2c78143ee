"""The step benchmark still runs: one tiny round of each variant kind, its JSON rows, its refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_steps.py"


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=600)


def test_bench_steps_times_variants_side_by_side_in_one_process():
    proc = bench("--setting", "tiny", "--stages", "stage1", "--compare", "fp32,bf16,auto",
                 "--rounds", "2", "--block", "1", "--warmup", "0", "--threads", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(r["variant"], r["precision"]) for r in rows] == [("fp32", "fp32"), ("bf16", "bf16"),
                                                              ("auto", rows[2]["precision"])]
    assert rows[0]["speedup"] == 1.0 and all(r["steps"] == 2 and r["images_per_s"] > 0 for r in rows)
    assert all(r["teacher_ms"] > 0 and r["student_ms"] > 0 for r in rows)
    assert all(r["peak_memory"] > 0 and r["memory_unit"] == "RSS GiB over torch" for r in rows)


def test_bench_steps_names_a_bad_variant():
    proc = bench("--compare", "fp32,fp33")
    assert proc.returncode != 0 and "unknown precision 'fp33' in 'fp33'" in proc.stderr
    proc = bench("--compare", "fp32+fast")
    assert proc.returncode != 0 and "unknown modifier 'fast' in 'fp32+fast': only +compile" in proc.stderr
