"""The training loop of both stages: distillation only (stage 1) or tasks plus distillation (stage 2)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch.utils.data import DataLoader

from sak_core.plugin.lookup import create_task, create_teacher, split_variant
from sak_core.model.assemble import add_derived_targets, create_student, teacher_options
from sak_core.model.mixture import (
    RunDataset,
    build_run_dataset,
    describe_all,
    draw_shares,
    label_keys,
    resolve_tasks,
    run_datasets,
    task_of_head,
)
from sak_core.run.checkpoint import read_weights, save_student
from sak_core.run.layout import MODEL_FILE, write_resolved
from sak_core.weights.files import load_state_strict
from sak_core.config import RunConfig
from sak_core.datasets.errors import SplitNotFoundError
from sak_core.model.distill import distillation_loss
from sak_core.errors import ConfigError, TargetError
from sak_core.datasets.batch import sample_ids
from sak_core.evaluation.scoring import EvalResult, evaluate, primary_metrics, same_dataset, target_error_in
from sak_core.model import SAKStudent
from sak_core.plugin.registry import get_registry
from sak_core.runtime.device import Precision, autocast, grad_scaler, resolve_precision, teacher_precision
from sak_core.plugin.specs import IMAGENET_MEAN, IMAGENET_STD, LABEL_MASK, label_mask
from sak_core.plugin.tasks import Task
from sak_core.plugin.teachers import Teacher
from sak_core.training import data as data_mod
from sak_core.training.distributed import DistContext, init_distributed, wrap_model
from sak_core.training.errors import NonFiniteLossError, TrainingError, TrainingInterrupted
from sak_core.training.lock import RunLock
from sak_core.training.optimizer import build_optimizer, clip_gradients
from sak_core.training.reporting import MetricsLog, ProgressReport, make_console
from sak_core.run.rundir import RunDir, read_trainer_state, write_checkpoint
from sak_core.training.schedules import Schedule, build_schedule
from sak_core.training.seeding import rng_state, rng_untouched, seed_everything, set_rng_state, teacher_seed
from sak_core.training.signals import StopRequest
from sak_core.training.validation import selection_score
from sak_core.training.warm_start import init_from_checkpoint


NOTHING = "_nothing"  # the loss term of a batch with no label and no teacher (never logged)


@dataclass
class TrainResult:
    """What a finished run leaves behind."""

    run_dir: Path
    step: int
    initial_scores: dict[str, float] = field(default_factory=dict)
    final_scores: dict[str, float] = field(default_factory=dict)
    best_score: float | None = None
    seconds: float = 0.0


def used_plugins(config: RunConfig, task_names: list[str]) -> list[dict[str, str]]:
    """``{kind, name, distribution, version}`` of every plugin the run uses (for plugins.json)."""
    registry = get_registry()
    wanted = [("dataset", name) for name in dict.fromkeys(e.name for e in config.data.entries())]
    wanted += [("teacher", split_variant(e.name)[0]) for e in config.teachers]
    wanted += [("task", t) for t in task_names]
    out = []
    for kind, name in wanted:
        entry = registry.get(kind, name)
        out.append({"kind": kind, "name": name, "distribution": entry.distribution, "version": entry.version})
    return out


def build_teachers(config: RunConfig, device: torch.device, precision: Precision) -> dict[str, Teacher]:
    """The run's frozen teachers placed on ``device`` (:meth:`~sak_core.plugin.teachers.Teacher.place`),
    each in ``precision`` when it declares it, else in its own (:func:`~sak_core.runtime.device.teacher_precision`),
    fed the dataset's normalisation."""
    dataset = run_datasets(config)[0].spec  # all of a run's datasets normalise alike
    norm: dict[str, Any] = {}
    if (tuple(dataset.mean), tuple(dataset.std)) != (IMAGENET_MEAN, IMAGENET_STD):
        norm = {"input_mean": tuple(dataset.mean), "input_std": tuple(dataset.std)}
    teachers = {}
    for entry in config.teachers:
        with rng_untouched():  # the same teacher whenever the run's teachers are built (sak eval)
            seed_everything(teacher_seed(config.optim.seed, entry.name))
            teacher = create_teacher(entry.name, **teacher_options(entry), **norm)
        chosen = teacher_precision(precision, entry.name, teacher.spec.precisions, device)
        teachers[entry.name] = teacher.place(device, chosen.name)
    return teachers


