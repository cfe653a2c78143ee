"""Fault cases for `sak`: a small workspace (a trained toy run on an NYUD-layout dataset, image
files), cases that break one thing in a copy of it and run one command, and the classification
of each outcome. Used by tests/faults/test_matrix.py and the sweep (tests/faults/sweep.py).

An outcome is one of (worst first):

- ``data lost``: a file that existed before the command (a run's, an input's) was changed or
  removed, other than the outputs the case allows it to replace;
- ``silent wrong``: exit 0 where an error was due, or a result the case's check rejects;
- ``traceback``: a Python traceback, the "bug" hint, an exception escaping ``main``, or
  another library's error (``[Errno``, ``SomethingError:``) in the error line;
- ``unclear``: one error line, but it does not name what the case says it must (the file or
  field, and what to do);
- ``clean``: the expected exit status, and for an error exactly one ``error:`` line naming it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import os
import re
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import yaml
from PIL import Image

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CLASSES = ("data lost", "silent wrong", "traceback", "unclear", "clean")
RUNTIME = ["--device", "cpu", "--precision", "fp32"]
SIZE = (32, 48)  # H x W of the dataset's images: not square, so a sideways photo shows
# another library's error in place of sak's: a bare "SomeError: ..." as the message, or an errno
FOREIGN = re.compile(r"^(error: )?[A-Za-z_.]*(Error|Exception)\b|\[Errno \d+\]|Traceback")

# the toy stage-2 run on the NYUD layout: two toy teachers, semseg and depth, 2 iterations
TRAIN_CONFIG = {
    "stage": 2,
    "teachers": [{"name": "toy_a"}, {"name": "toy_b"}],
    "tasks": ["semseg", "depth"],
    "model": {"stem": "vit_small", "stem_overrides": {"embed_dim": 32, "depth": 4, "num_heads": 2},
              "aligners": True},
    "data": {"dataset": "nyud", "root": "DATA", "input_size": [32, 48], "batch_size": 2, "workers": 0,
             "val_split": "val", "val_limit": 2},
    "optim": {"iterations": 2, "lr": 1e-3, "warmup_iters": 1},
    "output": {"checkpoint_every": 2, "val_every": 100, "log_every": 1, "tensorboard": False},
}


# ---------------------------------------------------------------- the workspace

def toy_plugins():
    """The toy teachers registered in memory (a context manager)."""
    if str(FIXTURES) not in sys.path:
        sys.path.insert(0, str(FIXTURES))
    import sak_toy_plugin

    from sak_core.plugin.registry import temporary_plugin

    return temporary_plugin(sak_toy_plugin, distribution="sak-toy-plugin")


def build_workspace(root: Path) -> Path:
    """``root/data`` (NYUD layout, 4 scenes of 32 x 48, 2 in val), ``root/run`` (a finished
    2-step run on it), ``root/images/good.png`` and ``root/train.yaml``. Returns ``root``."""
    from sak_core.cli.main import main

    root.mkdir(parents=True, exist_ok=True)
    quiet = io.StringIO()
    with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        code = main(["data", "synth", "--layout", "nyud", "--out", str(root / "data"), "-n", "4",
                     "--size", f"{SIZE[0]}x{SIZE[1]}", "--val-fraction", "0.5"])
        assert code == 0, quiet.getvalue()
        config = yaml.safe_load(yaml.safe_dump(TRAIN_CONFIG))
        config["data"]["root"] = str(root / "data")
        (root / "train.yaml").write_text(yaml.safe_dump(config))
        with toy_plugins():
            code = main(["train", "--config", str(root / "train.yaml"), "--out", str(root / "run"), *RUNTIME[:2]])
        assert code == 0, quiet.getvalue()
    (root / "run" / "writer.lock").unlink(missing_ok=True)
    picture(root / "images" / "good.png")
    official = {"dataset": "imagenet", "loss_type": "cos+l1", "optimizer": "adamw", "lr": "1e-3",
                "teachers": {"dinov2": {"backbone_type": "dinov2_base"}},
                "student": {"backbone": {"backbone_type": "sak", "vit_name": "vit_small", "down_ratio": 4,
                                         "aligner": False, "freeze_vit": False}}}
    (root / "official.yml").write_text(yaml.safe_dump(official))  # the authors' config, for sak convert official
    from sak_test_utils import write_distribution  # the toy plugin installed, for `sak` in a process of its own

    write_distribution(root / "site", "sak-toy-plugin", "0.1.0", {"sak.teachers": {"toy": "sak_toy_plugin"}})
    return root


def picture(path: Path, h: int = SIZE[0], w: int = SIZE[1], seed: int = 0, **save) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, **save)
    return path


def val_id(ws: Path) -> str:
    return (ws / "data" / "gt_sets" / "val.txt").read_text().split()[0]


def train_id(ws: Path) -> str:
    return (ws / "data" / "gt_sets" / "train.txt").read_text().split()[0]


# ---------------------------------------------------------------- bad images

def _jpeg_bytes(h=SIZE[0], w=SIZE[1], mode="RGB", **save) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (h, w, 3), dtype=np.uint8))
    image.convert(mode).save(buffer, format="JPEG", **save)
    return buffer.getvalue()


def _png16_bytes(h=SIZE[0], w=SIZE[1]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(2).integers(0, 65536, (h, w), dtype=np.uint16)).save(buffer, format="PNG")
    return buffer.getvalue()


def _exif_sideways() -> bytes:
    """The photo's pixels as stored (32 x 48) with EXIF orientation 6: upright it is 48 x 32."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return _jpeg_bytes(exif=exif.tobytes())


