"""Two nodes on one machine: two torchrun agents (``--nnodes 2``, one process each, gloo, a c10d
rendezvous on 127.0.0.1) run `sak train` through a few stage-1 steps of the toy run; one node is
killed, both are started again with ``--resume``, and the result equals a one-node run of the same
global batch (``data.batch_size`` is global: 2 = 1 per process on two nodes, 2 in one process).

Stage 1 (distillation only) so that nothing depends on the per-process batch: the heads' BatchNorm
(per-process statistics on CPU) and the routers' noise (seeded per rank) are stage 2's."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from sak_core.config import deep_merge
from sak_test_utils import TOY_RUN, run_sak, sak_env, write_distribution

pytestmark = pytest.mark.slow

ENV = {"SAK_LOAD_PLUGINS": "sak-toy-plugin", "OMP_NUM_THREADS": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node(node_rank: int, port: int, site: Path, *sak_args: str) -> subprocess.Popen:
    """One node's torchrun agent running `python -m sak_core` (the `sak` command) in one process."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
               "--node-rank", str(node_rank), "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
               "--rdzv-id", "sak-two-nodes", "--max-restarts", "0", "-m", "sak_core", *sak_args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=sak_env(site, ENV), start_new_session=True)


def _last_step(run: Path) -> int:
    try:
        return int(torch.load(run / "checkpoints" / "last" / "trainer.pt", weights_only=True)["step"])
    except (OSError, RuntimeError, EOFError, KeyError):
        return 0


def _finish(nodes: list[subprocess.Popen], timeout: float = 300) -> list[str]:
    outputs = []
    for node in nodes:
        out, _ = node.communicate(timeout=timeout)
        outputs.append(out)
    return outputs


def test_two_nodes_killed_and_resumed_equal_one_node(tmp_path):
    site = tmp_path / "site"
    write_distribution(site, "sak-toy-plugin", "0.1.0", {"sak.teachers": {"toy": "sak_toy_plugin"}})
    config = tmp_path / "stage1.yaml"
    config.write_text(yaml.safe_dump(deep_merge(TOY_RUN, {
        "stage": 1, "tasks": [],
        "data": {"batch_size": 2},  # global: one image per process on two nodes
        # a constant rate: a resume with a new --iterations keeps every step's rate
        "optim": {"iterations": 400, "schedule": "constant", "warmup_iters": 0},
        "output": {"checkpoint_every": 2},
    })))
    run = tmp_path / "two-nodes"

    # 1. both nodes train; node 1 is killed (agent and worker) once a checkpoint exists
    port = _free_port()
    nodes = [_node(rank, port, site, "train", "--config", str(config), "--out", str(run)) for rank in (0, 1)]
    deadline = time.monotonic() + 240
    while _last_step(run) < 2:
        assert time.monotonic() < deadline and all(n.poll() is None for n in nodes), _finish(nodes, 30)
        time.sleep(0.2)
    os.killpg(nodes[1].pid, signal.SIGKILL)
    outputs = _finish(nodes, 240)
    assert nodes[0].returncode != 0, outputs[0][-2000:]  # the surviving node stops: its peer is gone
    killed_at = _last_step(run)
    assert 2 <= killed_at < 400

    # 2. both nodes start again from the last checkpoint and train 4 more steps
    final = killed_at + 4
    port = _free_port()
    nodes = [_node(rank, port, site, "train", "--resume", str(run), "--iterations", str(final)) for rank in (0, 1)]
    outputs = _finish(nodes)
    assert [n.returncode for n in nodes] == [0, 0], "\n".join(o[-2000:] for o in outputs)
    assert sum(f"resuming {run} at step {killed_at}" in o for o in outputs) == 1  # rank 0 reports

    # 3. one node, one process, the same global batch and steps
    r = run_sak("train", "--config", str(config), "--out", str(tmp_path / "one-node"), "--iterations", str(final),
                site=site, env=ENV)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    two = load_file(str(run / "model.safetensors"))
    one = load_file(str(tmp_path / "one-node" / "model.safetensors"))
    assert two.keys() == one.keys()
    for name in one:  # gloo's all-reduce of two per-image gradients vs one process's mean: rounding only
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=1e-5, msg=name)
