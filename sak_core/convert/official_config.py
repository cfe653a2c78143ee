"""The authors' YAML configs (innovator-zero/SAK): their names and size tables, read and written.

Only facts are taken from the reference code: the task and dataset names, the stem sizes and tap
blocks (``out_indices_cfg``), the input size of each dataset (``INPUT_SIZE``), the output counts
(``PASCAL_OUT_CHANNELS`` / ``NYUD_OUT_CHANNELS``) and the width of each teacher ``backbone_type``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sak_core.config import read_yaml
from sak_core.errors import ConfigError

# The authors' task name -> this toolkit's task plugin.
TASK_NAMES: dict[str, str] = {
    "semseg": "semseg",
    "human_parts": "parts",
    "sal": "saliency",
    "normals": "normals",
    "edge": "boundaries",
    "depth": "depth",
}
TASK_NAMES_BACK: dict[str, str] = {ours: theirs for theirs, ours in TASK_NAMES.items()}


@dataclass(frozen=True)
class OfficialDataset:
    """One ``dataset:`` value of the authors' configs."""

    sak_name: str  # this toolkit's dataset name
    input_size: tuple[int, int]
    outputs: dict[str, int] = field(default_factory=dict)  # the authors' task name -> head outputs


DATASETS: dict[str, OfficialDataset] = {
    "pascalcontext": OfficialDataset(
        "pascal-context", (512, 512), {"semseg": 21, "human_parts": 7, "normals": 3, "edge": 1, "sal": 2}
    ),
    "nyud": OfficialDataset("nyud", (448, 576), {"semseg": 40, "normals": 3, "edge": 1, "depth": 1}),
    "imagenet": OfficialDataset("imagenet", (384, 384)),
}


@dataclass(frozen=True)
class OfficialStem:
    """One ``vit_name`` of the authors' student: width, depth, tap blocks and attention heads."""

    embed_dim: int
    depth: int
    tap_indices: tuple[int, ...]
    num_heads: int


STEMS: dict[str, OfficialStem] = {
    "vit_small": OfficialStem(384, 12, (2, 5, 8, 11), 6),
    "vit_base": OfficialStem(768, 12, (2, 5, 8, 11), 12),
    "vit_large": OfficialStem(1024, 24, (5, 11, 17, 23), 16),
}


@dataclass(frozen=True)
class OfficialTeacher:
    """A teacher ``backbone_type`` of the authors' code: its feature width and, when this toolkit
    has a plugin for it, the registry name and options that build the same model."""

    width: int
    sak_name: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


TEACHERS: dict[str, OfficialTeacher] = {
    "dinov2_small": OfficialTeacher(384, "dinov2", {"size": "small"}),
    "dinov2_base": OfficialTeacher(768, "dinov2", {"size": "base"}),
    "dinov2_large": OfficialTeacher(1024, "dinov2", {"size": "large"}),
    "dinov2_giant": OfficialTeacher(1536, "dinov2", {"size": "giant"}),
    "sam_base": OfficialTeacher(768, "sam", {"size": "vit_b"}),
    "sam_large": OfficialTeacher(1024, "sam", {"size": "vit_l"}),
    "sam_huge": OfficialTeacher(1280, "sam", {"size": "vit_h"}),
    "timmclip_base": OfficialTeacher(
        768, "clip", {"backend": "timm", "variant": "vit_base_patch16_clip_384", "pretrained": "laion2b_ft_in12k_in1k"}
    ),
    "timmclip_large": OfficialTeacher(1024, "clip", {"backend": "timm", "variant": "vit_large_patch14_clip_336"}),
    "openaiclip_base": OfficialTeacher(
        768, "clip", {"backend": "timm", "variant": "vit_base_patch16_clip_224", "pretrained": "openai"}
    ),
    "openaiclip_large": OfficialTeacher(
        1024, "clip", {"backend": "timm", "variant": "vit_large_patch14_clip_336", "pretrained": "openai"}
    ),
    # No plugin of this toolkit builds these; their widths still size the aligners.
    "openclip_base": OfficialTeacher(768),
    "openclip_large": OfficialTeacher(1024),
    "dfnclip_base": OfficialTeacher(768),
    "dfnclip_large": OfficialTeacher(1024),
    "dfnclip_huge": OfficialTeacher(1280),
    "siglip_base": OfficialTeacher(768),
    "siglip_large": OfficialTeacher(1024),
    "siglip_so": OfficialTeacher(1152),
    "theia_small": OfficialTeacher(384),
    "theia_base": OfficialTeacher(768),
    "radio_v2.5-b": OfficialTeacher(768),
    "radio_v2.5-l": OfficialTeacher(1024),
    "vit_small": OfficialTeacher(384),
    "vit_base": OfficialTeacher(768),
    "vit_large": OfficialTeacher(1024),
    "vit_huge": OfficialTeacher(1280),
}

# The teacher written into an authors' config for this toolkit's (teacher name, width).
TEACHERS_BACK: dict[tuple[str, int], str] = {
    ("dinov2", 384): "dinov2_small",
    ("dinov2", 768): "dinov2_base",
    ("dinov2", 1024): "dinov2_large",
    ("dinov2", 1536): "dinov2_giant",
    ("sam", 768): "sam_base",
    ("sam", 1024): "sam_large",
    ("sam", 1280): "sam_huge",
    ("clip", 768): "timmclip_base",
    ("clip", 1024): "timmclip_large",
}