def _one_pixel() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (1, 1), (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


# name -> (the file's bytes, readable as an image by itself, readable in place of a 32 x 48 dataset image)
BAD_IMAGES: dict[str, tuple[Callable[[], bytes], bool, bool]] = {
    "truncated-jpeg": (lambda: _jpeg_bytes()[:300], False, False),
    "zero-bytes": (lambda: b"", False, False),
    "text-named-png": (lambda: b"this is not an image\n", False, False),
    "png-16-bit": (_png16_bytes, True, True),
    "cmyk-jpeg": (lambda: _jpeg_bytes(mode="CMYK"), True, True),
    "1x1": (_one_pixel, True, False),
    "exif-sideways": (_exif_sideways, True, False),
}


# ---------------------------------------------------------------- cases and outcomes

@dataclass
class Case:
    """One fault: ``setup(ws)`` breaks a copy of the workspace, ``argv(ws)`` is the command.

    ``ok``: the input is valid and the command must succeed (exit 0). ``names(ws)``: strings the
    error line must hold (the path or field). ``replaces``: paths (relative to ws) the command
    may change. ``check(ws)``: for an ok case, a wrong result as a string (or None).
    ``subprocess``: run ``python -m sak_core`` in a fresh process, with ``limits`` (resource ->
    soft limit), ``stdout`` (a path to send stdout to) and ``env``."""

    id: str
    argv: Callable[[Path], list[str]]
    setup: Callable[[Path], object] = lambda ws: None
    ok: bool = False
    names: Callable[[Path], list[str]] = lambda ws: []
    replaces: tuple[str, ...] = ()
    check: Callable[[Path], str | None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    subprocess: bool = False
    limits: dict[int, int] = field(default_factory=dict)
    stdout: str | None = None
    exit_code: int | None = None  # the expected status when it is not 0 / 1 (argparse: 2)


@dataclass
class Outcome:
    case: str
    kind: str
    code: int | None
    line: str  # the error line, or a short reason


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def run_case(case: Case, base: Path, where: Path) -> Outcome:
    """Copy workspace ``base`` to ``where``, break it, run the command, classify the outcome."""
    ws = where
    if ws.exists():
        shutil.rmtree(ws)
    shutil.copytree(base, ws, symlinks=True)
    case.setup(ws)
    before = digest(ws)
    argv = case.argv(ws)
    case = dataclasses.replace(case, env={k: v.replace("{ws}", str(ws)) for k, v in case.env.items()})
    if case.subprocess:
        code, out, err, escaped = _in_subprocess(case, argv, ws)
    else:
        code, out, err, escaped = _in_process(case, argv)
    after = digest(ws)
    return classify(case, ws, before, after, code, out, err, escaped)


def _in_process(case: Case, argv: list[str]) -> tuple[int | None, str, str, str | None]:
    from sak_core.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    saved = {key: os.environ.get(key) for key in case.env}
    os.environ.update(case.env)
    escaped = None
    code: int | None = None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), toy_plugins():
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException as exc:  # noqa: BLE001 - an escape is what this classifies
                escaped = f"{type(exc).__name__}: {exc}"
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return code, out.getvalue(), err.getvalue(), escaped


def _in_subprocess(case: Case, argv: list[str], ws: Path) -> tuple[int | None, str, str, str | None]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **case.env}
    env["PYTHONPATH"] = os.pathsep.join([str(FIXTURES), str(ws / "site"), env.get("PYTHONPATH", "")])

    def limit() -> None:
        for which, soft in case.limits.items():
            _, hard = resource.getrlimit(which)
            resource.setrlimit(which, (soft, hard))

    stdout = open(case.stdout, "w") if case.stdout else subprocess.PIPE  # noqa: SIM115
    try:
        done = subprocess.run([sys.executable, "-m", "sak_core", *argv], cwd=ws, env=env, stdout=stdout,
                              stderr=subprocess.PIPE, text=True, timeout=300, preexec_fn=limit)
    finally:
        if case.stdout:
            stdout.close()
    return done.returncode, done.stdout or "", done.stderr, None


