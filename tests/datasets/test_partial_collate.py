"""collate_samples over samples that lack some labels (partially labelled tasks, docs/datasets.md#mixing):
the missing ones are zero-filled and ``label_mask`` says exactly which samples have each such key."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sak_core.datasets.batch import collate_samples
from sak_core.plugin.specs import LABEL_MASK, label_mask


def _sample(index: int, keys: set[str]) -> dict:
    """Sample ``index``: an image, and of the labels 'seg' (long H x W) and 'depth' (float 1 x H x W)
    the ones in ``keys``, each filled with values of its own (never zero) so that a zero-filled
    slot cannot pass for a real one."""
    sample = {"image": torch.full((3, 4, 5), float(index + 1)), "meta": {"id": f"s{index}"}}
    if "seg" in keys:
        sample["seg"] = torch.full((4, 5), index + 1, dtype=torch.long)
    if "depth" in keys:
        sample["depth"] = torch.full((1, 4, 5), 0.5 + index)
    return sample


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sets(st.sampled_from(["seg", "depth"])), min_size=1, max_size=6))
def test_missing_labels_are_zeros_and_the_mask_names_the_samples_that_have_them(label_sets):
    samples = [_sample(i, keys) for i, keys in enumerate(label_sets)]
    batch = collate_samples(samples)
    assert batch["meta"] == [{"id": f"s{i}"} for i in range(len(samples))]
    assert torch.equal(batch["image"], torch.stack([s["image"] for s in samples]))
    masks = batch.get(LABEL_MASK, {})
    for key in ("seg", "depth"):
        present = [key in keys for keys in label_sets]
        if not any(present):  # no sample has it: the batch has no such key at all
            assert key not in batch and key not in masks
            continue
        like = next(s[key] for s in samples if key in s)
        expected = torch.stack([s[key] if key in s else torch.zeros_like(like) for s in samples])
        assert batch[key].dtype == like.dtype and torch.equal(batch[key], expected)
        if all(present):  # every sample has it: no mask
            assert key not in masks and label_mask(batch, key) is None
        else:
            assert masks[key].dtype == torch.bool and masks[key].tolist() == present
            assert label_mask(batch, key) is masks[key]
    assert set(masks) <= {"seg", "depth"}
    assert (LABEL_MASK in batch) == bool(masks)  # a batch whose samples are all complete has no label_mask


def test_a_key_every_sample_has_gets_no_mask():
    batch = collate_samples([_sample(0, {"seg", "depth"}), _sample(1, {"seg", "depth"})])
    assert LABEL_MASK not in batch
    assert label_mask(batch, "seg") is None and label_mask(batch, "depth") is None
    assert batch["seg"].tolist() == [[[1] * 5] * 4, [[2] * 5] * 4]


def test_a_key_the_first_sample_lacks_is_still_collected():
    batch = collate_samples([_sample(0, set()), _sample(1, {"depth"}), _sample(2, {"seg"})])
    assert batch[LABEL_MASK]["depth"].tolist() == [False, True, False]
    assert batch[LABEL_MASK]["seg"].tolist() == [False, False, True]
    assert batch["depth"][:, 0, 0, 0].tolist() == [0.0, 1.5, 0.0]
    assert batch["seg"][:, 0, 0].tolist() == [0, 0, 3] and batch["seg"].dtype == torch.long
