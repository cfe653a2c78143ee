"""`sak train` in subprocesses with the toy plugin installed as a distribution: stage 1 then
stage 2, clean errors, an interrupted run that resumes, and two processes under torchrun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

import sak_core
from sak_test_utils import FIXTURES, run_sak, write_distribution

TOY_EP = {"sak.teachers": {"toy": "sak_toy_plugin"}}
ENV = {"SAK_LOAD_PLUGINS": "sak-toy-plugin", "OMP_NUM_THREADS": "1"}


@pytest.fixture
def toy_site(tmp_path):
    site = tmp_path / "site"
    write_distribution(site, "sak-toy-plugin", "0.1.0", TOY_EP)
    return site


def write_config(path: Path, **changes) -> Path:
    from sak_core.config import deep_merge

    spec = importlib_conftest().TOY_RUN
    path.write_text(yaml.safe_dump(deep_merge(spec, changes)))
    return path


def importlib_conftest():
    import importlib.util

    spec = importlib.util.spec_from_file_location("training_conftest", Path(__file__).parent / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stage1_then_stage2_through_the_cli(tmp_path, toy_site):
    config = write_config(tmp_path / "toy.yaml")
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    r = run_sak("train", "--config", str(config), "--stage", "1", "--out", str(s1), "--iterations", "2",
                site=toy_site, env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sak_core.load_student(s1).task_names == []
    r = run_sak("train", "--config", str(config), "--init", str(s1), "--out", str(s2), "--iterations", "2",
                "--optim.lr", "5e-4", "data.input_size=[48,48]", site=toy_site, env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "init from" in r.stdout and "stem.vit.pos_embed 2x2 -> 3x3" in r.stdout
    assert "toy_seg" in r.stdout and "acc" in r.stdout  # the start/end table
    resolved = yaml.safe_load((s2 / "config.yaml").read_text())
    assert resolved["optim"]["lr"] == 5e-4 and resolved["init"] == str(s1)
    student = sak_core.load_student(s2)
    assert student.task_names == ["toy_seg", "toy_reg"] and student.config.input_size == (48, 48)


def test_unknown_names_fail_cleanly(tmp_path, toy_site):
    config = write_config(tmp_path / "toy.yaml")
    r = run_sak("train", "--config", str(config), "--teachers", "toy_c", "--out", str(tmp_path / "x"),
                site=toy_site, env=ENV)
    assert r.returncode == 1
    message = " ".join(r.stderr.split())  # rich wraps long lines
    assert "unknown teacher 'toy_c'. Did you mean 'toy_b'? Installed teachers: toy_a, toy_b" in message
    assert "Traceback" not in r.stderr


def test_sigint_writes_a_checkpoint_and_the_run_resumes(tmp_path, toy_site):
    config = write_config(tmp_path / "toy.yaml", output={"checkpoint_every": 1000})
    run = tmp_path / "run"
    env = {**os.environ, **ENV,
           "PYTHONPATH": os.pathsep.join([str(FIXTURES), str(toy_site), os.environ.get("PYTHONPATH", "")])}
    sak = Path(sys.executable).parent / "sak"
    proc = subprocess.Popen([str(sak), "train", "--config", str(config), "--out", str(run), "--iterations", "100000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            metrics = run / "metrics.jsonl"
            if metrics.is_file() and '"split": "train"' in metrics.read_text():
                break
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert "stopped by signal 2" in out and "--resume" in out
    step = torch.load(run / "checkpoints" / "last" / "trainer.pt", weights_only=True)["step"]
    assert step >= 1
    r = run_sak("train", "--resume", str(run), "--iterations", str(step + 2), site=toy_site, env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"resuming {run} at step {step}" in r.stdout
    lines = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert [l["step"] for l in lines if l["split"] == "train"][-1] == step + 2
    assert (run / "model.safetensors").is_file()


def test_two_processes_with_gloo_hold_identical_weights(tmp_path):
    script = tmp_path / "ddp_run.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        import sak_toy_plugin
        from safetensors.torch import save_file
        from sak_core.config import build_config, deep_merge
        from sak_core.plugin.registry import temporary_plugin
        from sak_core.training import Trainer
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from conftest import TOY_RUN

        out = {str(tmp_path / "run")!r}
        with temporary_plugin(sak_toy_plugin):
            trainer = Trainer(build_config(deep_merge(TOY_RUN, {{"optim": {{"iterations": 4}}}})), out)
            assert trainer.ctx.world_size == 2 and trainer.batch_size == 1
            trainer.run()
            state = {{k: v.detach().contiguous() for k, v in trainer.student.state_dict().items()}}
            save_file(state, f"{{out}}/rank{{trainer.ctx.rank}}.safetensors")
    """))
    env = {**os.environ, **ENV, "PYTHONPATH": os.pathsep.join([str(FIXTURES), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    a, b = load_file(str(tmp_path / "run" / "rank0.safetensors")), load_file(str(tmp_path / "run" / "rank1.safetensors"))
    for key in a:
        assert torch.equal(a[key], b[key]), key
    trained = load_file(str(tmp_path / "run" / "model.safetensors"))
    assert all(torch.equal(trained[k], a[k]) for k in a)
    assert r.stdout.count("sak train: stage 2") == 1  # only rank 0 reports
