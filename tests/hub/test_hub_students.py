"""Students on the Hub, offline: `sak push --dry-run` of a trained demo run, placed in a Hugging Face
cache, loads back through hf:// (library and CLI) with the original's outputs; its card parses with
huggingface_hub; a missing file or plugin is one clear line.

One trained run is shared by the module (the demo preset, 2 steps, scored on 4 images). The default
suite keeps the card, the library load through hf:// and the cheap refusals; the CLI round trips
(sak predict, --init, push refusals) are `slow`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import sak_core
from sak_core.cli.push import shareable_config
from sak_core.errors import CheckpointError, MissingPluginError
from sak_core.run.checkpoint import read_metadata
from sak_core.run.context import RunContext
from sak_core.weights.hub import HubRef, parse_hub_ref
from sak_test_utils import run_sak

FILES = {"model.safetensors", "config.yaml", "plugins.json", "metrics.json", "README.md"}


@pytest.fixture(scope="module")
def pushed(tmp_path_factory) -> tuple[Path, Path]:
    """The demo preset (the real built-in plugins) trained 2 steps on 16 synthetic scenes by `sak
    train`, scored by `sak eval` and written by `sak push --dry-run` (those two in this process,
    through the same CLI entry point, to keep the default suite short)."""
    from sak_core.cli.main import main

    root = tmp_path_factory.mktemp("demo")
    env = {"SAK_DATA": str(root / "data"), "OMP_NUM_THREADS": "1"}
    run = root / "run"
    r = run_sak("train", "--preset", "demo", "--iterations", "2", "--out", str(run), "data.options.count=16",
                "data.val_limit=2", "output.tensorboard=false", env=env)
    assert r.returncode == 0, r.stderr
    folder = root / "pushed"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAK_DATA", env["SAK_DATA"])
        assert main(["eval", str(run)]) == 0
        assert main(["push", str(run), "me/demo-student", "--dry-run", str(folder)]) == 0
    return run, folder


@pytest.mark.slow
def test_dry_run_refuses_to_write_over_its_folder(pushed):
    run, folder = pushed
    again = run_sak("push", str(run), "me/demo-student", "--dry-run", str(folder))
    assert again.returncode == 1 and again.stderr.count("error:") == 1 and "--overwrite" in again.stderr


def test_dry_run_writes_the_repository_and_a_card_that_parses(pushed):
    from huggingface_hub import ModelCard

    run, folder = pushed
    assert {p.name for p in folder.iterdir()} == FILES
    assert (folder / "model.safetensors").read_bytes() == (run / "model.safetensors").read_bytes()
    assert (folder / "metrics.json").read_bytes() == (run / "eval" / "step-2" / "metrics.json").read_bytes()
    config = yaml.safe_load((folder / "config.yaml").read_text())
    assert config["output"]["dir"] == "run"  # the run's own config names its absolute folder
    assert yaml.safe_load((run / "config.yaml").read_text())["output"]["dir"] == str(run)
    card = ModelCard.load(folder / "README.md")
    data = card.data
    tasks = json.loads(read_metadata(folder / "model.safetensors")["sak_student_config"])["tasks"]
    assert data.library_name == "sak" and data.datasets == ["synthetic"] and data.license
    assert set(data.to_dict()["sak"]["tasks"]) == set(tasks) and data.to_dict()["sak"]["teachers"] == ["dinov2", "clip", "sam"]
    metrics = json.loads((folder / "metrics.json").read_text())["primary"]
    assert {r.task_name: (r.metric_type, r.metric_value) for r in data.eval_results} == {
        t: (m["metric"], m["value"]) for t, m in metrics.items()}
    plugins = json.loads((folder / "plugins.json").read_text())
    line = next(line for line in card.text.splitlines() if line.startswith("pip install sak-core=="))
    assert all(f"{p['distribution']}=={p['version']}" in line for p in plugins if p["kind"] == "task")
    assert 'sak_core.load_student("hf://me/demo-student")' in card.text and "sak predict hf://me/demo-student" in card.text


def test_hub_student_loads_offline_with_the_original_outputs(pushed, hub, tmp_path):
    run, folder = pushed
    hub.place("me/demo-student", {p.name: p for p in folder.iterdir()})
    original, shared = sak_core.load_student(run).eval(), sak_core.load_student("hf://me/demo-student").eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a, b = original(images), shared(images)
    assert a.tasks.keys() == b.tasks.keys() and all(torch.equal(a.tasks[k], b.tasks[k]) for k in a.tasks)
    assert all(torch.equal(x, y) for k in a.distill for x, y in zip(a.distill[k], b.distill[k], strict=True))
    context = RunContext.open("hf://me/demo-student")
    assert context.hub == HubRef("me/demo-student") and context.config is not None
    assert context.results_folder() == Path("me--demo-student/eval/step-2")  # never inside the cache


@pytest.mark.slow
def test_sak_predict_of_a_hub_student_writes_the_run_s_files(pushed, hub, tmp_path):
    run, folder = pushed
    hub.place("me/demo-student", {p.name: p for p in folder.iterdir()})
    image = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(image)
    outs = {}
    for name, source in (("run", str(run)), ("hub", "hf://me/demo-student")):
        r = run_sak("predict", source, str(image), "--out", str(tmp_path / name), "--no-grid", "--tasks", "semseg,depth")
        assert r.returncode == 0, r.stderr
        outs[name] = {p.relative_to(tmp_path / name): p.read_bytes() for p in (tmp_path / name).rglob("*") if p.is_file()}
    assert outs["run"] and outs["run"] == outs["hub"]


@pytest.mark.slow
def test_init_from_a_hub_student(pushed, hub):
    from sak_core.training.warm_start import init_from_checkpoint

    run, folder = pushed
    hub.place("me/demo-student", {p.name: p for p in folder.iterdir()})
    student = sak_core.load_student(run)
    with torch.no_grad():
        for p in student.parameters():
            p.zero_()
    report = init_from_checkpoint(student, "hf://me/demo-student", strict=True)
    assert not report.problems and report.source.parent.parent.name == "snapshots"
    assert all(torch.equal(a, b) for a, b in zip(student.state_dict().values(),
                                                 sak_core.load_student(run).state_dict().values()))


def test_missing_repository_offline_is_one_line_naming_it(hub, tmp_path):
    with pytest.raises(CheckpointError, match=r"model\.safetensors of me/absent is not in the Hugging Face cache"):
        sak_core.load_student("hf://me/absent")


@pytest.mark.slow
def test_sak_eval_of_a_missing_hub_student_is_one_line(hub, tmp_path):
    r = run_sak("eval", "hf://me/absent@v2", env=hub.env)
    assert r.returncode == 1 and r.stderr.strip().count("\n") == 0, r.stderr
    assert r.stderr.startswith("error: ") and "me/absent at revision v2" in r.stderr and "offline" in r.stderr


def test_a_student_whose_plugins_are_missing_names_the_distribution(hub, tmp_path):
    from sak_core import StudentConfig, create_student, save_student
    from sak_core.run.binding import bind_tasks

    run = tmp_path / "mystery"
    student = create_student(StudentConfig(stem="vit_small", input_size=(32, 32), teachers={"dinov2": 0},
                                           tasks={"mystery": 2},
                                           stem_overrides={"embed_dim": 32, "depth": 2, "num_heads": 2}))
    save_student(student, run / "model.safetensors")
    (run / "config.yaml").write_text("stage: 2\n")
    (run / "plugins.json").write_text(json.dumps(
        [{"kind": "task", "name": "mystery", "distribution": "sak-task-mystery", "version": "1.2.0"}]))
    hub.place("me/mystery", {p.name: p for p in run.iterdir()})
    with pytest.raises(MissingPluginError, match="install 'sak-task-mystery'"):
        bind_tasks(sak_core.load_student("hf://me/mystery"), context=RunContext.open("hf://me/mystery"))


@pytest.mark.slow
def test_push_refuses_offline_and_bad_names(pushed, hub):
    run, _ = pushed
    r = run_sak("push", str(run), "me/x", env=hub.env)
    assert r.returncode == 1 and "offline" in r.stderr and "--dry-run" in r.stderr
    r = run_sak("push", str(run), "me/x@dev", env=hub.env)
    assert r.returncode == 1 and "--revision" in r.stderr


@given(org=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True),
       name=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True),
       revision=st.one_of(st.just("main"), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,20}", fullmatch=True)))
def test_hub_names_round_trip(org, name, revision):
    ref = HubRef(f"{org}/{name}", revision)
    assert parse_hub_ref(str(ref)) == ref


@pytest.mark.parametrize("text", ["hf://", "hf://noslash", "hf://a/b/c", "hf://me/x@", "hf://me/x@a b"])
def test_bad_hub_names_say_the_form(text):
    with pytest.raises(CheckpointError, match=r"hf://ORG/NAME or hf://ORG/NAME@REVISION"):
        parse_hub_ref(text)


def test_the_pushed_config_names_no_local_path():
    text = ("teachers:\n- name: dinov2\n  weights: /home/me/w/dinov2.pth\n- name: sam\n  weights: random\n"
            "data:\n  root: ~/data/pascal\n  split: train\noutput:\n  dir: C:\\runs\\pascal\ninit: runs/stage1\n")
    cleaned, changed = shareable_config(text)
    data = yaml.safe_load(cleaned)
    assert changed == ["teachers[0].weights", "data.root", "output.dir"]
    assert data["teachers"][0]["weights"] is None and data["teachers"][1]["weights"] == "random"
    assert data["data"] == {"root": None, "split": "train"} and data["output"]["dir"] == "pascal"
    assert data["init"] == "runs/stage1"  # relative: kept
    assert shareable_config("stage: 2\n") == ("stage: 2\n", [])
