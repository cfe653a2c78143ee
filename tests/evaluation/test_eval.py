"""`sak eval` and the evaluation library: metrics equal a hand-written loop, dm, metrics.json."""

from __future__ import annotations

import json
import math

import pytest
import torch
import yaml

from sak_core import create_task, get_dataset_spec
from sak_core.cli.main import main
from sak_core.evaluation import (
    RunContext,
    bind_tasks,
    evaluate,
    gain_summary,
    make_metric,
    metrics_path,
)
from sak_core.evaluation.multitask_gain import multitask_gain


def hand_loop(probe, student, batch_size: int = 2) -> dict[str, dict[str, float]]:
    """The protocol written out: batches of test samples, each image's outputs and targets cut
    to its valid box, one dataset-level metric per task."""
    data = probe.ProbeDataset(probe.INPUT_SIZE, list(probe.TASKS))
    tasks = {name: create_task(name, "evalprobe") for name in probe.TASKS}
    metrics = {name: task.metric() for name, task in tasks.items()}
    samples = [data[i] for i in range(len(data))]
    with torch.no_grad():
        for start in range(0, len(samples), batch_size):
            chunk = samples[start : start + batch_size]
            outputs = student(torch.stack([s["image"] for s in chunk])).tasks
            for i, sample in enumerate(chunk):
                top, left, h, w = sample["meta"]["valid_box"]
                for name, metric in metrics.items():
                    out = outputs[name][i : i + 1, :, top : top + h, left : left + w]
                    target = sample[name][None][..., top : top + h, left : left + w]
                    metric.update(out, target)
    return {name: metric.compute() for name, metric in metrics.items()}


def test_eval_cli_writes_the_metrics_of_a_hand_loop(probe, tiny_run, capsys):
    code = main(["eval", str(tiny_run), "--device", "cpu", "--precision", "fp32", "--batch-size", "2",
                 "--workers", "0", "--baseline", "nyud_v2_vit_b"])
    assert code == 0
    document = json.loads((tiny_run / "eval" / "model" / "metrics.json").read_text())
    assert document["dataset"] == "evalprobe" and document["split"] == "val"  # from config.yaml
    assert document["num_images"] == len(probe.SIZES)
    assert document["metric_options"] == {}  # no boundaries task: no matching to record
    assert document["data_root"] is None  # the run set none: the dataset found its own

    student = RunContext.open(tiny_run).load_student("cpu")
    expected = hand_loop(probe, student)
    assert set(document["metrics"]) == set(probe.TASKS)
    for task, scores in expected.items():
        for key, value in scores.items():
            assert document["metrics"][task][key] == pytest.approx(value, rel=1e-6, abs=1e-9), (task, key)

    primary = {"semseg": expected["semseg"]["mIoU"], "depth": expected["depth"]["RMSE"],
               "normals": expected["normals"]["mErr"]}
    assert document["dm"] == pytest.approx(multitask_gain(primary, "nyud_v2_vit_b"), rel=1e-6)
    assert document["baseline"]["name"] == "nyud_v2_vit_b"
    assert document["primary"]["depth"] == {"metric": "RMSE", "value": pytest.approx(primary["depth"]),
                                            "higher_is_better": False}
    shown = capsys.readouterr().out
    assert "dm" in shown and "mIoU" in shown and "metrics.json" in shown


def test_cropping_changes_nothing_where_padding_is_ignored(probe, tiny_run):
    """Padding carries ignore labels, so scoring the padded maps gives the same numbers."""
    context = RunContext.open(tiny_run)
    student = context.load_student()
    dataset = get_dataset_spec("evalprobe")
    tasks = bind_tasks(student, dataset)
    data = probe.ProbeDataset(probe.INPUT_SIZE, list(probe.TASKS))
    cropped = evaluate(student, tasks, data, batch_size=3, crop=True)
    padded = evaluate(student, tasks, data, batch_size=3, crop=False)
    for task in probe.TASKS:
        for key, value in cropped.metrics[task].items():
            assert padded.metrics[task][key] == pytest.approx(value, rel=1e-6)


