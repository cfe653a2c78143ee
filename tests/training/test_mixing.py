"""Training on several datasets and on partially labelled ones (docs/datasets.md#mixing), in-process
on the toy plugins: each task's loss over the samples labelled for it, heads a batch does not
label left without gradient, the dataset schedule, resume, and per-dataset validation."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

import sak_core
from sak_core.config import build_config, deep_merge
from sak_core.datasets.batch import collate_samples
from sak_core.errors import SpecError, TargetError
from sak_core.plugin.registry import temporary_plugin
from sak_core.training import Trainer
from sak_core.training.data import SCHEDULE_BLOCK, DatasetSchedule
from sak_test_utils import TOY_RUN
from sak_toy_plugin import TOY_DATASET, ToyDataset, ToyRegTask

DEPTH = "toy_depth"  # a regression task with a metric (the toy plugin's toy_reg has none)
SEG = "toy_seg"


class _L1:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total, self.count = 0.0, 0

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.total += float((outputs - targets).abs().sum())
        self.count += targets.numel()

    def compute(self) -> dict[str, float]:
        return {"l1": self.total / max(self.count, 1)}


class ToyDepthTask(ToyRegTask):
    def metric(self, full: bool = False):
        return _L1()


class MixDataset(ToyDataset):
    """Toy samples with the labels ``toy_seg`` and ``toy_depth``: only those of ``tasks`` (as a real
    dataset loads only the labels asked for), and none of ``unlabelled[key]``'s sample ids."""

    def __init__(self, n: int, size: tuple[int, int], tasks: list[str] | None,
                 unlabelled: dict[str, set[int]]) -> None:
        super().__init__(n, size)
        self.tasks, self.unlabelled = tasks, unlabelled

    def __getitem__(self, i: int) -> dict:
        sample = super().__getitem__(i)
        sample[DEPTH] = sample.pop("toy_reg")
        for key in (SEG, DEPTH):
            if (self.tasks is not None and key not in self.tasks) or i in self.unlabelled.get(key, ()):
                del sample[key]
        return sample


def _mix_spec(name: str, n: int = 8, unlabelled: dict[str, set[int]] | None = None, seg_classes: int = 2,
              class_names: tuple[str, ...] | None = None, **changes):
    def factory(root=None, split="train", train=True, input_size=(64, 64), tasks=None, **options):
        return MixDataset(n, input_size, tasks, unlabelled or {})

    return TOY_DATASET.replace(name=name, factory=factory, tasks={SEG: {"num_outputs": seg_classes,
                                                                   **({"class_names": class_names} if class_names else {})},
                                                              DEPTH: {}},
                              **changes)


ODD = {1, 3, 5, 7}


class MixPlugins:
    """The toy_depth task and the mix datasets: mix (8 samples), mix_small (4), mix_partial
    (toy_depth partial, odd ids unlabelled), mix_gappy (ids 3 and 5 lack toy_depth, not declared
    partial), mix_trainonly (no val split)."""

    @sak_core.hookimpl
    def sak_register_tasks(self, register):
        register(sak_core.plugin.TaskSpec(name=DEPTH, factory=ToyDepthTask, default_outputs=1, metric_name="l1",
                                          higher_is_better=False))

    @sak_core.hookimpl
    def sak_register_datasets(self, register):
        register(_mix_spec("mix"))
        register(_mix_spec("mix_small", n=4))
        register(_mix_spec("mix_partial", unlabelled={DEPTH: ODD}, partial=(DEPTH,)))
        register(_mix_spec("mix_gappy", unlabelled={DEPTH: {3, 5}}))
        register(_mix_spec("mix_trainonly", splits=("train",)))
        register(_mix_spec("mix_wide", seg_classes=3))  # toy_seg in another label space (3 classes)
        register(_mix_spec("mix_cats", class_names=("cat", "dog")))  # two classes, named
        register(_mix_spec("mix_cars", class_names=("car", "bus")))  # two other classes


