"""The training loop in-process on the toy plugins: run layout, resume, non-finite loss, --init."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

import sak_core
from sak_core.errors import CheckpointError
from sak_core.plugin.registry import temporary_plugin
from sak_core.training import NonFiniteLossError, Trainer, train
from sak_core.run.rundir import read_trainer_state
from sak_toy_plugin import TOY_DATASET


def weights(path):
    return load_file(str(path))


def test_run_directory_layout(toy_config, tmp_path):
    result = train(toy_config(), tmp_path / "run")
    run = tmp_path / "run"
    for name in ("config.yaml", "plugins.json", "metrics.jsonl", "model.safetensors", "best/model.safetensors",
                 "checkpoints/last/model.safetensors", "checkpoints/last/trainer.pt"):
        assert (run / name).is_file(), name
    assert result.step == 6 and "toy_seg/acc" in result.initial_scores and "toy_seg/acc" in result.final_scores
    plugins = json.loads((run / "plugins.json").read_text())
    assert {"kind": "teacher", "name": "toy_a", "distribution": "sak-toy-plugin", "version": ""} in plugins
    lines = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines if l["split"] == "train"] == [1, 2, 3, 4, 5, 6]
    assert {"loss", "lr", "loss/distill", "loss/toy_seg", "loss/toy_reg"} <= set(lines[1])
    assert read_trainer_state(run / "checkpoints" / "last")["step"] == 6
    student = sak_core.load_student(run)
    assert student.task_names == ["toy_seg", "toy_reg"] and student.teacher_names == ["toy_a", "toy_b"]
    assert not list(run.rglob(".*.tmp*")) and not list(run.rglob(".*.new"))


def test_resume_reproduces_the_uninterrupted_run(toy_config, tmp_path):
    config = toy_config(data={"workers": 1})  # a worker process must not change the samples either
    train(config, tmp_path / "straight")
    Trainer(config, tmp_path / "resumed").run(stop_at=3)
    assert read_trainer_state(tmp_path / "resumed" / "checkpoints" / "last")["step"] == 3
    Trainer(config, tmp_path / "resumed", resume=True).run()
    a, b = weights(tmp_path / "straight" / "model.safetensors"), weights(tmp_path / "resumed" / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    log = [json.loads(l) for l in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert [l["step"] for l in log if l["split"] == "train"] == [1, 2, 3, 4, 5, 6]


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(toy_config, tmp_path, monkeypatch):
    original = Trainer._total

    def diverging(self, terms):
        total = original(self, terms)
        return total * float("nan") if self.step >= 4 else total

    monkeypatch.setattr(Trainer, "_total", diverging)
    with pytest.raises(NonFiniteLossError, match=r"not finite at step 5 .*last good checkpoint .*step 3"):
        train(toy_config(), tmp_path / "run")
    last = tmp_path / "run" / "checkpoints" / "last"
    assert read_trainer_state(last)["step"] == 3
    sak_core.load_student(last / "model.safetensors")  # intact
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_resuming_with_fewer_iterations_than_trained_is_refused_and_changes_nothing(toy_config, tmp_path):
    from sak_core.errors import ConfigError

    Trainer(toy_config(), tmp_path / "run").run(stop_at=3)
    before = (tmp_path / "run" / "config.yaml").read_text()
    with pytest.raises(ConfigError, match=r"is at step 3, beyond the 2 steps asked for: to train further, give "
                                          r"more than 3"):
        Trainer(toy_config(optim={"iterations": 2}), tmp_path / "run", resume=True)
    assert (tmp_path / "run" / "config.yaml").read_text() == before


def test_a_target_the_loss_cannot_take_names_the_task_and_the_samples(toy_config, tmp_path):
    from sak_core.errors import TargetError
    from sak_core.plugin.task_helpers import cross_entropy_sum_over_valid

    trainer = Trainer(toy_config(), tmp_path / "run")
    trainer.losses["toy_seg"] = cross_entropy_sum_over_valid  # the built-in tasks' loss
    _, batch = next(trainer._batches())
    batch["toy_seg"] = batch["toy_seg"][:, None].repeat(1, 3, 1, 1)  # three channels: not a label map
    ids = ", ".join(m["id"] for m in batch["meta"])
    with pytest.raises(TargetError, match=f"task 'toy_seg', samples {ids}: a label map has one channel"):
        trainer._losses(batch)


def test_a_loss_that_is_never_finite_says_to_start_again_not_to_resume(toy_config, tmp_path, monkeypatch):
    """No checkpoint was written, so --resume would fail: the advice is to start again, and doing
    that with the same --out works."""
    original = Trainer._total
    monkeypatch.setattr(Trainer, "_total", lambda self, terms: original(self, terms) * float("nan"))
    with pytest.raises(NonFiniteLossError, match=r"no checkpoint had been written yet\. .* then start the run again "
                                                 r"\(the same sak train command and --out .*run"):
        train(toy_config(), tmp_path / "run")
    monkeypatch.setattr(Trainer, "_total", original)
    train(toy_config(optim={"iterations": 1}), tmp_path / "run")  # the advice works
    assert read_trainer_state(tmp_path / "run" / "checkpoints" / "last")["step"] == 1


def test_init_lists_keys_that_do_not_load_and_strict_refuses(toy_config, tmp_path, capsys):
    stage1 = toy_config(stage=1, tasks=[], data={"input_size": [32, 32]}, optim={"iterations": 2})
    train(stage1, tmp_path / "s1")
    # stage 2 at another size: the position embedding is resampled, routers and heads are new
    ok = toy_config(init=str(tmp_path / "s1"), data={"input_size": [48, 48]}, optim={"iterations": 1})
    train(ok, tmp_path / "s2")
    out = capsys.readouterr().out
    assert "resampled to the new input size: stem.vit.pos_embed 2x2 -> 3x3" in out
    assert "new (not in the checkpoint), for task(s) toy_reg, toy_seg" in out
    assert "did not load" not in out
    # only one teacher in stage 2: toy_b's adapter path and aligners do not load
    partial = toy_config(init=str(tmp_path / "s1"), teachers=["toy_a"], optim={"iterations": 1})
    train(partial, tmp_path / "s2b")
    assert "did not load - not in the model: adapter_paths.toy_b" in capsys.readouterr().out
    strict = toy_config(init=str(tmp_path / "s1"), teachers=["toy_a"], strict_init=True)
    with pytest.raises(CheckpointError, match=r"(?s)--strict: \d+ key\(s\) .* not in the model: adapter_paths.toy_b"):
        train(strict, tmp_path / "s2c")


def test_init_from_a_file_of_another_model_is_refused_before_training(toy_config, tmp_path):
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"foo.weight": torch.zeros(3, 3), "foo.bias": torch.zeros(3)}, str(other))
    with pytest.raises(CheckpointError, match=r"--init .*other.safetensors: none of its 2 tensor\(s\) is a weight of "
                                              r"this student's stem \(its keys: foo.bias, foo.weight;"):
        train(toy_config(init=str(other), optim={"iterations": 1}), tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing trained
    (tmp_path / "official.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"takes a sak run directory .* `sak convert official`"):
        train(toy_config(init=str(tmp_path / "official.pth"), optim={"iterations": 1}), tmp_path / "run2")


def test_task_weights_must_name_trained_tasks_and_be_non_negative(toy_config, tmp_path):
    from sak_core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"task_weights names toy_sgg, which this run does not train "
                                          r"\(its tasks: toy_seg, toy_reg\)"):
        Trainer(toy_config(task_weights={"toy_sgg": 2.0}), tmp_path / "run")
    assert not (tmp_path / "run" / "checkpoints").exists()
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ConfigError, match="loss weights are finite and >= 0"):
            toy_config(task_weights={"toy_seg": bad})
    assert toy_config(task_weights={"toy_seg": 0.0}).task_weights == {"toy_seg": 0.0}  # off is allowed


class _CountedDataset:
    """A dataset plugin over the toy data that records every split it builds."""

    def __init__(self) -> None:
        self.built: list[tuple[str, bool]] = []

    @sak_core.hookimpl
    def sak_register_datasets(self, register):
        def factory(root, split, train, input_size, tasks=None, **options):
            self.built.append((split, train))
            return TOY_DATASET.create(split, train, root, input_size, tasks, **options)

        register(TOY_DATASET.replace(name="counted", factory=factory))


def test_validation_data_is_built_once_and_the_banner_names_only_running_teachers(toy_config, tmp_path, capsys):
    counted = _CountedDataset()
    with temporary_plugin(counted):
        config = toy_config(data={"dataset": "counted"}, optim={"alpha": 0.0}, output={"val_every": 2})
        trainer = Trainer(config, tmp_path / "run")
        result = trainer.run()
    assert result.step == 6 and trainer.teachers == {}
    assert counted.built == [("train", True), ("train", False)]  # 4 validations, one validation set
    banner = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("sak train:"))
    assert "teachers none" in banner and "toy_a" not in banner
    log = [json.loads(l) for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [l["step"] for l in log if l["split"] == "val"] == [0, 2, 4, 6]


def test_the_logged_lr_of_each_step_is_the_schedule_of_that_step(toy_config, tmp_path):
    from sak_core.training.schedules import Schedule

    config = toy_config(optim={"iterations": 6, "warmup_iters": 2, "lr": 1e-3, "min_lr": 1e-5})
    train(config, tmp_path / "run")
    logged = {line["step"]: line["lr"] for line in map(json.loads, (tmp_path / "run" / "metrics.jsonl").open())
              if line["split"] == "train"}
    assert sorted(logged) == [1, 2, 3, 4, 5, 6]
    schedule = Schedule("cosine", 1e-3, total=6, warmup=2, min_lr=1e-5)
    for step, lr in logged.items():  # the line of step s reports the update made at 0-based step s - 1
        assert lr == pytest.approx(schedule.lr(step - 1), rel=1e-12)
    assert logged[1] == pytest.approx(5e-4) and logged[2] == pytest.approx(1e-3)  # warm-up, by hand
    assert logged[6] < logged[4] < logged[3] == logged[2]


def test_a_class_id_beyond_the_classes_names_the_task_and_samples_on_the_cpu(toy_config, tmp_path):
    """On the CPU the loss raises at once (it used to be torch's IndexError, shown as a sak bug)."""
    from sak_core.errors import TargetError
    from sak_core.plugin.task_helpers import cross_entropy_sum_over_valid

    trainer = Trainer(toy_config(), tmp_path / "run")
    trainer.losses["toy_seg"] = cross_entropy_sum_over_valid
    _, batch = next(trainer._batches())
    batch["toy_seg"][0, 0, 0] = 50
    ids = ", ".join(m["id"] for m in batch["meta"])
    with pytest.raises(TargetError, match=f"task 'toy_seg', samples {ids}: target holds class ids outside "
                                          r"0\.\.\d+ \(and not the ignore value 255\), e\.g\. 50"):
        trainer._losses(batch)


def test_on_a_gpu_a_bad_class_id_makes_the_loss_nan_and_the_trainer_names_it(toy_config, tmp_path, monkeypatch):
    """Where targets are not checked at once (a GPU, where checking would wait every step and an
    out-of-range id is a device-side assert), the id is ignored, the loss is NaN, and the trainer's
    finite check, which waits anyway, stops with the task, the samples and the id."""
    from sak_core.plugin import task_helpers as tasklib
    from sak_core.errors import TargetError

    trainer = Trainer(toy_config(), tmp_path / "run")
    trainer.losses["toy_seg"] = tasklib.CrossEntropyLoss()
    batches = trainer._batches()
    (_, good), (_, bad) = next(batches), next(batches)
    bad["toy_seg"][-1, 3, 4] = 50
    ids = ", ".join(m["id"] for m in bad["meta"])
    # the GPU's policy for the training step (with autograd), the CPU's for the trainer's check (without)
    monkeypatch.setattr(tasklib, "checks_targets_at_once", lambda device: not torch.is_grad_enabled())
    assert torch.isfinite(trainer._losses(good)["toy_seg"])
    assert torch.isnan(trainer._losses(bad)["toy_seg"])  # ignored, not an assert: the kernel ran
    trainer._batches = lambda: iter([("toy", bad)])
    with pytest.raises(TargetError, match=f"task 'toy_seg', samples {ids}: target holds class ids .* e\\.g\\. 50"):
        trainer.run()
    assert "class ids outside" in (tmp_path / "run" / "metrics.jsonl").read_text()  # logged as the run's error
