"""Building blocks of teacher plugins: common options, a recipe per variant, and one builder.

The counterpart of :mod:`sak_core.plugin.task_helpers` for teachers, after timm's ``build_model_with_cfg``:
a plugin says what its options resolve to (a :class:`Recipe`: widths, taps, grid, weight
sources, the model to build) and :func:`teacher_spec` does the rest, the same way for every
teacher. ``configure(**options)`` parses the options once and returns a spec whose ``create()``
is bound to them; ``create(**options)`` is ``configure(**options).create()``. The module class
(:class:`sak_core.plugin.teachers.TimmTeacher` by default) builds the network, finds and loads its
weights, freezes it and taps its blocks. A timm teacher plugin is a table of sizes plus one
:func:`timm_recipe` call::

    SIZES = {"small": Shape(384, 12, 16), "base": Shape(768, 12, 16)}

    @dataclass(frozen=True)
    class Options(TeacherOptions):
        size: str = "base"

    def resolve(o: Options) -> Recipe:
        size = o.variant or o.size
        return timm_recipe(o, f"vit_{size}_patch16_224.augreg_in21k", pick("mine", "size", SIZES, size))

    SPEC = teacher_spec("mine", Options, resolve)

Importing this module is cheap (no torch, no timm): plugins register their specs at start-up,
and the deep-learning stack is imported when a spec needs reading from a model or a teacher is
built.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sak_core.errors import SpecError
from sak_core.plugin.specs import (
    IMAGENET_MEAN, IMAGENET_STD, TEACHER_PRECISIONS, TeacherSpec, WeightSource, refuse_unknown_options,
)
from sak_core.plugin.taps import even_taps

T = TypeVar("T")
TIMM_TEACHER = "sak_core.plugin.teachers:TimmTeacher"


def parse_options(options_type: type[T], teacher: str, options: Mapping[str, Any]) -> T:
    """``options_type(**options)`` with an error that lists the accepted options on a typo."""
    accepted = [f.name for f in dataclasses.fields(options_type)]  # type: ignore[arg-type]
    refuse_unknown_options(f"teacher '{teacher}'", options, accepted)
    return options_type(**options)


def pick(teacher: str, what: str, table: Mapping[str, T], key: str) -> T:
    """``table[key]``, or an error naming the choices (``what``: "size", "backend", ...)."""
    if key not in table:
        raise SpecError(f"teacher '{teacher}' has no {what} '{key}': choose one of {', '.join(table)}")
    return table[key]


@dataclass(frozen=True)
class TeacherOptions:
    """The options every teacher accepts; a plugin subclasses it to add its own.

    variant: the model (or size) name; ``--teachers NAME:VARIANT`` sets it.
    weights: None (find the file, else download it), ``"random"`` (announced with a
        ``RandomWeightsWarning``), or a file path.
    faithful: True keeps the reference code's behaviour (ImageNet statistics for every teacher,
        pixels past the last full patch dropped); False fixes it.
    arch: architecture overrides (``embed_dim``, ``depth``, ``num_heads``, ``img_size``...), for
        tiny test variants built by the same code as the real sizes.
    input_mean, input_std: the normalisation of the images the teacher receives.
    """

    variant: str | None = None
    weights: Any = None
    faithful: bool = False
    arch: dict[str, Any] = field(default_factory=dict)
    input_mean: tuple[float, float, float] = IMAGENET_MEAN
    input_std: tuple[float, float, float] = IMAGENET_STD


@dataclass(frozen=True)
class Shape:
    """What a model looks like, as a spec needs it: width, depth, grid and normalisation."""

    embed_dim: int
    depth: int
    patch_size: int = 16
    input_size: tuple[int, int] = (224, 224)
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    dynamic_img_size: bool = True  # the model resamples its position embeddings to any grid

    def with_arch(self, arch: Mapping[str, Any]) -> Shape:
        """This shape with the ``embed_dim`` / ``depth`` / ``patch_size`` overrides of ``arch``."""
        keys = ("embed_dim", "depth", "patch_size")
        return dataclasses.replace(self, **{k: int(arch[k]) for k in keys if k in arch})


@dataclass(frozen=True)
class Recipe:
    """What a teacher's options resolve to: the spec's fields and how ``create()`` builds it.

    model: the library's model name (timm ``arch.tag``); model_args: its constructor arguments.
    module: the :class:`~sak_core.plugin.teachers.Teacher` class that builds it, or its
        ``"package.module:Class"`` so that it is imported by ``create()`` only (default
        :class:`sak_core.plugin.teachers.TimmTeacher`).
    label: the name messages use (default the teacher's name; the timm teacher says
        ``timm:MODEL``).
    precisions, random_init, has_weights, weight_layouts: what the teacher declares to the core
        (see :class:`~sak_core.plugin.specs.TeacherSpec`).
    """

    model: str
    feature_dim: int | tuple[int, ...]
    tap_indices: tuple[int, ...]
    patch_size: int
    input_size: tuple[int, int]
    weights: tuple[WeightSource, ...] = ()
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    model_args: Mapping[str, Any] = field(default_factory=dict)
    module: str | type = TIMM_TEACHER
    label: str = ""
    description: str = ""
    precisions: tuple[str, ...] = TEACHER_PRECISIONS
    random_init: bool = True
    has_weights: bool = True
    weight_layouts: tuple[Any, ...] = ()


@dataclass(frozen=True)
class TeacherPlugin:
    """A teacher's name, options type and ``resolve(options) -> Recipe``: configure and create."""

    name: str
    options_type: type[TeacherOptions]
    resolve: Callable[[Any], Recipe]

    def spec(self, recipe: Recipe, factory: Callable[..., Any]) -> TeacherSpec:
        return TeacherSpec(
            name=self.name, factory=factory, feature_dim=recipe.feature_dim, tap_indices=tuple(recipe.tap_indices),
            patch_size=recipe.patch_size, input_size=tuple(recipe.input_size), mean=tuple(recipe.mean),
            std=tuple(recipe.std), weights=tuple(recipe.weights), configure=self.configure,
            description=recipe.description, precisions=tuple(recipe.precisions), random_init=recipe.random_init,
            has_weights=recipe.has_weights, weight_layouts=tuple(recipe.weight_layouts),
        )

    def configure(self, **options: Any) -> TeacherSpec:
        """The spec of the variant ``options`` choose (parsed once); its ``create()`` builds it."""
        parsed = parse_options(self.options_type, self.name, options)
        recipe = self.resolve(parsed)
        spec = self.spec(recipe, _Bound(self, dict(options), parsed, recipe))
        spec.check_weights(parsed.weights)
        return spec

    def create(self, **options: Any) -> Any:  # a sak_core.plugin.teachers.Teacher
        """Build the frozen teacher ``options`` choose."""
        return self.configure(**options).create()


