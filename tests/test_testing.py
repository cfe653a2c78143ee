"""The conformance kit passes a plugin that follows the conventions and fails each kind of breach."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

import sak_toy_plugin
from sak_core import Task, TaskSpec, TeacherSpec, get_dataset_spec, hookimpl
from sak_core.plugin.lookup import create_teacher
from sak_core.errors import SpecError
from sak_core.plugin.registry import temporary_plugin
from sak_core.plugin.teacher_recipes import Recipe, Shape, TeacherOptions, teacher_spec, timm_recipe
from sak_core.plugin.teachers import Teacher, TeacherOutput, TimmTeacher
from sak_core.testing import check_task, check_teacher

TINY = dict(embed_dim=32, depth=2, num_heads=2, img_size=32)
MODEL = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"


class Registers:
    """An in-memory plugin registering the given specs."""

    def __init__(self, *specs) -> None:
        self.specs = specs

    @hookimpl
    def sak_register_teachers(self, register):
        for spec in self.specs:
            if isinstance(spec, TeacherSpec):
                register(spec)

    @hookimpl
    def sak_register_tasks(self, register):
        for spec in self.specs:
            if isinstance(spec, TaskSpec):
                register(spec)


HALF = (0.5, 0.5, 0.5)  # the teacher's own statistics differ from the pipeline's (ImageNet)


def kit_teacher(module=TimmTeacher, shape=Shape(192, 12, mean=HALF, std=HALF), default: dict | None = None, **recipe):
    def resolve(options: TeacherOptions) -> Recipe:
        return dataclasses.replace(timm_recipe(options, MODEL, shape, sources=(), module=module), **recipe)

    base = dict(model=MODEL, feature_dim=192, tap_indices=(2, 5, 8, 11), patch_size=16, input_size=(224, 224),
                mean=HALF, std=HALF)
    return teacher_spec("kit", TeacherOptions, resolve, default=None if default is None else Recipe(**{**base, **default}))


class NotFrozen(TimmTeacher):
    def freeze(self):
        return self


class SkipsRenormalisation(TimmTeacher):
    def extract(self, images):
        x, valid = self.prepare(images)
        return TeacherOutput([self.run_blocks(x, [i])[0] for i in self.spec.tap_indices], valid)


class DependsOnTheBatch(TimmTeacher):
    def prepare(self, images):
        return super().prepare(images - images.mean(dim=0, keepdim=True))


class IgnoresItsWeightsFile(TimmTeacher):
    def load_weights(self, path, hint=""):
        pass


def test_a_conforming_teacher_passes(tmp_path):
    with temporary_plugin(Registers(kit_teacher())):
        teacher = check_teacher("kit", tmp_path, arch=TINY)
    assert isinstance(teacher, TimmTeacher)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (kit_teacher(NotFrozen), "frozen"),
        (kit_teacher(SkipsRenormalisation), "input_mean/input_std"),
        (kit_teacher(DependsOnTheBatch), "image 0 alone"),
        (kit_teacher(IgnoresItsWeightsFile), "was not loaded"),
        (kit_teacher(feature_dim=33), "expected 2 x 33 x h x w"),
        (kit_teacher(default=dict(feature_dim=384)), "registered spec differs from configure"),
    ],
    ids=["not frozen", "no renormalisation", "batch dependent", "weights ignored", "wrong width", "stale default"],
)
def test_each_breach_fails(tmp_path, spec, message):
    with temporary_plugin(Registers(spec)), pytest.raises(AssertionError, match=message):
        check_teacher("kit", tmp_path, arch=TINY)


def test_a_teacher_that_accepts_misspelt_options_fails(tmp_path):
    with temporary_plugin(sak_toy_plugin), pytest.raises(AssertionError, match="accepted a misspelt option"):
        check_teacher("toy_a", tmp_path)


class ForgetfulMetricTask(Task):
    """Semseg-like, but its metric's reset() keeps what was added."""

    def loss(self):
        return torch.nn.CrossEntropyLoss(ignore_index=255)

    def metric(self):
        return Forgetful()

    def postprocess(self, outputs):
        return outputs.argmax(1)

    def save_prediction(self, prediction, path: Path) -> Path:
        out = Path(path).with_suffix(".pt")
        torch.save(prediction, out)
        return out

    def visualise(self, prediction):
        return prediction.to(torch.uint8)[..., None].expand(-1, -1, 3).numpy()


