"""Resume is bit-exact from every checkpoint, including those written at a validation step (with
the defaults ``checkpoint_every == val_every``, that is every periodic one): a checkpoint holds the
state after everything that happens at its step (validation, pictures, best), and validation
draws from its own generators, never from the training stream.

The runs use the real synthetic dataset and tasks: its loader draws each sample's seed from
torch's generator, which the toy dataset does not."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from sak_core.training import Trainer, train
from sak_core.run.rundir import read_trainer_state


def _same_weights(a, b):
    a, b = load_file(str(a)), load_file(str(b))
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} of {len(a)} tensors differ, e.g. {different[:3]}"


@pytest.fixture
def synthetic_config(toy_config, tmp_path, monkeypatch):
    """Toy teachers, a tiny stem, the synthetic dataset (24 scenes of 32 px, cached under tmp_path)
    and two of its tasks; a checkpoint and a validation at every 3rd of 9 steps."""
    monkeypatch.setenv("SAK_CACHE", str(tmp_path / "cache"))

    def make(workers: int):
        return toy_config(
            tasks=["semseg", "depth"],
            data={"dataset": "synthetic", "input_size": [32, 32], "workers": workers, "val_split": "val",
                  "val_limit": 4, "options": {"count": 24}},
            optim={"iterations": 9},
            output={"checkpoint_every": 3, "val_every": 3},
        )

    return make


@pytest.mark.parametrize("workers", [0, 1])
def test_resume_from_a_checkpoint_at_a_validation_step_is_bit_exact(synthetic_config, tmp_path, workers):
    config = synthetic_config(workers)
    train(config, tmp_path / "straight")
    Trainer(config, tmp_path / "resumed").run(stop_at=3)  # the checkpoint of step 3, a validation step
    assert read_trainer_state(tmp_path / "resumed" / "checkpoints" / "last")["step"] == 3
    Trainer(config, tmp_path / "resumed", resume=True).run()
    _same_weights(tmp_path / "straight" / "model.safetensors", tmp_path / "resumed" / "model.safetensors")
