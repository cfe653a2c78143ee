"""Run configuration: pydantic models, YAML loading, command-line overrides, the resolved file."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from sak_core.errors import ConfigError
from sak_core.runtime.precision import PRECISION_SETTINGS, PrecisionSetting
from sak_core.runtime.files import read_text



class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TeacherEntry(_Section):
    """A teacher of the run: registry name (``NAME`` or ``NAME:VARIANT``) and its options."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict, description="passed to create_teacher")
    weights: str | None = Field(None, description='None (cache/download), "random" or a file path')


TEACHERS_SYNTAX = "NAME[:VARIANT][,KEY=VALUE...][,NAME...]"


def split_variant(name: str) -> tuple[str, dict[str, Any]]:
    """``"timm:vit_base_patch16_224"`` -> ``("timm", {"variant": "vit_base_patch16_224"})``; a
    plain ``NAME`` -> ``(NAME, {})``. The one parser of a teacher's ``NAME[:VARIANT]``
    (also :func:`sak_core.plugin.lookup.split_variant`)."""
    base, sep, variant = name.partition(":")
    return (base, {"variant": variant}) if sep else (base, {})
_OPTION_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_BRACKETS = {"[": "]", "{": "}", "(": ")"}


def _split_top_level(text: str, what: str = "teachers") -> list[str]:
    """``text`` split at the commas outside brackets and quotes (``taps=[2,5]`` stays one item);
    ``what`` names the text in the error of an unbalanced bracket or quote."""
    items, current, closers, quote = [], [], [], ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in _BRACKETS:
            closers.append(_BRACKETS[char])
        elif closers and char == closers[-1]:
            closers.pop()
        elif char == "," and not closers:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    if quote or closers:
        raise ConfigError(f"{what} '{text}': unbalanced {quote or closers[-1]!r}")
    return [item.strip() for item in [*items, "".join(current)] if item.strip()]


def parse_teachers(text: str) -> list[dict[str, Any]]:
    """``--teachers`` / ``sak weights`` syntax -> teacher entries (:class:`TeacherEntry` dicts).

    A comma-separated list in which an item without ``=`` names a teacher (``NAME`` or
    ``NAME:VARIANT``) and an item ``KEY=VALUE`` is an option of the teacher named before it::

        teacher_a:large,teacher_b,backend=timm,variant=vit_base_patch16_384,teacher_c,input_size=512

    Values are read as YAML (``faithful=true``, ``taps=[2,5,8,11]``: commas inside brackets or
    quotes do not separate items); dotted keys nest (``arch.depth=4``); ``weights=PATH`` (or
    ``weights=random``) sets the teacher's weights file, as ``--teacher-weights NAME=PATH`` does.
    """
    entries: list[dict[str, Any]] = []
    for item in _split_top_level(text):
        key, sep, raw = (part.strip() for part in item.partition("="))
        if not sep:
            entries.append({"name": item})
            continue
        if not entries:
            raise ConfigError(f"teachers '{text}': option '{item}' comes before any teacher name; write "
                              f"{TEACHERS_SYNTAX}, e.g. teacher_a,input_size=512")
        if not _OPTION_KEY.fullmatch(key):
            raise ConfigError(f"teachers '{text}': '{key}' in '{item}' is not an option name; write "
                              f"{TEACHERS_SYNTAX}, e.g. teacher_a,input_size=512")
        entry = entries[-1]
        if key == "weights":
            entry["weights"] = raw if raw == "random" else str(Path(raw).expanduser())
            continue
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"teachers '{text}': the value of '{item}' is not valid YAML: {exc}") from None
        node = entry.setdefault("options", {})
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return entries


DATASET_SYNTAX = "NAME[,alias=A][,root=DIR][,weight=W][,input_size=HxW][,OPTION=VALUE...]"
DATASET_FIELDS = ("alias", "root", "weight", "input_size")  # the entry's own keys; others are options


