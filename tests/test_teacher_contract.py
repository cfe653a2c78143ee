"""The teacher contract: the core runs a teacher only in a precision it declares and casts its
features, checks its number of feature levels before any step, and honours what it says about
its weights."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from sak_core import Teacher, TeacherOutput, TeacherSpec, hookimpl
from sak_core.plugin.lookup import create_teacher, get_teacher_spec
from sak_core.errors import CheckpointError, ConfigError, SpecError
from sak_core.plugin.registry import temporary_plugin
from sak_core.runtime.device import Precision, teacher_precision
from sak_core.training import train

CPU = torch.device("cpu")


class ResizingTeacher(Teacher):
    """Pools with an antialiased resize, which torch does not implement for bf16 on the CPU."""

    def __init__(self, spec: TeacherSpec, **options) -> None:
        super().__init__(spec)
        self.freeze()

    def extract(self, images: torch.Tensor) -> TeacherOutput:
        h, w = images.shape[-2] // self.spec.patch_size, images.shape[-1] // self.spec.patch_size
        x = F.interpolate(self.renormalize(images), size=(h, w), mode="bilinear", antialias=True)  # B x 3 x h x w
        maps = [torch.cat([x * (level + 1)] * (self.spec.feature_dim // 3), 1) for level in self.spec.tap_indices]
        return TeacherOutput(maps, None)


def _spec(name: str, levels: int, precisions: tuple[str, ...], **fields) -> TeacherSpec:
    spec = TeacherSpec(name=name, factory=lambda **o: ResizingTeacher(spec, **o), feature_dim=6,
                       tap_indices=tuple(range(levels)), patch_size=8, input_size=(32, 32),
                       precisions=precisions, **fields)
    return spec


class _Plugin:
    @hookimpl
    def sak_register_teachers(self, register):
        register(_spec("resize_fp32", 4, ("fp32",)))
        register(_spec("one_level", 1, ("fp32", "bf16")))


@pytest.fixture
def contract_teachers(toy_plugins):
    with temporary_plugin(_Plugin(), distribution="contract-test"):
        yield


def test_a_spec_declares_known_precisions_only():
    with pytest.raises(SpecError, match=r"teacher 'x' declares precisions \['fp64'\]: name one or more of fp32, bf16"):
        _spec("x", 1, ("fp64",))
    with pytest.raises(SpecError, match="declares precisions"):
        _spec("x", 1, ())
    assert _spec("x", 3, ("bf16",)).levels == 3


def test_teacher_precision_keeps_a_declared_one_and_falls_back_to_the_first_the_device_runs():
    bf16 = Precision("bf16", "auto")
    assert teacher_precision(bf16, "t", ("fp32", "bf16"), CPU) is bf16
    fallback = teacher_precision(bf16, "t", ("fp32",), CPU)
    assert fallback.name == "fp32" and "declares fp32, not bf16" in fallback.reason
    assert teacher_precision(bf16, "t", ("fp16", "fp32"), CPU).name == "fp32"  # no fp16 on a CPU
    with pytest.raises(ConfigError, match="teacher 't' runs only in fp16"):
        teacher_precision(bf16, "t", ("fp16",), CPU)


def test_place_refuses_an_undeclared_precision_and_forward_casts_input_and_features(contract_teachers):
    teacher = create_teacher("resize_fp32")
    with pytest.raises(SpecError, match="teacher 'resize_fp32' runs in fp32 .*not bf16"):
        teacher.place(CPU, "bf16")
    bf16 = create_teacher("one_level").place(CPU, "fp32")
    out = teacher.place(CPU, "fp32")(torch.randn(2, 3, 32, 32, dtype=torch.bfloat16))  # input cast to fp32
    assert all(f.dtype == torch.float32 for f in out.features)
    with pytest.raises(NotImplementedError):  # what the core would have hit by casting it
        F.interpolate(torch.ones(1, 3, 8, 8, dtype=torch.bfloat16), size=(4, 4), mode="bilinear", antialias=True)
    assert bf16.dtype == torch.float32


def test_a_bf16_run_keeps_an_fp32_only_teacher_in_fp32(contract_teachers, toy_config, tmp_path, capsys):
    config = toy_config(stage=1, teachers=[{"name": "resize_fp32"}, {"name": "toy_b"}],
                        optim={"iterations": 2, "precision": "bf16", "teacher_precision": "bf16"})
    result = train(config, tmp_path / "run")
    assert result is not None
    banner = capsys.readouterr()
    text = banner.out + banner.err
    assert "teachers bf16 (asked for)" in text and "resize_fp32 fp32 (teacher 'resize_fp32' declares fp32, not bf16)" in text


def test_a_level_mismatch_is_a_config_error_before_any_step(contract_teachers, toy_config, tmp_path):
    config = toy_config(stage=1, teachers=[{"name": "one_level"}])
    with pytest.raises(ConfigError) as caught:
        train(config, tmp_path / "run")
    message = str(caught.value)
    assert "teacher 'one_level' gives 1 feature level(s) but the student taps 4 stem blocks [0, 1, 2, 3]" in message
    assert "set model.tap_indices to 1 block(s) of the stem (e.g. [3])" in message
    assert not (tmp_path / "run" / "metrics.jsonl").exists()
    # the fix it names works
    train(toy_config(stage=1, teachers=[{"name": "one_level"}], model={"tap_indices": [3]},
                     optim={"iterations": 1}), tmp_path / "fixed")


def test_weights_options_a_teacher_does_not_declare_are_refused_when_configured(contract_teachers):
    with temporary_plugin(_NoWeights(), distribution="contract-weights"):
        with pytest.raises(SpecError, match="teacher 'fixed' has no weights to load .* drop the teacher's weights"):
            get_teacher_spec("fixed", weights="random")
        with pytest.raises(SpecError, match="teacher 'needs_file' has no random initialisation .*weights=PATH"):
            get_teacher_spec("needs_file", weights="random")
        assert get_teacher_spec("needs_file", weights="w.onnx").name == "needs_file"


class _NoWeights:
    @hookimpl
    def sak_register_teachers(self, register):
        from sak_core.plugin.teacher_recipes import Recipe, TeacherOptions, teacher_spec

        def recipe(**fields):
            return lambda o: Recipe("", 6, (0,), 8, (32, 32), module=ResizingTeacher, **fields)

        register(teacher_spec("fixed", TeacherOptions, recipe(has_weights=False, random_init=False)))
        register(teacher_spec("needs_file", TeacherOptions, recipe(random_init=False)))


def test_a_layout_renames_only_for_the_teacher_whose_spec_lists_it(tmp_path):
    """The core holds the mechanism; the family lists its layouts (a neutral one here)."""
    from safetensors.torch import save_file

    from sak_core.errors import ConvertedWeightsWarning
    from sak_core.weights.layouts import LEAVE_OUT, Layout
    from sak_core.weights.sources import read_state_dict

    other = Layout("other library", "the family's own", "enc.stem.w", rules=(
        (r"enc\.stem\.w", "stem.weight"), (r"enc\.(q|k|v)\.w", r"attn.\1.weight"), (r"head\..*", LEAVE_OUT)),
        fuse=(("q", "k", "v"), "{prefix}.qkv.{suffix}"))
    path = tmp_path / "w.safetensors"
    save_file({"enc.stem.w": torch.ones(2), **{f"enc.{p}.w": torch.full((1, 2), i) for i, p in enumerate("qkv")},
               "head.w": torch.zeros(1)}, str(path))
    assert sorted(read_state_dict(path, "t")) == ["enc.k.w", "enc.q.w", "enc.stem.w", "enc.v.w", "head.w"]
    with pytest.warns(ConvertedWeightsWarning, match=r"teacher 't': .* other library layout; .*left out: head.w"):
        state = read_state_dict(path, "t", layouts=(other,))
    assert sorted(state) == ["attn.qkv.weight", "stem.weight"]
    assert state["attn.qkv.weight"].flatten().tolist() == [0, 0, 1, 1, 2, 2]


# A teacher's name as a word, any case (dinov2, DINOv2, sam, SAM, open_clip, segment-anything), and
# CLIP in capitals or clip as a word that is not an attribute or a call (np.clip, torch.clip(x),
# x.clip(0, 1), def clip(...), clip_grad_norm_, grad_clip are not teachers).
TEACHER_NAMES = re.compile(
    r"(?i:\bdinov2\b|\bopen_clip\b|\bsegment[-_ ]?anything\b|\bsam\b)|\bCLIP\b|(?<![.\w])clip\b(?!\s*\()"
)


@pytest.mark.parametrize("line, named", [
    ("--teachers dinov2,clip,sam", True), ("Distil DINOv2, CLIP, SAM", True), ("pip install sak-teacher-clip", True),
    ("backend: open_clip", True), ("segment-anything's encoder", True), ("e.g. clip,backend=timm", True),
    ("x = np.clip(y, 0, 1)", False), ("torch.clip(x, 0)", False), ("img.clip(0, 255)", False),
    ("def clip(x: np.ndarray):", False), ("clip_grad_norm_(params, 1.0)", False), ("optim.grad_clip", False),
    ("Clip the global gradient norm", False), ("the same sample", False), ("teacher_a:large", False),
])
def test_the_teacher_name_pattern(line, named):
    assert bool(TEACHER_NAMES.search(line)) is named


def test_the_core_names_no_teacher():
    """Outside presets/ and convert/, no module of sak_core (code, help texts, docstrings, examples in
    messages) names a specific teacher: the core knows teachers through their specs only."""
    import sak_core

    root = Path(sak_core.__file__).parent
    modules = sorted(p for p in root.rglob("*.py") if p.relative_to(root).parts[0] not in ("presets", "convert"))
    assert root / "plugin" / "teachers.py" in modules and root / "cli" / "train.py" in modules
    hits = [f"{p.relative_to(root)}:{n}: {line.strip()}" for p in modules
            for n, line in enumerate(p.read_text().splitlines(), 1) if TEACHER_NAMES.search(line)]
    assert not hits, "\n".join(hits)


def test_a_weights_file_without_a_url_is_not_downloaded(tmp_path, monkeypatch):
    """A source with no download URL (a private file) that is not in $SAK_WEIGHTS says where to
    save it, online too, instead of trying to download an empty URL."""
    from sak_core.plugin import WeightSource, resolve_weights
    from sak_core.weights.sources import OFFLINE_ENVS

    for name in OFFLINE_ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SAK_WEIGHTS", str(tmp_path))
    with pytest.raises(CheckpointError, match=r"no weights for teacher 'mine' \(not found, and it has no download URL\)") as told:
        resolve_weights("mine", None, (WeightSource("mine.safetensors"),))
    assert f"download (no public URL)\n    and save it as {tmp_path / 'mine.safetensors'}" in str(told.value)
    (tmp_path / "mine.safetensors").write_bytes(b"")
    assert resolve_weights("mine", None, (WeightSource("mine.safetensors"),)) == tmp_path / "mine.safetensors"


def test_each_family_owns_its_transformers_layout_and_the_generic_timm_teacher_reads_none():
    """docs/teachers.md: the dinov2, clip and sam plugins declare their `transformers` layouts;
    the generic timm teacher, given a model of those families, declares none."""
    declared = {name: [layout.name for layout in get_teacher_spec(name).weight_layouts] for name in ("dinov2", "clip", "sam")}
    assert declared == {"dinov2": ["transformers Dinov2Model"], "clip": ["transformers CLIPModel"],
                        "sam": ["transformers SamModel"]}
    for model in ("vit_small_patch14_dinov2.lvd142m", "vit_base_patch16_clip_224.laion2b", "samvit_base_patch16.sa1b"):
        assert get_teacher_spec(f"timm:{model}").weight_layouts == ()
