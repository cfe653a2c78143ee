"""Convert checkpoints of the authors' SAK code (innovator-zero/SAK) to sak run directories and back.

The authors' training scripts save ``{"model": student.state_dict(), "optimizer": ..., ...}``:
stage 1 holds the bare SAK backbone (``vit.``, ``tsap.``, ``out_norms.``, ``ts_aligners.``),
stage 2 the multi-task model (``backbone.`` + the same, ``backbone.mor.``, ``heads.``). Their
YAML config names the teachers, the stem size, aligners, router and the dataset's tasks; the
rest (tap blocks, teacher widths with aligners, input size) is checked against the tensors.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file

from sak_core.run.checkpoint import load_student, read_metadata, resolve_checkpoint, write_student
from sak_core.run.layout import CONFIG_FILE, MODEL_FILE, PLUGINS_FILE, resolved_files
from sak_core.weights.files import load_state_strict, load_torch_file
from sak_core.config import (
    DataSection,
    OptimSection,
    RunConfig,
    TeacherEntry,
    deep_merge,
)
from sak_core.convert.official_config import (
    DATASETS,
    STEMS,
    TASK_NAMES,
    TASK_NAMES_BACK,
    TEACHERS,
    TEACHERS_BACK,
    OfficialConfig,
    parse_official_config,
)
from sak_core.convert.official_keys import STAGE2_PREFIX, official_key_map, official_task_name, remap_state
from sak_core.errors import CheckpointError, ConfigError, SakError
from sak_core.runtime.files import check_output, describe_os_error, staged_writes, write_failure
from sak_core.model import SAKStudent, StudentConfig

OFFICIAL_CONFIG_KEY = "sak_official_config"
CONVERTED_FROM_KEY = "sak_converted_from"
_DDP_PREFIX = "module."


@dataclass
class Conversion:
    """The result of a conversion: the student (eval mode), the run config describing it, and
    what the user should know (choices made, things the other layout cannot express)."""

    student: SAKStudent
    run_config: RunConfig
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- reading the authors' files


def read_official_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The student state dict of an authors' checkpoint file.

    ``.safetensors`` files are read with safetensors; anything else with
    ``torch.load(weights_only=True)``, which refuses to unpickle arbitrary objects. The file may
    hold ``{"model": state_dict, ...}`` (what the training scripts save) or the bare state dict;
    a ``module.`` prefix on every key (a DistributedDataParallel dump) is removed.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        try:
            return _state_of(load_file(str(path)), path)
        except (SafetensorError, OSError) as exc:
            raise CheckpointError(f"{path} is not a readable safetensors file ({exc})") from None
    _check_torch_file(path)
    return _state_of(load_torch_file(path), path)


def _check_torch_file(path: Path) -> None:
    """Refuse a file that cannot be a ``torch.save`` file (a zip archive holding ``data.pkl``, or
    the legacy format, a pickle stream), saying what it is instead."""
    with path.open("rb") as f:
        head = f.read(64)
    hint = "pass the .pth file the authors' training scripts save, or a .safetensors file"
    if not head:
        raise CheckpointError(f"{path} is not a PyTorch checkpoint: the file is empty (0 bytes); {hint}")
    if head.startswith(b"version https://git-lfs"):
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint but a Git LFS pointer to one; fetch the file itself "
            "(e.g. `git lfs pull`, or download it from Hugging Face yxlu0/SAK)"
        )
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return  # a damaged archive: torch.load says what it can
        if not any(name == "data.pkl" or name.endswith("/data.pkl") for name in names):
            raise CheckpointError(
                f"{path} is not a PyTorch checkpoint: it is a zip archive without the data.pkl of a torch.save "
                f"file (it holds {', '.join(names[:5]) or 'nothing'}); {hint}"
            )
        return
    # torch.save's legacy format: a pickle stream (protocol 2+: b"\x80"; 0 and 1: torch's magic number)
    if not head.startswith((b"\x80", b"L119547037146038801333356L")):
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:  # binary, or text whose first 64 bytes end mid-character
            text = head[: exc.start].decode("utf-8") if exc.start >= len(head) - 3 else ""
        if text and all(c.isprintable() or c.isspace() for c in text):
            what = f"it is text, starting {text[:30]!r}"
        else:
            what = "it does not start as a torch.save file does"
        raise CheckpointError(f"{path} is not a PyTorch checkpoint: {what}; {hint}")


def _state_of(payload: Any, source: Path) -> dict[str, torch.Tensor]:
    if isinstance(payload, dict) and "model" in payload:
        state = payload["model"]
    else:
        state = payload
    if not isinstance(state, dict) or not state:
        top = sorted(map(str, payload)) if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(
            f"{source} holds no state dict (expected {{'model': state_dict}} or a state dict; found {top})"
        )
    wrong = sorted(str(k) for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor))
    if wrong:
        raise CheckpointError(
            f"{source}: the state dict has {len(wrong)} entries that are not tensors: {', '.join(wrong[:10])}"
        )
    if all(k.startswith(_DDP_PREFIX) for k in state):
        state = {k[len(_DDP_PREFIX):]: v for k, v in state.items()}
    return dict(state)


def official_stage(state: dict[str, torch.Tensor]) -> int:
    """1 for the authors' stage-1 backbone layout, 2 for the stage-2 multi-task layout."""
    if f"{STAGE2_PREFIX}vit.pos_embed" in state:
        return 2
    if "vit.pos_embed" in state:
        return 1
    first = ", ".join(sorted(state)[:5])
    raise CheckpointError(
        "not a checkpoint of the authors' SAK student: it has neither vit.pos_embed (stage 1) nor "
        f"backbone.vit.pos_embed (stage 2); its first keys are {first}"
    )