@pytest.fixture
def mix(toy_plugins):
    """``mix(*entries, **sections)``: the toy run (its teachers, fp32) on the data.datasets ``entries``
    (one dataset: a name), with sections merged in."""
    with temporary_plugin(MixPlugins()):
        def make(*entries, **changes):
            data = {k: v for k, v in TOY_RUN["data"].items() if k != "dataset"}
            data.update({"dataset": entries[0]} if isinstance(entries[0], str) else {"datasets": list(entries)})
            base = {**TOY_RUN, "data": data, "optim": {**TOY_RUN["optim"], "precision": "fp32"}}
            return build_config(deep_merge(base, changes))

        yield make


DISJOINT = ({"name": "mix", "options": {"labels": [SEG]}}, {"name": "mix", "alias": "mix-b", "options": {"labels": [DEPTH]}})


def _parameters(trainer: Trainer, task: str) -> dict[str, torch.nn.Parameter]:
    """The parameters only ``task``'s output depends on: its head and its routers."""
    return {n: p for n, p in trainer.student.named_parameters()
            if n.startswith(f"heads.{task}.") or (n.startswith("routers.") and f".{task}." in n)}


def _forward(trainer: Trainer, images: torch.Tensor, seed: int = 0):
    torch.manual_seed(seed)  # the routers' noise
    return trainer.model(images)


def _losses(trainer: Trainer, batch: dict, key: str | None = None, seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return trainer._losses(batch, key)


# -- partial labels ------------------------------------------------------------------------------
def test_a_partial_task_s_loss_is_taken_over_its_labelled_samples_only(mix, tmp_path):
    trainer = Trainer(mix("mix_partial"), tmp_path / "run")
    data = trainer.train_sets[0]
    batch = collate_samples([data[i] for i in (0, 1, 2, 3)])
    assert batch["label_mask"][DEPTH].tolist() == [True, False, True, False]
    terms = _losses(trainer, batch)
    out = _forward(trainer, batch["image"])
    output, target = out.tasks[DEPTH].detach(), batch[DEPTH]
    by_hand = (output[[0, 2]] - target[[0, 2]]).abs().mean()
    assert terms[DEPTH].item() == pytest.approx(by_hand.item(), rel=1e-6)
    assert terms[DEPTH].item() != pytest.approx((output - target).abs().mean().item(), rel=1e-3)  # not all four
    seg = torch.nn.functional.cross_entropy(out.tasks[SEG].detach(), batch[SEG], ignore_index=255)
    assert terms[SEG].item() == pytest.approx(seg.item(), rel=1e-6)  # a complete task: every sample
    trainer.lock.release()


def test_a_batch_without_a_partial_task_s_labels_has_no_term_for_it_and_leaves_its_head_alone(mix, tmp_path):
    trainer = Trainer(mix("mix_partial"), tmp_path / "run")
    data = trainer.train_sets[0]
    batch = collate_samples([data[1], data[3]])  # odd ids: no toy_depth label in either
    assert DEPTH not in batch
    terms = _losses(trainer, batch)
    assert set(terms) == {"distill", SEG} and all(torch.isfinite(t) for t in terms.values())
    trainer._total(terms).backward()
    assert all(p.grad is None for p in _parameters(trainer, DEPTH).values())
    seg = _parameters(trainer, SEG)
    assert seg and all(p.grad is not None for p in seg.values())
    assert any(bool(p.grad.abs().sum() > 0) for p in seg.values())
    stem = [p for n, p in trainer.student.named_parameters() if n.startswith("stem.")]
    assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in stem)

    # a batch with some labelled: the head learns from them
    trainer.optimizer.zero_grad(set_to_none=True)
    trainer._total(_losses(trainer, collate_samples([data[1], data[2]]))).backward()
    assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in _parameters(trainer, DEPTH).values())
    trainer.lock.release()


def test_a_partial_dataset_trains_through_batches_without_its_labels(mix, tmp_path):
    """Batch size 1: every other batch has no toy_depth at all; the run trains and logs the term only
    for the steps that had it. """
    config = mix("mix_partial", data={"batch_size": 1, "val_batch_size": 2}, optim={"iterations": 6})
    trainer = Trainer(config, tmp_path / "run")
    trainer.run()
    lines = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train = [line for line in lines if line["split"] == "train"]
    assert len(train) == 6 and all(f"loss/{SEG}" in line for line in train)
    with_depth = [f"loss/{DEPTH}" in line for line in train]
    assert 0 < sum(with_depth) < 6
    assert all(torch.isfinite(torch.tensor(line["loss"])) for line in train)