def classify(case: Case, ws: Path, before: dict[str, str], after: dict[str, str], code: int | None,
             out: str, err: str, escaped: str | None) -> Outcome:
    lost = sorted(name for name, sha in before.items()
                  if after.get(name) != sha and not any(name.startswith(r) for r in case.replaces))
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    line = errors[0] if errors else ""
    if lost:
        return Outcome(case.id, "data lost", code, f"changed or removed: {', '.join(lost)}")
    harm = case.check(ws) if case.check is not None and not case.ok else None
    if harm:  # an error case's own check: e.g. a pickle's payload ran
        return Outcome(case.id, "silent wrong", code, harm)
    if escaped is not None:
        return Outcome(case.id, "traceback", code, f"escaped main: {escaped}"[:300])
    if "Traceback" in err or "Traceback" in out or "looks like a bug" in err:
        return Outcome(case.id, "traceback", code, (line or err.strip().splitlines()[-1])[:300])
    if case.ok:
        if code != 0:
            kind = "traceback" if FOREIGN.search(line) else "silent wrong"
            return Outcome(case.id, kind, code, f"a valid input failed: {line or err.strip()[-200:]}")
        wrong = case.check(ws) if case.check is not None else None
        if wrong:
            return Outcome(case.id, "silent wrong", code, wrong)
        return Outcome(case.id, "clean", code, "ok")
    expected = case.exit_code if case.exit_code is not None else 1
    if code == 0:
        return Outcome(case.id, "silent wrong", code, "exit 0 where an error was due")
    if case.exit_code == 2:  # argparse's usage error: "sak ...: error: ..."
        errors = [line for line in err.splitlines() if ": error: " in line]
        line = errors[0] if errors else ""
    if len(errors) != 1 or FOREIGN.search(line):
        return Outcome(case.id, "traceback" if FOREIGN.search(line) else "unclear", code,
                       (line or err.strip()[-300:]) + f" ({len(errors)} error lines)")
    missing = [name for name in case.names(ws) if name not in line]
    if code != expected or missing:
        return Outcome(case.id, "unclear", code, f"{line} (exit {code}, not naming {missing})"[:400])
    return Outcome(case.id, "clean", code, line)


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def with_yaml(path: Path, change: Callable[[dict], object]) -> None:
    """Edit a YAML file in place (a case's setup)."""
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))


# ---------------------------------------------------------------- the matrix's tables

MODES = ("predict-file", "predict-folder", "eval", "train")


