"""What a run tells the user: metrics as JSON lines (+ TensorBoard), a progress bar or plain lines."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from sak_core.run.layout import TENSORBOARD_FOLDER
from sak_core.runtime.files import atomic_write_text, environment_problem


class MetricsLog:
    """Appends one JSON object per line to ``metrics.jsonl`` and mirrors numbers to TensorBoard
    (``tag = split/key``) when the ``tensorboard`` package is importable; :meth:`pictures` adds
    the validation pictures (:mod:`sak_core.training.pictures`) there."""

    def __init__(self, path: Path, tensorboard: bool, console: Console | None = None) -> None:
        self.path = path
        self.writer = None
        self._pictures = None
        if tensorboard:
            if importlib.util.find_spec("tensorboard") is not None:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(path.parent / TENSORBOARD_FOLDER))
            elif console is not None:
                console.print("[dim]tensorboard is not installed: metrics go to metrics.jsonl only "
                              "(pip install 'sak-core[tensorboard]' for TensorBoard scalars and pictures)[/dim]")

    def truncate_after(self, step: int) -> None:
        """Drop lines logged after ``step`` (a resumed run logs those steps again), and a line cut
        short by a crash. The file is replaced as a whole (:func:`~sak_core.runtime.files.atomic_write_text`):
        a kill or a full disk at any moment leaves the old file or the new one, never a part."""
        if not self.path.is_file():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a crash
                continue
            if isinstance(record, dict) and record.get("step", 0) <= step:
                kept.append(line)
        try:
            atomic_write_text(self.path, "".join(k + "\n" for k in kept))
        except OSError as exc:
            raise environment_problem(exc, self.path) from None

    def write(self, step: int, split: str, values: dict[str, Any]) -> None:
        record = {"step": step, "split": split, "time": round(time.time(), 3), **values}
        try:
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")
        except OSError as exc:  # a full disk, a file-size limit: named, not a bug
            raise environment_problem(exc, self.path) from None
        if self.writer is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)):
                    self.writer.add_scalar(f"{split}/{key}", value, step)

    def pictures(self, step: int, student: Any, tasks: Any, val_loader: Any, device: Any, precision: Any) -> list[str]:
        """Prediction grids of the same few validation images and the router chart, as TensorBoard
        images of ``step`` (nothing without TensorBoard or a validation split); returns the tags."""
        if self.writer is None or val_loader is None:
            return []
        if self._pictures is None:
            from sak_core.training.pictures import RunPictures

            self._pictures = RunPictures(self.writer)
        return self._pictures.write(step, student, tasks, val_loader.dataset, device, precision)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _fmt_duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class ProgressReport:
    """A rich progress bar (throughput, ETA) on a terminal; plain lines every ``every`` steps
    otherwise. Silent when ``enabled`` is False (ranks other than 0)."""

    def __init__(self, console: Console, total: int, start: int, every: int, enabled: bool = True) -> None:
        self.console, self.total, self.every, self.enabled = console, total, every, enabled
        self.start_step, self.started = start, time.perf_counter()
        self.tty = console.is_terminal and enabled
        self.progress: Progress | None = None
        if self.tty:
            self.progress = Progress(
                TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False,
            )
            self.task = self.progress.add_task("train", total=total, completed=start, info="")
            self.progress.start()

    def rates(self, step: int, batch_size: int) -> tuple[float, float]:
        """Steps/s and images/s since this report started."""
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        steps = step - self.start_step
        return steps / elapsed, steps * batch_size / elapsed

    def update(self, step: int, values: dict[str, float], batch_size: int) -> None:
        if not self.enabled:
            return
        its, ips = self.rates(step, batch_size)
        info = f"loss {values.get('loss', float('nan')):.4f}  lr {values.get('lr', 0):.2e}  {ips:.1f} img/s"
        if self.progress is not None:
            self.progress.update(self.task, completed=step, info=info)
        elif step % self.every == 0 or step == self.total:
            eta = (self.total - step) / its if its > 0 else 0.0
            self.console.print(f"step {step}/{self.total}  {info}  ETA {_fmt_duration(eta)}", highlight=False)

    def note(self, message: str) -> None:
        if self.enabled:
            self.console.print(message, highlight=False)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def make_console(enabled: bool = True) -> Console:
    """The run's console on stdout (quiet on ranks other than 0)."""
    return Console(file=sys.stdout, quiet=not enabled, soft_wrap=True)
