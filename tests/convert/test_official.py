"""Converting the authors' SAK checkpoints (innovator-zero/SAK) to sak runs and back.

The authors' model is re-implemented independently in ``authors_reference.py`` with their key
layout; random weights in that layout are converted and both models are run on the same input.
"""

from __future__ import annotations

import errno
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).parent))
from authors_reference import ReferenceMultiTask, ReferenceSAK, randomize_  # noqa: E402

from sak_core.run.checkpoint import load_student, read_metadata  # noqa: E402
from sak_core.cli.main import main  # noqa: E402
from sak_core.config import load_config  # noqa: E402
from sak_core.convert import (  # noqa: E402
    convert_official,
    export_official,
    official_config_for,
    official_key_map,
    official_to_student,
    parse_official_config,
    read_official_checkpoint,
)
from sak_core.convert.official import student_config_from_official  # noqa: E402
from sak_core.errors import CheckpointError, ConfigError  # noqa: E402
from sak_core.model import SAKStudent, StudentConfig  # noqa: E402

PASCAL = {"semseg": 21, "human_parts": 7, "normals": 3, "edge": 1, "sal": 2}
NYUD = {"semseg": 40, "normals": 3, "edge": 1, "depth": 1}
SAK_NAMES = {"semseg": "semseg", "human_parts": "parts", "sal": "saliency", "normals": "normals",
             "edge": "boundaries", "depth": "depth"}
BACKBONE_TYPES = {"dinov2": "dinov2_base", "clip": "timmclip_base", "sam": "sam_base"}
TOLERANCE = 1e-4
MAX_DIFFS: dict[str, float] = {}