def image_case(image: str, mode: str) -> Case:
    """Bad image ``image`` (a name of BAD_IMAGES) given to ``mode`` (one of MODES)."""
    make, alone, in_place = BAD_IMAGES[image]
    if mode in ("predict-file", "predict-folder"):
        bad = "images/bad.png"
        given = (lambda ws: [str(ws / bad)]) if mode == "predict-file" else (lambda ws: [str(ws / "images")])
        shapes = {"1x1": (1, 1), "exif-sideways": (SIZE[1], SIZE[0])}  # read upright: 48 x 32

        def check(ws: Path) -> str | None:
            depth = ws / "pred" / "depth" / "bad.npy"
            if not depth.is_file():
                return f"no prediction {depth}"
            shape = np.load(depth).shape
            want = shapes.get(image, SIZE)
            return None if shape == want else f"depth of {image} is {shape}, not {want}"

        return Case(f"{image} x {mode}", lambda ws: ["predict", str(ws / "run"), *given(ws), "--out",
                                                      str(ws / "pred"), *RUNTIME],
                    setup=lambda ws: write_bytes(ws / bad, make()), ok=alone, names=lambda ws: [str(ws / bad)],
                    replaces=("pred/",), check=check if alone else None)
    label = image == "png-16-bit"  # a 16-bit PNG is a label here: outside NYUD's 40 classes
    if mode == "eval":
        def where(ws: Path) -> Path:
            return ws / "data" / ("segmentation" if label else "images") / f"{val_id(ws)}.png"

        return Case(f"{image} x {mode}", lambda ws: ["eval", str(ws / "run"), "--data-root", str(ws / "data"),
                                                      "--out", str(ws / "scores" / "metrics.json"), "--workers", "0",
                                                      *RUNTIME],
                    setup=lambda ws: write_bytes(where(ws), make()), ok=in_place and not label,
                    names=lambda ws: [str(where(ws))], replaces=("scores/",))

    def where_train(ws: Path) -> Path:
        return ws / "data" / ("segmentation" if label else "images") / f"{train_id(ws)}.png"

    return Case(f"{image} x {mode}", lambda ws: ["train", "--resume", str(ws / "run"), "optim.iterations=4",
                                                  f"data.root={ws / 'data'}", *RUNTIME[:2]],
                setup=lambda ws: write_bytes(where_train(ws), make()), ok=in_place and not label,
                names=lambda ws: [str(where_train(ws))], replaces=("run/",) if in_place and not label else ())


def _non_utf8(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"\n# caf\xe9\n")


def config_cases() -> list[Case]:
    """Bad configs and environment variables."""
    def train(*extra: str) -> Callable[[Path], list[str]]:
        return lambda ws: ["train", "--config", str(ws / "train.yaml"), "--out", str(ws / "new"), *RUNTIME[:2],
                           *extra]

    def set_key(section: str, key: str, value) -> Callable[[Path], None]:
        return lambda ws: with_yaml(ws / "train.yaml", lambda d: d.setdefault(section, {}).__setitem__(key, value))

    def evaluate(ws: Path) -> list[str]:
        return ["eval", str(ws / "run"), "--data-root", str(ws / "data"), "--out", str(ws / "scores.json"),
                "--workers", "0", *RUNTIME]

    weights_file = lambda ws: write_bytes(ws / "weights.bin", b"not a folder")  # noqa: E731
    return [
        Case("config not UTF-8", train(), setup=lambda ws: _non_utf8(ws / "train.yaml"),
             names=lambda ws: [str(ws / "train.yaml"), "UTF-8"]),
        Case("config unknown key", train(), setup=set_key("optim", "lr_typo", 1.0), names=lambda ws: ["lr_typo"]),
        Case("config wrong type", train(), setup=set_key("optim", "iterations", "many"),
             names=lambda ws: ["iterations"]),
        Case("config negative iterations", train(), setup=set_key("optim", "iterations", -3),
             names=lambda ws: ["iterations"]),
        Case("config YAML syntax", train(), setup=lambda ws: (ws / "train.yaml").write_text("optim: [lr: 1\n"),
             names=lambda ws: [str(ws / "train.yaml")]),
        Case("config a list", train(), setup=lambda ws: (ws / "train.yaml").write_text("- 1\n- 2\n"),
             names=lambda ws: [str(ws / "train.yaml")]),
        Case("config a folder", lambda ws: ["train", "--config", str(ws / "data"), "--out", str(ws / "new")],
             names=lambda ws: [str(ws / "data")]),
        Case("config missing", lambda ws: ["train", "--config", str(ws / "nope.yaml"), "--out", str(ws / "new")],
             names=lambda ws: [str(ws / "nope.yaml")]),
        Case("override unknown key", train("optim.bogus=1"), names=lambda ws: ["optim.bogus"]),
        Case("override wrong type", train("optim.lr=fast"), names=lambda ws: ["optim.lr"]),
        Case("unknown teacher", train(), setup=lambda ws: with_yaml(
            ws / "train.yaml", lambda d: d.__setitem__("teachers", [{"name": "toy_z"}])), names=lambda ws: ["toy_z"]),
        Case("unknown task", train("--tasks", "semseg,nosuch"), names=lambda ws: ["nosuch"]),
        Case("run config not UTF-8", evaluate, setup=lambda ws: _non_utf8(ws / "run" / "config.yaml"),
             names=lambda ws: [str(ws / "run" / "config.yaml")]),
        Case("split file not UTF-8", evaluate, setup=lambda ws: _non_utf8(ws / "data" / "gt_sets" / "val.txt"),
             names=lambda ws: [str(ws / "data" / "gt_sets" / "val.txt")]),
        Case("split names a missing sample", evaluate, setup=lambda ws: (ws / "data" / "gt_sets" / "val.txt").write_text(
            "no_such_scene\n"), names=lambda ws: ["no_such_scene"]),
        Case("SAK_WEIGHTS names a file", lambda ws: ["weights", "--check", "dinov2"], setup=weights_file,
             env={"SAK_WEIGHTS": "{ws}/weights.bin"}, names=lambda ws: ["weights.bin", "folder"]),
        Case("SAK_DATA names a file", lambda ws: ["eval", str(ws / "model.safetensors"), "--dataset", "nyud",
                                                   "--workers", "0", "--out", str(ws / "scores.json"), *RUNTIME],
             setup=lambda ws: (weights_file(ws), shutil.copy(ws / "run" / "model.safetensors", ws)),
             env={"SAK_DATA": "{ws}/weights.bin"}, names=lambda ws: ["weights.bin"]),
        Case("SAK_LOAD_PLUGINS typo", lambda ws: ["describe", "task", "semseg"],
             env={"SAK_LOAD_PLUGINS": "sak-task-semsegg"}, subprocess=True,
             names=lambda ws: ["sak-task-semsegg", "sak-task-semseg"]),
    ]


