"""Distillation loss between the student's per-teacher maps and the teachers' features."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import torch
import torch.nn.functional as F

from sak_core.plugin.teachers import TeacherOutput

COSINE_WEIGHT = 0.9
SMOOTH_L1_WEIGHT = 0.1


def match_maps(student: torch.Tensor, teacher: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two ``B x C x h x w`` maps brought to one size and dtype, as the loss compares them: the
    map with fewer rows is resized bilinearly to the other's size (as the reference does) and
    the teacher's takes the student's dtype. Different channel counts are a ValueError."""
    if student.shape[1] != teacher.shape[1]:
        raise ValueError(
            f"student map has {student.shape[1]} channels but the teacher's has {teacher.shape[1]}: "
            "enable aligners (model.aligners: true) when teacher and stem widths differ"
        )
    if student.shape[2:] != teacher.shape[2:]:
        if teacher.shape[2] > student.shape[2]:
            student = F.interpolate(student, size=teacher.shape[2:], mode="bilinear", align_corners=False)
        else:
            teacher = F.interpolate(teacher, size=student.shape[2:], mode="bilinear", align_corners=False)
    return student, teacher.to(student.dtype)


def level_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """``0.9 * (1 - cos) + 0.1 * SmoothL1`` between two ``B x C x h x w`` maps.

    The map with fewer rows is resized bilinearly to the other's size (as the reference does);
    the cosine is taken over each image's whole flattened map and averaged over the batch.
    """
    student, teacher = match_maps(student, teacher)
    flat_s, flat_t = student.flatten(1), teacher.flatten(1)  # B, C*h*w
    cosine = F.cosine_embedding_loss(flat_s, flat_t, flat_s.new_ones(flat_s.shape[0]))
    return COSINE_WEIGHT * cosine + SMOOTH_L1_WEIGHT * F.smooth_l1_loss(student, teacher)


def crop_valid(feature: torch.Tensor, valid_size: tuple[int, int] | None) -> torch.Tensor:
    """The top-left ``valid_size`` part of a teacher grid (all of it when None)."""
    if valid_size is None:
        return feature
    return feature[:, :, : valid_size[0], : valid_size[1]]


def level_pairs(
    student: Mapping[str, list[torch.Tensor]],
    teachers: Mapping[str, TeacherOutput],
    use_valid_region: bool = True,
) -> Iterator[tuple[str, int, torch.Tensor, torch.Tensor]]:
    """``(teacher, level, student map, teacher map)`` for every teacher and tap level, the
    teacher's grid cropped to its valid region when ``use_valid_region`` (what the loss and
    the stage-1 scores compare). A teacher without an adapter path, or with another number of
    levels than the student taps, is a KeyError / ValueError."""
    for name, output in teachers.items():
        if name not in student:
            raise KeyError(f"the student has no adapter path for teacher '{name}'; it has {sorted(student)}")
        maps = student[name]
        if len(maps) != len(output.features):
            raise ValueError(
                f"teacher '{name}' gives {len(output.features)} levels but the student taps {len(maps)}"
            )
        valid = output.valid_size if use_valid_region else None
        for level, (s, t) in enumerate(zip(maps, output.features)):
            yield name, level, s, crop_valid(t, valid)


def distillation_loss(
    student: Mapping[str, list[torch.Tensor]],
    teachers: Mapping[str, TeacherOutput],
    use_valid_region: bool = True,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Unweighted sum over teachers and levels of :func:`level_loss`.

    ``use_valid_region`` crops each teacher grid to the part that covers the image before
    resizing (False reproduces the reference, which stretches a padded grid).
    Returns the total and the per-term losses keyed ``"{teacher}/level{l}"``.
    """
    terms = {f"{name}/level{level}": level_loss(s, t)
             for name, level, s, t in level_pairs(student, teachers, use_valid_region)}
    if not terms:
        raise ValueError("distillation_loss needs at least one teacher")
    return torch.stack(list(terms.values())).sum(), terms