class Forgetful:
    def __init__(self):
        self.seen = 0

    def reset(self):
        pass

    def update(self, outputs, targets):
        self.seen += outputs.shape[0]

    def compute(self):
        return {"acc": float(self.seen)}


def test_a_task_whose_metric_does_not_reset_fails(tmp_path):
    classes = get_dataset_spec("synthetic").tasks["semseg"]["num_outputs"]
    spec = TaskSpec(name="semseg_kit", factory=ForgetfulMetricTask, metric_name="acc", default_outputs=classes,
                    derive_target=lambda batch: batch["semseg"][:, 0] if batch["semseg"].dim() == 4 else batch["semseg"],
                    requires=("semseg",))
    with temporary_plugin(Registers(spec)), pytest.raises(AssertionError, match="reset"):
        check_task("semseg_kit", "synthetic", tmp_path, count=4)


# -- teachers of any kind: through the contract only ------------------------------------------------


class Pooled(Teacher):
    """A weights-free teacher: the image's colours average-pooled per patch, at two scales."""

    def __init__(self, spec, options, recipe) -> None:
        super().__init__(spec, options.input_mean, options.input_std, options.faithful)
        self.freeze()

    def extract(self, images):
        x = self.renormalize(images)
        fine = torch.nn.functional.avg_pool2d(x, 8, ceil_mode=True)  # B x 3 x h x w
        coarse = torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(x, 16, ceil_mode=True),
                                                 size=fine.shape[-2:], mode=self.recipe_mode)
        return TeacherOutput([fine, coarse], None)

    recipe_mode = "nearest"


class PooledAntialiased(Pooled):
    recipe_mode = "bilinear"

    def extract(self, images):
        out = super().extract(images)
        x = torch.nn.functional.interpolate(images, scale_factor=0.5, mode="bilinear", antialias=True)
        return TeacherOutput([out.features[0], out.features[1] + x.mean(dim=(1, 2, 3), keepdim=True)], None)


def pooled_teacher(module=Pooled, **recipe) -> TeacherSpec:
    fields = {"has_weights": False, "random_init": False, "precisions": ("fp32", "bf16"), **recipe}
    return teacher_spec("pooled", TeacherOptions, lambda o: Recipe("", 3, (0, 1), 8, (32, 32), module=module, **fields))


def test_a_weights_free_teacher_passes_at_each_declared_precision(tmp_path):
    with temporary_plugin(Registers(pooled_teacher())):
        teacher = check_teacher("pooled", tmp_path)
    assert teacher.dtype == torch.float32 and not list(teacher.parameters())


def test_a_teacher_that_cannot_run_a_precision_it_declares_fails_and_passes_without_declaring_it(tmp_path):
    with temporary_plugin(Registers(pooled_teacher(PooledAntialiased))), pytest.raises(NotImplementedError):
        check_teacher("pooled", tmp_path)  # bf16 antialiased resize: torch has no CPU kernel
    with temporary_plugin(Registers(pooled_teacher(PooledAntialiased, precisions=("fp32",)))):
        check_teacher("pooled", tmp_path)


def test_weights_a_hand_made_spec_does_not_declare_are_refused_by_create(tmp_path):
    spec = pooled_teacher()
    spec = dataclasses.replace(spec, configure=None, factory=lambda **o: Pooled(spec, TeacherOptions(), None))
    with temporary_plugin(Registers(spec)):
        for weights in ("random", str(tmp_path / "w.pth")):
            with pytest.raises(SpecError, match="teacher 'pooled' has no weights to load"):
                create_teacher("pooled", weights=weights)
        assert create_teacher("pooled").dtype == torch.float32