@pytest.mark.parametrize(("ids", "missing"), [((2, 3), "3"), ((3, 5), "3, 5")])
def test_a_sample_without_a_label_of_a_task_not_declared_partial_names_dataset_samples_and_task(mix, tmp_path,
                                                                                                    ids, missing):
    trainer = Trainer(mix("mix_gappy"), tmp_path / "run")
    batch = collate_samples([trainer.train_sets[0][i] for i in ids])
    with pytest.raises(TargetError) as excinfo:
        trainer._losses(batch)
    assert str(excinfo.value) == (
        f"dataset 'mix_gappy': samples {missing} have no '{DEPTH}' label, and the dataset does not declare "
        f"'{DEPTH}' partial (DatasetSpec.partial): fix the files, or declare it in the dataset's spec")
    trainer.lock.release()


def test_a_partial_dataset_s_validation_scores_the_labelled_samples(mix, tmp_path):
    trainer = Trainer(mix("mix_partial", data={"val_limit": 8, "val_batch_size": 2}), tmp_path / "run")
    scores = trainer._score("mix_partial", trainer.val_loaders["mix_partial"]).flat()
    # by hand: the student in eval mode on ids 0, 2, 4, 6 (the labelled ones) alone
    data = trainer.train_sets[0]
    trainer.student.eval()
    with torch.no_grad():
        samples = [data[i] for i in (0, 2, 4, 6)]
        out = trainer.student(torch.stack([s["image"] for s in samples])).tasks[DEPTH]
        target = torch.stack([s[DEPTH] for s in samples])
    assert scores[f"{DEPTH}/l1"] == pytest.approx(float((out - target).abs().mean()), rel=1e-5)
    trainer.lock.release()


def test_a_validation_batch_without_a_partial_task_s_labels_is_scored_on_the_others(mix, tmp_path):
    trainer = Trainer(mix("mix_partial", data={"val_limit": 4, "val_batch_size": 1}), tmp_path / "run")
    try:
        assert f"{DEPTH}/l1" in trainer._score("mix_partial", trainer.val_loaders["mix_partial"]).flat()
    finally:
        trainer.lock.release()


# -- two datasets with disjoint labels -----------------------------------------------------------
def test_a_step_of_one_dataset_trains_its_own_tasks_only(mix, tmp_path):
    trainer = Trainer(mix(*DISJOINT), tmp_path / "run")
    assert trainer.task_names == [SEG, DEPTH]
    assert {k: list(v) for k, v in trainer.dataset_tasks.items()} == {"mix": [SEG], "mix-b": [DEPTH]}
    first: dict[str, dict] = {}
    for key, batch in trainer._batches():
        first.setdefault(key, batch)
        if len(first) == 2:
            break
    assert SEG in first["mix"] and DEPTH not in first["mix"]  # the dataset loads only its labels
    assert DEPTH in first["mix-b"] and SEG not in first["mix-b"]
    for key, own, other in (("mix", SEG, DEPTH), ("mix-b", DEPTH, SEG)):
        trainer.optimizer.zero_grad(set_to_none=True)
        terms = _losses(trainer, first[key], key)
        assert set(terms) == {"distill", own}
        trainer._total(terms).backward()
        assert all(p.grad is None for p in _parameters(trainer, other).values()), key
        assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in _parameters(trainer, own).values())
    trainer.lock.release()


def test_without_teachers_a_dataset_that_labels_none_of_the_tasks_is_refused(mix, tmp_path):
    from sak_core.errors import ConfigError

    config = mix(*DISJOINT, tasks=[SEG], teachers=[])
    with pytest.raises(ConfigError) as excinfo:
        Trainer(config, tmp_path / "run")
    assert str(excinfo.value) == ("dataset 'mix' (alias mix-b) labels none of the run's tasks (toy_seg) and the run distils "
                                  "no teacher, so its batches would train nothing: drop it, or add teachers")


