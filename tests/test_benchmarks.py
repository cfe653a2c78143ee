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


PARTIAL = BENCH.parent / "bench_partial_labels.py"


def test_bench_partial_labels_smoke_trains_four_students_and_prints_their_table():
    proc = subprocess.run([sys.executable, str(PARTIAL), "--smoke", "--json"], check=False, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    rows = {r["student"]: r for r in (json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{"))}
    assert list(rows) == ["full", "mixed", "A", "B"]
    assert set(rows["full"]["scores"]) == set(rows["mixed"]["scores"]) == {
        "semseg", "parts", "saliency", "normals", "boundaries", "boundaries/fast", "depth"}
    assert set(rows["A"]["scores"]) == {"semseg", "normals", "boundaries", "boundaries/fast"}
    assert set(rows["B"]["scores"]) == {"saliency", "depth", "parts"}
    table = [line for line in proc.stdout.splitlines() if line.startswith("| ")]
    # six tasks by their protocol metrics, and boundaries by its training-time one too
    assert table[0].startswith("| task | metric | untrained | full")
    assert [line.split(" | ")[:2] for line in table[1:]] == [
        ["| semseg", "mIoU (higher is better)"], ["| parts", "mIoU (higher is better)"],
        ["| saliency", "maxF (higher is better)"], ["| normals", "mErr (lower is better)"],
        ["| boundaries", "odsF (higher is better)"], ["| boundaries", "training-time odsF (higher is better)"],
        ["| depth", "RMSE (lower is better)"]]
    # a single-half student has no head, hence no score, for the other half's tasks
    semseg = next(line for line in table if line.startswith("| semseg |")).split(" | ")
    parts = next(line for line in table if line.startswith("| parts |")).split(" | ")
    assert semseg[6] == "-" and parts[5] == "-"
    # the mixed/full ratio is the mixed gain over the full gain, each against its own start
    full = rows["full"]["untrained"]["semseg"], rows["full"]["scores"]["semseg"]
    mixed = rows["mixed"]["untrained"]["semseg"], rows["mixed"]["scores"]["semseg"]
    assert semseg[-1].rstrip(" |") == f"{(mixed[1] - mixed[0]) / (full[1] - full[0]):.2f}"
    assert "machine at start:" in proc.stdout and "wall time:" in proc.stdout