def _indexed_names(state: dict[str, torch.Tensor], prefix: str) -> list[tuple[int, str]]:
    """``(block, name)`` of the keys ``<prefix><block>_<name>.<leaf>``, sorted and unique."""
    found = set()
    for key in state:
        if key.startswith(prefix):
            match = re.fullmatch(r"(\d+)_(.+)\.[^.]+", key[len(prefix):])
            if match:
                found.add((int(match.group(1)), match.group(2)))
    return sorted(found)


# ---------------------------------------------------------------- authors' config -> sak


def _input_size(
    tokens: int, official: OfficialConfig, stage: int, input_size: tuple[int, int] | None, notes: list[str]
) -> tuple[int, int]:
    def fits(size: tuple[int, int]) -> bool:
        return tokens == 1 + (size[0] // 16) * (size[1] // 16)

    if input_size is not None:
        size = (int(input_size[0]), int(input_size[1]))
        if not fits(size):
            raise CheckpointError(
                f"the checkpoint's position embedding has {tokens} tokens, but --input-size {size[0]} {size[1]} "
                f"gives 1 + {size[0] // 16}*{size[1] // 16}"
            )
        return size
    # Stage 1 trains on ImageNet; a backbone-only stage-2 run (no --task_out) on the config's dataset.
    candidates = [DATASETS["imagenet"], official.dataset_info] if stage == 1 else [official.dataset_info]
    for dataset in candidates:
        if dataset is not None and fits(dataset.input_size):
            return dataset.input_size
    side = int(round((tokens - 1) ** 0.5))
    if side * side == tokens - 1:
        size = (16 * side, 16 * side)
        notes.append(f"input size {size[0]}x{size[1]} inferred from the position embedding ({tokens} tokens)")
        return size
    raise CheckpointError(
        f"the checkpoint's position embedding has {tokens} tokens, which fits no input size the config "
        "names; pass --input-size H W (the size the checkpoint was trained at)"
    )


def student_config_from_official(
    official: OfficialConfig,
    state: dict[str, torch.Tensor],
    input_size: tuple[int, int] | None = None,
    stem_overrides: dict[str, int | float | bool] | None = None,
) -> tuple[StudentConfig, list[str]]:
    """The :class:`StudentConfig` an authors' config and checkpoint describe, and notes.

    ``stem_overrides`` (timm ``embed_dim``, ``depth``, ``num_heads``) are only for stems that are
    not the standard ``vit_small/base/large``; the tap blocks are then read from the checkpoint.
    """
    notes: list[str] = []
    stage = official_stage(state)
    prefix = STAGE2_PREFIX if stage == 2 else ""
    pos_embed = state[f"{prefix}vit.pos_embed"]
    if pos_embed.ndim != 3 or pos_embed.shape[0] != 1:
        raise CheckpointError(
            f"the checkpoint's {prefix}vit.pos_embed has shape {tuple(pos_embed.shape)}, not (1, tokens, width): "
            "is it a checkpoint of the authors' SAK student?"
        )
    embed_dim = int(pos_embed.shape[-1])
    depth = len({int(m.group(1)) for k in state if (m := re.match(re.escape(f"{prefix}vit.blocks.") + r"(\d+)\.", k))})
    stem = STEMS[official.vit_name]
    overrides = dict(stem_overrides or {})
    width, heads = overrides.get("embed_dim", stem.embed_dim), overrides.get("num_heads", stem.num_heads)
    if isinstance(width, int) and isinstance(heads, int) and heads > 0 and width % heads:
        raise ConfigError(f"the stem is {width} wide, which {heads} attention heads do not divide: check "
                          "--stem-override embed_dim and num_heads")
    if not overrides and (embed_dim, depth) != (stem.embed_dim, stem.depth):
        raise CheckpointError(
            f"the checkpoint's stem is {embed_dim} wide and {depth} blocks deep, but {official.vit_name} is "
            f"{stem.embed_dim} wide and {stem.depth} deep: check --official-config, or for a non-standard stem "
            f"pass --stem-override embed_dim={embed_dim} --stem-override depth={depth} --stem-override num_heads=N"
        )

    norm_keys = _indexed_names(state, f"{prefix}out_norms.")
    router_keys = _indexed_names(state, f"{prefix}mor.")
    taps = sorted({block for block, _ in norm_keys} | {block for block, _ in router_keys}) or list(stem.tap_indices)
    if not overrides and tuple(taps) != stem.tap_indices:
        raise CheckpointError(
            f"the checkpoint taps blocks {taps}, but the authors' {official.vit_name} taps {list(stem.tap_indices)}"
        )

    has_aligners = any(k.startswith(f"{prefix}ts_aligners.") for k in state)
    if official.aligner and not has_aligners:
        notes.append("the config sets aligner: True but the checkpoint has no aligners (the authors' test script "
                     "drops them): converted without aligners")
    elif has_aligners and not official.aligner:
        notes.append("the config sets aligner: False but the checkpoint has aligners: converted with aligners")

    teachers: dict[str, int] = {}
    for name, backbone_type in official.teachers.items():
        known = TEACHERS.get(backbone_type) if backbone_type else None
        if has_aligners:
            weight = state.get(f"{prefix}ts_aligners.{taps[0]}_{name}.weight")
            if weight is not None and weight.ndim == 2:
                width = int(weight.shape[0])
            else:  # absent or malformed: the key mapping reports it
                width = known.width if known else embed_dim
            if known is not None and known.width != width:
                notes.append(f"teacher '{name}' ({backbone_type}) is {known.width} wide but the checkpoint's "
                             f"aligners give {width}: using {width}")
        elif known is None or known.width == embed_dim:
            width = embed_dim
        else:
            width = 0
            notes.append(f"teacher '{name}' ({backbone_type}) is {known.width} wide, the stem {embed_dim}, and there "
                         "are no aligners: its path is kept for the routers but cannot be distilled")
        teachers[name] = width

    tasks: dict[str, int] = {}
    if stage == 1:
        if official.tasks:
            notes.append(f"stage-1 checkpoint (no heads): the config's tasks {official.tasks} are not used")
    else:
        if not official.tasks:
            raise ConfigError("the checkpoint is a stage-2 multi-task model but the config has no task_dict; "
                              "pass the stage-2 config it was trained with")
        dataset = official.dataset_info
        for task in official.tasks:
            if dataset is not None and task not in dataset.outputs:
                raise ConfigError(f"task '{task}' has no labels in dataset '{official.dataset}'")
            if dataset is not None:
                outputs = dataset.outputs[task]
            else:
                weight = state.get(f"heads.{task}.last_conv.weight")
                if weight is None or weight.ndim == 0:
                    raise CheckpointError(f"the checkpoint has no head for task '{task}' (heads.{task}.last_conv)")
                outputs = int(weight.shape[0])
            tasks[TASK_NAMES[task]] = outputs

    size = _input_size(int(pos_embed.shape[1]), official, stage, input_size, notes)
    config = StudentConfig(
        stem=official.vit_name,
        stem_overrides=overrides,
        input_size=size,
        tap_indices=taps,
        teachers=teachers,
        tasks=tasks,
        adapter_ratio=official.down_ratio,
        aligners=has_aligners,
        router="mor" if official.router_type == "mor" else "sum",
        noisy_gating=official.noisy_gating,
        freeze_stem=official.freeze_vit,
        freeze_all_but_routers=official.freeze,
    )
    return config, notes


def _optim_from(raw: dict[str, Any], notes: list[str]) -> OptimSection:
    values: dict[str, Any] = {}
    try:
        if "lr" in raw:
            values["lr"] = float(raw["lr"])
        if "weight_decay" in raw:
            values["weight_decay"] = float(raw["weight_decay"])
        if raw.get("scheduler") in ("poly", "cosine"):
            values["schedule"] = raw["scheduler"]
        if int(raw.get("max_iters") or 0) > 0:
            values["iterations"] = int(raw["max_iters"])
        if float(raw.get("max_epochs") or 0) > 0:  # the authors' epoch-based runs (stage 1)
            values["epochs"] = float(raw["max_epochs"])
            if "warmup_epochs" in raw:
                values["warmup_epochs"] = float(raw["warmup_epochs"])
        if "grad_clip" in raw:
            clip = float(raw["grad_clip"])
            values["grad_clip"] = clip if clip > 0 else None
        return OptimSection(**values)
    except (TypeError, ValueError) as exc:
        notes.append(f"the config's optimiser settings were not carried over ({exc})")
        return OptimSection()


def run_config_from_official(config: StudentConfig, official: OfficialConfig, notes: list[str]) -> RunConfig:
    """A :class:`RunConfig` consistent with ``config`` (teachers named as this toolkit's plugins
    where one builds the authors' teacher). What it cannot say lives in the checkpoint's
    StudentConfig, which is what :func:`~sak_core.load_student` reads."""
    teachers = []
    for name in config.teachers:
        backbone_type = official.teachers.get(name)
        known = TEACHERS.get(backbone_type) if backbone_type else None
        if known is not None and known.sak_name:
            teachers.append(TeacherEntry(name=known.sak_name, options=dict(known.options)))
            if known.sak_name != name:
                notes.append(f"teacher '{name}' is the '{known.sak_name}' plugin here; the student keeps the name "
                             f"'{name}' (config.yaml calls it '{known.sak_name}')")
        else:
            teachers.append(TeacherEntry(name=name))
            notes.append(f"no plugin of this toolkit builds teacher '{name}' ({backbone_type}); config.yaml "
                         "names it as the authors did")
    dataset = official.dataset_info
    if not config.tasks and (dataset is None or tuple(config.input_size) != dataset.input_size):
        dataset = DATASETS["imagenet"]  # stage 1 distils on ImageNet
    return RunConfig(
        stage=2 if config.tasks else 1,
        teachers=teachers,
        tasks=list(config.tasks),
        model=config.model_section(),
        data=DataSection(
            dataset=dataset.sak_name if dataset is not None else "synthetic", input_size=config.input_size
        ),
        optim=_optim_from(official.raw, notes),
    )


def official_to_student(
    state: dict[str, torch.Tensor],
    official: OfficialConfig | dict[str, Any] | str | Path,
    input_size: tuple[int, int] | None = None,
    stem_overrides: dict[str, int | float | bool] | None = None,
    source: str = "the official checkpoint",
) -> Conversion:
    """Build the student an authors' state dict and config describe and fill every tensor.

    Fails with :class:`CheckpointError` listing every unused source tensor, every student
    tensor without a source and every shape mismatch.
    """
    if not isinstance(official, OfficialConfig):
        official = parse_official_config(official)
    config, notes = student_config_from_official(official, state, input_size, stem_overrides)
    student = SAKStudent(config)
    to_sak = {theirs: ours for ours, theirs in official_key_map(student).items()}
    own = student.state_dict()
    hint = "Is --official-config the config this checkpoint was trained with?"
    converted = remap_state(state, to_sak, {k: v.shape for k, v in own.items()}, source, hint)
    cast = sorted({f"{v.dtype}->{own[k].dtype}" for k, v in converted.items() if v.dtype != own[k].dtype})
    if cast:
        notes.append(f"tensors were cast ({', '.join(cast)}); a round trip back is then not bit-exact")
    load_state_strict(student, converted, source)
    return Conversion(student.eval(), run_config_from_official(config, official, notes), notes)


def convert_official(
    checkpoint: str | Path,
    official_config: str | Path | dict[str, Any],
    out_dir: str | Path,
    input_size: tuple[int, int] | None = None,
    stem_overrides: dict[str, int | float | bool] | None = None,
    overwrite: bool = False,
) -> Conversion:
    """Convert an authors' checkpoint into a sak run directory: ``config.yaml``, ``plugins.json``
    and ``model.safetensors`` (which also keeps the authors' config, for the way back)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise SakError(f"--out {out_dir} is a file, not a run directory; choose a directory to write the run to")
    inputs = [Path(checkpoint)] + ([Path(official_config)] if isinstance(official_config, (str, Path)) else [])
    _check_outputs({out_dir / name: "--out" for name in (MODEL_FILE, CONFIG_FILE, PLUGINS_FILE)}, inputs, overwrite)
    official = parse_official_config(official_config)
    conversion = official_to_student(
        read_official_checkpoint(checkpoint), official, input_size, stem_overrides, source=str(checkpoint)
    )
    metadata = {
        OFFICIAL_CONFIG_KEY: json.dumps(official.raw, default=str),
        CONVERTED_FROM_KEY: f"innovator-zero/SAK checkpoint {Path(checkpoint).name}",
    }
    plugins = [{"kind": "task", "name": t, "distribution": f"sak-task-{t}"} for t in conversion.student.config.tasks]
    plugins += [
        {"kind": "teacher", "name": e.name, "distribution": f"sak-teacher-{e.name}"}
        for e in conversion.run_config.teachers
        if any(t.sak_name == e.name for t in TEACHERS.values())
    ]
    try:
        with staged_writes() as stage:  # the three files are replaced together or not at all
            write_student(conversion.student, stage(out_dir / MODEL_FILE), metadata=metadata)
            for name, text in resolved_files(conversion.run_config, plugins).items():
                stage(out_dir / name).write_text(text)
    except OSError as exc:
        raise SakError(f"could not write the run to {out_dir} ({write_failure(exc)}); choose another --out") from None
    return conversion


def _check_outputs(outputs: dict[Path, str], inputs: list[Path], overwrite: bool) -> None:
    """:func:`sak_core.runtime.files.check_output` for each output (path -> the option naming it)."""
    for out, option in outputs.items():
        check_output(out, option, reads=inputs, overwrite=overwrite)


# ---------------------------------------------------------------- sak -> authors' layout


def student_to_official(student: SAKStudent) -> dict[str, torch.Tensor]:
    """The student's tensors under the authors' keys: the stage-2 multi-task layout when it has
    tasks, the stage-1 backbone layout otherwise."""
    own = {k: v.detach().cpu().contiguous() for k, v in student.state_dict().items()}
    mapping = official_key_map(student)
    shapes = {theirs: own[ours].shape for ours, theirs in mapping.items()}
    return remap_state(own, mapping, shapes, "the student")


def _official_dataset(config: StudentConfig, sak_dataset: str | None) -> str | None:
    """The authors' dataset whose heads are ``config``'s: the run's own when it fits, else the
    one whose output counts match (ImageNet for a student without heads)."""
    wanted = {official_task_name(t): n for t, n in config.tasks.items()}

    def fits(name: str) -> bool:
        return all(DATASETS[name].outputs.get(t) == n for t, n in wanted.items())

    by_sak_name = {d.sak_name: name for name, d in DATASETS.items()}
    if sak_dataset in by_sak_name and fits(by_sak_name[sak_dataset]):
        return by_sak_name[sak_dataset]
    if not wanted:
        return "imagenet"
    return next((name for name in DATASETS if DATASETS[name].outputs and fits(name)), None)


def official_config_for(
    config: StudentConfig, original: dict[str, Any] | None = None, sak_dataset: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """An authors' YAML config (as a mapping) that builds ``config``'s student, and notes.

    ``original`` (the config a converted checkpoint came from) supplies everything that is not
    about the student (optimiser, paths) and the teachers' ``backbone_type``. Raises
    :class:`ConfigError` when the authors' code cannot build this student at all.
    """
    notes: list[str] = []
    problems: list[str] = []
    original = dict(original or {})
    if config.stem not in STEMS:
        problems.append(f"the stem '{config.stem}' is not one of the authors' {', '.join(STEMS)}")
    else:
        stem = STEMS[config.stem]
        if config.stem_overrides:
            notes.append(f"the stem has overrides {config.stem_overrides}; the authors' code builds {config.stem} "
                         f"at its standard size ({stem.embed_dim} wide, {stem.depth} deep)")
        if config.tap_indices is not None and tuple(config.tap_indices) != stem.tap_indices:
            notes.append(f"the student taps blocks {config.tap_indices}; the authors' {config.stem} taps "
                         f"{list(stem.tap_indices)}")
    unknown_tasks = [t for t in config.tasks if t not in TASK_NAMES_BACK]
    if unknown_tasks:
        problems.append(f"tasks {unknown_tasks} have no counterpart in the authors' code ({', '.join(TASK_NAMES)})")
    dataset = _official_dataset(config, sak_dataset)
    if dataset is None and not unknown_tasks:
        problems.append(f"the heads {dict(config.tasks)} match neither the authors' pascalcontext nor nyud outputs")
    elif dataset is not None and tuple(config.input_size) != DATASETS[dataset].input_size:
        size = DATASETS[dataset].input_size
        notes.append(f"the student is built for {config.input_size[0]}x{config.input_size[1]} inputs; the authors' "
                     f"code builds {dataset} models at {size[0]}x{size[1]}: their test.py will not load this "
                     "checkpoint, their train_s2.py resamples its position embedding")

    original_teachers = original.get("teachers") if isinstance(original.get("teachers"), dict) else {}
    teachers: dict[str, Any] = {}
    for name, width in config.teachers.items():
        if isinstance(width, list):  # per-level widths: the authors' teachers have one
            if len(set(width)) != 1:
                problems.append(f"teacher '{name}' has per-level widths {width}; the authors' code has one per teacher")
                continue
            width = width[0]
        if name in original_teachers:
            teachers[name] = original_teachers[name]
        elif (name, width) in TEACHERS_BACK:
            teachers[name] = {"backbone_type": TEACHERS_BACK[(name, width)]}
        else:
            problems.append(f"teacher '{name}' ({width} wide) has no known backbone_type in the authors' code")
    if problems:
        raise ConfigError("the authors' code cannot build this student: " + "; ".join(problems))

    backbone = {
        "backbone_type": "sak",
        "vit_name": config.stem,
        "down_ratio": config.adapter_ratio,
        "aligner": config.aligners,
        "freeze_vit": config.freeze_stem,
    }
    if config.tasks:
        backbone["router_type"] = "mor" if config.router == "mor" else "none"
        backbone["noisy_gating"] = config.noisy_gating
    original_backbone = (original.get("student") or {}).get("backbone") or {}
    if config.freeze_all_but_routers or "freeze" in original_backbone:
        backbone["freeze"] = config.freeze_all_but_routers
    merged = deep_merge(original, {"dataset": dataset, "student": {"backbone": backbone}})
    merged["teachers"] = teachers
    if config.tasks:
        merged["task_dict"] = {official_task_name(t): 1 for t in config.tasks}
    else:
        merged.pop("task_dict", None)
    return merged, notes


def export_official(
    run_or_checkpoint: str | Path,
    out_file: str | Path,
    config_out: str | Path | None = None,
    overwrite: bool = False,
) -> tuple[Path, list[str]]:
    """Write a sak student (run directory or ``.safetensors``) as an authors' checkpoint
    ``{"model": state_dict}`` (``torch.save``), and optionally their YAML config.

    Existing files are replaced only with ``overwrite``; the files being read (the checkpoint and
    its run's ``config.yaml`` and ``plugins.json``) never are."""
    from sak_core.run.context import RunContext

    checkpoint = resolve_checkpoint(run_or_checkpoint)
    context = RunContext.open(checkpoint)
    out_file = Path(out_file)
    outputs = {out_file: "--out"}
    if config_out is not None:
        config_out = Path(config_out)
        if config_out.resolve() == out_file.resolve():
            raise SakError(f"--out and --official-config-out both name {out_file}; give two different files")
        outputs[config_out] = "--official-config-out"
    run_files = [context.run_dir / CONFIG_FILE, context.run_dir / PLUGINS_FILE] if context.run_dir else []
    _check_outputs(outputs, [checkpoint, *run_files], overwrite)

    student = load_student(checkpoint)
    notes: list[str] = []
    config_text = None
    if config_out is not None:
        metadata = read_metadata(checkpoint)
        original = json.loads(metadata[OFFICIAL_CONFIG_KEY]) if OFFICIAL_CONFIG_KEY in metadata else None
        # the authors' configs name one dataset: a run's first (PASCAL's or NYUD's class counts)
        dataset = context.config.data.entries()[0].name if context.config is not None else None
        official, notes = official_config_for(student.config, original, dataset)
        config_text = yaml.safe_dump(official, sort_keys=False)
    state = student_to_official(student)
    try:
        with staged_writes() as stage:  # the checkpoint and its config are replaced together or not at all
            torch.save({"model": state}, stage(out_file))
            if config_out is not None and config_text is not None:
                stage(config_out).write_text(config_text)
    except (OSError, RuntimeError) as exc:  # torch.save's refused write is a RuntimeError (inline_container.cc)
        if describe_os_error(exc) is None:
            raise
        targets = " and ".join(str(p) for p in outputs)
        raise SakError(f"could not write {targets} ({write_failure(exc)})") from None
    return out_file, notes