# -- the schedule ----------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(-2**40, 2**40), steps=st.lists(st.integers(0, 5 * SCHEDULE_BLOCK), min_size=1, max_size=40))
def test_the_dataset_of_a_step_depends_on_the_seed_and_the_step_alone(seed, steps):
    forward = DatasetSchedule([1.0, 2.0, 0.5], seed)
    chosen = {step: forward.at(step) for step in sorted(steps)}
    shuffled = DatasetSchedule([1.0, 2.0, 0.5], seed)
    assert {step: shuffled.at(step) for step in reversed(steps)} == chosen
    assert all(forward.at(step) == chosen[step] for step in steps)  # asked again, after others


def test_the_schedule_follows_the_weights_and_the_seed():
    schedule = DatasetSchedule([3.0, 1.0], seed=5)
    drawn = [schedule.at(s) for s in range(20000)]
    assert set(drawn) == {0, 1}
    assert drawn.count(0) / 20000 == pytest.approx(0.75, abs=0.015)
    three = DatasetSchedule([1.0, 1.0, 2.0], seed=5)
    counts = three.counts_before(40000)
    assert [c / 40000 for c in counts] == pytest.approx([0.25, 0.25, 0.5], abs=0.015)
    other = DatasetSchedule([3.0, 1.0], seed=6)
    assert [other.at(s) for s in range(200)] != drawn[:200]  # another seed, another order
    one = DatasetSchedule([7.0], seed=5)
    assert {one.at(s) for s in range(0, 3 * SCHEDULE_BLOCK, 97)} == {0} and one.counts_before(12345) == [12345]


_PREFIX: dict[int, list[int]] = {}


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.integers(0, 3 * SCHEDULE_BLOCK + 10),
                 st.sampled_from([0, 1, SCHEDULE_BLOCK - 1, SCHEDULE_BLOCK, SCHEDULE_BLOCK + 1, 2 * SCHEDULE_BLOCK])))
def test_counts_before_a_step_are_the_datasets_drawn_before_it(step):
    weights, seed = [1.0, 2.0, 1.5], 11
    if not _PREFIX:  # steps 0 .. 3 blocks + 10, counted one by one with at(), once
        reference, counts = DatasetSchedule(weights, seed), [0, 0, 0]
        for s in range(3 * SCHEDULE_BLOCK + 11):
            _PREFIX[s] = list(counts)
            counts[reference.at(s)] += 1
    assert DatasetSchedule(weights, seed).counts_before(step) == _PREFIX[step]


def test_weights_on_some_entries_are_shares_and_the_others_split_the_rest_by_size(toy_plugins):
    from sak_core.config import build_config
    from sak_core.errors import ConfigError
    from sak_core.model.mixture import draw_shares, run_datasets

    def shares(*weights, sizes=(600, 300, 100)):
        entries = [{"name": "toy", "alias": f"t{i}", **({"weight": w} if w is not None else {})}
                   for i, w in enumerate(weights)]
        config = build_config({"teachers": "toy_a", "data": {"datasets": entries}})
        return draw_shares(run_datasets(config), list(sizes))

    assert shares(None, None, None) == pytest.approx([0.6, 0.3, 0.1])
    assert shares(None, 0.5, None) == pytest.approx([0.5 * 6 / 7, 0.5, 0.5 * 1 / 7])
    assert shares(2, 1, 1) == pytest.approx([0.5, 0.25, 0.25])
    with pytest.raises(ConfigError, match=r"weights given \(t0 0\.7, t1 0\.3\) .* leave nothing for t2"):
        shares(0.7, 0.3, None)