def parse_dataset_flag(text: str) -> dict[str, Any]:
    """One ``--dataset`` value -> a :class:`DatasetEntry` dict: ``NAME`` then ``KEY=VALUE`` items
    (values read as YAML, commas inside brackets kept: ``labels=[depth,saliency]``); ``alias``,
    ``root``, ``weight`` and ``input_size`` (``448x576`` or ``[448,576]``) are the entry's own,
    any other key is a dataset option."""
    items = _split_top_level(text, "--dataset")
    if not items or "=" in items[0]:
        raise ConfigError(f"--dataset '{text}' does not start with a dataset name; write {DATASET_SYNTAX}, e.g. "
                          "--dataset nyud,root=/data/NYUDv2,weight=0.5")
    entry: dict[str, Any] = {"name": items[0]}
    for item in items[1:]:
        key, sep, raw = (part.strip() for part in item.partition("="))
        if not sep or not _OPTION_KEY.fullmatch(key):
            raise ConfigError(f"--dataset '{text}': '{item}' is not KEY=VALUE; write {DATASET_SYNTAX}")
        if key == "root":
            entry["root"] = str(Path(raw).expanduser())
            continue
        if key == "input_size" and re.fullmatch(r"\d+x\d+", raw):
            entry["input_size"] = [int(v) for v in raw.split("x")]
            continue
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"--dataset '{text}': the value of '{item}' is not valid YAML: {exc}") from None
        if key in DATASET_FIELDS:
            entry[key] = value
        else:
            entry.setdefault("options", {})[key] = value
    return entry


NO_TEACHERS = "none"  # --teachers none: a stage-2 run without teachers, said explicitly


def parse_teacher_list(text: str) -> list[dict[str, Any]]:
    """A run's teachers from ``--teachers`` (or a config's string): :func:`parse_teachers`, where
    ``none`` is no teacher at all (stage 2 without distillation) and a text that names no
    teacher (``--teachers ""``, an unset shell variable) is refused rather than read as none."""
    if text.strip().lower() == NO_TEACHERS:
        return []
    entries = parse_teachers(text)
    if not entries:
        raise ConfigError(f"teachers '{text}' names no teacher: name them (e.g. --teachers teacher_a,teacher_b), "
                          f"or write --teachers {NO_TEACHERS} to train stage 2 without teachers")
    if any(e["name"].lower() == NO_TEACHERS for e in entries):
        raise ConfigError(f"teachers '{text}': '{NO_TEACHERS}' means no teacher at all; it cannot be listed "
                          "with teachers")
    return entries


def _named_once(kind: str, names: list[str]) -> None:
    """Refuse a name given twice (``--tasks semseg,semseg`` would count semseg's loss twice)."""
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{', '.join(repr(n) for n in twice)} named more than once; a run trains each of its "
                         f"{kind} once: drop the repeat")


PATCH_SIZE = 16  # the student's stem patch: input sides must be multiples of it (the one place it is spelled)


def _patch_multiples(size: tuple[int, int]) -> tuple[int, int]:
    if size[0] % PATCH_SIZE or size[1] % PATCH_SIZE or min(size) <= 0:
        raise ValueError(f"input_size {tuple(size)} must be positive multiples of {PATCH_SIZE} (the stem's patch size)")
    return size


InputSize = Annotated[tuple[int, int], AfterValidator(_patch_multiples)]
"""(H, W) of the student's input: both sides positive multiples of 16."""


class ModelSection(_Section):
    """The student's architecture: :class:`~sak_core.model.StudentConfig` without what the
    plugins and the data section resolve (teacher widths, task outputs, input size)."""

    stem: str = Field("vit_base", description="vit_small | vit_base | vit_large or a timm ViT name (patch 16)")
    stem_pretrained: bool | str = Field(False, description="timm pretrained weights: True (hub) or a local file")
    stem_overrides: dict[str, int | float | bool] = Field(
        default_factory=dict, description="timm architecture overrides (embed_dim, depth, num_heads) for tiny stems"
    )
    tap_indices: list[int] | None = Field(None, description="0-based stem blocks tapped; default evenly spaced")
    adapter_ratio: int = Field(4, ge=1, description="adapter bottleneck = C / adapter_ratio")
    aligners: bool = Field(False, description="per-(level, teacher) Linear(C -> C_teacher) for distillation")
    router: Literal["mor", "sum"] = "mor"
    noisy_gating: bool = True
    freeze_stem: bool = False
    freeze_all_but_routers: bool = Field(False, description="train only routers and heads")
    grad_checkpointing: bool = Field(
        False, description="recompute the stem's blocks in the backward pass: less activation memory, more time"
    )

    @field_validator("tap_indices")
    @classmethod
    def _distinct_blocks(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or min(v) < 0 or len(set(v)) != len(v)):
            raise ValueError(f"tap_indices {v} must be distinct, non-negative block indices")
        return v