class Trainer:
    """One run: builds everything from a :class:`RunConfig`, then :meth:`run` trains it.

    Works unchanged as one process or under ``torchrun`` (one process per device, DDP).
    """

    def __init__(self, config: RunConfig, run_dir: str | Path, resume: bool = False,
                 device: str | None = None, console: Console | None = None) -> None:
        self.ctx: DistContext = init_distributed(device)
        self.console = console if console is not None and self.ctx.is_main else make_console(self.ctx.is_main)
        # auto precisions are resolved for this device; config.yaml records what was picked.
        self.precision: Precision = resolve_precision(config.optim.precision, self.ctx.device)
        self.teacher_precision: Precision = resolve_precision(config.optim.teacher_precision, self.ctx.device)
        optim = config.optim.model_copy(
            update={"precision": self.precision.name, "teacher_precision": self.teacher_precision.name}
        )
        config = config.model_copy(update={"optim": optim})
        self.config, self.rundir, self.resume = config, RunDir(Path(run_dir)), resume
        self.stage = config.stage
        # One writer per run directory, from here until run() ends (or the process does).
        self.lock = RunLock(self.rundir.root)
        if self.ctx.is_main:
            self.lock.acquire()
        try:
            if self.ctx.is_main:
                self.rundir.remove_stale_temporaries()  # of a writer killed mid-write
            if resume and self.ctx.is_main:
                self.rundir.recover()  # finish a checkpoint swap a crash interrupted
            self.ctx.barrier()
            self.resume_from = self.rundir.last_checkpoint() if resume else None
            if resume and self.resume_from is None:
                root = self.rundir.root
                raise TrainingError(
                    f"--resume: {root} has no checkpoint (checkpoints/last) to continue from: it stopped before "
                    f"its first one. Start it again from the beginning instead, with its own settings: sak train "
                    f"--config {self.rundir.config} --out {root} (the same command as before, without --resume, "
                    "works too)")
            self.step, self.best_score, self.reference = 0, None, None
            self._build()
            if self.resume_from is not None:
                self._restore(self.resume_from)
            else:
                self._start()
        except BaseException:
            self.lock.release(remove_empty_root=not resume)
            raise

    # -- set-up ---------------------------------------------------------------------------------
    def _build(self) -> None:
        """Everything a new and a resumed run share: student, tasks, teachers, data, schedule,
        optimizer. The student's initial weights come from ``optim.seed`` alone."""
        config, optim, ctx = self.config, self.config.optim, self.ctx
        if config.data.batch_size % ctx.world_size:
            raise ConfigError(f"data.batch_size {config.data.batch_size} is the global batch; it must be a "
                              f"multiple of the {ctx.world_size} processes")
        self.batch_size = config.data.batch_size // ctx.world_size
        self.datasets: list[RunDataset] = run_datasets(config)
        self.task_names = resolve_tasks(config, self.datasets)
        if optim.cpu_threads is not None:
            torch.set_num_threads(optim.cpu_threads)

        seed_everything(optim.seed)  # same initial weights on every process
        self.student: SAKStudent = create_student(config)
        # each dataset scores (and takes the losses of) its tasks bound to itself: its class count,
        # its boundary tolerance; self.tasks holds each task bound to the first dataset labelling it
        self.dataset_tasks: dict[str, dict[str, Task]] = {
            d.key: {n: create_task(n, d.spec) for n in d.tasks_of(self.task_names)} for d in self.datasets
        }
        self.tasks: dict[str, Task] = {}
        for bound in self.dataset_tasks.values():
            self.tasks.update({n: t for n, t in bound.items() if n not in self.tasks})
        self.tasks = {n: self.tasks[n] for n in self.task_names}
        self.dataset_losses = {key: {n: t.loss() for n, t in bound.items()} for key, bound in self.dataset_tasks.items()}
        # task -> the student's head serving each dataset: the task's own, or TASK@KEY where the
        # datasets' label spaces differ (model.mixture.task_heads)
        self.dataset_heads = {d.key: d.heads_of(self.student.task_names) for d in self.datasets}
        self.losses = self.dataset_losses[self.datasets[0].key]  # the first dataset's (one dataset: the run's)
        unknown = sorted(set(config.task_weights) - set(self.tasks))
        if unknown:
            raise ConfigError(f"task_weights names {', '.join(unknown)}, which this run does not train "
                              f"(its tasks: {', '.join(self.tasks) or 'none'}); fix the name or drop the weight")
        self.loss_weights = {n: float(config.task_weights.get(n, t.loss_weight)) for n, t in self.tasks.items()}
        use_teachers = bool(config.teachers) and (self.stage == 1 or optim.alpha > 0)
        self.teachers = build_teachers(config, ctx.device, self.teacher_precision) if use_teachers else {}

        self.train_sets = [build_run_dataset(d, config.data.train_split, True, self.task_names) for d in self.datasets]
        self.samplers = [self._sampler(i, d, len(ts)) for i, (d, ts) in enumerate(zip(self.datasets, self.train_sets))]
        self.train_set, self.sampler = self.train_sets[0], self.samplers[0]
        sizes = [len(ts) for ts in self.train_sets]  # type: ignore[arg-type]
        self.data_schedule = data_mod.DatasetSchedule(draw_shares(self.datasets, sizes), optim.seed)
        spe = sum(s.steps_per_epoch for s in self.samplers)  # an epoch: one pass over every dataset
        self.total = math.ceil(optim.epochs * spe) if optim.epochs else optim.iterations
        warmup = round(optim.warmup_epochs * spe) if optim.warmup_epochs is not None else optim.warmup_iters
        self.schedule: Schedule = build_schedule(optim, self.total, warmup)
        self.no_validation: dict[str, str] = {}
        self.val_loaders: dict[str, DataLoader] = {}
        if ctx.is_main:
            for dataset in self.datasets:
                loader = self._val_loader(dataset)
                if loader is not None:
                    self.val_loaders[dataset.key] = loader
        self.val_loader = next(iter(self.val_loaders.values()), None)
        self.baselines = self._baselines()

        self.student.to(ctx.device)
        # heads a step may leave without a loss: a dataset without a task's labels, a partial task
        skips = any(len(heads) < len(self.student.task_names) for heads in self.dataset_heads.values())
        skips = skips or any(d.spec.partial for d in self.datasets)
        self.model = wrap_model(self.student, ctx,
                                find_unused=self.stage == 2 and (optim.alpha == 0 or not self.teachers or skips))
        if optim.compile:
            self.model = torch.compile(self.model, backend="inductor" if optim.compile is True else optim.compile)
        self.optimizer = build_optimizer(self.student, optim.lr, optim.weight_decay)
        self.scaler = grad_scaler(ctx.device, self.precision)

    def _sampler(self, index: int, dataset: RunDataset, size: int) -> data_mod.EpochSampler:
        """The training order of the run's ``index``-th dataset (seeded by the run's seed and its key)."""
        seed = data_mod.stream_seed(self.config.optim.seed, index, dataset.key)
        try:
            return data_mod.EpochSampler(size, self.batch_size, seed, self.ctx.rank, self.ctx.world_size)
        except ConfigError as exc:
            if len(self.datasets) == 1:
                raise
            raise ConfigError(f"dataset {dataset.describe()}: {exc}") from None

    def _val_loader(self, dataset: RunDataset) -> DataLoader | None:
        """``dataset``'s validation loader (images padded to its own size), built once; None when it
        has no validation split (or, as the ``images`` dataset without ``val/``, not on disk):
        ``no_validation[key]`` says why."""
        data = self.config.data
        if data.val_split not in dataset.spec.splits:
            self.no_validation[dataset.key] = f"dataset {dataset.describe()} has no split '{data.val_split}'"
            return None
        try:
            val_set = build_run_dataset(dataset, data.val_split, False, self.task_names)
        except SplitNotFoundError as exc:
            self.no_validation[dataset.key] = str(exc).splitlines()[0]
            return None
        return data_mod.val_loader(val_set, data.val_batch_size or data.batch_size, data.workers, data.val_limit)

    def _baselines(self) -> dict[str, str]:
        """The baseline table each dataset's dm (and the best checkpoint) is measured against:
        ``output.baseline`` for the run's one dataset; with several, a table name per dataset key,
        or one table for the datasets it was measured on. The others: their first validation."""
        baseline = self.config.output.baseline
        if baseline is None or self.stage == 1:
            return {}
        keys = [d.key for d in self.datasets]
        if isinstance(baseline, dict):
            unknown = sorted(set(baseline) - set(keys))
            if unknown:
                raise ConfigError(f"output.baseline names {', '.join(unknown)}, which is not a dataset of this run "
                                  f"(its datasets: {', '.join(keys)})")
            return dict(baseline)
        if len(self.datasets) == 1:
            return {keys[0]: baseline}
        from sak_core.evaluation.multitask_gain import load_baseline

        table = load_baseline(baseline)
        chosen = {d.key: baseline for d in self.datasets if same_dataset(table.dataset, d.name)}
        if not chosen:
            raise ConfigError(f"output.baseline '{baseline}' was measured on {table.dataset or 'no named dataset'}, "
                              f"which is none of this run's datasets ({describe_all(self.datasets)}): give one table "
                              "per dataset, output.baseline: {KEY: TABLE}")
        return chosen

    def _start(self) -> None:
        """A new run: warm-start from ``init`` when given, then per-process noise."""
        if self.config.init:
            report = init_from_checkpoint(self.student, self.config.init, strict=self.config.strict_init)
            for line in report.summary():
                self.console.print(line, highlight=False, markup=False)
        seed_everything(self.config.optim.seed + self.ctx.rank)  # per-process noise from here on

    def _restore(self, folder: Path) -> None:
        """Continue from ``folder`` (checkpoints/last): weights, step, optimizer, scaler, RNG."""
        load_state_strict(self.student, read_weights(folder / MODEL_FILE), source=str(folder / MODEL_FILE))
        state = read_trainer_state(folder)
        self.step = int(state["step"])
        if self.step > self.total:  # the config would say fewer steps than were trained
            raise ConfigError(f"{self.rundir.root} is at step {self.step}, beyond the {self.total} steps asked for: "
                              f"to train further, give more than {self.step} (--iterations N)")
        self.best_score = state.get("best_score")
        self.reference = state.get("reference")
        self.console.print(f"resuming {self.rundir.root} at step {self.step}/{self.total}", highlight=False)
        if self.step >= self.total:
            self.console.print("the run is already complete; raise --iterations to train further")
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        saved_mix = state.get("datasets")
        if saved_mix is not None and saved_mix != self._mix():
            self.console.print(f"note: the checkpoint was trained on the datasets {_shown_mix(saved_mix)}, this run "
                               f"has {_shown_mix(self._mix())}: training continues but not step-exactly",
                               highlight=False, markup=False)
        states = state["rng"]
        if len(states) == self.ctx.world_size:
            set_rng_state(states[self.ctx.rank])
        else:
            self.console.print(f"note: the checkpoint was written by {len(states)} process(es), this run has "
                               f"{self.ctx.world_size}: training continues but not step-exactly")
            seed_everything(self.config.optim.seed + self.step + self.ctx.rank)

    def _mix(self) -> list[list[Any]]:
        """``[[key, share], ...]`` of the run's datasets: what a resumed run must share with its
        checkpoint to draw the same batches."""
        return [[d.key, round(w, 12)] for d, w in zip(self.datasets, self.data_schedule.weights)]

    # -- checkpoints ----------------------------------------------------------------------------
    def _metadata(self) -> dict[str, str]:
        return {"step": str(self.step), "stage": str(self.stage)}

    def save_last(self) -> None:
        """Write checkpoints/last (every process takes part: RNG states are gathered)."""
        self.ctx.broadcast_buffers(self.student)
        states = self.ctx.gather(rng_state())
        if self.ctx.is_main:
            state = {
                "step": self.step,
                "total": self.total,
                "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler is not None else {},
                "rng": states,
                "best_score": self.best_score,
                "reference": self.reference,
                "world_size": self.ctx.world_size,
                "datasets": self._mix(),
            }
            write_checkpoint(self.rundir.last, self.student, state, self._metadata())
            if not self._config_written:
                self._write_config()
        self._config_written = True
        self.ctx.barrier()

    def _write_config(self) -> None:
        """config.yaml and plugins.json of this run (:func:`~sak_core.run.layout.write_resolved`)."""
        write_resolved(self.rundir.root, self.config, used_plugins(self.config, self.task_names))

    # -- validation -----------------------------------------------------------------------------
    def validate(self) -> dict[str, float]:
        """Score the student on the validation split (process 0 only; the others wait). The
        training stream's generators are left as they were, so that a run resumed from a
        checkpoint draws what the uninterrupted run drew, whatever validation and its dataset draw."""
        with rng_untouched():
            return self._validate()

    def _validate(self) -> dict[str, float]:
        """Each dataset scored on its own tasks with its own protocol. One dataset: its scores as
        they are; several: each prefixed with its key, ``KEY/score`` its selection score, and
        ``score`` their mean (what picks ``best/``)."""
        results = {key: self._score(key, loader) for key, loader in self.val_loaders.items()}
        scores: dict[str, float] = {}
        if results:
            several = len(self.datasets) > 1
            references = self._references(results)
            picked: list[float] = []
            for key, result in results.items():
                tasks = self.dataset_tasks[key] if self.stage == 2 else {}
                flat = result.flat()
                flat["score"] = selection_score(result, tasks, self.baselines.get(key) or references[key])
                picked.append(flat["score"])
                scores.update({f"{key}/{name}": v for name, v in flat.items()} if several else flat)
            # a dataset whose tasks report no primary metric scores -inf: the others pick best/
            finite = [v for v in picked if math.isfinite(v)] or picked
            scores["score"] = sum(finite) / len(finite)
            self.metrics.write(self.step, "val", scores)
            key = next(iter(self.val_loaders))
            self.metrics.pictures(self.step, self.student, self._by_head(key) if self.stage == 2 else {},
                                  self.val_loaders[key], self.ctx.device, self.precision)
            shown = {k: v for k, v in scores.items() if "/level" not in k}  # per-level: metrics.jsonl
            self.console.print(f"validation at step {self.step}: " + _format_scores(shown), highlight=False)
            if self.step > 0 and (self.best_score is None or scores["score"] > self.best_score):
                self.best_score = scores["score"]
                write_checkpoint(self.rundir.best, self.student, None, self._metadata(),
                                 extra={"step": self.step, "scores": scores})
        self.ctx.barrier()
        return scores

    def _score(self, key: str, loader: DataLoader) -> EvalResult:
        """Dataset ``key``'s validation: its tasks (stage 2), or the run's teachers (stage 1)."""
        result = evaluate(self.student, self._by_head(key) if self.stage == 2 else {}, loader, self.ctx.device,
                        full=False, precision=self.precision, teachers=self.teachers if self.stage == 1 else None,
                        distill_valid_region=self.config.optim.distill_valid_region)
        result.metrics = {task_of_head(head): values for head, values in result.metrics.items()}  # by task
        return result

    def _by_head(self, key: str) -> dict[str, Task]:
        """Dataset ``key``'s tasks keyed by the heads that serve it (what evaluate and the pictures take)."""
        heads = self.dataset_heads[key]
        return {heads[name]: task for name, task in self.dataset_tasks[key].items()}

    def _references(self, results: Mapping[str, EvalResult]) -> dict[str, dict[str, float]]:
        """Each dataset's first validation's primary metrics (dm's reference without a baseline),
        taken at the first validation and kept in the checkpoint: ``{task: value}`` for the run's
        one dataset, ``{key: {task: value}}`` with several."""
        several = len(self.datasets) > 1
        if self.reference is None:
            first = {key: primary_metrics(r.metrics, self.dataset_tasks[key]) for key, r in results.items()}
            self.reference = first if several else next(iter(first.values()))
        return dict(self.reference) if several else {key: self.reference for key in results}

    # -- one step -------------------------------------------------------------------------------
    def _losses(self, batch: Mapping[str, Any], key: str | None = None) -> dict[str, torch.Tensor]:
        """The loss terms of a batch of dataset ``key`` (default: the run's first): distillation,
        and each task it labels, over the samples that have the label (a batch with none of a
        task has no term for it)."""
        device = self.ctx.device
        dataset = self._dataset(key)
        losses, heads = self.dataset_losses[dataset.key], self.dataset_heads[dataset.key]
        self._check_partial(dataset, batch, list(losses))
        batch = add_derived_targets(dict(batch), list(losses))
        images = batch["image"].to(device, non_blocking=True)
        targets = {n: t(images) for n, t in self.teachers.items()}  # each casts to its dtype
        terms: dict[str, torch.Tensor] = {}
        with autocast(device, self.precision):  # resolved once, in __init__
            out = self.model(images)
            if targets:
                terms["distill"], _ = distillation_loss(
                    out.distill, targets, use_valid_region=self.config.optim.distill_valid_region
                )
            for name, loss in losses.items():
                if name not in batch:  # a partial task none of the batch's samples is labelled for
                    continue
                output, target, metas = out.tasks[heads[name]], batch[name], batch.get("meta")
                mask = label_mask(batch, name)
                if mask is not None:  # only the samples labelled for it
                    if not bool(mask.any()):
                        continue
                    keep = mask.nonzero().flatten()
                    output, target = output[keep.to(output.device)], target[keep]
                    metas = [metas[i] for i in keep.tolist()] if metas else metas
                try:
                    terms[name] = loss(output, target.to(device, non_blocking=True))
                except TargetError as exc:
                    raise target_error_in(name, metas, exc) from None
            if not terms:  # no label and no teacher in this batch: a zero that reaches every head
                terms[NOTHING] = sum(o.float().sum() for o in out.tasks.values()) * 0.0
        return terms

    def _dataset(self, key: str | None) -> RunDataset:
        return self.datasets[0] if key is None else next(d for d in self.datasets if d.key == key)

    def _check_partial(self, dataset: RunDataset, batch: Mapping[str, Any], tasks: list[str]) -> None:
        """A sample may lack only the labels its dataset declares partial (``DatasetSpec.partial``);
        a label of ``tasks`` that no sample of the batch has is checked as one all of them lack."""
        masks = dict(batch.get(LABEL_MASK) or {})
        for name in label_keys(dataset.spec, tasks):
            if name not in batch:
                masks[name] = torch.zeros(len(batch["image"]), dtype=torch.bool)
        for name, mask in masks.items():
            if name not in dataset.spec.partial:
                metas = batch.get("meta") or []
                missing = [m for m, has in zip(metas, mask.tolist()) if not has]
                raise TargetError(
                    f"dataset {dataset.describe()}: {sample_ids(missing)} have no '{name}' "
                    f"{'image' if name == 'image' else 'label'}, and the dataset does not declare '{name}' partial "
                    "(DatasetSpec.partial): fix the files, or declare it in the dataset's spec")

    def _total(self, terms: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if self.stage == 1:
            return terms["distill"]
        parts = [self.loss_weights[n] * terms[n] for n in self.task_names if n in terms]
        if "distill" in terms:
            parts.append(self.config.optim.alpha * terms["distill"])
        return sum(parts[1:], parts[0]) if parts else terms[NOTHING]

    def _batches(self):
        """``(dataset key, batch)`` of each step from the current one: the schedule picks the
        dataset, whose stream continues where it left off (its batches so far, from the schedule)."""
        pin = self.ctx.device.type == "cuda"
        counts = self.data_schedule.counts_before(self.step)
        streams = [data_mod.batches_from(ts, sampler, start, self.config.data.workers, pin)
                   for ts, sampler, start in zip(self.train_sets, self.samplers, counts)]
        step = self.step
        while True:
            index = self.data_schedule.at(step)
            step += 1
            yield self.datasets[index].key, next(streams[index])

    # -- the run --------------------------------------------------------------------------------
    def run(self, stop_at: int | None = None) -> TrainResult:
        """Train to the configured length; ``stop_at`` ends earlier at that step, with a
        checkpoint written as an interruption would (the run can be resumed). The run
        directory's lock is given up when this returns or raises."""
        try:
            return self._run(stop_at)
        except KeyboardInterrupt:  # a second Ctrl-C, or one before the loop's handlers are installed
            folder = self.rundir.last_checkpoint()
            then = (f"the checkpoint of step {read_trainer_state(folder)['step']} is kept. Continue with: "
                    f"sak train --resume {self.rundir.root}" if folder is not None
                    else "no checkpoint had been written yet: start the run again")
            raise TrainingInterrupted(f"stopped at once at step {self.step}/{self.total}; {then}", 2) from None
        finally:
            self.lock.release()

    def _run(self, stop_at: int | None) -> TrainResult:
        config, out = self.config, self.config.output
        started = time.perf_counter()
        if self.ctx.is_main:
            self.rundir.root.mkdir(parents=True, exist_ok=True)
            if self.resume_from is None:
                self._write_config()
        # a resumed run's config.yaml replaces the old one with its first checkpoint (save_last):
        # a resume that fails before (a setting that makes the loss NaN) leaves the run as it was
        self._config_written = self.resume_from is None
        self.metrics = MetricsLog(self.rundir.metrics, out.tensorboard and self.ctx.is_main,
                                  self.console if self.ctx.is_main else None)
        if self.ctx.is_main:  # resumed: lines past the checkpoint are logged again; started again in the
            # folder of a run that stopped before its first checkpoint: none of its lines is kept
            self.metrics.truncate_after(self.step if self.resume_from is not None else -1)
        self._announce()
        result = TrainResult(self.rundir.root, self.step)
        if self.resume_from is None:
            result.initial_scores = self.validate()

        progress = ProgressReport(self.console, self.total, self.step, out.log_every, self.ctx.is_main)
        self.model.train()
        last_saved = self.step
        try:
            with StopRequest() as stop:
                batches = self._batches()
                while self.step < self.total:
                    key, batch = next(batches)
                    lr = self.schedule.apply(self.optimizer, self.step)
                    terms = self._losses(batch, key)
                    total = self._total(terms)
                    bad, stopping = self.ctx.any(not bool(torch.isfinite(total.detach())), stop.requested)
                    if bad:
                        self._non_finite(terms, last_saved, batch, key)
                    self._backward_and_update(total)
                    self.step += 1
                    values = {"loss": float(total.detach()), "lr": lr,
                              **{f"loss/{k}": float(v.detach()) for k, v in terms.items() if k != NOTHING}}
                    progress.update(self.step, values, config.data.batch_size)
                    if self.ctx.is_main and (self.step % out.log_every == 0 or self.step == self.total):
                        values["images_per_s"] = round(progress.rates(self.step, config.data.batch_size)[1], 3)
                        self.metrics.write(self.step, "train", values)
                    # validation first: a checkpoint holds the state after everything at its step
                    # (the best score included), so a run resumed from it is the uninterrupted run
                    if self.step % out.val_every == 0 or self.step == self.total:
                        result.final_scores = self.validate()
                    if self.step % out.checkpoint_every == 0 or self.step == self.total:
                        self.save_last()
                        last_saved = self.step
                    if stop_at is not None and self.step >= stop_at and self.step < self.total:
                        if last_saved != self.step:
                            self.save_last()
                        result.step = self.step
                        return result
                    if stopping:
                        if last_saved != self.step:
                            self.save_last()
                        raise TrainingInterrupted(
                            f"stopped by signal {stop.signal_number} at step {self.step}/{self.total}; checkpoint "
                            f"written to {self.rundir.last}. Continue with: sak train --resume {self.rundir.root}",
                            stop.signal_number or 2,
                        )
        finally:
            progress.close()
            self.metrics.close()
        if self.ctx.is_main:
            save_student(self.student, self.rundir.final_model, metadata=self._metadata())
        self.ctx.barrier()
        result.step, result.best_score = self.step, self.best_score
        result.seconds = time.perf_counter() - started
        return result

    def _backward_and_update(self, total: torch.Tensor) -> None:
        max_norm = self.config.optim.grad_clip
        if self.scaler is not None:
            self.scaler.scale(total).backward()
            self.scaler.unscale_(self.optimizer)
            clip_gradients(self.student, max_norm)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            total.backward()
            clip_gradients(self.student, max_norm)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def _bad_targets(self, names: list[str], batch: Mapping[str, Any], key: str | None = None) -> TargetError | None:
        """Why tasks' targets made their losses NaN, if they did: each task's loss is run again on the
        CPU, on the batch's targets and zero outputs, where a loss raises for targets it cannot take
        (on a GPU it may report them through a NaN, see ``tasklib.checks_targets_at_once``)."""
        dataset_key = self._dataset(key).key
        losses = self.dataset_losses[dataset_key]
        batch = add_derived_targets(dict(batch), list(losses))
        for name in names:
            target = batch.get(name)
            if not isinstance(target, torch.Tensor):
                continue
            head = self.dataset_heads[dataset_key][name]
            outputs = torch.zeros((target.shape[0], self.student.config.tasks[head], *target.shape[-2:]))
            try:
                with torch.no_grad():
                    losses[name](outputs, target.cpu())
            except TargetError as exc:
                return target_error_in(name, batch.get("meta"), exc)
            except Exception:  # noqa: BLE001 - a loss that cannot run on the CPU says nothing here
                continue
        return None

    def _non_finite(self, terms: Mapping[str, torch.Tensor], last_saved: int, batch: Mapping[str, Any],
                    key: str | None = None) -> None:
        names = [n for n in self.task_names if n in terms and not torch.isfinite(terms[n].detach())]
        target_error = self._bad_targets(names, batch, key)
        if target_error is not None:
            if self.ctx.is_main:
                self.metrics.write(self.step, "error", {"message": str(target_error)})
            raise target_error
        bad = [f"{k}={float(v.detach())}" for k, v in terms.items() if not torch.isfinite(v.detach())]
        saved = self.rundir.last_checkpoint() is not None
        kept = (f"the last good checkpoint ({self.rundir.last}, step {last_saved}) is kept" if saved
                else "no checkpoint had been written yet")
        then = (f"continue with sak train --resume {self.rundir.root} and the changed setting" if saved
                else f"start the run again (the same sak train command and --out {self.rundir.root}, with the "
                     "changed setting)")
        message = (
            f"the loss is not finite at step {self.step + 1} ({', '.join(bad) or 'total'}); training stopped "
            f"and {kept}. Try a lower optim.lr, optim.grad_clip, or optim.precision=fp32, then {then}"
        )
        if self.ctx.is_main:
            self.metrics.write(self.step, "error", {"message": message})
        raise NonFiniteLossError(message)

    def _announce(self) -> None:
        c = self.config
        who = f"{self.ctx.world_size} processes" if self.ctx.distributed else "1 process"
        params = sum(p.numel() for p in self.student.parameters()) / 1e6
        self.console.print(
            f"sak train: stage {self.stage}, {describe_all(self.datasets)}, "
            f"teachers {', '.join(self.teachers) or 'none'}, tasks {', '.join(self.task_names) or 'none'}; "
            f"student {params:.2f}M parameters; {self.total} iterations of batch {c.data.batch_size} "
            f"on {self.ctx.device} ({who}); run directory {self.rundir.root}",
            highlight=False,
        )
        teachers = f"; teachers {self.teacher_precision.name} ({self.teacher_precision.reason})" if self.teachers else ""
        for name, teacher in self.teachers.items():  # teachers that do not run in it say which they run in
            own = teacher_precision(self.teacher_precision, name, teacher.spec.precisions, self.ctx.device)
            teachers += f"; {name} {own.name} ({own.reason})" if own != self.teacher_precision else ""
        self.console.print(
            f"precision: student {self.precision.name} ({self.precision.reason}){teachers}. "
            "optim.precision=fp32 optim.teacher_precision=fp32 is the reference-exact mode",
            highlight=False,
        )
        if self.ctx.is_main and self.no_validation:
            why = "; ".join(reason.rstrip(".") for reason in self.no_validation.values())
            what = ("The run is not scored and keeps no best checkpoint." if not self.val_loaders else
                    f"Only {', '.join(self.val_loaders)} is scored.")
            self.console.print(f"note: no validation data: {why}. {what}", style="yellow", highlight=False,
                               markup=False)
        if self.ctx.is_main and len(self.datasets) > 1:
            total = sum(self.data_schedule.weights)
            mix = ", ".join(f"{d.key} {w / total:.0%} ({len(ts)} samples, {d.input_size[0]}x{d.input_size[1]}, "
                            f"tasks {', '.join(self.dataset_tasks[d.key]) or 'none'})"  # type: ignore[arg-type]
                            for d, w, ts in zip(self.datasets, self.data_schedule.weights, self.train_sets))
            self.console.print(f"datasets: {mix}", highlight=False, markup=False)


def _shown_mix(mix: list[list[Any]]) -> str:
    return ", ".join(f"{key} {share:.0%}" for key, share in mix)


def _format_scores(scores: Mapping[str, float]) -> str:
    return "  ".join(f"{k} {v:.4g}" for k, v in scores.items())


def train(config: RunConfig, run_dir: str | Path, resume: bool = False, device: str | None = None,
          console: Console | None = None) -> TrainResult:
    """Train ``config`` into ``run_dir`` (continuing its last checkpoint when ``resume``)."""
    return Trainer(config, run_dir, resume=resume, device=device, console=console).run()
