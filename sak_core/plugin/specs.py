"""Plugin specs: what a teacher, task or dataset plugin tells the core so it can build a student.

Specs are frozen dataclasses (they carry callables, which pydantic models handle poorly).
A plugin creates one spec per name it provides and hands it to the ``register`` callback of
its hook (see :mod:`sak_core.plugin.hookspecs`).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sak_core.errors import SpecError
from sak_core.weights.sources import WeightSource  # noqa: F401 (part of the spec API)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IGNORE_INDEX = 255
TEACHER_PRECISIONS = ("fp32", "bf16", "fp16")  # what a teacher may declare it runs in
# a teacher, task or dataset name: it becomes a module key (no '.'), a word of `--teachers
# NAME[:VARIANT][,KEY=VALUE]` (no ',', ':' or '='), a file name and a metric key (no '/')
NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def refuse_unknown_options(owner: str, options: Mapping[str, Any], accepted: Sequence[str]) -> None:
    """A :class:`SpecError` when ``options`` has keys outside ``accepted``: it names ``owner``
    (``"teacher 'mine'"``), each unknown key with a close match, and the accepted ones."""
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        close = {u: difflib.get_close_matches(u, accepted, n=1) for u in unknown}
        hints = "".join(f" ('{u}': did you mean '{c[0]}'?)" for u, c in close.items() if c)
        raise SpecError(f"{owner} got unknown option(s) {', '.join(unknown)}{hints}; "
                        f"it accepts: {', '.join(accepted) or 'none'}")


@dataclass(frozen=True)
class TeacherSpec:
    """A frozen vision foundation model that the student is distilled from.

    Attributes:
        name: registry name used on the command line (``--teachers NAME``).
        factory: ``factory(**options) -> Teacher``; builds the frozen teacher module (a spec from
            ``configure`` has it bound to the options it was configured with).
        feature_dim: channels of every tapped feature map, or a tuple with one width per level
            (hierarchical teachers such as ConvNeXt).
        tap_indices: 0-based block indices whose raw outputs are distilled (one per level).
        patch_size: pixels per token of the teacher grid.
        input_size: (H, W) the teacher prefers.
        mean, std: the normalisation the teacher was trained with.
        weights: where its weights come from.
        configure: optional ``configure(**options) -> TeacherSpec`` returning the spec of a
            variant (for example ``size="large"``); without it the teacher takes no options
            that change its shape.
        description: one line shown by ``sak plugins``.
        precisions: the precisions the teacher runs in (``fp32``, ``bf16``, ``fp16``), preferred
            first. The core runs it in ``optim.teacher_precision`` when that is one of them, else
            in the first of them the device runs; it never casts a teacher to another dtype.
        random_init: whether ``weights="random"`` builds it with random weights (tests, demos).
        has_weights: False for a teacher with nothing to load (a fixed function of the image):
            it takes no ``weights=`` option.
        weight_layouts: the checkpoint layouts (:class:`sak_core.weights.layouts.Layout`) the
            teacher's family reads besides its own, renamed on the fly (timm's
            ``checkpoint_filter_fn`` idea: the family owns its format adapters).

    The number of feature levels is ``len(tap_indices)`` (:attr:`levels`): what each index
    means is the teacher's own (a block of a ViT, a scale of a pyramid).
    """

    name: str
    factory: Callable[..., Any] = field(compare=False)  # specs of one variant are equal
    feature_dim: int | tuple[int, ...]
    tap_indices: tuple[int, ...]
    patch_size: int
    input_size: tuple[int, int]
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    weights: tuple[WeightSource, ...] = ()
    configure: Callable[..., TeacherSpec] | None = field(default=None, compare=False)
    description: str = ""
    precisions: tuple[str, ...] = TEACHER_PRECISIONS
    random_init: bool = True
    has_weights: bool = True
    weight_layouts: tuple[Any, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        odd = [p for p in self.precisions if p not in TEACHER_PRECISIONS]
        if not self.precisions or odd:
            raise SpecError(f"teacher '{self.name}' declares precisions {list(self.precisions)}: name one or more "
                            f"of {', '.join(TEACHER_PRECISIONS)}, preferred first")

    @property
    def levels(self) -> int:
        """How many feature maps the teacher gives per image (one per tap)."""
        return len(self.tap_indices)

    def with_options(self, **options: Any) -> TeacherSpec:
        """The spec of the variant chosen by ``options`` (itself when there are none)."""
        self.check_weights(options.get("weights"))
        if not options:
            return self
        if self.configure is None:
            return self
        return self.configure(**options)

    def create(self, **options: Any) -> Any:
        """Build the teacher module (a :class:`~sak_core.plugin.teachers.Teacher`)."""
        self.check_weights(options.get("weights"))
        return self.factory(**options)

    def check_weights(self, weights: Any) -> None:
        """A :class:`SpecError` when ``weights`` asks for what this teacher does not declare:
        any file for one with no weights, random weights for one without a random initialisation."""
        if weights is None:
            return
        if not self.has_weights:
            raise SpecError(f"teacher '{self.name}' has no weights to load (it is a fixed function of the image), "
                            f"but weights={str(weights)!r} was given: drop the teacher's weights option "
                            "(--teacher-weights)")
        if not self.random_init and str(weights) == "random":
            raise SpecError(f"teacher '{self.name}' has no random initialisation (weights='random'): give it its "
                            f"weights file (weights=PATH, --teacher-weights {self.name}=PATH), or leave weights "
                            "unset to use the file it finds")


LABEL_MASK = "label_mask"
"""The batch key of the per-sample label masks: ``{key: bool tensor (B,)}`` for each key some of a
batch's samples lack (a partially labelled task, :attr:`DatasetSpec.partial`)."""