def test_default_weights_are_each_dataset_s_share_of_the_samples(mix, tmp_path):
    trainer = Trainer(mix({"name": "mix"}, {"name": "mix_small"}), tmp_path / "a")  # 8 and 4 samples
    assert trainer.data_schedule.weights == pytest.approx([2 / 3, 1 / 3])
    assert [s.steps_per_epoch for s in trainer.samplers] == [4, 2] and trainer.total == 6
    trainer.lock.release()
    weighted = Trainer(mix({"name": "mix", "weight": 1.0}, {"name": "mix_small", "weight": 3.0}), tmp_path / "b")
    assert weighted.data_schedule.weights == [0.25, 0.75]  # relative to each other
    weighted.lock.release()
    by_epochs = Trainer(mix({"name": "mix"}, {"name": "mix_small"}, optim={"epochs": 2}), tmp_path / "c")
    assert by_epochs.total == 12  # an epoch: one pass over every dataset (4 + 2 steps)
    by_epochs.lock.release()


# -- resume -------------------------------------------------------------------------------------------
def _log(run, split: str) -> list[dict]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in line.items() if k not in ("time", "images_per_s")} for line in lines
            if line["split"] == split]


@pytest.mark.parametrize("stop_at", [4, 5])  # a validation step, and one that is not
def test_a_resumed_two_dataset_run_is_the_uninterrupted_run(mix, tmp_path, stop_at):
    config = mix({"name": "mix", "options": {"labels": [SEG]}}, {"name": "mix_small"},
                 optim={"iterations": 9}, output={"val_every": 4, "checkpoint_every": 100})
    Trainer(config, tmp_path / "straight").run()
    Trainer(config, tmp_path / "resumed").run(stop_at=stop_at)
    Trainer(config, tmp_path / "resumed", resume=True).run()
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    straight = _log(tmp_path / "straight", "train")
    assert [line["step"] for line in straight] == list(range(1, 10))
    assert {f"loss/{DEPTH}" in line for line in straight} == {True, False}  # both datasets were drawn
    assert _log(tmp_path / "resumed", "train") == straight
    assert _log(tmp_path / "resumed", "val") == _log(tmp_path / "straight", "val")


# -- validation ------------------------------------------------------------------------------------
def test_each_dataset_is_scored_on_its_own_tasks_and_best_is_picked_by_the_mean(mix, tmp_path):
    config = mix(*DISJOINT, optim={"iterations": 6}, output={"val_every": 2})
    Trainer(config, tmp_path / "run").run()
    val = _log(tmp_path / "run", "val")
    assert [line["step"] for line in val] == [0, 2, 4, 6]
    for line in val:
        assert set(line) == {"step", "split", f"mix/{SEG}/acc", "mix/score", f"mix-b/{DEPTH}/l1", "mix-b/score",
                             "score"}
        assert line["score"] == pytest.approx((line["mix/score"] + line["mix-b/score"]) / 2, rel=1e-12)
    assert val[0]["mix/score"] == 0.0 and val[0]["mix-b/score"] == 0.0  # each against its own first validation
    best = json.loads((tmp_path / "run" / "best" / "score.json").read_text())
    trained = [line for line in val if line["step"] > 0]
    top = max(trained, key=lambda line: line["score"])
    assert best["step"] == top["step"] and best["scores"]["score"] == pytest.approx(top["score"])
    state = torch.load(tmp_path / "run" / "checkpoints" / "last" / "trainer.pt", weights_only=False)
    assert set(state["reference"]) == {"mix", "mix-b"}
    assert state["reference"]["mix-b"] == {DEPTH: pytest.approx(val[0][f"mix-b/{DEPTH}/l1"])}


def test_a_dataset_without_a_validation_split_is_noted_and_the_other_scored(mix, tmp_path, capsys):
    config = mix({"name": "mix", "options": {"labels": [SEG]}}, {"name": "mix_trainonly", "options": {"labels": [DEPTH]}},
                 data={"val_split": "val"}, optim={"iterations": 2}, output={"val_every": 2})
    trainer = Trainer(config, tmp_path / "run")
    assert list(trainer.val_loaders) == ["mix"]
    trainer.run()
    out = capsys.readouterr().out
    assert "note: no validation data: dataset 'mix_trainonly' has no split 'val'. Only mix is scored." in out
    val = _log(tmp_path / "run", "val")
    assert [line["step"] for line in val] == [0, 2]
    for line in val:
        assert set(line) == {"step", "split", f"mix/{SEG}/acc", "mix/score", "score"}
        assert line["score"] == line["mix/score"]
    assert (tmp_path / "run" / "best" / "score.json").is_file()