DATASET_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
"""What a dataset's key (its alias, else its name) may be: it prefixes metric names and names folders."""


class DatasetEntry(_Section):
    """One dataset of a run that trains on several (``data.datasets``); docs/datasets.md#mixing."""

    name: str = Field(description="the registered dataset (sak plugins lists them)")
    alias: str | None = Field(None, description="tells two entries of one dataset apart (required then); "
                              "names the dataset in metrics, metrics.json and eval folders")
    root: str | None = Field(None, description="its folder; default $SAK_DATA or the dataset's own default")
    weight: float | None = Field(None, gt=0, description="how often its batches are drawn: relative to the other "
                                 "entries' when all have one; a share of all batches (below 1) when some have "
                                 "none, which split the rest by size; default: in proportion to its size")
    input_size: InputSize | None = Field(None, description="its training crop (H, W); default data.input_size, "
                                         "else the dataset's")
    options: dict[str, Any] = Field(default_factory=dict, description="passed to the dataset factory; labels: "
                                    "the tasks whose labels it provides (a subset of what it has)")

    @property
    def key(self) -> str:
        """The alias, else the name: what tells this entry apart in metrics and folders."""
        return self.alias or self.name

    @field_validator("alias")
    @classmethod
    def _usable_alias(cls, v: str | None) -> str | None:
        if v is not None and not DATASET_KEY.fullmatch(v):
            raise ValueError(f"alias {v!r} must be letters, digits, '.', '_' or '-' (it names metrics and folders)")
        return v


SINGLE_DATASET_FIELDS = ("dataset", "root", "options")  # the one-dataset form that data.datasets replaces


class DataSection(_Section):
    dataset: str = "synthetic"
    root: str | None = Field(None, description="dataset root; default $SAK_DATA or the dataset's own default")
    datasets: list[DatasetEntry] = Field(
        default_factory=list, description="several datasets, each batch from one (replaces dataset, root and "
        "options); empty: the one dataset above",
    )
    input_size: InputSize | None = Field(None, description=f"(H, W), multiples of {PATCH_SIZE}; default: the dataset's")
    train_split: str = "train"
    val_split: str = "val"
    batch_size: int = Field(4, ge=1, description="global batch size")
    workers: int = Field(2, ge=0, description="loader workers (per dataset when there are several)")
    corrupt: Literal["error", "skip"] = "error"
    options: dict[str, Any] = Field(default_factory=dict, description="passed to the dataset factory")
    val_batch_size: int | None = Field(None, ge=1, description="validation batch size; default batch_size")
    val_limit: int | None = Field(None, ge=1, description="validate on the first N samples of the split only")

    def entries(self) -> list[DatasetEntry]:
        """The run's datasets: ``datasets``, or the one that ``dataset``, ``root`` and ``options`` describe."""
        if self.datasets:
            return list(self.datasets)
        return [DatasetEntry(name=self.dataset, root=self.root, options=dict(self.options))]

    @field_validator("datasets")
    @classmethod
    def _keys_once(cls, v: list[DatasetEntry]) -> list[DatasetEntry]:
        keys = [e.key for e in v]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"{', '.join(repr(k) for k in twice)} listed more than once: give each entry of one "
                             "dataset its own alias (alias: NAME)")
        return v

    @model_validator(mode="after")
    def _one_form(self) -> DataSection:
        both = [f"data.{f}" for f in SINGLE_DATASET_FIELDS if f in self.model_fields_set]
        if self.datasets and both:
            raise ValueError(f"data.datasets lists the datasets, each with its own root and options, but {', '.join(both)} "
                             "(the form for a single dataset) is given too: move it into the entries")
        return self

    @model_serializer(mode="wrap")
    def _dump_one_form(self, handler: Any) -> dict[str, Any]:
        """A run with ``datasets`` is written without the one-dataset fields, so that its
        config.yaml reads back."""
        out = handler(self)
        if self.datasets:
            for name in SINGLE_DATASET_FIELDS:
                out.pop(name, None)
        return out


