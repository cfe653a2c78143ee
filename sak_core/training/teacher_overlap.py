"""Teacher targets one batch ahead: on a CPU, the frozen teachers' forward for the next batch runs
on a worker thread while the student trains on this one.

The teachers never change, so their targets for batch ``t + 1`` do not depend on step ``t``: the
overlap changes when the work happens, not what is computed. Samples are seeded by their place in
the run (:class:`sak_core.training.data.SeededSamples`), so drawing the next batch early changes
no augmentation either.

Why it pays on a CPU: torch's bf16 (AMX) matmuls at a small batch barely speed up from one thread
to two (about 1.2x on the 2-core build machine, where fp32 ones double), so one thread for the
teachers and one for the student do more in a second than two threads taking turns. The CPU
threads are split between the two (:func:`split_threads`). Stage-1 steps ran ~10% faster so, at
fp32 and at bf16 (docs/evaluation.md "Benchmarks"); the threads still slow each other (shared
caches and memory), which is why the gain is not larger. Teachers hold Python's GIL only between
torch calls, so a teacher whose forward is mostly Python, not torch, would slow the student
instead: ``optim.overlap_teachers=false`` is the switch. On a GPU the teachers' kernels already
queue behind the student's, so the overlap is never used there.
"""

from __future__ import annotations

import contextlib
import itertools
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Mapping

import torch

Targets = dict[str, Any]
_END = object()  # after the last batch


def overlap_wanted(setting: bool | str, device: torch.device, threads: int, has_teachers: bool,
                   distill_only: bool) -> bool:
    """What ``optim.overlap_teachers`` means for a run. ``auto``: on for distillation-only training
    (stage 1) on a CPU with two or more threads, where the teachers are about half the work; off
    in stage 2, where the heads make the student several times the teachers' cost and halving
    its threads would cost more than hiding the teachers saves. ``true``: on wherever there are
    teachers on a CPU. Never on a GPU."""
    if not has_teachers or device.type != "cpu":
        return False
    if setting == "auto":
        return distill_only and threads >= 2
    return bool(setting)


def split_threads(threads: int) -> tuple[int, int]:
    """(student threads, teacher threads) for ``threads`` CPU threads: half each, the student
    keeping the odd one; one each below two."""
    teacher = max(1, threads // 2)
    return max(1, threads - teacher), teacher


class TeacherTargets:
    """Pairs each batch with its teacher targets: computed one batch ahead on a worker thread when
    ``overlap``, otherwise in turn on the calling thread.

    ``compute(batch)`` returns the targets of one batch. Use as a context manager: while it is
    open with ``overlap``, the calling thread runs with the student's share of the ``threads``
    CPU threads and the worker with the teachers' share; on exit the worker is stopped (a target
    still being computed is waited for) and the thread count is restored.
    """

    def __init__(self, compute: Callable[[Mapping[str, Any]], Targets], overlap: bool, threads: int) -> None:
        self.compute = compute
        self.overlap = overlap
        self.threads = threads
        self.student_threads, self.teacher_threads = split_threads(threads) if overlap else (threads, 0)
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> TeacherTargets:
        if self.overlap:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="sak-teachers",
                                            initializer=torch.set_num_threads, initargs=(self.teacher_threads,))
            torch.set_num_threads(self.student_threads)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            torch.set_num_threads(self.threads)

    @contextlib.contextmanager
    def all_threads(self) -> Iterator[None]:
        """Give the calling thread every CPU thread for a while (validation)."""
        torch.set_num_threads(self.threads)
        try:
            yield
        finally:
            torch.set_num_threads(self.student_threads)

    def pairs(self, batches: Iterable[Mapping[str, Any]]) -> Iterator[tuple[Mapping[str, Any], Targets]]:
        """``(batch, targets)`` for each of ``batches``; with overlap, the next batch's targets are
        being computed while the caller works on the pair just yielded."""
        if not self.overlap:
            for batch in batches:
                yield batch, self.compute(batch)
            return
        if self._pool is None:
            raise RuntimeError("TeacherTargets overlaps only inside its with-block")
        pending: tuple[Mapping[str, Any], Future] | None = None
        for batch in itertools.chain(batches, [_END]):
            ahead = (batch, self._pool.submit(self.compute, batch)) if batch is not _END else None
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = ahead