def test_a_resume_with_another_mix_of_datasets_says_it_is_not_step_exact(mix, tmp_path):
    from rich.console import Console

    run = tmp_path / "run"
    first = mix({"name": "mix"}, {"name": "mix_small"}, optim={"iterations": 6})
    Trainer(first, run).run(stop_at=2)
    console = Console(record=True, width=300)
    changed = mix({"name": "mix", "weight": 1.0}, {"name": "mix_small", "weight": 1.0}, optim={"iterations": 6})
    Trainer(changed, run, resume=True, console=console).lock.release()
    assert ("note: the checkpoint was trained on the datasets mix 67%, mix_small 33%, this run has mix 50%, "
            "mix_small 50%: training continues but not step-exactly") in console.export_text()
    console = Console(record=True, width=300)
    Trainer(first, run, resume=True, console=console).lock.release()
    assert "not step-exactly" not in console.export_text()


# -- one task, two label spaces: a head per dataset -------------------------------------------------
def test_a_task_whose_datasets_differ_in_outputs_gets_a_head_per_dataset(mix, tmp_path):
    from sak_core.model.mixture import run_datasets, task_heads
    from sak_core.run.binding import bind_tasks

    config = mix({"name": "mix"}, {"name": "mix_wide"}, optim={"iterations": 4}, output={"val_every": 4})
    datasets = run_datasets(config)
    assert task_heads([SEG, DEPTH], datasets) == {SEG: {f"{SEG}@mix": 2, f"{SEG}@mix_wide": 3}, DEPTH: {DEPTH: 1}}
    trainer = Trainer(config, tmp_path / "run")
    assert trainer.student.config.tasks == {f"{SEG}@mix": 2, f"{SEG}@mix_wide": 3, DEPTH: 1}
    assert trainer.dataset_heads == {"mix": {SEG: f"{SEG}@mix", DEPTH: DEPTH},
                                     "mix_wide": {SEG: f"{SEG}@mix_wide", DEPTH: DEPTH}}
    _, batch = next(trainer._batches())
    for key, own, other in (("mix", f"{SEG}@mix", f"{SEG}@mix_wide"), ("mix_wide", f"{SEG}@mix_wide", f"{SEG}@mix")):
        trainer.optimizer.zero_grad(set_to_none=True)
        terms = _losses(trainer, batch, key)
        out = _forward(trainer, batch["image"])
        by_hand = torch.nn.functional.cross_entropy(out.tasks[own].detach(), batch[SEG], ignore_index=255)
        assert terms[SEG].item() == pytest.approx(by_hand.item(), rel=1e-6)  # its own head's output
        trainer._total(terms).backward()
        assert all(p.grad is None for p in _parameters(trainer, other).values()), key
        assert any(p.grad is not None for p in _parameters(trainer, own).values()), key
    trainer.lock.release()
    trainer.run()
    val = _log(tmp_path / "run", "val")[-1]
    assert {f"mix/{SEG}/acc", f"mix_wide/{SEG}/acc", f"mix/{DEPTH}/l1", f"mix_wide/{DEPTH}/l1"} <= set(val)
    bound = bind_tasks(sak_core.load_student(tmp_path / "run"))  # no dataset: each head as its own width
    assert {name: task.num_outputs for name, task in bound.items()} == {f"{SEG}@mix": 2, f"{SEG}@mix_wide": 3,
                                                                         DEPTH: 1}


def test_two_datasets_with_as_many_classes_but_other_names_get_a_head_each(mix):
    from sak_core.model.mixture import run_datasets, task_heads

    def heads(*names):
        return task_heads([SEG], run_datasets(mix(*({"name": n} for n in names))))[SEG]

    assert heads("mix_cats", "mix_cars") == {f"{SEG}@mix_cats": 2, f"{SEG}@mix_cars": 2}
    assert heads("mix_cats", "mix") == {SEG: 2}  # one names its classes, the other does not: shared
    assert heads("mix", "mix_small") == {SEG: 2}
