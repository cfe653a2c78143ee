"""Teacher targets one batch ahead on a worker thread: same results, real overlap, errors and threads."""

from __future__ import annotations

import threading

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from sak_core.training import train
from sak_core.training.teacher_overlap import TeacherTargets, overlap_wanted, split_threads

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.fixture(autouse=True)
def keep_thread_count():
    """These tests set torch's thread count (directly and through optim.cpu_threads): put it back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@settings(max_examples=25, deadline=None)
@given(batches=st.lists(st.integers(), max_size=6), overlap=st.booleans(), threads=st.integers(1, 4))
def test_every_batch_comes_once_in_order_with_its_own_targets(batches, overlap, threads):
    before = torch.get_num_threads()
    with TeacherTargets(lambda b: {"t": b * 10}, overlap, threads) as targets_of:
        pairs = list(targets_of.pairs(iter(batches)))
    assert pairs == [(b, {"t": b * 10}) for b in batches]
    assert torch.get_num_threads() == (threads if overlap else before)


def test_the_next_batch_is_computed_on_the_worker_while_the_caller_holds_this_one():
    started = {i: threading.Event() for i in range(4)}
    seen = []

    def compute(batch):
        seen.append((batch, threading.current_thread().name, torch.get_num_threads()))
        started[batch].set()
        return {"t": batch}

    with TeacherTargets(compute, True, 4) as targets_of:
        for batch, _ in targets_of.pairs(iter(range(4))):
            assert torch.get_num_threads() == 2  # the student's half
            if batch < 3:  # batch + 1 is under way before the caller is done with batch
                assert started[batch + 1].wait(timeout=30), f"batch {batch + 1} was not started ahead"
    assert torch.get_num_threads() == 4
    assert [b for b, _, _ in seen] == [0, 1, 2, 3]
    assert all(name.startswith("sak-teachers") and n == 2 for _, name, n in seen)


def test_a_teacher_error_reaches_the_training_thread_at_its_batch():
    def compute(batch):
        if batch == 2:
            raise RuntimeError("teacher 'x' failed on batch 2")
        return {}

    got = []
    with pytest.raises(RuntimeError, match="failed on batch 2"):
        with TeacherTargets(compute, True, 2) as targets_of:
            for batch, _ in targets_of.pairs(iter(range(5))):
                got.append(batch)
    assert got == [0, 1]
    with pytest.raises(RuntimeError, match="with-block"):
        next(TeacherTargets(compute, True, 2).pairs(iter([0])))


def test_auto_overlaps_stage_1_on_a_cpu_with_two_threads_only():
    assert overlap_wanted("auto", CPU, 2, has_teachers=True, distill_only=True)
    assert not overlap_wanted("auto", CPU, 1, has_teachers=True, distill_only=True)
    assert not overlap_wanted("auto", CPU, 8, has_teachers=True, distill_only=False)  # stage 2
    assert not overlap_wanted("auto", CUDA, 8, has_teachers=True, distill_only=True)
    assert overlap_wanted(True, CPU, 1, has_teachers=True, distill_only=False)
    assert not overlap_wanted(True, CUDA, 8, has_teachers=True, distill_only=True)
    assert not overlap_wanted(True, CPU, 8, has_teachers=False, distill_only=True)
    assert not overlap_wanted(False, CPU, 8, has_teachers=True, distill_only=True)
    assert [split_threads(n) for n in (1, 2, 3, 8)] == [(1, 1), (1, 1), (2, 1), (4, 4)]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_stage_1_with_overlap_trains_the_weights_of_teachers_in_turn_on_the_students_threads(
        toy_config, tmp_path, capsys, precision):
    # Overlap on 2 threads gives the student 1; a run in turn on 1 thread does the same arithmetic.
    runs = {}
    for overlap, threads in ((True, 2), (False, 1)):
        config = toy_config(stage=1, tasks=[], optim={"overlap_teachers": overlap, "cpu_threads": threads,
                                                      "precision": precision, "teacher_precision": precision})
        train(config, tmp_path / str(overlap))
        runs[overlap] = load_file(str(tmp_path / str(overlap) / "model.safetensors"))
        banner = capsys.readouterr().out
        assert ("teachers: one batch ahead on a worker thread (1 CPU thread(s); the student has 1)" in banner) == overlap
    assert runs[True].keys() == runs[False].keys()
    for key in runs[True]:
        assert torch.equal(runs[True][key], runs[False][key]), key