# Keys of ``student.backbone`` this converter understands (``tea_dims`` is what the authors'
# test script injects; it carries no information for a checkpoint).
_BACKBONE_KEYS = {
    "backbone_type", "vit_name", "down_ratio", "aligner", "router_type", "noisy_gating",
    "freeze_vit", "freeze", "lora_config", "tea_dims",
}


@dataclass
class OfficialConfig:
    """What an authors' config says about the student.

    Attributes:
        dataset: the ``dataset:`` value (``pascalcontext``, ``nyud``, ``imagenet``) or None.
        tasks: the authors' task names in ``task_dict`` order (empty for stage 1 configs).
        teachers: teacher name -> ``backbone_type`` (None when not given), in config order.
        raw: the whole YAML mapping, kept so the reverse conversion can write it back.
    """

    dataset: str | None
    tasks: list[str]
    teachers: dict[str, str | None]
    vit_name: str
    down_ratio: int = 4
    aligner: bool = False
    router_type: str = "mor"
    noisy_gating: bool = True
    freeze_vit: bool = False
    freeze: bool = False
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def dataset_info(self) -> OfficialDataset | None:
        return DATASETS.get(self.dataset) if self.dataset else None


def _flag(section: dict[str, Any], key: str, default: bool, source: str) -> bool:
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{source}: student.backbone.{key} must be True or False, not {value!r}")
    return value


def parse_official_config(data: dict[str, Any] | str | Path) -> OfficialConfig:
    """Read an authors' config (a YAML file or its mapping) into an :class:`OfficialConfig`."""
    source = str(data) if isinstance(data, (str, Path)) else "the authors' config"
    raw = read_yaml(data) if isinstance(data, (str, Path)) else dict(data)
    student = raw.get("student")
    backbone = student.get("backbone") if isinstance(student, dict) else None
    if not isinstance(backbone, dict):
        raise ConfigError(f"{source} has no student.backbone section: is it a config of innovator-zero/SAK?")
    if backbone.get("backbone_type") != "sak":
        raise ConfigError(
            f"{source}: student.backbone.backbone_type is {backbone.get('backbone_type')!r}; "
            "only SAK students ('sak') can be converted"
        )
    unknown = sorted(set(backbone) - _BACKBONE_KEYS)
    if unknown:
        raise ConfigError(f"{source}: student.backbone has keys this converter does not know: {', '.join(unknown)}")
    if backbone.get("lora_config"):
        raise ConfigError(
            f"{source}: LoRA stems (student.backbone.lora_config) are not supported; merge the LoRA "
            "weights into the ViT with peft's merge_and_unload and drop lora_config first"
        )
    vit_name = backbone.get("vit_name")
    if not isinstance(vit_name, str) or vit_name not in STEMS:
        raise ConfigError(f"{source}: student.backbone.vit_name {vit_name!r} is not one of {', '.join(STEMS)}")
    router_type = backbone.get("router_type", "mor")
    if router_type not in ("mor", "none"):
        raise ConfigError(f"{source}: student.backbone.router_type {router_type!r} is not 'mor' or 'none'")
    down_ratio = backbone.get("down_ratio", 4)
    if isinstance(down_ratio, bool) or not isinstance(down_ratio, int) or down_ratio < 1:
        raise ConfigError(f"{source}: student.backbone.down_ratio must be a positive integer, not {down_ratio!r}")

    teachers_section = raw.get("teachers") or {}
    if not isinstance(teachers_section, dict):
        raise ConfigError(f"{source}: teachers must be a mapping of name -> {{backbone_type: ...}}")
    teachers = {}
    for name, entry in teachers_section.items():
        if entry is not None and not isinstance(entry, dict):
            raise ConfigError(f"{source}: teachers.{name} must be a mapping such as {{backbone_type: dinov2_base}}, "
                              f"not {entry!r}")
        backbone_type = (entry or {}).get("backbone_type")
        if backbone_type is not None and not isinstance(backbone_type, str):
            raise ConfigError(f"{source}: teachers.{name}.backbone_type must be a name such as dinov2_base, "
                              f"not {backbone_type!r}")
        teachers[str(name)] = backbone_type

    dataset = raw.get("dataset")
    if dataset is not None and (not isinstance(dataset, str) or dataset not in DATASETS):
        raise ConfigError(f"{source}: dataset {dataset!r} is not one of {', '.join(DATASETS)}")
    task_dict = raw.get("task_dict") or {}
    if not isinstance(task_dict, dict):
        raise ConfigError(f"{source}: task_dict must be a mapping of task -> 1 or 0 (e.g. {{semseg: 1}}), "
                          f"not {task_dict!r}")
    tasks = []
    for task, count in task_dict.items():
        if task not in TASK_NAMES:
            raise ConfigError(f"{source}: task {task!r} is not one of {', '.join(TASK_NAMES)}")
        if count not in (0, 1):
            raise ConfigError(
                f"{source}: task_dict.{task} is {count!r}; only 1 (use the task) or 0 (skip it) can be converted"
            )
        if count:
            tasks.append(task)
    return OfficialConfig(
        dataset=dataset,
        tasks=tasks,
        teachers=teachers,
        vit_name=vit_name,
        down_ratio=down_ratio,
        aligner=_flag(backbone, "aligner", False, source),
        router_type=router_type,
        noisy_gating=_flag(backbone, "noisy_gating", True, source),
        freeze_vit=_flag(backbone, "freeze_vit", False, source),
        freeze=_flag(backbone, "freeze", False, source),
        raw=raw,
    )
