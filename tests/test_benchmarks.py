"""The step benchmark still runs: one tiny round of each variant kind, its JSON rows, its refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_steps.py"


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=600)


def test_bench_steps_times_variants_side_by_side_in_one_process(tmp_path):
    table = tmp_path / "tables.md"
    proc = bench("--setting", "tiny", "--stages", "stage1", "--compare", "fp32,bf16,auto,fp32+ckpt",
                 "--rounds", "2", "--block", "1", "--warmup", "0", "--threads", "1", "--json",
                 "--markdown", str(table))
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [(r["variant"], r["precision"]) for r in rows] == [("fp32", "fp32"), ("bf16", "bf16"),
                                                              ("auto", rows[2]["precision"]), ("fp32+ckpt", "fp32")]
    assert [r["checkpointed"] for r in rows] == [False, False, False, True]
    assert all(set(r["teacher_ms_each"]) == set(r["teachers"].split(",")) for r in rows)
    assert "machine at start:" in table.read_text() and "| stage1 | fp32+ckpt | fp32 |" in table.read_text()
    assert rows[0]["speedup"] == 1.0 and all(r["steps"] == 2 and r["images_per_s"] > 0 for r in rows)
    assert all(r["teacher_ms"] > 0 and r["student_ms"] > 0 for r in rows)
    assert all(r["peak_memory"] > 0 and r["memory_unit"] == "RSS GiB over torch" for r in rows)


def test_bench_steps_names_a_bad_variant():
    proc = bench("--compare", "fp32,fp33")
    assert proc.returncode != 0 and "unknown precision 'fp33' in 'fp33'" in proc.stderr
    proc = bench("--compare", "fp32+fast")
    assert proc.returncode != 0 and "unknown modifier 'fast' in 'fp32+fast': use +compile or +ckpt" in proc.stderr
