"""The CUDA paths no CPU run reaches: bf16 and fp16 autocast steps (fp16 with the GradScaler, whose
state is checkpointed and restored), a bit-exact resume on the GPU, SyncBatchNorm in the heads under
an nccl process group started by torchrun, and the compiled (inductor) student. Each test is marked
``gpu`` and skipped without a GPU; ``./dev gpu-check`` runs them in a few minutes on one."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file

from sak_core.run.rundir import read_trainer_state
from sak_core.training import Trainer, train
from sak_test_utils import FIXTURES

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_training_steps_on_the_gpu_keep_the_scaler_state(toy_config, tmp_path, precision):
    config = toy_config(optim={"iterations": 6, "precision": precision}, output={"checkpoint_every": 3})
    trainer = Trainer(config, tmp_path / "run", device="cuda")
    assert trainer.precision.name == precision and trainer.ctx.device.type == "cuda"
    assert (trainer.scaler is not None) == (precision == "fp16")  # only fp16 scales the loss
    result = trainer.run(stop_at=3)
    assert result.step == 3
    state = torch.load(tmp_path / "run" / "checkpoints" / "last" / "trainer.pt", weights_only=True)
    if precision == "fp16":
        assert state["scaler"]["scale"] > 0 and "_growth_tracker" in state["scaler"]
        resumed = Trainer(config, tmp_path / "run", resume=True, device="cuda")
        assert resumed.scaler.get_scale() == trainer.scaler.get_scale()  # restored, not a fresh 65536
        resumed.run()
    else:
        assert state["scaler"] == {}
        Trainer(config, tmp_path / "run", resume=True, device="cuda").run()
    weights = load_file(str(tmp_path / "run" / "model.safetensors"))
    assert all(torch.isfinite(v.float()).all() for v in weights.values())
    assert read_trainer_state(tmp_path / "run" / "checkpoints" / "last")["step"] == 6


def test_resume_on_the_gpu_is_bit_exact(toy_config, tmp_path, monkeypatch):
    """fp32, deterministic kernels (the heads' upsampling backward has a non-deterministic CUDA
    kernel by default): the resumed run ends on the straight run's weights exactly."""
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        config = toy_config(optim={"iterations": 6, "precision": "fp32"}, output={"checkpoint_every": 3})
        train(config, tmp_path / "straight", device="cuda")
        Trainer(config, tmp_path / "resumed", device="cuda").run(stop_at=3)
        Trainer(config, tmp_path / "resumed", resume=True, device="cuda").run()
    finally:
        torch.use_deterministic_algorithms(False)
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert not [k for k in a if not torch.equal(a[k], b[k])]


def test_nccl_process_group_of_one_through_torchrun_with_syncbatchnorm(tmp_path):
    """torchrun starts one process; it joins an nccl group, wraps the student as a multi-process run
    does (heads' BatchNorm -> SyncBatchNorm, DDP) and trains a step through it."""
    script = tmp_path / "nccl_one.py"
    script.write_text(textwrap.dedent("""
        import dataclasses
        import torch
        import torch.distributed as dist
        from sak_core.model import SAKStudent, StudentConfig
        from sak_core.training.distributed import DistContext, wrap_model

        dist.init_process_group("nccl")
        assert dist.get_backend() == "nccl" and dist.get_world_size() == 1
        device = torch.device("cuda", 0)
        torch.cuda.set_device(device)
        student = SAKStudent(StudentConfig(stem_overrides=dict(embed_dim=32, depth=4, num_heads=2),
                                           input_size=(32, 32), teachers=dict(a=32), tasks=dict(seg=3))).to(device)
        # a context that says "several processes" so wrap_model converts and wraps as it would for them
        ctx = dataclasses.replace(DistContext(0, 1, 0, device), world_size=2)
        model = wrap_model(student, ctx, find_unused=True)
        assert isinstance(model, torch.nn.parallel.DistributedDataParallel)
        sync = [m for m in student.heads.modules() if isinstance(m, torch.nn.SyncBatchNorm)]
        assert sync and not any(type(m) is torch.nn.BatchNorm2d for m in student.heads.modules())
        out = model(torch.randn(2, 3, 32, 32, device=device))
        out.tasks["seg"].mean().backward()
        assert all(torch.isfinite(m.running_mean).all() for m in sync)
        dist.destroy_process_group()
        print("nccl ok")
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FIXTURES), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
                        str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0 and "nccl ok" in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_compiled_student_trains_on_the_gpu(toy_config, tmp_path, precision):
    """optim.compile=true: inductor's GPU code (Triton) for the student, with checkpointing off and on."""
    torch._dynamo.reset()
    for checkpointing in (False, True):
        config = toy_config(model={"grad_checkpointing": checkpointing},
                            optim={"iterations": 2, "compile": True, "precision": precision})
        run = tmp_path / f"run-{checkpointing}"
        assert Trainer(config, run, device="cuda").run().step == 2
        weights = load_file(str(run / "model.safetensors"))
        assert all(torch.isfinite(v.float()).all() for v in weights.values())
