"""The demo preset: the real DINOv2, CLIP and SAM architectures at tiny sizes with random weights,
the synthetic dataset and a tiny stem, so that a CPU trains it in a few minutes."""

from __future__ import annotations

WIDTH = 64  # teachers and stem share it, so the student needs no aligners
TINY_VIT = {"embed_dim": WIDTH, "depth": 4, "num_heads": 2}

DEMO = {
    "stage": 2,
    "teachers": [
        {"name": "dinov2", "weights": "random", "options": {"size": "small", "arch": dict(TINY_VIT)}},
        {"name": "clip", "weights": "random", "options": {"arch": dict(TINY_VIT)}},
        {"name": "sam", "weights": "random",
         "options": {"arch": {**TINY_VIT, "img_size": 128, "global_attn_indexes": [0, 1, 2, 3]}}},
    ],
    "tasks": "all",
    "model": {"stem": "vit_small", "stem_overrides": dict(TINY_VIT)},
    # 300 scenes of 64 x 64 px (240 train, 60 val), generated once into the user cache.
    "data": {"dataset": "synthetic", "input_size": [64, 64], "batch_size": 8, "workers": 0,
             "options": {"count": 300}},
    "optim": {
        "lr": 2e-3,
        "weight_decay": 1e-4,
        "schedule": "cosine",
        "warmup_iters": 15,
        "min_lr": 1e-5,
        "iterations": 250,
        "grad_clip": 10.0,
        "alpha": 0.5,
        "seed": 42,
        # Tiny tensors: threads only add overhead, and on a shared 2-core machine they thrash.
        "cpu_threads": 1,
    },
    "output": {"checkpoint_every": 50, "val_every": 250, "log_every": 10},
}
