"""`sak eval` (and push, predict, analyze) of a run with several datasets: each dataset scored on its
own split with the tasks it labels, into one metrics.json keyed by dataset key; --dataset KEY scores
one entry alone; per-dataset baseline tables; the model card lists every dataset.

One tiny run is trained per module: two entries of the synthetic dataset (12 scenes of 32 px each,
the second with alias synth-b and its own seed), each labelling three tasks (semseg in both), a
two-block stem, no teacher, 2 steps."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from rich.console import Console

from sak_core.cli.main import main
from sak_core.config import build_config
from sak_core.plugin.lookup import list_tasks, list_teachers

NEEDED = {"semseg", "normals", "boundaries", "depth", "saliency"}
pytestmark = pytest.mark.skipif(not NEEDED <= set(list_tasks()), reason="the task plugins are not installed")

TINY = {"embed_dim": 32, "depth": 2, "num_heads": 2}
FIRST_LABELS = ["semseg", "normals", "boundaries"]
SECOND_LABELS = ["semseg", "saliency", "depth"]
RUN = {
    "stage": 2, "teachers": [], "tasks": "all",
    "model": {"stem": "vit_small", "stem_overrides": TINY},
    "data": {"input_size": [32, 32], "batch_size": 2, "workers": 0, "val_limit": 4, "datasets": [
        {"name": "synthetic", "options": {"count": 12, "image_size": [32, 32], "labels": FIRST_LABELS}},
        {"name": "synthetic", "alias": "synth-b",
         "options": {"count": 12, "image_size": [32, 32], "seed": 7, "labels": SECOND_LABELS}},
    ]},
    "optim": {"iterations": 2, "cpu_threads": 1},
    "output": {"tensorboard": False, "val_every": 100, "checkpoint_every": 100},
}
CPU = ["--device", "cpu", "--precision", "fp32", "--workers", "0"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The two-dataset run and its training result (its last validation's scores)."""
    from sak_core.training import train

    run = tmp_path_factory.mktemp("mixed") / "run"
    result = train(build_config(RUN), run, console=Console(file=io.StringIO()))
    return run, result


@pytest.fixture(scope="module")
def scored(trained):
    """`sak eval RUN` of the run: its metrics.json."""
    run, _ = trained
    assert main(["eval", str(run), *CPU]) == 0
    return json.loads((run / "eval" / "step-2" / "metrics.json").read_text())


def without_seconds(document: dict) -> dict:
    return {k: v for k, v in document.items() if k != "seconds"}


def copy_run(run: Path, folder: Path, edit) -> Path:
    """The run's student, plugins.json and its config.yaml changed by ``edit`` (a dict -> None)."""
    folder.mkdir()
    for name in ("model.safetensors", "plugins.json"):
        shutil.copyfile(run / name, folder / name)
    config = yaml.safe_load((run / "config.yaml").read_text())
    edit(config)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


def test_each_dataset_is_scored_on_its_own_tasks_into_one_document(scored):
    assert list(scored["datasets"]) == ["synthetic", "synth-b"]
    first, second = scored["datasets"]["synthetic"], scored["datasets"]["synth-b"]
    assert list(first["metrics"]) == FIRST_LABELS and list(second["metrics"]) == SECOND_LABELS
    assert first["dataset"] == second["dataset"] == "synthetic"
    assert (first["dataset_key"], second["dataset_key"]) == ("synthetic", "synth-b")
    assert first["input_size"] == second["input_size"] == [32, 32]
    assert scored["num_images"] == first["num_images"] + second["num_images"] > 0
    assert scored["step"] == 2 and scored["split"] == "val" and scored["precision"] == "fp32"
    assert scored["dm"] is None and scored["dm_datasets"] == []
    # the two entries draw different scenes (seed 7): their semseg scores differ
    assert first["metrics"]["semseg"] != second["metrics"]["semseg"]


def test_dataset_key_scores_that_entry_alone_as_the_document_does(trained, scored):
    run, _ = trained
    for key in ("synth-b", "synthetic"):  # an alias, and the name that is the first entry's key
        assert main(["eval", str(run), *CPU, "--dataset", key]) == 0
        alone = json.loads((run / "eval" / "step-2" / key / "metrics.json").read_text())
        assert without_seconds(alone) == without_seconds(scored["datasets"][key])
    # the all-datasets document was not replaced
    assert "datasets" in json.loads((run / "eval" / "step-2" / "metrics.json").read_text())