@dataclass(frozen=True)
class Case:
    """A tiny authors' student: ``dataset`` None is a stage-1 (backbone only) checkpoint."""

    name: str
    dataset: str | None
    aligner: bool
    dim: int = 32
    heads: int = 2
    size: tuple[int, int] = (32, 32)
    router_type: str = "mor"
    noisy_gating: bool = True

    @property
    def outputs(self) -> dict[str, int]:
        return {"pascalcontext": PASCAL, "nyud": NYUD}.get(self.dataset, {})

    @property
    def teacher_widths(self) -> dict[str, int]:
        return dict(dinov2=48, clip=16, sam=64) if self.aligner else dict.fromkeys(BACKBONE_TYPES, self.dim)

    @property
    def overrides(self) -> dict[str, int]:
        return dict(embed_dim=self.dim, depth=4, num_heads=self.heads)

    def official_config(self) -> dict:
        backbone = {"backbone_type": "sak", "vit_name": "vit_small", "down_ratio": 4, "aligner": self.aligner,
                    "freeze_vit": False}
        config = {"results_dir": "./results/", "dataset": self.dataset or "imagenet",
                  "teachers": {t: {"backbone_type": b} for t, b in BACKBONE_TYPES.items()},
                  "student": {"backbone": backbone}, "loss_type": "cos+l1", "optimizer": "adamw",
                  "lr": "1e-3" if self.dataset is None else "2e-5", "weight_decay": 0.01, "grad_clip": 0}
        if self.dataset:
            config["task_dict"] = dict.fromkeys(self.outputs, 1)
            backbone.update(router_type=self.router_type, noisy_gating=self.noisy_gating)
            config.update(max_iters=40000, scheduler="poly", grad_clip=10)
        return config

    def reference(self, seed: int = 0) -> torch.nn.Module:
        grid = (self.size[0] // 16, self.size[1] // 16)
        backbone = ReferenceSAK(self.dim, 4, self.heads, grid, [0, 1, 2, 3], self.teacher_widths,
                                tasks=list(self.outputs), aligner=self.aligner, router_type=self.router_type,
                                noisy_gating=self.noisy_gating)
        model = ReferenceMultiTask(backbone, self.outputs, self.size) if self.dataset else backbone
        return randomize_(model, seed).eval()


CASES = [
    Case("stage1", None, aligner=False),
    Case("stage1-aligners", None, aligner=True, dim=64, heads=4),
    Case("pascal", "pascalcontext", aligner=False),
    Case("pascal-aligners", "pascalcontext", aligner=True, dim=64, heads=4, size=(64, 48)),
    Case("nyud", "nyud", aligner=False, size=(32, 48)),
    Case("nyud-aligners", "nyud", aligner=True, size=(48, 32)),
    Case("pascal-no-router", "pascalcontext", aligner=False, router_type="none"),
    Case("nyud-clean-gating", "nyud", aligner=True, dim=64, heads=4, size=(32, 64), noisy_gating=False),
]


def write_official(case: Case, tmp_path: Path, seed: int = 0) -> tuple[Path, Path, torch.nn.Module]:
    """The reference model, its checkpoint as the training scripts save it, and its config."""
    model = case.reference(seed)
    ckpt = tmp_path / f"{case.name}.pth"
    torch.save({"model": model.state_dict(), "optimizer": {"state": {}, "param_groups": []},
                "epoch": 3, "iter_count": 1200}, ckpt)
    config = tmp_path / f"{case.name}.yml"
    config.write_text(yaml.safe_dump(case.official_config(), sort_keys=False))
    return ckpt, config, model


def max_differences(case: Case, reference: torch.nn.Module, student: SAKStudent) -> tuple[float, float]:
    """Max abs difference of (task outputs, distillation features) on one random batch."""
    torch.manual_seed(1)
    images = torch.randn(2, 3, *case.size)
    with torch.no_grad():
        aligned, tasks = reference(images) if case.dataset else (reference(images)[0], {})
        ours = student(images)
    assert set(ours.tasks) == {SAK_NAMES[t] for t in tasks}
    task_diff = max((float((ours.tasks[SAK_NAMES[t]] - out).abs().max()) for t, out in tasks.items()), default=0.0)
    feature_diff = 0.0
    for teacher, levels in aligned.items():
        assert len(ours.distill[teacher]) == len(levels) == 4
        for got, want in zip(ours.distill[teacher], levels, strict=True):
            assert got.shape == want.shape and want.std() > 1e-2  # non-trivial features
            feature_diff = max(feature_diff, float((got - want).abs().max()))
    for out in tasks.values():
        assert out.std() > 1e-2
    return task_diff, feature_diff


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_same_outputs_and_bit_exact_round_trip(case, tmp_path):
    ckpt, config, reference = write_official(case, tmp_path)
    run = tmp_path / "run"
    conversion = convert_official(ckpt, config, run, input_size=case.size, stem_overrides=case.overrides)

    task_diff, feature_diff = max_differences(case, reference, conversion.student)
    MAX_DIFFS[case.name] = max(task_diff, feature_diff)
    print(f"{case.name}: max |diff| tasks {task_diff:.2e}, distillation features {feature_diff:.2e}")
    assert task_diff < TOLERANCE and feature_diff < TOLERANCE

    # the run directory is a sak run: load_student rebuilds the same student, config.yaml is a RunConfig
    reloaded = load_student(run).state_dict()
    assert all(torch.equal(reloaded[k], v) for k, v in conversion.student.state_dict().items())
    run_config = load_config(run / "config.yaml")
    assert run_config.stage == (2 if case.dataset else 1)
    assert run_config.tasks == [SAK_NAMES[t] for t in case.outputs]
    assert [e.name for e in run_config.teachers] == ["dinov2", "clip", "sam"]
    assert run_config.model.aligners == case.aligner
    assert run_config.model.router == ("sum" if case.router_type == "none" else "mor")
    assert tuple(run_config.data.input_size) == case.size
    assert run_config.data.dataset == {"pascalcontext": "pascal-context", "nyud": "nyud", None: "imagenet"}[case.dataset]
    assert json.loads((run / "plugins.json").read_text())

    # official -> sak -> official is bit-exact, key for key
    back = tmp_path / "back.pth"
    back_config = tmp_path / "back.yml"
    export_official(run, back, back_config)
    original = reference.state_dict()
    returned = torch.load(back, weights_only=True)["model"]
    assert list(returned) == list(original)
    for key, tensor in original.items():
        assert returned[key].dtype == tensor.dtype and torch.equal(returned[key], tensor), key
    assert yaml.safe_load(back_config.read_text()) == yaml.safe_load(config.read_text())


def test_max_differences_summary():
    """Runs last in this module: the measured differences of every case, for the record."""
    if MAX_DIFFS:
        print("max |diff| per case:", {k: f"{v:.1e}" for k, v in MAX_DIFFS.items()})
        assert max(MAX_DIFFS.values()) < TOLERANCE


# ---------------------------------------------------------------- full-size layouts (no memory)


@pytest.mark.parametrize(
    "vit_name, dataset, aligner, teachers",
    [
        ("vit_base", "pascalcontext", False, BACKBONE_TYPES),
        ("vit_base", "nyud", False, BACKBONE_TYPES),
        ("vit_base", None, True, {"dinov2": "dinov2_large", "clip": "timmclip_large", "sam": "sam_large"}),  # LB_s1
        ("vit_large", None, False, {"dinov2": "dinov2_large", "clip": "timmclip_large", "sam": "sam_large"}),  # LL_s1
        ("vit_small", None, True, BACKBONE_TYPES),  # BS_s1
    ],
)
def test_full_size_authors_layout_maps_key_for_key(vit_name, dataset, aligner, teachers):
    """The authors' published configs, at full size on the meta device: every key and shape."""
    dims = {"vit_small": (384, 12, 6), "vit_base": (768, 12, 12), "vit_large": (1024, 24, 16)}[vit_name]
    size = {"pascalcontext": (512, 512), "nyud": (448, 576), None: (384, 384)}[dataset]
    widths = {"dinov2_base": 768, "timmclip_base": 768, "sam_base": 768,
              "dinov2_large": 1024, "timmclip_large": 1024, "sam_large": 1024}
    taps = [5, 11, 17, 23] if vit_name == "vit_large" else [2, 5, 8, 11]
    outputs = {"pascalcontext": PASCAL, "nyud": NYUD}.get(dataset, {})
    raw = {"dataset": dataset or "imagenet", "teachers": {t: {"backbone_type": b} for t, b in teachers.items()},
           "student": {"backbone": {"backbone_type": "sak", "vit_name": vit_name, "down_ratio": 4, "aligner": aligner,
                                    "router_type": "mor", "noisy_gating": True, "freeze_vit": False}}}
    if outputs:
        raw["task_dict"] = dict.fromkeys(outputs, 1)
    with torch.device("meta"):
        backbone = ReferenceSAK(dims[0], dims[1], dims[2], (size[0] // 16, size[1] // 16), taps,
                                {t: widths[b] for t, b in teachers.items()}, tasks=list(outputs), aligner=aligner)
        reference = ReferenceMultiTask(backbone, outputs, size) if outputs else backbone
        state = reference.state_dict()
        config, notes = student_config_from_official(parse_official_config(raw), state)
        student = SAKStudent(config)
    assert notes == []
    assert config.stem == vit_name and config.stem_overrides == {} and config.tap_indices == taps
    assert tuple(config.input_size) == size
    assert config.tasks == {SAK_NAMES[t]: n for t, n in outputs.items()}
    expected_widths = {t: widths[b] if aligner else dims[0] for t, b in teachers.items()}
    assert config.teachers == expected_widths
    mapping = official_key_map(student)
    own = student.state_dict()
    assert sorted(mapping.values()) == sorted(state)
    for ours, theirs in mapping.items():
        assert own[ours].shape == state[theirs].shape, (ours, theirs)


def test_authors_pascal_config_is_written_for_a_reference_student():
    """A plain sak ViT-B student with the reference teachers gives the authors' pascal_s2 config."""
    config = StudentConfig(input_size=(512, 512), teachers=dict(dinov2=768, clip=768, sam=768),
                           tasks=dict(semseg=21, parts=7, normals=3, boundaries=1, saliency=2))
    official, notes = official_config_for(config)
    assert notes == []
    assert official["dataset"] == "pascalcontext"
    assert official["task_dict"] == {"semseg": 1, "human_parts": 1, "normals": 1, "edge": 1, "sal": 1}
    assert official["teachers"] == {t: {"backbone_type": b} for t, b in BACKBONE_TYPES.items()}
    assert official["student"]["backbone"] == {"backbone_type": "sak", "vit_name": "vit_base", "down_ratio": 4,
                                              "aligner": False, "freeze_vit": False, "router_type": "mor",
                                              "noisy_gating": True}


# ---------------------------------------------------------------- layouts and file formats


def test_bare_state_dict_ddp_prefix_and_safetensors_are_read(tmp_path):
    case = CASES[2]
    _, config, reference = write_official(case, tmp_path)
    state = reference.state_dict()
    bare = tmp_path / "bare.pth"
    torch.save({f"module.{k}": v for k, v in state.items()}, bare)
    st = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(st))
    for path in (bare, st):
        loaded = read_official_checkpoint(path)
        assert sorted(loaded) == sorted(state)
        conversion = official_to_student(loaded, config, case.size, case.overrides)
        assert max(max_differences(case, reference, conversion.student)) < TOLERANCE


def test_converted_run_keeps_the_authors_config_in_its_metadata(tmp_path):
    case = CASES[4]
    ckpt, config, _ = write_official(case, tmp_path)
    convert_official(ckpt, config, tmp_path / "run", input_size=case.size, stem_overrides=case.overrides)
    meta = read_metadata(tmp_path / "run")
    assert json.loads(meta["sak_official_config"]) == case.official_config()
    assert "sak_student_config" in meta


def test_config_with_aligners_and_checkpoint_without_converts_with_a_note(tmp_path):
    """The authors' test script drops the aligners; such a checkpoint still converts."""
    case = Case("no-aligner-tensors", "pascalcontext", aligner=False)
    _, _, reference = write_official(case, tmp_path)
    config = case.official_config()
    config["student"]["backbone"]["aligner"] = True
    conversion = official_to_student(reference.state_dict(), config, case.size, case.overrides)
    assert not conversion.student.config.aligners
    assert any("no aligners" in n for n in conversion.notes)


# ---------------------------------------------------------------- errors


def test_leftover_tensors_on_both_sides_are_listed(tmp_path):
    case = CASES[2]
    _, config, reference = write_official(case, tmp_path)
    state = dict(reference.state_dict())
    state["backbone.vit.norm.weight"] = torch.ones(case.dim)  # the final norm the authors remove
    del state["heads.sal.last_conv.bias"]
    with pytest.raises(CheckpointError) as err:
        official_to_student(state, config, case.size, case.overrides, source="ckpt.pth")
    message = str(err.value)
    assert "ckpt.pth does not convert" in message
    assert "1 source tensors not used: backbone.vit.norm.weight" in message
    assert "1 target tensors without a source: heads.sal.last_conv.bias" in message


def test_shape_mismatch_is_reported(tmp_path):
    case = CASES[3]
    _, config, reference = write_official(case, tmp_path)
    state = dict(reference.state_dict())
    state["backbone.ts_aligners.2_clip.weight"] = torch.zeros(17, case.dim)
    with pytest.raises(CheckpointError, match=r"wrong shape: backbone\.ts_aligners\.2_clip\.weight \(17, 64\) -> "
                                              r"aligners\.level2\.clip\.weight \(16, 64\)"):
        official_to_student(state, config, case.size, case.overrides)


class NotATensor:
    """A pickled object that weights_only loading must refuse."""


def test_non_tensor_payloads_are_not_unpickled(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model": {"vit.pos_embed": torch.zeros(1)}, "extra": NotATensor()}, path)
    with pytest.raises(CheckpointError, match="refuses to unpickle"):
        read_official_checkpoint(path)
    plain = tmp_path / "strings.pth"
    torch.save({"model": {"vit.pos_embed": torch.zeros(1), "note": "text"}}, plain)
    with pytest.raises(CheckpointError, match="1 entries that are not tensors: note"):
        read_official_checkpoint(plain)


def _zip_without_torch_data(path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes/readme.txt", "not a checkpoint")


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda p: p.write_text("hello, this is text\n"), "is not a PyTorch checkpoint: it is text"),
        (lambda p: p.write_bytes(b""), "is not a PyTorch checkpoint: the file is empty"),
        (lambda p: p.write_bytes(bytes(range(255, -1, -1)) * 16), "is not a PyTorch checkpoint: it does not start as"),
        (_zip_without_torch_data, "is not a PyTorch checkpoint: it is a zip archive without the data.pkl"),
        (lambda p: p.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 9\n"),
         "is not a PyTorch checkpoint but a Git LFS pointer"),
        (lambda p: p.write_bytes(b"\x80\x02he"), "could not be read as a PyTorch file (KeyError"),  # damaged pickle
    ],
    ids=["text", "empty", "binary", "zip", "lfs-pointer", "damaged-pickle"],
)
def test_files_that_are_not_torch_checkpoints_are_named(write, message, tmp_path, capsys):
    _, config, _ = write_official(CASES[0], tmp_path)
    ckpt = tmp_path / "weights.pth"
    write(ckpt)
    code = main(["convert", "official", str(ckpt), "--official-config", str(config), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.replace("\n", "")
    assert code == 1
    assert f"{ckpt} {message}" in err and "bug in sak" not in err
    assert not (tmp_path / "run").exists()


def test_malformed_position_embedding_is_named(tmp_path):
    case = CASES[0]
    _, config, _ = write_official(case, tmp_path)
    with pytest.raises(CheckpointError, match=r"vit\.pos_embed has shape \(5,\), not \(1, tokens, width\)"):
        official_to_student({"vit.pos_embed": torch.zeros(5)}, config, case.size, case.overrides)


def test_wrong_stem_size_says_what_to_pass(tmp_path):
    case = CASES[0]
    _, config, reference = write_official(case, tmp_path)
    with pytest.raises(CheckpointError, match="--stem-override embed_dim=32 --stem-override depth=4"):
        official_to_student(reference.state_dict(), config, case.size)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"student": {"backbone": {"lora_config": {"r": 8}}}}, "LoRA stems"),
        ({"task_dict": {"semseg": 2}}, "only 1 .* or 0"),
        ({"task_dict": {"panoptic": 1}}, "task 'panoptic' is not one of"),
        ({"student": {"backbone": {"backbone_type": "radio_v2.5-b"}}}, "only SAK students"),
        ({"student": {"backbone": {"vit_name": "vit_huge"}}}, "vit_name 'vit_huge'"),
        # wrong types: each named, never a raw TypeError / AttributeError
        ({"student": {"backbone": {"vit_name": ["vit_small"]}}}, r"vit_name \['vit_small'\] is not one of"),
        ({"student": {"backbone": {"down_ratio": True}}}, "down_ratio must be a positive integer, not True"),
        ({"dataset": ["nyud"]}, r"dataset \['nyud'\] is not one of"),
        ({"task_dict": ["semseg"]}, r"task_dict must be a mapping .*not \['semseg'\]"),
        ({"teachers": {"dinov2": "dinov2_base"}}, "teachers.dinov2 must be a mapping"),
        ({"teachers": {"dinov2": {"backbone_type": ["dinov2_base"]}}}, "teachers.dinov2.backbone_type must be a name"),
    ],
)
def test_unsupported_configs_are_explained(change, message):
    from sak_core.config import deep_merge

    with pytest.raises(ConfigError, match=message):
        parse_official_config(deep_merge(CASES[2].official_config(), change))