def label_mask(batch: Mapping[str, Any], key: str) -> Any:
    """The ``(B,)`` bool tensor of the samples of a collated ``batch`` that have ``key``; None
    when all of them do."""
    masks = batch.get(LABEL_MASK)
    return masks.get(key) if isinstance(masks, Mapping) else None


@dataclass(frozen=True)
class TaskSpec:
    """A dense prediction task.

    Attributes:
        name: registry name (``--tasks NAME``); also the key of the task's target in a sample.
        factory: ``factory(spec, dataset: DatasetSpec) -> Task``; binds the task to a dataset.
        default_outputs: channels of the head output when the dataset does not set
            ``num_outputs`` for this task (None: the dataset must set it, e.g. class counts).
        loss_weight: default weight of the task loss in the multi-task sum.
        metric_name: the task's primary metric, the one used for the multi-task gain.
        higher_is_better: direction of the primary metric.
        derive_target: optional ``derive_target(batch) -> Tensor`` that builds this task's
            target from other entries of a collated batch (after augmentation), so a new task
            can train on datasets that do not store its labels.
        requires: the batch keys ``derive_target`` reads; a dataset that has labels for all
            of them supports the task.
        description: one line shown by ``sak plugins``.
    """

    name: str
    factory: Callable[..., Any]
    default_outputs: int | None = None
    loss_weight: float = 1.0
    metric_name: str = ""
    higher_is_better: bool = True
    derive_target: Callable[[Mapping[str, Any]], Any] | None = None
    requires: tuple[str, ...] = ()
    description: str = ""

    def supported_by(self, dataset: DatasetSpec) -> bool:
        """Whether ``dataset`` has this task's labels, or everything its targets derive from."""
        if self.name in dataset.tasks:
            return True
        return self.derive_target is not None and all(key in dataset.tasks for key in self.requires)

    def create(self, dataset: DatasetSpec) -> Any:
        """The task bound to ``dataset`` (a :class:`~sak_core.plugin.tasks.Task`)."""
        return self.factory(self, dataset)

    def num_outputs(self, dataset: DatasetSpec) -> int:
        """Channels of this task's head on ``dataset``."""
        options = dataset.tasks.get(self.name, {})
        n = options.get("num_outputs", self.default_outputs)
        if n is None:
            raise SpecError(
                f"task '{self.name}' needs 'num_outputs' from dataset '{dataset.name}', which does "
                f"not set it: add tasks={{'{self.name}': {{'num_outputs': N}}}} to its DatasetSpec"
            )
        return int(n)


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset in a known on-disk layout.

    Attributes:
        name: registry name (``--dataset NAME``).
        factory: ``factory(root, split, train: bool, input_size, **options) ->
            torch.utils.data.Dataset``; samples are dicts with ``image`` (3 x H x W float,
            normalised), one target per task keyed by task name, and ``meta``.
        tasks: task name -> options the task reads from the dataset (``num_outputs`` for class
            counts, ``max_dist`` for boundaries, ...). Lists the tasks the dataset has labels for.
        input_size: (H, W) of training crops and of padded test images.
        splits: split names the dataset provides.
        mean, std: image normalisation.
        description: one line shown by ``sak plugins``.
        options: the names of the options the factory accepts (``data.options``); others are
            refused with this list and a close match. None (the default) passes any option on
            unchecked. ``labels`` is the core's own option of every dataset and never reaches
            the factory (see :meth:`with_labels`).
        partial: the tasks of ``tasks`` that some samples have no label for (such a sample
            leaves the task's key out); their losses and metrics are taken over the samples that
            have one. A sample without a label of any other task is an error. (Plugin API 1.1.)
    """

    name: str
    factory: Callable[..., Any]
    tasks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    input_size: tuple[int, int] = (512, 512)
    splits: tuple[str, ...] = ("train", "val")
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    description: str = ""
    options: tuple[str, ...] | None = None
    partial: tuple[str, ...] = ()

    def with_labels(self, labels: Sequence[str]) -> DatasetSpec:
        """This dataset serving only the labels of ``labels`` (a subset of :attr:`tasks`), as the
        ``labels`` option asks: a fully labelled dataset used as a partially labelled one."""
        if not isinstance(labels, (list, tuple)) or not all(isinstance(t, str) for t in labels):
            raise SpecError(f"dataset '{self.name}': the labels option is a list of task names, e.g. "
                            f"labels: [{', '.join(list(self.tasks)[:2])}], not {labels!r}")
        unknown = [t for t in labels if t not in self.tasks]
        if unknown:
            raise SpecError(f"dataset '{self.name}' has no labels for {', '.join(unknown)}, which its labels option "
                            f"names; it has labels for: {', '.join(self.tasks) or 'no task'}")
        return self.replace(tasks={t: self.tasks[t] for t in self.tasks if t in labels},
                            partial=tuple(t for t in self.partial if t in labels))

    def create(
        self,
        split: str,
        train: bool = False,
        root: str | None = None,
        input_size: Sequence[int] | None = None,
        tasks: Sequence[str] | None = None,
        **options: Any,
    ) -> Any:
        """The ``torch.utils.data.Dataset`` of ``split``: augmented crops when ``train``, else
        normalised images centre-padded to ``input_size`` (default: the spec's). ``root`` None
        lets the dataset look in ``$SAK_DATA`` or its own default; ``tasks`` names the labels to
        load (None: all it has); ``options`` go to the factory (``on_error="skip"``, ...)."""
        if self.splits and split not in self.splits:
            raise SpecError(f"dataset '{self.name}' has no split '{split}'; it has {', '.join(self.splits)}")
        if self.options is not None:
            refuse_unknown_options(f"dataset '{self.name}'", options, self.options)
        size = tuple(input_size or self.input_size)
        return self.factory(root, split, train, size, tasks=None if tasks is None else list(tasks), **options)

    def replace(self, **changes: Any) -> DatasetSpec:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class lazy:  # noqa: N801 (used like a function: factory=lazy("pkg.module:Name"))
    """A factory that imports ``"package.module:name"`` when first called and calls it.

    Plugins register specs with ``factory=lazy(...)`` so that listing them (``sak plugins``,
    ``sak --help``) imports neither torch nor the model code; the import happens when a teacher,
    task or dataset is built.
    """

    target: str

    def __post_init__(self) -> None:
        module, sep, name = self.target.partition(":")
        if not (module and sep and name):
            raise SpecError(f"lazy({self.target!r}): name the factory as 'package.module:name'")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)(*args, **kwargs)


def names_on_first_use(namespace: dict[str, Any], table: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The PEP 562 ``__getattr__`` and ``__dir__`` of a package face whose ``table`` maps a name to
    the module defining it: the module is imported when the name is first read, and the name is
    kept in ``namespace`` (the package's ``globals()``) from then on. So ``import sak_core`` and
    ``import sak_core.plugin`` stay light while naming what needs torch."""

    def __getattr__(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module '{namespace['__name__']}' has no attribute '{name}'")
        value = getattr(importlib.import_module(table[name]), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__
