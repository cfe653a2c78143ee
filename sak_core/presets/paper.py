"""The paper's recipes (Lu et al., ICLR 2025, arXiv 2410.14633, "Training"; the authors' code
innovator-zero/SAK): stage 1 on ImageNet, stage 2 on PASCAL-Context and NYUD-v2, with a ViT-B stem
and the B-size DINOv2, CLIP and SAM."""

from __future__ import annotations

# The paper's B-size teachers (768 wide like the ViT-B stem, so no aligners), with the reference
# code's behaviour (faithful: ImageNet statistics for all, SAM's padded grid stretched).
TEACHERS = [
    {"name": "dinov2", "options": {"size": "base", "faithful": True}},
    {"name": "clip", "options": {"backend": "timm", "variant": "vit_base_patch16_clip_384",
                                 "pretrained": "laion2b_ft_in12k_in1k", "faithful": True}},
    {"name": "sam", "options": {"size": "vit_b", "backend": "timm", "faithful": True}},
]

_STAGE2 = {
    "stage": 2,
    "teachers": TEACHERS,
    "tasks": "all",
    "model": {"stem": "vit_base", "stem_pretrained": True},
    "optim": {
        "lr": 2e-5,
        "weight_decay": 1e-6,
        "schedule": "poly",
        "poly_power": 0.9,
        "iterations": 40000,
        "grad_clip": 10.0,
        "alpha": 1.0,
        "seed": 42,
        "distill_valid_region": False,
    },
    "output": {"checkpoint_every": 1000, "val_every": 2000, "log_every": 20},
}

PAPER_STAGE1 = {
    "stage": 1,
    "teachers": TEACHERS,
    "tasks": [],
    "model": {"stem": "vit_base", "stem_pretrained": True},
    # RandomResizedCrop 384 + horizontal flip: the imagenet dataset's training transform.
    "data": {"dataset": "imagenet", "input_size": [384, 384], "batch_size": 128, "workers": 8, "val_limit": 2000},
    "optim": {
        "lr": 1e-3,
        "weight_decay": 0.01,
        "schedule": "cosine",
        "epochs": 30,
        "warmup_epochs": 2,
        "min_lr": 1e-5,
        "grad_clip": None,
        "seed": 42,
        "distill_valid_region": False,
    },
    "output": {"checkpoint_every": 1000, "val_every": 5000, "log_every": 20},
}

PAPER_PASCAL = {
    **_STAGE2,
    "data": {"dataset": "pascal-context", "input_size": [512, 512], "batch_size": 4, "workers": 4},
}

PAPER_NYUD = {
    **_STAGE2,
    "data": {"dataset": "nyud", "input_size": [448, 576], "batch_size": 4, "workers": 4},
}
