"""Two datasets under DDP: two gloo processes (torchrun) train the toy run on a dataset labelled for
toy_seg only and a partially labelled one labelled for toy_depth only. Every process must draw the
same dataset at every step (else DDP's all-reduce pairs different heads), the heads a step does
not train (the other dataset's; a partial task one process has a label for and the other not)
must not stop DDP, and both processes end with the same weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from safetensors.torch import load_file

from sak_test_utils import FIXTURES

HERE = Path(__file__).parent


def test_two_processes_draw_the_same_dataset_every_step_and_end_equal(tmp_path):
    script = tmp_path / "ddp_mixing.py"
    script.write_text(textwrap.dedent(f"""
        import importlib.util
        import json
        import sak_toy_plugin
        import torch
        from safetensors.torch import save_file
        from sak_core.config import build_config, deep_merge
        from sak_core.plugin.registry import temporary_plugin
        from sak_core.training import Trainer
        from sak_test_utils import TOY_RUN

        spec = importlib.util.spec_from_file_location("test_mixing", {str(HERE / "test_mixing.py")!r})
        mixing = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mixing)  # its MixPlugins: the toy_depth task and the mix datasets

        class Recording(Trainer):
            '''The trainer, noting each step's dataset and loss terms.'''

            def _batches(self):
                self.steps = []
                for key, batch in super()._batches():
                    self.steps.append({{"key": key, "ids": [m["id"] for m in batch["meta"]]}})
                    yield key, batch

            def _losses(self, batch, key=None):
                terms = super()._losses(batch, key)
                self.steps[-1]["terms"] = sorted(terms)
                return terms

        out = {str(tmp_path / "run")!r}
        data = {{k: v for k, v in TOY_RUN["data"].items() if k != "dataset"}}
        data["datasets"] = [{{"name": "mix", "options": {{"labels": ["toy_seg"]}}}},
                            {{"name": "mix_partial", "options": {{"labels": ["toy_depth"]}}}}]
        config = {{**deep_merge(TOY_RUN, {{"optim": {{"iterations": 10, "precision": "fp32"}}}}), "data": data}}
        with temporary_plugin(sak_toy_plugin), temporary_plugin(mixing.MixPlugins()):
            trainer = Recording(build_config(config), out)
            assert trainer.ctx.world_size == 2 and trainer.batch_size == 1
            assert trainer.model.find_unused_parameters
            trainer.run()
            rank = trainer.ctx.rank
            state = {{k: v.detach().contiguous() for k, v in trainer.student.state_dict().items()}}
            save_file(state, f"{{out}}/rank{{rank}}.safetensors")
            with open(f"{{out}}/rank{{rank}}.json", "w") as f:
                json.dump(trainer.steps, f)
    """))
    env = {**os.environ, "SAK_LOAD_PLUGINS": "sak-toy-plugin", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(FIXTURES), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    run = tmp_path / "run"
    steps = [json.loads((run / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert len(steps[0]) == len(steps[1]) == 10
    assert [s["key"] for s in steps[0]] == [s["key"] for s in steps[1]]  # the same dataset at every step
    assert {s["key"] for s in steps[0]} == {"mix", "mix_partial"}
    for a, b in zip(*steps):
        assert a["ids"] != b["ids"]  # each process its own share of the global batch
    for step in steps[0] + steps[1]:  # each dataset's own task only; the partial one where labelled
        expected = [["distill", "toy_seg"]] if step["key"] == "mix" else [["distill"], ["distill", "toy_depth"]]
        assert step["terms"] in expected, step
    # a step of the partial dataset where one process has a toy_depth label and the other not
    assert any(a["terms"] != b["terms"] for a, b in zip(*steps) if a["key"] == "mix_partial"), steps
    first, second = (load_file(str(run / f"rank{rank}.safetensors")) for rank in (0, 1))
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name
    trained = load_file(str(run / "model.safetensors"))
    assert all(torch.equal(trained[k], first[k]) for k in first)