def test_to_official_refuses_a_student_the_authors_code_cannot_build(tmp_path):
    from sak_core.run.checkpoint import save_student

    student = SAKStudent(StudentConfig(stem_overrides=dict(embed_dim=32, depth=4, num_heads=2), input_size=(32, 32),
                                       teachers=dict(mine=32), tasks=dict(seg=5)))
    save_student(student, tmp_path / "model.safetensors")
    with pytest.raises(ConfigError, match="teacher 'mine'.*tasks \\['seg'\\]|tasks \\['seg'\\].*teacher 'mine'"):
        export_official(tmp_path / "model.safetensors", tmp_path / "out.pth", tmp_path / "out.yml")
    assert not (tmp_path / "out.pth").exists()
    export_official(tmp_path / "model.safetensors", tmp_path / "out.pth")  # the weights alone are fine
    state = torch.load(tmp_path / "out.pth", weights_only=True)["model"]
    assert "backbone.mor.3_seg.router.module.3.weight" in state and "heads.seg.last_conv.weight" in state


# ---------------------------------------------------------------- command line


def test_cli_round_trip(tmp_path, capsys):
    case = CASES[5]
    ckpt, config, reference = write_official(case, tmp_path)
    run = tmp_path / "run"
    overrides = [a for k, v in case.overrides.items() for a in ("--stem-override", f"{k}={v}")]
    args = ["convert", "official", str(ckpt), "--official-config", str(config), "--out", str(run),
            "--input-size", *map(str, case.size), *overrides]
    assert main(args) == 0
    assert "stage-2" in capsys.readouterr().out
    assert main(args) == 1  # refuses to overwrite
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
    out = tmp_path / "back.pth"
    assert main(["convert", "to-official", str(run), "--out", str(out), "--official-config-out",
                 str(tmp_path / "back.yml")]) == 0
    returned = torch.load(out, weights_only=True)["model"]
    assert all(torch.equal(returned[k], v) for k, v in reference.state_dict().items())
    assert parse_official_config(tmp_path / "back.yml").aligner is True


