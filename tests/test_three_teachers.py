"""The student trains against the three reference teachers (tiny, random) in one step."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

import sak_core
from sak_core.model.distill import distillation_loss

pytest.importorskip("sak_teacher_dinov2")
pytest.importorskip("sak_teacher_clip")
pytest.importorskip("sak_teacher_sam")

TEACHERS = {
    "dinov2": dict(arch=dict(embed_dim=32, depth=4, num_heads=2)),
    "clip": dict(arch=dict(embed_dim=48, depth=4, num_heads=2)),
    "sam": dict(arch=dict(embed_dim=32, depth=4, num_heads=2, img_size=128, global_attn_indexes=(0, 1, 2, 3))),
}


def test_one_step_against_dinov2_clip_and_sam():
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights are announced; expected here
        teachers = {n: sak_core.create_teacher(n, weights="random", **o) for n, o in TEACHERS.items()}
    widths = {n: sak_core.get_teacher_spec(n, weights="random", **o).feature_dim for n, o in TEACHERS.items()}
    assert widths == {"dinov2": 32, "clip": 48, "sam": 32}
    student = sak_core.create_student(
        sak_core.StudentConfig(
            stem_overrides=dict(embed_dim=32, depth=4, num_heads=2), input_size=(48, 64),
            teachers=widths, tasks={"semseg": 4}, aligners=True,
        )
    )
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-3)
    images = torch.randn(2, 3, 48, 64)  # non-square: SAM pads and reports its valid region
    targets = {n: t(images) for n, t in teachers.items()}
    assert targets["sam"].valid_size is not None and targets["sam"].valid_size[0] < targets["sam"].valid_size[1]
    out = student(images)
    distill, terms = distillation_loss(out.distill, targets)
    loss = distill + F.cross_entropy(out.tasks["semseg"], torch.randint(0, 4, (2, 48, 64)))
    before = {n: p.detach().clone() for n, p in student.named_parameters()}
    loss.backward()
    optimizer.step()
    assert len(terms) == 12 and torch.isfinite(loss)
    changed = {n.split(".")[0] for n, p in student.named_parameters() if not torch.equal(before[n], p)}
    assert changed == {"stem", "adapter_paths", "norms", "aligners", "routers", "heads"}
    assert all(p.grad is None for t in teachers.values() for p in t.parameters())
