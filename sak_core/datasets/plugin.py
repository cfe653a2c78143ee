"""The built-in datasets, registered through the ``sak.datasets`` entry point like any plugin.

Factories are :func:`~sak_core.plugin.specs.lazy`: the loaders (and torch) are imported when a dataset
is built, not when the plugins are listed.
"""

from __future__ import annotations

from sak_core.datasets.synthetic.scene import CLASSES, PART_GROUPS
from sak_core.plugin.hookspecs import hookimpl
from sak_core.plugin.specs import DatasetSpec, lazy

SAK_API = ">=1.0,<2"  # the plugin API range these are written for, as in every plugin

# the options (data.options) each loader takes: DenseDataset's, the synthetic generator's, ImageSource's
DENSE_OPTIONS = ("mean", "std", "on_error", "transform")
SYNTHETIC_OPTIONS = ("count", "image_size", "seed", "val_fraction", "workers", *DENSE_OPTIONS)
IMAGE_OPTIONS = ("mean", "std", "on_error", "scale")

PASCAL_CONTEXT = DatasetSpec(
    name="pascal-context",
    factory=lazy("sak_core.datasets.pascal_context:create"),
    options=DENSE_OPTIONS,
    tasks={
        "semseg": {"num_outputs": 21},
        "parts": {"num_outputs": 7},
        "saliency": {},
        "normals": {},
        "boundaries": {"max_dist": 0.0075},
    },
    input_size=(512, 512),
    description="PASCAL-Context multi-task (4998 / 5105 images): semseg, parts, saliency, normals, boundaries",
)

NYUD = DatasetSpec(
    name="nyud",
    factory=lazy("sak_core.datasets.nyud:create"),
    options=DENSE_OPTIONS,
    tasks={
        "semseg": {"num_outputs": 40},
        "normals": {},
        "boundaries": {"max_dist": 0.011},
        "depth": {},
    },
    input_size=(448, 576),
    description="NYUD-v2 multi-task (795 / 654 images): semseg, normals, boundaries, depth",
)

SYNTHETIC = DatasetSpec(
    name="synthetic",
    factory=lazy("sak_core.datasets.synthetic.dataset:create"),
    options=SYNTHETIC_OPTIONS,
    tasks={
        "semseg": {"num_outputs": len(CLASSES), "class_names": CLASSES},
        "parts": {"num_outputs": len(PART_GROUPS), "class_names": PART_GROUPS},
        "saliency": {},
        "normals": {},
        "boundaries": {"max_dist": 0.011},
        "depth": {},
    },
    input_size=(128, 128),
    description="seeded synthetic indoor scenes with all six tasks, generated into the user cache on first use",
)

IMAGENET = DatasetSpec(
    name="imagenet",
    factory=lazy("sak_core.datasets.images:create_imagenet"),
    options=IMAGE_OPTIONS,
    tasks={},
    input_size=(384, 384),
    description="ImageNet-1k for stage-1 distillation: class folders or train.tar (labels unused)",
)

IMAGES = DatasetSpec(
    name="images",
    factory=lazy("sak_core.datasets.images:create_folder"),
    options=IMAGE_OPTIONS,
    tasks={},
    input_size=(384, 384),
    splits=("train", "val"),  # val: root/val/, when the folder has one
    description="any folder of images for stage-1 distillation (held-out images in val/)",
)

BUILTIN = (PASCAL_CONTEXT, NYUD, SYNTHETIC, IMAGENET, IMAGES)


@hookimpl
def sak_register_datasets(register) -> None:
    for spec in BUILTIN:
        register(spec)