def test_cli_to_official_refuses_existing_files_unless_overwrite(tmp_path, capsys):
    case = CASES[0]
    ckpt, config, reference = write_official(case, tmp_path)
    run = tmp_path / "run"
    convert_official(ckpt, config, run, input_size=case.size, stem_overrides=case.overrides)
    precious = tmp_path / "precious.pth"
    precious.write_bytes(b"keep me")
    before = config.read_text()  # the authors' config the run was converted from
    args = ["convert", "to-official", str(run), "--out", str(precious)]

    assert main(args) == 1
    err = capsys.readouterr().err.replace("\n", "")
    assert f"{precious} exists; choose another --out or pass --overwrite" in err
    assert precious.read_bytes() == b"keep me"
    assert main(["convert", "to-official", str(run), "--out", str(tmp_path / "new.pth"),
                 "--official-config-out", str(config)]) == 1
    assert "choose another --official-config-out or pass --overwrite" in capsys.readouterr().err.replace("\n", "")
    assert config.read_text() == before and not (tmp_path / "new.pth").exists()

    assert main([*args, "--overwrite", "--official-config-out", str(config)]) == 0
    returned = torch.load(precious, weights_only=True)["model"]
    assert all(torch.equal(returned[k], v) for k, v in reference.state_dict().items())
    assert yaml.safe_load(config.read_text()) == yaml.safe_load(before)