def environment_cases() -> list[Case]:
    """The machine refuses: a file-size limit, a full device, a name too long, a file in the way."""
    resume = lambda ws: ["train", "--resume", str(ws / "run"), "optim.iterations=4",  # noqa: E731
                         f"data.root={ws / 'data'}", *RUNTIME[:2]]
    predict = lambda out: lambda ws: ["predict", str(ws / "run"), str(ws / "images" / "good.png"),  # noqa: E731
                                      "--out", str(ws / out), *RUNTIME]
    return [
        Case("ulimit -f x train resume", resume, subprocess=True, limits={resource.RLIMIT_FSIZE: 20_000},
             names=lambda ws: [str(ws / "run"), "ulimit -f"], replaces=("run/metrics.jsonl",)),
        Case("ulimit -f x export", lambda ws: ["export", str(ws / "run"), "--out", str(ws / "m.onnx"), "--no-check"],
             subprocess=True, limits={resource.RLIMIT_FSIZE: 20_000}, names=lambda ws: [str(ws / "m.onnx")]),
        Case("ulimit -f x predict", predict("pred"), subprocess=True, limits={resource.RLIMIT_FSIZE: 100},
             names=lambda ws: [str(ws / "pred")]),
        Case("stdout is /dev/full x plugins", lambda ws: ["plugins"], subprocess=True, stdout="/dev/full",
             names=lambda ws: ["standard output"]),
        Case("export --out /dev/full", lambda ws: ["export", str(ws / "run"), "--out", "/dev/full", "--no-check"],
             names=lambda ws: ["/dev/full", "--overwrite"]),
        Case("predict --out name too long", predict("p" * 300), names=lambda ws: ["too long"]),
        Case("predict --out under a file", predict("images/good.png/out"),
             names=lambda ws: [str(ws / "images" / "good.png"), "not a folder"]),
        Case("eval --out under a file", lambda ws: ["eval", str(ws / "run"), "--data-root", str(ws / "data"),
                                                     "--out", str(ws / "train.yaml" / "m.json"), *RUNTIME],
             names=lambda ws: [str(ws / "train.yaml"), "not a folder"]),
    ]