class OptimSection(_Section):
    lr: float = Field(2e-5, gt=0)
    weight_decay: float = Field(1e-6, ge=0)
    schedule: Literal["poly", "cosine", "constant"] = "poly"
    poly_power: float = 0.9
    warmup_iters: int = Field(0, ge=0)
    min_lr: float = Field(0.0, ge=0)
    iterations: int = Field(40000, ge=1)
    epochs: float | None = Field(None, gt=0, description="length in passes over the data; replaces iterations")
    warmup_epochs: float | None = Field(None, ge=0, description="warm-up in epochs; replaces warmup_iters")
    grad_clip: float | None = Field(10.0, gt=0)
    alpha: float = Field(1.0, ge=0, description="weight of the distillation loss in stage 2")
    distill_valid_region: bool = Field(
        True, description="crop padded teacher grids (a teacher that pads non-square input) to the image before "
        "resizing; false stretches them as the reference does",
    )
    seed: int = 42
    precision: PrecisionSetting = Field(
        "auto", description="the student's autocast. auto: bf16 on GPUs and CPUs that compute it natively, "
        "fp16 (with loss scaling) on older GPUs, fp32 elsewhere; fp32 is the reference-exact mode",
    )
    teacher_precision: PrecisionSetting = Field(
        "auto", description="the teachers' weights and inputs; auto as for precision"
    )
    compile: bool | str = Field(
        False, description="torch.compile the student: true (inductor) or a backend name (aot_eager: "
        "traces without generating code); off by default, see docs/training.md",
    )
    cpu_threads: int | None = Field(
        None, ge=1, description="torch intra-op threads of each training process; default: torch's choice"
    )


class OutputSection(_Section):
    dir: str | None = Field(None, description="run directory; default runs/<timestamp>")
    checkpoint_every: int = Field(1000, ge=1)
    val_every: int = Field(1000, ge=1)
    log_every: int = Field(20, ge=1)
    baseline: str | dict[str, str] | None = Field(
        None, description="baseline table (name or YAML) for picking the best checkpoint by dm, or one per "
        "dataset key of a run with several ({KEY: TABLE}); "
        "default: dm against the first validation"
    )
    tensorboard: bool = Field(True, description="also write TensorBoard scalars and, at every validation, "
                              "prediction grids and the router chart, when tensorboard is installed")


class RunConfig(_Section):
    """A whole run: what to train, on what, how, and where to write it."""

    stage: Literal[1, 2] = 2
    teachers: list[TeacherEntry] = Field(default_factory=list)
    tasks: list[str] | Literal["all"] = "all"
    task_weights: dict[str, float] = Field(default_factory=dict, description="override default loss weights")
    model: ModelSection = Field(default_factory=ModelSection)
    data: DataSection = Field(default_factory=DataSection)
    optim: OptimSection = Field(default_factory=OptimSection)
    output: OutputSection = Field(default_factory=OutputSection)
    init: str | None = Field(None, description="stage-2 start: a stage-1 run directory or .safetensors file")
    strict_init: bool = Field(False, description="fail when any key of the init checkpoint does not load")

    @model_validator(mode="after")
    def _stage_one_needs_teachers(self) -> RunConfig:
        if self.stage == 1 and not self.teachers:
            raise ValueError("stage 1 distils teachers into the student: name them with --teachers")
        return self

    @field_validator("teachers", mode="before")
    @classmethod
    def _teacher_strings(cls, v: Any) -> Any:
        """Accept ``"teacher_a,teacher_b:large,input_size=512"`` (:func:`parse_teacher_list`: ``none`` for no
        teacher, an empty string refused), a list of such strings or full entries."""
        if isinstance(v, str):
            return parse_teacher_list(v)
        if isinstance(v, list):
            return [e for item in v for e in (parse_teacher_list(item) if isinstance(item, str) else [item])]
        return v

    @field_validator("teachers")
    @classmethod
    def _teachers_once(cls, v: list[TeacherEntry]) -> list[TeacherEntry]:
        _named_once("teachers", [split_variant(e.name)[0] for e in v])  # teacher_a and teacher_a:large too
        return v

    @field_validator("task_weights")
    @classmethod
    def _weights_not_negative(cls, v: dict[str, float]) -> dict[str, float]:
        bad = {name: w for name, w in v.items() if not (math.isfinite(w) and w >= 0)}
        if bad:
            raise ValueError(f"loss weights are finite and >= 0 (a negative one trains that task backwards), got {bad}")
        return v

    @field_validator("tasks", mode="before")
    @classmethod
    def _task_strings(cls, v: Any) -> Any:
        if isinstance(v, str) and v != "all":
            return [n.strip() for n in v.split(",") if n.strip()]
        return v

    @field_validator("tasks")
    @classmethod
    def _tasks_once(cls, v: list[str] | str) -> list[str] | str:
        if isinstance(v, list):
            _named_once("tasks", v)
        return v


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``update`` merged into a copy of ``base`` (nested dicts merged, everything else replaced;
    an empty dict replaces, so ``data.options={}`` clears the options below it)."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and value and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def parse_override(text: str) -> dict[str, Any]:
    """``"optim.lr=3e-4"`` -> ``{"optim": {"lr": 0.0003}}`` (values parsed as YAML)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override '{text}' is not KEY=VALUE (e.g. optim.lr=3e-4)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override '{text}': value is not valid YAML: {exc}") from None
    tree: dict[str, Any] = {}
    node = tree
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return tree


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from ``path``, with errors that name the file."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder: give the path of a YAML file")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(read_text(path)) or {}  # not UTF-8: an error naming the file
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level, not {type(data).__name__}")
    return data


def read_run_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping of a run's ``config.yaml``, which sak writes with every section: a file that
    lacks one (empty, cut short, edited) is a :class:`ConfigError` naming it."""
    data = read_yaml(path)
    missing = sorted(set(RunConfig.model_fields) - set(data))
    if missing:
        raise ConfigError(f"{path} lacks the section(s) {', '.join(missing)} that sak writes into every run's "
                          "config.yaml; is it truncated? Restore it, or start a new run")
    return data