@dataclass(frozen=True, repr=False)
class _Bound:
    """The factory of a configured spec: builds the teacher its options were resolved to."""

    plugin: TeacherPlugin
    options: dict[str, Any]
    parsed: TeacherOptions
    recipe: Recipe

    def __repr__(self) -> str:
        return f"<create {self.plugin.name} {self.options}>"

    def __call__(self, **more: Any) -> Any:  # a sak_core.plugin.teachers.Teacher
        if more:  # options on top of the bound ones: a different variant
            return self.plugin.create(**{**self.options, **more})
        teacher_class = self.recipe.module
        if isinstance(teacher_class, str):
            module, _, name = teacher_class.partition(":")
            teacher_class = getattr(importlib.import_module(module), name)
        return teacher_class(self.plugin.spec(self.recipe, self), self.parsed, self.recipe)


def teacher_spec(
    name: str, options_type: type[TeacherOptions], resolve: Callable[[Any], Recipe], default: Recipe | None = None
) -> TeacherSpec:
    """The spec a teacher plugin registers: its default variant, with ``configure`` and ``create``.

    ``default`` is the recipe of the default options, for plugins whose ``resolve`` reads a model
    (registering must stay cheap); it must equal what ``resolve`` gives, which
    :func:`sak_core.testing.check_teacher` checks. Without it ``resolve`` is called now.
    """
    plugin = TeacherPlugin(name, options_type, resolve)
    return plugin.configure() if default is None else plugin.spec(default, plugin.create)


# -- timm ---------------------------------------------------------------------------------------


_TIMM_SHAPES: dict[tuple[str, str, bool], Shape] = {}