def test_fast_scores_equal_training_s_last_validation(trained, tmp_path):
    """The training-time metrics of eval --fast are the run's own validation: each dataset bound
    to its own tasks, root and options, padded to its own size."""
    run, result = trained
    out = tmp_path / "fast.json"
    assert main(["eval", str(run), *CPU, "--fast", "--limit", "4", "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    compared = 0
    for key, entry in document["datasets"].items():
        for task, scores in entry["metrics"].items():
            for metric, value in scores.items():
                assert value == pytest.approx(result.final_scores[f"{key}/{task}/{metric}"], rel=1e-5, abs=1e-7)
                compared += 1
    assert compared > 10


def test_a_name_two_entries_share_is_ambiguous(trained, tmp_path, capsys):
    run, _ = trained

    def alias_both(config):
        config["data"]["datasets"][0]["alias"] = "synth-a"

    copy = copy_run(run, tmp_path / "aliased", alias_both)
    assert main(["eval", str(copy), *CPU, "--dataset", "synthetic"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert ("error: dataset 'synthetic' is ambiguous: the run has it 2 times, as synth-a, synth-b; name one by its "
            "key (e.g. --dataset synth-a)") in err


def write_table(path: Path, dataset: str, metrics: dict) -> Path:
    path.write_text(yaml.safe_dump({"name": path.stem, "dataset": dataset, "metrics": metrics}))
    return path


def gain(value: float, base: float, higher_is_better: bool) -> float:
    change = (value - base) / base * 100
    return change if higher_is_better else -change


def test_a_baseline_per_dataset(trained, scored, tmp_path, capsys):
    run, _ = trained
    table = write_table(tmp_path / "mine.yaml", "synthetic", {"semseg": 0.5, "depth": 2.0, "normals": 40.0})
    out = tmp_path / "keyed.json"
    assert main(["eval", str(run), *CPU, "--baseline", f"synth-b={table}", "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    second = scored["datasets"]["synth-b"]["metrics"]
    expected = (gain(second["semseg"]["mIoU"], 0.5, True) + gain(second["depth"]["RMSE"], 2.0, False)) / 2
    assert document["datasets"]["synth-b"]["dm"] == pytest.approx(expected, rel=1e-9)
    assert document["datasets"]["synth-b"]["baseline"]["missing"] == ["saliency"]
    assert document["datasets"]["synthetic"]["dm"] is None
    assert document["dm"] == pytest.approx(expected, rel=1e-9) and document["dm_datasets"] == ["synth-b"]
    assert "no dm for synthetic" in " ".join(capsys.readouterr().err.split())

    # one table measured on the run's dataset applies to both entries; the mean dm is theirs
    out = tmp_path / "both.json"
    assert main(["eval", str(run), *CPU, "--baseline", str(table), "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    first = scored["datasets"]["synthetic"]["metrics"]
    expected_first = (gain(first["semseg"]["mIoU"], 0.5, True) + gain(first["normals"]["mErr"], 40.0, False)) / 2
    assert document["datasets"]["synthetic"]["dm"] == pytest.approx(expected_first, rel=1e-9)
    assert document["dm"] == pytest.approx((expected + expected_first) / 2, rel=1e-9)


def test_baseline_refusals_name_what_to_do(trained, tmp_path, capsys):
    run, _ = trained
    table = write_table(tmp_path / "t.yaml", "synthetic", {"semseg": 0.5})
    assert main(["eval", str(run), *CPU, "--baseline", "nyud_v2_vit_b"]) == 1
    assert ("error: baseline 'nyud_v2_vit_b' was measured on NYUD-v2, which is none of the datasets scored here "
            "('synthetic', 'synthetic' (alias synth-b)): give it to one with --baseline KEY=TABLE") \
        in " ".join(capsys.readouterr().err.split())
    assert main(["eval", str(run), *CPU, "--baseline", f"nope={table}"]) == 1
    assert (f"error: --baseline nope={table}: the run has no dataset 'nope' (its datasets: synthetic, synth-b)"
            in " ".join(capsys.readouterr().err.split()))
    assert main(["eval", str(run), *CPU, "--dataset", "synth-b", "--baseline", f"synthetic={table}"]) == 1
    assert "this scores 'synthetic' (alias synth-b), not 'synthetic'" in " ".join(capsys.readouterr().err.split())


def test_tasks_apply_to_each_dataset(trained, tmp_path, capsys):
    run, _ = trained
    out = tmp_path / "depth.json"
    assert main(["eval", str(run), *CPU, "--tasks", "depth", "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert list(document["datasets"]) == ["synth-b"] and list(document["datasets"]["synth-b"]["metrics"]) == ["depth"]
    err = " ".join(capsys.readouterr().err.split())
    assert "not scoring synthetic: 'synthetic' labels none of --tasks depth" in err

    out = tmp_path / "semseg.json"
    assert main(["eval", str(run), *CPU, "--tasks", "semseg", "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert {key: list(d["metrics"]) for key, d in document["datasets"].items()} == {
        "synthetic": ["semseg"], "synth-b": ["semseg"]}

    assert main(["eval", str(run), *CPU, "--data-root", str(tmp_path)]) == 1
    assert "--data-root names one dataset's folder, but this run has several (synthetic, synth-b)" in \
        " ".join(capsys.readouterr().err.split())


def test_push_card_lists_every_dataset_and_no_absolute_root(trained, scored, tmp_path, capsys):
    from huggingface_hub import ModelCard

    run, _ = trained

    def absolute_root(config):
        config["data"]["datasets"][1]["root"] = str(tmp_path / "scenes")

    copy = copy_run(run, tmp_path / "rooted", absolute_root)
    (copy / "eval" / "step-2").mkdir(parents=True)
    (copy / "eval" / "step-2" / "metrics.json").write_text(json.dumps(scored))
    folder = tmp_path / "pushed"
    assert main(["push", str(copy), "me/two", "--dry-run", str(folder)]) == 0
    assert "data.datasets[1].root" in " ".join(capsys.readouterr().out.split())
    pushed = yaml.safe_load((folder / "config.yaml").read_text())
    assert [d["root"] for d in pushed["data"]["datasets"]] == [None, None]
    assert str(tmp_path) not in (folder / "config.yaml").read_text()

    card = ModelCard.load(folder / "README.md")
    assert card.data.datasets == ["synthetic"]  # the registered dataset, once
    results = {(r.dataset_name, r.task_name): (r.dataset_type, r.metric_value) for r in card.data.eval_results}
    assert results == {(key, task): ("synthetic", entry["primary"][task]["value"])
                       for key, entry in scored["datasets"].items() for task in entry["primary"]}
    assert "Trained on: synthetic, synth-b (synthetic)" in card.text
    assert "Scored by `sak eval` on synth-b (synthetic) / val" in card.text


def test_card_metadata_names_two_datasets():
    from sak_core.run.card import StudentFacts, card_data

    facts = StudentFacts(repo_id="me/x", tasks={"semseg": 21}, teachers=[], stem="vit_small", input_size=[64, 64],
                         dataset="pascal-context", step=1,
                         datasets={"pascal-context": "pascal-context", "nyud": "nyud"})
    assert card_data(facts).datasets == ["pascal-context", "nyud"]
    assert facts.trained_on() == "pascal-context, nyud"


def test_analyze_routes_the_first_dataset_unless_told(trained, tmp_path, capsys):
    run, _ = trained
    png = tmp_path / "routers.png"
    assert main(["analyze", "routers", str(run), *CPU[:4], "--out", str(png), "--limit", "2"]) == 0
    assert "routing the images of synthetic, the first of the run's datasets" in \
        " ".join(capsys.readouterr().err.split())
    assert json.loads(png.with_suffix(".json").read_text())["source"] == "synthetic/val"
    assert main(["analyze", "routers", str(run), *CPU[:4], "--out", str(png), "--limit", "2", "--dataset", "synth-b",
                 "--overwrite"]) == 0
    assert json.loads(png.with_suffix(".json").read_text())["source"] == "synth-b/val"


def test_predict_binds_each_task_to_a_dataset_that_labels_it(trained, tmp_path):
    run, _ = trained
    image = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 40, 3), dtype=np.uint8)).save(image)
    out = tmp_path / "out"
    assert main(["predict", str(run), str(image), "--out", str(out), "--no-grid", *CPU[:4]]) == 0
    written = {p.parent.name for p in out.rglob("*") if p.is_file()}
    assert {"semseg", "normals", "boundaries", "saliency", "depth"} <= written
    # samples of one entry's split, its own labels as targets
    out = tmp_path / "samples"
    assert main(["predict", str(run), "--dataset", "synth-b", "--limit", "1", "--out", str(out), *CPU[:4]]) == 0
    assert any(p.parent.name == "grid" for p in out.rglob("*.png"))


@pytest.mark.skipif("dinov2" not in list_teachers(), reason="the dinov2 teacher plugin is not installed")
def test_a_stage1_student_is_scored_against_its_teachers_on_each_dataset(tmp_path):
    """Stage 1 with two datasets: each scored against the run's teachers, rebuilt as training built
    them, equal to the run's last validation of that dataset."""
    from sak_core.training import train

    arch = {**TINY, "depth": 4}  # the teacher's four tap levels
    stage1 = {**RUN, "stage": 1, "tasks": [], "model": {"stem": "vit_small", "stem_overrides": arch},
              "teachers": [{"name": "dinov2", "weights": "random", "options": {"size": "small", "arch": arch}}]}
    run = tmp_path / "stage1"
    with pytest.warns(UserWarning, match="random weights"):
        result = train(build_config(stage1), run, console=Console(file=io.StringIO()))
    with pytest.warns(UserWarning, match="random weights"):  # the teacher rebuilt as training built it
        code = main(["eval", str(run), *CPU, "--out", str(tmp_path / "s1.json")])
    assert code == 0
    document = json.loads((tmp_path / "s1.json").read_text())
    assert list(document["datasets"]) == ["synthetic", "synth-b"]
    for key, entry in document["datasets"].items():
        assert entry["metrics"] == {}
        teacher = entry["distillation"]["teachers"]["dinov2"]
        final = result.final_scores
        assert teacher["cosine"] == pytest.approx(final[f"{key}/distill/dinov2/cosine"], abs=1e-5)
        assert teacher["centred_cosine"] == pytest.approx(final[f"{key}/distill/dinov2/centred_cosine"], abs=1e-5)
        assert entry["distillation"]["loss"] == pytest.approx(final[f"{key}/distill/loss"], rel=1e-4)
    assert document["datasets"]["synthetic"]["distillation"] != document["datasets"]["synth-b"]["distillation"]


def test_a_head_per_dataset_is_scored_on_its_dataset_under_the_task_s_name(probe_plugin, tmp_path):
    """synthetic's 6 classes and evalprobe's 3 are two label spaces: heads semseg@synthetic and
    semseg@evalprobe. Each dataset is scored on its own head, its metrics under the task's name,
    equal to training's validation; a baseline table keyed by task gives its dm."""
    from sak_core.training import train

    data = {**RUN["data"], "datasets": [
        {"name": "synthetic", "options": {"count": 12, "image_size": [32, 32], "labels": ["semseg"]}},
        {"name": "evalprobe", "input_size": [64, 64]},
    ]}
    run = tmp_path / "heads"
    result = train(build_config({**RUN, "tasks": ["semseg", "depth"], "data": data}), run,
                   console=Console(file=io.StringIO()))
    from sak_core import load_student

    assert load_student(run).task_names == ["semseg@synthetic", "semseg@evalprobe", "depth"]
    out = tmp_path / "fast.json"
    table = write_table(tmp_path / "probe.yaml", "evalprobe", {"semseg": 0.5})
    assert main(["eval", str(run), *CPU, "--fast", "--limit", "4", "--out", str(out),
                 "--baseline", f"evalprobe={table}"]) == 0
    document = json.loads(out.read_text())
    assert {key: list(d["metrics"]) for key, d in document["datasets"].items()} == {
        "synthetic": ["semseg"], "evalprobe": ["semseg", "depth"]}
    for key, entry in document["datasets"].items():
        for task, scores in entry["metrics"].items():
            for metric, value in scores.items():
                assert value == pytest.approx(result.final_scores[f"{key}/{task}/{metric}"], rel=1e-5, abs=1e-7)
    probe = document["datasets"]["evalprobe"]
    assert probe["dm"] == pytest.approx(gain(probe["metrics"]["semseg"]["mIoU"], 0.5, True), rel=1e-9)

    assert main(["eval", str(run), *CPU, "--fast", "--limit", "4", "--dataset", "evalprobe", "--tasks", "semseg",
                 "--out", str(tmp_path / "alone.json")]) == 0
    alone = json.loads((tmp_path / "alone.json").read_text())
    assert alone["metrics"] == {"semseg": probe["metrics"]["semseg"]}