# Settings of the data section that belong to one dataset: a layer that names another dataset
# drops them from the layers below (a preset's options are not given to the user's dataset).
DATASET_BOUND = ("options", "root")


def merge_layers(*layers: dict[str, Any]) -> dict[str, Any]:
    """``layers`` (preset, config file, flags, overrides) merged, later wins: nested sections
    merge key by key, except that a layer choosing a different ``data.dataset`` starts that
    dataset's ``data.options`` and ``data.root`` afresh, a layer giving ``data.datasets`` drops the
    one-dataset fields below it, and one giving ``data.dataset`` drops the ``data.datasets`` below."""
    merged: dict[str, Any] = {}
    for layer in layers:
        data, below = layer.get("data"), merged.get("data")
        if isinstance(data, dict) and isinstance(below, dict):
            dropped: tuple[str, ...] = ()
            if "datasets" in data:
                dropped = SINGLE_DATASET_FIELDS
            elif "dataset" in data:
                dropped = ("datasets",)
                if data["dataset"] != below.get("dataset", DataSection.model_fields["dataset"].default):
                    dropped += DATASET_BOUND
            merged = {**merged, "data": {k: v for k, v in below.items() if k not in dropped}}
        merged = deep_merge(merged, layer)
    return merged


def build_config(*layers: dict[str, Any], source: str = "configuration") -> RunConfig:
    """Merge ``layers`` (:func:`merge_layers`) and validate, with one readable line per problem."""
    merged = merge_layers(*layers)
    try:
        return RunConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(f"invalid {source}: {validation_problems(exc)}") from None


def validation_problems(exc: ValidationError) -> str:
    """A pydantic error as one line: ``"field.path: message; ..."`` (``(top level)`` for the
    model as a whole)."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors())


def load_config(
    path: str | Path | None = None,
    overrides: list[str] = (),
    base: dict[str, Any] | None = None,
) -> RunConfig:
    """``base`` (e.g. a preset) <- YAML file ``path`` <- ``KEY=VALUE`` overrides, validated."""
    layers = [base or {}]
    if path is not None:
        layers.append(read_yaml(path))
    layers.extend(parse_override(o) for o in overrides)
    return build_config(*layers, source=f"config {path}" if path else "configuration")


def config_yaml(config: RunConfig) -> str:
    """``config`` as the YAML text of a run's config file (what ``sak train --print-config`` shows)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


_MOVED_TO_RUN_LAYOUT = ("resolved_files", "write_resolved")  # sak-core 0.1 names, now in sak_core.run.layout


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_RUN_LAYOUT:
        from sak_core._moved import moved_name

        return moved_name(__name__, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