def _read_timm_shape(model: str, arch: dict[str, Any], stages: bool) -> Shape:
    import timm
    import torch

    try:
        with torch.device("meta"):  # no memory, no weights: only the module structure
            net = timm.create_model(model, pretrained=False, **arch)
    except RuntimeError as exc:
        if "Unknown model" not in str(exc) and "Invalid pretrained tag" not in str(exc):
            raise
        close = difflib.get_close_matches(model.split(".")[0], timm.list_models(), n=3)
        raise SpecError(
            f"timm has no model '{model}'" + (f"; similar names: {', '.join(close)}" if close else "")
            + ". List them with python -c \"import timm; print(timm.list_models('vit_*'))\""
        ) from None
    cfg = net.pretrained_cfg
    size = cfg.get("input_size", (3, 224, 224))[-2:]
    common = dict(input_size=(int(size[0]), int(size[1])), mean=tuple(cfg.get("mean", IMAGENET_MEAN)),
                  std=tuple(cfg.get("std", IMAGENET_STD)))
    if stages:  # hierarchical: one level per stage, widths and strides from timm's feature_info
        info = net.feature_info
        return Shape(tuple(int(i["num_chs"]) for i in info), len(info), int(info[0]["reduction"]),
                     dynamic_img_size=False, **common)
    if not all(hasattr(net, a) for a in ("blocks", "patch_embed", "forward_intermediates")):
        raise SpecError(
            f"timm model '{model}' is not ViT-like (it needs .blocks, .patch_embed and "
            "forward_intermediates): choose a ViT such as vit_base_patch16_224"
        )
    patch = net.patch_embed.patch_size
    return Shape(int(getattr(net, "embed_dim", net.num_features)), len(net.blocks),
                 int(patch[0] if isinstance(patch, (tuple, list)) else patch),
                 dynamic_img_size=hasattr(net, "dynamic_img_size"), **common)


def timm_shape(model: str, arch: Mapping[str, Any] | None = None, stages: bool = False) -> Shape:
    """The shape of timm ``model`` with ``arch`` applied, read from a weightless copy on the meta
    device. ``stages=True``: a hierarchical model (ConvNeXt...) tapped once per stage."""
    key = (model, repr(sorted((arch or {}).items())), stages)  # arch values may be lists
    if key not in _TIMM_SHAPES:
        _TIMM_SHAPES[key] = _read_timm_shape(model, dict(arch or {}), stages)
    return _TIMM_SHAPES[key]


def timm_recipe(
    options: TeacherOptions,
    model: str,
    shape: Shape | None = None,
    *,
    taps: tuple[int, ...] | None = None,
    sources: tuple[WeightSource, ...] | None = None,
    stages: bool = False,
    **recipe: Any,
) -> Recipe:
    """The recipe of timm ``model`` (``arch.tag``) with ``options.arch`` applied.

    ``shape``: the model's shape when a plugin's size table knows it (no timm import); else it is
    read with :func:`timm_shape`. ``taps``: block indices (default four spread evenly, or every
    stage with ``stages=True``). ``sources``: weight files (default timm's own for ``model``).
    Other keywords are :class:`Recipe` fields.
    """
    arch = dict(options.arch or {})
    shape = timm_shape(model, arch, stages) if shape is None else shape.with_arch(arch)
    if taps is None:
        taps = tuple(range(shape.depth)) if stages else even_taps(shape.depth)
    taps = tuple(int(t) for t in taps)
    if not taps or any(not 0 <= t < shape.depth for t in taps):
        raise SpecError(
            f"teacher '{recipe.get('label') or model}' has {shape.depth} blocks; taps {list(taps)} must be "
            f"indices in 0..{shape.depth - 1}"
        )
    if shape.dynamic_img_size:
        arch.setdefault("dynamic_img_size", True)  # resample position embeddings per input grid
    if sources is None:
        from sak_core.weights.sources import timm_weight_sources

        sources = timm_weight_sources(model)
    return Recipe(model=model, feature_dim=shape.embed_dim, tap_indices=taps, patch_size=shape.patch_size,
                  input_size=shape.input_size, mean=shape.mean, std=shape.std, weights=sources,
                  model_args={**recipe.pop("model_args", {}), **arch}, **recipe)
