"""model.grad_checkpointing: the stem's blocks (each with its adapter steps) are recomputed in the
backward pass. Same gradients as without in fp32, fewer saved activations, a bit-exact resume, and
it trains compiled (aot_eager) and under DDP (gloo, two processes through torchrun)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sak_core.model import SAKStudent, StudentConfig
from sak_core.training import Trainer, train
from sak_test_utils import FIXTURES

# dropout and drop-path inside the blocks: the recomputation must replay the same random masks
NOISY_STEM = {"embed_dim": 32, "depth": 4, "num_heads": 2, "drop_path_rate": 0.2, "proj_drop_rate": 0.1}


def _gradients(trainer: Trainer, batch) -> dict[str, torch.Tensor]:
    torch.manual_seed(7)  # the same router noise and dropout masks in both runs
    trainer.student.train()
    trainer.optimizer.zero_grad(set_to_none=True)
    trainer._total(trainer._losses(batch)).backward()
    return {n: p.grad.clone() for n, p in trainer.student.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("stage", [1, 2])
def test_checkpointed_student_gives_the_same_gradients_in_fp32(toy_config, tmp_path, stage):
    grads = {}
    for checkpointing in (False, True):
        config = toy_config(stage=stage, tasks=[] if stage == 1 else "all",
                            model={"stem_overrides": NOISY_STEM, "grad_checkpointing": checkpointing},
                            optim={"precision": "fp32", "teacher_precision": "fp32"})
        trainer = Trainer(config, tmp_path / f"run-{stage}-{checkpointing}")
        try:
            assert trainer.student.config.grad_checkpointing is checkpointing
            _, batch = next(trainer._batches())
            grads[checkpointing] = _gradients(trainer, batch)
        finally:
            trainer.lock.release(remove_empty_root=True)
    plain, checkpointed = grads[False], grads[True]
    assert plain.keys() == checkpointed.keys()
    assert any(k.startswith("stem.vit.blocks.0.") for k in plain)  # the recomputed blocks get gradients
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], rtol=0, atol=1e-6, msg=name)


def _saved_bytes(student: SAKStudent, images: torch.Tensor) -> int:
    """Bytes autograd keeps for the backward pass during one forward."""
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = student(images)
    del out
    return total


def test_checkpointing_keeps_fewer_activations_and_is_off_in_inference():
    config = dict(stem_overrides={"embed_dim": 64, "depth": 6, "num_heads": 2}, input_size=(64, 64),
                  teachers={"a": 64, "b": 64}, tasks={"seg": 5})
    images = torch.randn(2, 3, 64, 64)
    torch.manual_seed(0)
    plain = SAKStudent(StudentConfig(**config))
    torch.manual_seed(0)
    checkpointed = SAKStudent(StudentConfig(**config, grad_checkpointing=True))
    with torch.no_grad():  # nothing to recompute: the same outputs, no checkpoint wrapper
        a, b = plain.eval()(images), checkpointed.eval()(images)
    torch.testing.assert_close(a.tasks["seg"], b.tasks["seg"], rtol=0, atol=0)
    plain.train(), checkpointed.train()
    torch.manual_seed(1)
    saved_plain = _saved_bytes(plain, images)
    torch.manual_seed(1)
    saved_checkpointed = _saved_bytes(checkpointed, images)
    print(f"saved for backward: {saved_plain / 2**20:.2f} MiB plain, {saved_checkpointed / 2**20:.2f} MiB checkpointed")
    assert saved_checkpointed < 0.6 * saved_plain


def test_a_checkpointed_run_resumes_bit_exactly(toy_config, tmp_path):
    config = toy_config(model={"stem_overrides": NOISY_STEM, "grad_checkpointing": True},
                        optim={"iterations": 6}, output={"checkpoint_every": 3})
    train(config, tmp_path / "straight")
    Trainer(config, tmp_path / "resumed").run(stop_at=3)
    Trainer(config, tmp_path / "resumed", resume=True).run()
    a = load_file(str(tmp_path / "straight" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert a.keys() == b.keys()
    assert not [k for k in a if not torch.equal(a[k], b[k])]


def test_a_compiled_checkpointed_student_trains_like_the_compiled_plain_one(toy_config, tmp_path):
    """optim.compile=aot_eager traces the checkpointed blocks (dynamo's checkpoint operator) and
    trains to the same weights as the compiled student without checkpointing. (Compiled and eager
    runs differ from each other by ~1e-3 after two Adam steps, with or without checkpointing.)"""
    weights = {}
    for checkpointing in (False, True):
        torch._dynamo.reset()
        config = toy_config(model={"grad_checkpointing": checkpointing},
                            optim={"iterations": 2, "compile": "aot_eager", "precision": "fp32"})
        run = tmp_path / f"run-{checkpointing}"
        assert Trainer(config, run).run().step == 2
        weights[checkpointing] = load_file(str(run / "model.safetensors"))
    for name, value in weights[False].items():
        torch.testing.assert_close(weights[True][name], value, rtol=0, atol=1e-6, msg=name)


def test_ddp_with_checkpointing_matches_ddp_without(tmp_path):
    """Two gloo processes under torchrun train the toy run with and without checkpointing: the
    ranks agree with each other, and checkpointing changes no weight beyond fp32 rounding."""
    script = tmp_path / "ddp_checkpointing.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        import sak_toy_plugin
        import torch
        from sak_core.config import build_config, deep_merge
        from sak_core.plugin.registry import temporary_plugin
        from sak_core.training import Trainer
        from sak_test_utils import TOY_RUN

        out = {str(tmp_path)!r}
        states = {{}}
        with temporary_plugin(sak_toy_plugin):
            for on in (False, True):
                changes = {{"model": {{"grad_checkpointing": on}}, "optim": {{"iterations": 3, "precision": "fp32"}}}}
                trainer = Trainer(build_config(deep_merge(TOY_RUN, changes)), f"{{out}}/run-{{on}}")
                assert trainer.ctx.world_size == 2 and trainer.batch_size == 1
                trainer.run()
                states[on] = {{k: v.detach().clone() for k, v in trainer.student.state_dict().items()}}
        for k, v in states[False].items():
            torch.testing.assert_close(states[True][k], v, rtol=1e-5, atol=1e-6, msg=k)
        gathered = [None, None]
        torch.distributed.init_process_group("gloo") if not torch.distributed.is_initialized() else None
        torch.distributed.all_gather_object(gathered, {{k: v.sum().item() for k, v in states[True].items()}})
        assert gathered[0] == gathered[1], "the ranks hold different weights"
        print("rank ok")
    """))
    env = {**os.environ, "SAK_LOAD_PLUGINS": "sak-toy-plugin", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(FIXTURES), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        str(script)], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert r.stdout.count("rank ok") == 2