@pytest.mark.parametrize("target", ["model.safetensors", "config.yaml"])
def test_cli_to_official_never_writes_over_what_it_reads(target, tmp_path, capsys):
    case = CASES[0]
    ckpt, config, _ = write_official(case, tmp_path)
    run = tmp_path / "run"
    convert_official(ckpt, config, run, input_size=case.size, stem_overrides=case.overrides)
    before = (run / target).read_bytes()
    option = "--out" if target.endswith(".safetensors") else "--official-config-out"
    extra = [] if option == "--out" else ["--out", str(tmp_path / "x.pth")]
    code = main(["convert", "to-official", str(run / "model.safetensors"), option, str(run / target), *extra,
                 "--overwrite"])
    assert code == 1
    assert "which this command reads; it is never written over" in capsys.readouterr().err.replace("\n", "")
    assert (run / target).read_bytes() == before
    load_student(run)


def test_cli_outputs_that_are_directories_or_files_are_named(tmp_path, capsys):
    case = CASES[0]
    ckpt, config, _ = write_official(case, tmp_path)
    overrides = [a for k, v in case.overrides.items() for a in ("--stem-override", f"{k}={v}")]
    official = ["convert", "official", str(ckpt), "--official-config", str(config), "--input-size", "32", "32",
                *overrides, "--out"]
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert main([*official, str(a_file)]) == 1
    assert f"--out {a_file} is a file, not a run directory" in capsys.readouterr().err.replace("\n", "")

    # a directory holding a run's config.yaml (e.g. a run still training) is not written over either
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "config.yaml").write_text("precious")
    assert main([*official, str(busy)]) == 1
    assert f"{busy / 'config.yaml'} exists" in capsys.readouterr().err.replace("\n", "")
    assert (busy / "config.yaml").read_text() == "precious" and not (busy / "model.safetensors").exists()

    run = tmp_path / "run"
    assert main([*official, str(run)]) == 0
    a_dir = tmp_path / "a_dir"
    a_dir.mkdir()
    assert main(["convert", "to-official", str(run), "--out", str(a_dir)]) == 1
    assert f"--out {a_dir} is a folder" in capsys.readouterr().err.replace("\n", "")
    assert main(["convert", "to-official", str(run), "--out", str(tmp_path / "o.pth"),
                 "--official-config-out", str(a_dir)]) == 1
    assert f"--official-config-out {a_dir} is a folder" in capsys.readouterr().err.replace("\n", "")
    assert main(["convert", "to-official", str(run), "--out", str(a_file / "o.pth")]) == 1
    err = capsys.readouterr().err.replace("\n", "")
    assert f"--out {a_file / 'o.pth'}: {a_file} is a file, not a folder" in err and "bug in sak" not in err


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["embed_dim=32", "depth=4", "num_heads=5"], "32 wide, which 5 attention heads do not divide"),
        (["embed_dim=32", "depth=4", "num_heads=2", "mlp=3"], "KEY must be one of embed_dim, depth, num_heads"),
        (["embed_dim=32", "depth=4", "num_heads=2.5"], "expected KEY=POSITIVE_INTEGER"),
    ],
)
def test_cli_bad_stem_overrides_are_explained(overrides, message, tmp_path, capsys):
    ckpt, config, _ = write_official(CASES[0], tmp_path)
    code = main(["convert", "official", str(ckpt), "--official-config", str(config), "--out", str(tmp_path / "run"),
                 "--input-size", "32", "32", *(a for o in overrides for a in ("--stem-override", o))])
    err = capsys.readouterr().err.replace("\n", "")
    assert code == 1 and message in err and "bug in sak" not in err