def test_eval_of_a_bare_checkpoint_needs_a_dataset_and_honours_out(tiny_run, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bare = tmp_path / "elsewhere" / "student.safetensors"
    bare.parent.mkdir()
    bare.write_bytes((tiny_run / "model.safetensors").read_bytes())
    assert main(["eval", str(bare), "--device", "cpu"]) == 1
    assert "pass --dataset NAME" in capsys.readouterr().err

    out = tmp_path / "scores.json"
    assert main(["eval", str(bare), "--dataset", "evalprobe", "--device", "cpu", "--workers", "0",
                 "--tasks", "depth", "--limit", "3", "--out", str(out), "--json", "--data-root", "probe-data"]) == 0
    printed = json.loads(capsys.readouterr().out)
    written = json.loads(out.read_text())
    assert printed == written
    assert list(written["metrics"]) == ["depth"] and written["num_images"] == 3 and written["limited"]
    assert written["dm"] is None and written["baseline"] is None
    assert written["data_root"] == str(tmp_path / "probe-data")  # absolute: it names the folder scored


def test_metrics_file_sits_beside_the_checkpoint(tmp_path):
    best = tmp_path / "run" / "best" / "model.safetensors"
    assert metrics_path(best) == best.parent / "metrics.json"
    assert metrics_path(best, tmp_path / "x.json") == tmp_path / "x.json"
    assert metrics_path(best, tmp_path / "folder") == tmp_path / "folder" / "metrics.json"


def test_run_context_finds_the_config_of_a_nested_checkpoint(tiny_run):
    nested = tiny_run / "checkpoints" / "last"
    nested.mkdir(parents=True)
    (nested / "model.safetensors").write_bytes((tiny_run / "model.safetensors").read_bytes())
    context = RunContext.open(nested / "model.safetensors")
    assert context.run_dir == tiny_run
    assert context.dataset_name() == "evalprobe"
    assert context.distribution_of("task", "depth") == "sak-task-depth"


def test_gain_covers_the_tasks_the_table_has(tiny_run, tmp_path):
    student = RunContext.open(tiny_run).load_student()
    tasks = bind_tasks(student, get_dataset_spec("evalprobe"))
    table = tmp_path / "table.yaml"
    table.write_text(yaml.safe_dump({"name": "mine", "metrics": {"semseg": 50.0, "depth": 0.5}}))
    metrics = {"semseg": {"mIoU": 55.0}, "depth": {"RMSE": 0.4}, "normals": {"mErr": 20.0}}
    gain = gain_summary(metrics, tasks, table)
    assert gain.gains == pytest.approx({"semseg": 10.0, "depth": 20.0})
    assert gain.dm == pytest.approx(15.0)
    assert gain.missing == ["normals"]


def test_protocol_metric_is_used_when_a_task_offers_one():
    class Fast:
        pass

    class Full:
        pass

    class WithFull:
        def metric(self, full: bool = False):
            return Full() if full else Fast()

    class Plain:  # one metric, no options: the declared form without **options
        def metric(self, full: bool = False):
            return Fast()

    assert isinstance(make_metric(WithFull(), full=True), Full)
    assert isinstance(make_metric(WithFull(), full=False), Fast)
    assert isinstance(make_metric(Plain(), full=True), Fast)

    class WithOptions:
        def metric(self, full: bool = False, **options):
            return (Full() if full else Fast(), options)

    assert make_metric(WithOptions(), True, {"matching": "exact"})[1] == {"matching": "exact"}
    assert make_metric(WithOptions(), False, {"matching": "exact"})[1] == {}  # the fast metric
    with pytest.raises(TypeError, match="matching"):  # reported by evaluate as refused options
        make_metric(Plain(), True, {"matching": "exact"})
    assert isinstance(make_metric(Plain(), False, {"matching": "exact"}), Fast)  # options are the full one's


def test_nan_scores_become_null_in_metrics_json(tiny_run):
    from sak_core.evaluation import EvalResult, metrics_document

    student = RunContext.open(tiny_run).load_student()
    tasks = bind_tasks(student, get_dataset_spec("evalprobe"), ["depth"])
    document = metrics_document(EvalResult({"depth": {"RMSE": math.nan}}, 0), tasks)
    assert document["metrics"]["depth"]["RMSE"] is None
    assert document["metric_options"] == {}
    json.dumps(document, allow_nan=False)


def test_a_stage_one_student_is_refused_with_what_to_do(probe, tmp_path, capsys):
    from sak_core import save_student

    student = probe.tiny_student(tasks={})
    save_student(student, tmp_path / "stage1.safetensors")
    assert main(["eval", str(tmp_path / "stage1.safetensors"), "--dataset", "evalprobe", "--device", "cpu"]) == 1
    assert "no task heads" in capsys.readouterr().err


def test_metric_options_reach_the_protocol_metric_and_are_recorded_with_its_own(probe, tiny_run):
    """evaluate(metric_options=...): given options go to metric(full=True, ...); the result
    records them merged over what the metric reports in ``options``; --fast records none."""
    from sak_core.errors import SpecError

    context = RunContext.open(tiny_run)
    student = context.load_student()
    tasks = bind_tasks(student, get_dataset_spec("evalprobe"))
    semseg = tasks["semseg"]
    built = []

    class Reporting:  # the semseg metric, plus the protocol settings it reports
        def __init__(self, **options):
            self.inner, self.options = semseg.metric(), {"mode": "reference", **options}
            built.append(options)

        def update(self, outputs, targets):
            self.inner.update(outputs, targets)

        def compute(self):
            return self.inner.compute()

        def reset(self):
            self.inner.reset()

    class WithProtocol(type(semseg)):
        def metric(self, full=False, **options):
            if set(options) - {"mode", "level"}:
                raise TypeError(f"unknown options {sorted(set(options) - {'mode', 'level'})}")
            return Reporting(**options) if full else super().metric()

    tasks["semseg"] = WithProtocol(semseg.spec, semseg.dataset)
    data = probe.ProbeDataset(probe.INPUT_SIZE, list(probe.TASKS))
    result = evaluate(student, tasks, data, batch_size=3, metric_options={"semseg": {"level": 2}})
    assert built == [{"level": 2}]
    assert result.metric_options == {"semseg": {"mode": "reference", "level": 2}}
    plain = evaluate(student, tasks, data, batch_size=3)
    assert plain.metric_options == {"semseg": {"mode": "reference"}}
    assert plain.metrics["semseg"] == result.metrics["semseg"]
    assert evaluate(student, tasks, data, batch_size=3, full=False).metric_options == {}
    with pytest.raises(SpecError, match=r"task 'semseg' refused the metric options \{'colour': 1\}: unknown options"):
        evaluate(student, tasks, data, metric_options={"semseg": {"colour": 1}})
    with pytest.raises(SpecError, match="metric options for boundaries, which is not scored here"):
        evaluate(student, tasks, data, metric_options={"boundaries": {"matching": "exact"}})


@pytest.mark.parametrize(
    "options, message",
    [
        (["boundaries.matching=exact"], "--metric-option names boundaries, which is not scored here (scored: "),
        (["semseg.matching=exact"], "task 'semseg' refused the metric options {'matching': 'exact'}: "
                                    "LabelMapTask.metric() got an unexpected keyword argument 'matching'"),
        (["--fast", "depth.x=1"], "--metric-option sets options of protocol metrics, which --fast does not use"),
    ],
    ids=["task not scored", "task without protocol metric", "with --fast"],
)
def test_eval_cli_refuses_metric_options_it_cannot_honour(tiny_run, capsys, options, message):
    args = [a if a.startswith("--") else f"--metric-option={a}" for a in options]
    assert main(["eval", str(tiny_run), "--device", "cpu", "--workers", "0", *args]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert message in err and "Traceback" not in err, err


@pytest.mark.parametrize("text", ["matching=exact", "boundaries.matching", ".matching=exact", "boundaries.=1",
                                  "boundaries.matching=[1"])
def test_metric_option_syntax_errors_name_the_form(tiny_run, capsys, text):
    with pytest.raises(SystemExit) as exit_:
        main(["eval", str(tiny_run), f"--metric-option={text}"])
    assert exit_.value.code == 2
    assert f"'{text}'" in capsys.readouterr().err


def test_metric_option_values_are_yaml():
    from sak_core.cli.eval import parse_metric_option

    assert parse_metric_option("boundaries.matching=exact") == ("boundaries", "matching", "exact")
    assert parse_metric_option("boundaries.nms_radius=1") == ("boundaries", "nms_radius", 1)
    assert parse_metric_option("boundaries.nms=false") == ("boundaries", "nms", False)
    assert parse_metric_option("my.task.key=a=b") == ("my", "task.key", "a=b")


def test_a_head_whose_task_plugin_is_missing_is_named_with_what_to_do(probe, tiny_run, capsys):
    from sak_core import save_student

    save_student(probe.tiny_student(tasks={"depth": 1, "ghost_task": 2}), tiny_run / "model.safetensors")
    assert main(["eval", str(tiny_run), "--device", "cpu", "--workers", "0", "--limit", "2"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert ("note: not scoring ghost_task: no installed plugin provides it, and 'evalprobe' has no labels under "
            "that name; install the task's plugin") in err
    document = json.loads((tiny_run / "eval" / "model" / "metrics.limited.json").read_text())
    assert list(document["metrics"]) == ["depth"]


def test_a_limited_look_never_replaces_the_full_metrics(tiny_run, tmp_path, capsys):
    assert main(["eval", str(tiny_run), "--device", "cpu", "--workers", "0"]) == 0
    full = (tiny_run / "eval" / "model" / "metrics.json").read_text()
    assert main(["eval", str(tiny_run), "--device", "cpu", "--workers", "0", "--limit", "2"]) == 0
    assert (tiny_run / "eval" / "model" / "metrics.json").read_text() == full
    assert json.loads((tiny_run / "eval" / "model" / "metrics.limited.json").read_text())["num_images"] == 2
    (tmp_path / "file").write_text("x")
    capsys.readouterr()
    assert main(["eval", str(tiny_run), "--device", "cpu", "--workers", "0", "--out", str(tmp_path / "file" / "m.json")]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"--out {tmp_path / 'file' / 'm.json'}: {tmp_path / 'file'} is a file, not a folder" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("text", ["", "data:\n  dataset: evalprobe\n"], ids=["empty", "cut short"])
def test_a_run_config_without_every_section_is_ignored_with_a_note(tiny_run, capsys, text):
    """sak writes every section into a run's config.yaml: an empty or cut-short one must not
    stand for the defaults (which would score the synthetic dataset instead of the run's)."""
    (tiny_run / "config.yaml").write_text(text)
    context = RunContext.open(tiny_run)
    assert context.config is None
    (note,) = context.notes
    assert f"ignoring {tiny_run / 'config.yaml'}" in note and "lacks the section(s)" in note
    assert main(["eval", str(tiny_run), "--device", "cpu"]) == 1
    assert "pass --dataset NAME" in capsys.readouterr().err


def test_a_baseline_table_of_another_dataset_is_noted(tiny_run, capsys):
    from sak_core.evaluation.scoring import same_dataset

    assert same_dataset("NYUD-v2", "nyud") and same_dataset("PASCAL-Context", "pascal-context")
    assert same_dataset("", "anything") and not same_dataset("NYUD-v2", "synthetic")
    assert main(["eval", str(tiny_run), "--device", "cpu", "--workers", "0", "--baseline", "nyud_v2_vit_b"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert ("note: baseline 'nyud_v2_vit_b' was measured on NYUD-v2, but this scores 'evalprobe': its dm "
            "compares different data") in err


def test_targets_a_task_cannot_take_name_the_task_and_the_samples(tiny_run):
    from sak_core.errors import TargetError
    from sak_core.evaluation.scoring import update_metrics

    student = RunContext.open(tiny_run).load_student()
    tasks = bind_tasks(student, get_dataset_spec("evalprobe"))
    metrics = {"semseg": make_metric(tasks["semseg"], full=False)}
    outputs = {"semseg": torch.zeros(2, 3, 8, 8)}
    target = torch.zeros(2, 8, 8, dtype=torch.long)
    target[1, 0, 0] = 50  # a class the dataset does not have
    batch = {"semseg": target, "meta": [{"id": "img_a"}, {"id": "img_b"}]}
    with pytest.raises(TargetError, match=r"task 'semseg', samples img_a, img_b: target holds class ids outside "
                                          r"0\.\.2 .* e\.g\. 50"):
        update_metrics(metrics, outputs, batch)
    batch = {"semseg": torch.zeros(2, 3, 8, 8), "meta": [{"id": "img_a"}, {"id": "img_b"}]}  # RGB-like labels
    with pytest.raises(TargetError, match=r"task 'semseg', samples img_a, img_b: a label map has one channel"):
        update_metrics(metrics, outputs, batch)


def test_results_of_a_live_run_survive_its_next_checkpoint_swap(probe, tiny_run, capsys):
    """Issue 21, case 3: metrics of RUN/checkpoints/last go to RUN/eval/step-<N>/, named by the step
    the checkpoint was saved at, not into the checkpoint folder the next swap deletes."""
    from sak_core.run.rundir import RunDir, write_checkpoint

    student = probe.tiny_student()
    (tiny_run / "model.safetensors").unlink()  # a run still training: only checkpoints/last
    last = RunDir(tiny_run).last
    write_checkpoint(last, student, {"step": 40}, {"step": "40", "stage": "2"})
    assert main(["eval", str(tiny_run), "--device", "cpu", "--workers", "0", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    written = tiny_run / "eval" / "step-40" / "metrics.limited.json"
    assert f"wrote {written}" in out  # and says where
    before = written.read_bytes()
    write_checkpoint(last, probe.tiny_student(seed=1), {"step": 41}, {"step": "41", "stage": "2"})  # the swap
    assert written.read_bytes() == before and json.loads(before)["checkpoint"].endswith("model.safetensors")
    assert not list(last.glob("metrics*.json"))


def test_eval_out_refuses_an_existing_file_unless_overwrite(probe, tiny_run, tmp_path, capsys):
    out = tmp_path / "m.json"
    out.write_text("kept")
    args = ["eval", str(tiny_run), "--device", "cpu", "--workers", "0", "--limit", "1", "--out", str(out)]
    assert main(args) == 1
    assert f"{out} exists; choose another --out or pass --overwrite" in " ".join(capsys.readouterr().err.split())
    assert out.read_text() == "kept"
    assert main([*args, "--overwrite"]) == 0 and json.loads(out.read_text())["num_images"] == 1
    assert main([*args[:-1], str(tiny_run / "plugins.json"), "--overwrite"]) == 1
    assert "which this command reads" in " ".join(capsys.readouterr().err.split())