def test_cli_reports_leftovers(tmp_path, capsys):
    case = CASES[2]
    _, config, reference = write_official(case, tmp_path)
    state = dict(reference.state_dict())
    del state["backbone.tsap.sam.4.scale"]
    ckpt = tmp_path / "broken.pth"
    torch.save({"model": state}, ckpt)
    code = main(["convert", "official", str(ckpt), "--official-config", str(config), "--out", str(tmp_path / "r"),
                 "--input-size", "32", "32", "--stem-override", "embed_dim=32", "--stem-override", "depth=4",
                 "--stem-override", "num_heads=2"])
    assert code == 1
    assert "backbone.tsap.sam.4.scale" in capsys.readouterr().err.replace("\n", "")
    assert not (tmp_path / "r" / "model.safetensors").exists()


def test_per_level_teacher_widths_need_one_width_for_the_authors():
    teachers = dict(dinov2=[1024] * 4, sam=[768, 768, 1024, 1024])
    config = StudentConfig(input_size=(512, 512), aligners=True, teachers=teachers, tasks=dict(semseg=21))
    with pytest.raises(ConfigError, match=r"teacher 'sam' has per-level widths \[768, 768, 1024, 1024\]"):
        official_config_for(config)
    official, _ = official_config_for(config.model_copy(update=dict(teachers=dict(dinov2=[1024] * 4))))
    assert official["teachers"] == {"dinov2": {"backbone_type": "dinov2_large"}}


def test_a_conversion_that_fails_part_way_leaves_the_run_as_it_was(tmp_path, monkeypatch, capsys):
    case = CASES[0]
    ckpt, config, _ = write_official(case, tmp_path)
    run = tmp_path / "run"
    convert_official(ckpt, config, run, input_size=case.size, stem_overrides=case.overrides)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    other = tmp_path / "other"
    other.mkdir()
    ckpt, config, _ = write_official(case, other, seed=1)  # other weights: a new model.safetensors would differ
    write_text = Path.write_text

    def disk_full_at_plugins_json(self, *args, **kwargs):  # the last of the three files
        if self.name.startswith(".plugins.json."):
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", disk_full_at_plugins_json)
    overrides = [a for k, v in case.overrides.items() for a in ("--stem-override", f"{k}={v}")]
    code = main(["convert", "official", str(ckpt), "--official-config", str(config), "--out", str(run),
                 "--input-size", *map(str, case.size), *overrides, "--overwrite"])
    assert code == 1
    err = capsys.readouterr().err.replace("\n", "")
    assert f"could not write the run to {run} ({run / 'plugins.json'}: no space left on the device" in err
    assert ".tmp" not in err  # the file it was for, not its temporary name
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # old model, old config: no mix, no temp file
