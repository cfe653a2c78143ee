"""The reliability sweep: over 100 bad inputs and faults across every `sak` command, each run in a
copy of a small workspace and classified (faultkit's classes: data lost, silent wrong, traceback,
unclear, clean). The fault matrix's cases (tests/faults/test_matrix.py) are part of it.

    python tests/faults/sweep.py [--markdown FILE] [--only SUBSTRING] [--in-process-only]

prints one line per case and the counts per class; ``--markdown`` writes the table recorded in
docs/reliability.md. Exit status 1 when any case is data lost, silent wrong or traceback.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import pickle
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

if "faultkit" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("faultkit", Path(__file__).with_name("faultkit.py"))
    sys.modules["faultkit"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["faultkit"])
import faultkit as fk  # noqa: E402
from faultkit import RUNTIME, Case, picture, with_yaml, write_bytes  # noqa: E402

SEVERE = ("data lost", "silent wrong", "traceback")


class _Payload:
    """A pickle that, when loaded, would create ``marker``: sak must never run it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _pickle_payload(path: Path, marker: Path) -> Path:
    return write_bytes(path, pickle.dumps({"state_dict": _Payload(str(marker))}))


def _not_created(name: str):
    return lambda ws: f"{name} was created: a pickle ran" if (ws / name).exists() else None


def _run(ws: Path) -> str:
    return str(ws / "run")


def _eval(*extra: str):
    return lambda ws: ["eval", _run(ws), "--data-root", str(ws / "data"), "--out", str(ws / "scores" / "m.json"),
                       "--workers", "0", *RUNTIME, *extra]


def _predict(*extra: str, image: str = "images/good.png"):
    return lambda ws: ["predict", _run(ws), str(ws / image), "--out", str(ws / "pred"), *RUNTIME, *extra]


def _resume(*extra: str):
    return lambda ws: ["train", "--resume", _run(ws), "optim.iterations=4", f"data.root={ws / 'data'}",
                       *RUNTIME[:2], *extra]


def _fresh(*extra: str):
    """A new run of the workspace's train.yaml on the copy's data (unless ``extra`` gives --data-root)."""
    return lambda ws: ["train", "--config", str(ws / "train.yaml"), "--out", str(ws / "new"), *RUNTIME[:2],
                       *([] if "--data-root" in extra else [f"data.root={ws / 'data'}"]), *extra]


def _val(ws: Path, folder: str, suffix: str = ".png") -> Path:
    return ws / "data" / folder / f"{fk.val_id(ws)}{suffix}"


def _npy_text(ws: Path) -> None:
    write_bytes(_val(ws, "depth", ".npy"), b"1.0 2.0 3.0\n")


def _npy_object(ws: Path) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Payload(str(ws / "ran"))], dtype=object), allow_pickle=True)
    write_bytes(_val(ws, "depth", ".npy"), buffer.getvalue())


def _npy_shape(ws: Path) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((3, 5, 7), np.float32))
    write_bytes(_val(ws, "depth", ".npy"), buffer.getvalue())


def _grey_normals(ws: Path) -> None:
    from PIL import Image

    Image.new("L", (fk.SIZE[1], fk.SIZE[0]), 128).save(_val(ws, "normals"))


def _truncate(path_of):
    def setup(ws: Path) -> None:
        path = path_of(ws)
        path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 3)])
    return setup


def _existing(*names: str):
    def setup(ws: Path) -> None:
        for name in names:
            write_bytes(ws / name, b"mine")
    return setup


def more_cases() -> list[Case]:
    """Cases beyond the matrix, command by command."""
    C = Case
    model = lambda ws: ws / "run" / "model.safetensors"  # noqa: E731
    last = lambda ws: ws / "run" / "checkpoints" / "last"  # noqa: E731
    long_name = "n" * 300
    return [
        # -------------------------------------------------------------- predict
        C("predict: checkpoint missing", lambda ws: ["predict", str(ws / "nope"), str(ws / "images"), "--out",
                                                      str(ws / "pred")], names=lambda ws: [str(ws / "nope")]),
        C("predict: checkpoint is text", lambda ws: ["predict", str(ws / "m.safetensors"), str(ws / "images"),
                                                      "--out", str(ws / "pred")],
          setup=lambda ws: write_bytes(ws / "m.safetensors", b"hello"), names=lambda ws: [str(ws / "m.safetensors")]),
        C("predict: checkpoint truncated", _predict(), setup=_truncate(model), names=lambda ws: [str(model(ws))]),
        C("predict: checkpoint is a pickle payload", lambda ws: ["predict", str(ws / "evil.pt"), str(ws / "images"),
                                                                  "--out", str(ws / "pred")],
          setup=lambda ws: _pickle_payload(ws / "evil.pt", ws / "ran"), names=lambda ws: [str(ws / "evil.pt")],
          check=_not_created("ran")),
        C("predict: unknown --tasks", _predict("--tasks", "semseg,nosuch"), names=lambda ws: ["nosuch"]),
        C("predict: unknown --ids", lambda ws: ["predict", _run(ws), "--ids", "nosuch_id", "--data-root",
                                                 str(ws / "data"), "--out", str(ws / "pred"), *RUNTIME],
          names=lambda ws: ["nosuch_id"]),
        C("predict: --ids of the dataset", lambda ws: ["predict", _run(ws), "--ids", fk.val_id(ws), "--data-root",
                                                        str(ws / "data"), "--out", str(ws / "pred"), *RUNTIME],
          ok=True, check=lambda ws: None if (ws / "pred" / "grid" / f"{fk.val_id(ws)}.png").is_file() else "no grid"),
        C("predict: empty folder", lambda ws: ["predict", _run(ws), str(ws / "empty"), "--out", str(ws / "pred")],
          setup=lambda ws: (ws / "empty").mkdir(), names=lambda ws: [str(ws / "empty")]),
        C("predict: image missing", _predict(image="images/nope.png"), names=lambda ws: [str(ws / "images/nope.png")]),
        C("predict: existing prediction", _predict(), setup=_existing("pred/semseg/good.png"),
          names=lambda ws: [str(ws / "pred/semseg/good.png"), "--overwrite"]),
        C("predict: input inside --out, --overwrite", lambda ws: ["predict", _run(ws), str(ws / "pred/grid/good.png"),
                                                                   "--out", str(ws / "pred"), "--overwrite", *RUNTIME],
          setup=lambda ws: picture(ws / "pred/grid/good.png"), names=lambda ws: ["never written over"]),
        C("predict: existing prediction, --overwrite", _predict("--overwrite"), ok=True,
          setup=_existing("pred/semseg/good.png"), replaces=("pred/",)),
        C("predict: --limit 0", lambda ws: ["predict", _run(ws), "--limit", "0", "--out", str(ws / "pred")],
          exit_code=2, names=lambda ws: ["--limit"]),
        C("predict: --device cuda on a CPU", _predict("--device", "cuda"), names=lambda ws: ["cuda"]),
        C("predict: --precision bogus", _predict("--precision", "fp8"), exit_code=2, names=lambda ws: ["fp8"]),
        # -------------------------------------------------------------- eval
        C("eval: baseline file missing", _eval("--baseline", "nope.yaml"), names=lambda ws: ["nope.yaml"]),
        C("eval: baseline not YAML", lambda ws: _eval("--baseline", str(ws / "b.yaml"))(ws),
          setup=lambda ws: write_bytes(ws / "b.yaml", b"a: [1\n"), names=lambda ws: [str(ws / "b.yaml")]),
        C("eval: baseline metric not a number", lambda ws: _eval("--baseline", str(ws / "b.yaml"))(ws),
          setup=lambda ws: write_bytes(ws / "b.yaml", b"metrics: {semseg: high}\n"), names=lambda ws: ["semseg"]),
        C("eval: baseline a list", lambda ws: _eval("--baseline", str(ws / "b.yaml"))(ws),
          setup=lambda ws: write_bytes(ws / "b.yaml", b"- 1\n"), names=lambda ws: ["metrics"]),
        C("eval: unknown split", _eval("--split", "nosuch"), names=lambda ws: ["nosuch"]),
        C("eval: head the student lacks", _eval("--tasks", "normals"), names=lambda ws: ["normals"]),
        C("eval: --metric-option malformed", _eval("--metric-option", "semseg"), exit_code=2,
          names=lambda ws: ["semseg"]),
        C("eval: --data-root missing", lambda ws: ["eval", _run(ws), "--data-root", str(ws / "nodata"), "--out",
                                                    str(ws / "m.json"), *RUNTIME], names=lambda ws: [str(ws / "nodata")]),
        C("eval: split file empty", _eval(), setup=lambda ws: (ws / "data/gt_sets/val.txt").write_text(""),
          names=lambda ws: [str(ws / "data/gt_sets/val.txt")]),
        C("eval: depth .npy is text", _eval(), setup=_npy_text, names=lambda ws: [str(_val(ws, "depth", ".npy"))]),
        C("eval: depth .npy holds objects", _eval(), setup=_npy_object,
          names=lambda ws: [str(_val(ws, "depth", ".npy"))], check=_not_created("ran")),
        C("eval: depth .npy wrong shape", _eval(), setup=_npy_shape, names=lambda ws: [str(_val(ws, "depth", ".npy"))]),
        C("eval: normals PNG grey", _eval("--tasks", "semseg"), ok=True, setup=_grey_normals, replaces=("scores/",)),
        C("eval: model truncated", _eval(), setup=_truncate(model), names=lambda ws: [str(model(ws))]),
        C("eval: run config unknown key", _eval(), setup=lambda ws: with_yaml(
            ws / "run/config.yaml", lambda d: d["optim"].__setitem__("lr_typo", 1)),
          names=lambda ws: [str(ws / "run/config.yaml"), "--dataset"]),
        C("eval: plugins.json garbage", _eval(), ok=True, setup=lambda ws: write_bytes(ws / "run/plugins.json", b"{x"),
          replaces=("scores/",)),
        C("eval: --out exists", _eval(), setup=_existing("scores/m.json"), names=lambda ws: ["--overwrite"]),
        C("eval: --out is the run's config", lambda ws: ["eval", _run(ws), "--data-root", str(ws / "data"), "--out",
                                                          str(ws / "run/plugins.json"), "--overwrite", *RUNTIME],
          names=lambda ws: ["never written over"]),
        C("eval: --limit 0", _eval("--limit", "0"), exit_code=2, names=lambda ws: ["--limit"]),
        C("eval: --batch-size 0", _eval("--batch-size", "0"), exit_code=2, names=lambda ws: ["--batch-size"]),
        C("eval: bad image with --workers 1", lambda ws: [*_eval()(ws)[:-3], "1", *RUNTIME],
          setup=lambda ws: write_bytes(_val(ws, "images"), b""), names=lambda ws: [str(_val(ws, "images"))],
          subprocess=True),
        C("eval: ulimit -f", _eval(), subprocess=True, limits={resource.RLIMIT_FSIZE: 10},
          names=lambda ws: [str(ws / "scores")]),
        # -------------------------------------------------------------- train
        C("train: --resume a folder that is no run", lambda ws: ["train", "--resume", str(ws / "images")],
          names=lambda ws: [str(ws / "images")]),
        C("train: --resume, trainer state truncated", _resume(), setup=_truncate(lambda ws: last(ws) / "trainer.pt"),
          names=lambda ws: [str(last(ws) / "trainer.pt")]),
        C("train: --resume, trainer state a pickle payload", _resume(),
          setup=lambda ws: _pickle_payload(last(ws) / "trainer.pt", ws / "ran"),
          names=lambda ws: [str(last(ws) / "trainer.pt")], check=_not_created("ran")),
        C("train: --resume, checkpoint model truncated", _resume(),
          setup=_truncate(lambda ws: last(ws) / "model.safetensors"), names=lambda ws: [str(last(ws))]),
        C("train: --out an existing run", lambda ws: ["train", "--config", str(ws / "train.yaml"), "--out", _run(ws)],
          names=lambda ws: [_run(ws)]),
        C("train: --teachers ''", _fresh("--teachers", ""), names=lambda ws: ["--teachers"]),
        C("train: --tasks semseg,semseg", _fresh("--tasks", "semseg,semseg"), names=lambda ws: ["semseg"]),
        C("train: --init missing", _fresh("--init", "nope.safetensors"), names=lambda ws: ["nope.safetensors"]),
        C("train: --iterations 0", _fresh("--iterations", "0"), exit_code=2, names=lambda ws: ["--iterations"]),
        C("train: batch_size 0", _fresh("data.batch_size=0"), names=lambda ws: ["batch_size"]),
        C("train: --resume with lr 1e30", _resume("optim.lr=1e30"), names=lambda ws: ["loss"],
          replaces=("run/metrics.jsonl",)),
        C("train: unknown --preset", _fresh("--preset", "nosuch"), names=lambda ws: ["nosuch"]),
        C("train: unknown --dataset", _fresh("--dataset", "nosuch"), names=lambda ws: ["nosuch"]),
        C("train: --data-root missing", _fresh("--data-root", "/nonexistent-sak-root"),
          names=lambda ws: ["/nonexistent-sak-root"]),
        C("train: --teacher-weights of no teacher", _fresh("--teacher-weights", "nosuch=w.pt"),
          names=lambda ws: ["nosuch"]),
        C("train: bad image with data.workers=1", _fresh("data.workers=1"),
          setup=lambda ws: write_bytes(ws / "data/images" / f"{fk.train_id(ws)}.png", b"\x89PNG broken"),
          names=lambda ws: [str(ws / "data/images" / f"{fk.train_id(ws)}.png")], subprocess=True),
        C("train: --resume, writer.lock of a live run", _resume(), subprocess=True,
          setup=lambda ws: _hold_lock(ws), names=lambda ws: [_run(ws)], replaces=()),
        # -------------------------------------------------------------- export
        C("export: --out exists", lambda ws: ["export", _run(ws), "--out", str(ws / "m.onnx"), "--no-check"],
          setup=_existing("m.onnx"), names=lambda ws: [str(ws / "m.onnx"), "--overwrite"]),
        C("export: --out the model, --overwrite", lambda ws: ["export", _run(ws), "--out", str(model(ws)),
                                                               "--overwrite", "--no-check"],
          names=lambda ws: ["never written over"]),
        C("export: --out a folder", lambda ws: ["export", _run(ws), "--out", str(ws / "images"), "--no-check"],
          names=lambda ws: [str(ws / "images")]),
        C("export: --opset 5", lambda ws: ["export", _run(ws), "--out", str(ws / "m.onnx"), "--opset", "5",
                                            "--no-check"], names=lambda ws: ["opset"]),
        C("export: --size 15x15", lambda ws: ["export", _run(ws), "--out", str(ws / "m.onnx"), "--size", "15x15",
                                               "--no-check"], names=lambda ws: ["15"]),
        C("export: unknown --tasks", lambda ws: ["export", _run(ws), "--out", str(ws / "m.onnx"), "--tasks", "nosuch",
                                                  "--no-check"], names=lambda ws: ["nosuch"]),
        C("export: checkpoint zero bytes", lambda ws: ["export", str(model(ws)), "--out", str(ws / "m.onnx")],
          setup=lambda ws: model(ws).write_bytes(b""), names=lambda ws: [str(model(ws))]),
        # -------------------------------------------------------------- convert
        C("convert official: a text file", lambda ws: ["convert", "official", str(ws / "ck.pth"), "--official-config",
                                                        str(ws / "official.yml"), "--out", str(ws / "conv")],
          setup=lambda ws: (write_bytes(ws / "ck.pth", b"hello")),
          names=lambda ws: [str(ws / "ck.pth")]),
        C("convert official: zero bytes", lambda ws: ["convert", "official", str(ws / "ck.pth"), "--official-config",
                                                       str(ws / "official.yml"), "--out", str(ws / "conv")],
          setup=lambda ws: (write_bytes(ws / "ck.pth", b"")),
          names=lambda ws: [str(ws / "ck.pth")]),
        C("convert official: a pickle payload", lambda ws: ["convert", "official", str(ws / "ck.pth"),
                                                             "--official-config", str(ws / "official.yml"), "--out",
                                                             str(ws / "conv")],
          setup=lambda ws: (_pickle_payload(ws / "ck.pth", ws / "ran")),
          names=lambda ws: [str(ws / "ck.pth")], check=_not_created("ran")),
        C("convert official: config missing", lambda ws: ["convert", "official", str(model(ws)), "--official-config",
                                                           str(ws / "nope.yml"), "--out", str(ws / "conv")],
          names=lambda ws: [str(ws / "nope.yml")]),
        C("convert to-official: --out exists", lambda ws: ["convert", "to-official", _run(ws), "--out",
                                                            str(ws / "o.pth")],
          setup=_existing("o.pth"), names=lambda ws: [str(ws / "o.pth"), "--overwrite"]),
        C("convert to-official: --out the model", lambda ws: ["convert", "to-official", _run(ws), "--out",
                                                               str(model(ws)), "--overwrite"],
          names=lambda ws: ["never written over"]),
        C("convert to-official: not a run", lambda ws: ["convert", "to-official", str(ws / "images"), "--out",
                                                         str(ws / "o.pth")], names=lambda ws: [str(ws / "images")]),
        C("convert to-official: ulimit -f", lambda ws: ["convert", "to-official", _run(ws), "--out",
                                                         str(ws / "o.pth")],
          subprocess=True, limits={resource.RLIMIT_FSIZE: 10_000}, names=lambda ws: [str(ws / "o.pth")]),
        # -------------------------------------------------------------- analyze
        C("analyze: --out not .png", lambda ws: ["analyze", "routers", _run(ws), "--out", str(ws / "r.jpg")],
          names=lambda ws: [str(ws / "r.jpg")]),
        C("analyze: --out exists", lambda ws: ["analyze", "routers", _run(ws), "--data-root", str(ws / "data"),
                                                "--out", str(ws / "r.png"), *RUNTIME],
          setup=_existing("r.json"), names=lambda ws: [str(ws / "r.json"), "--overwrite"]),
        C("analyze: run config unknown key", lambda ws: ["analyze", "routers", _run(ws), *RUNTIME],
          setup=lambda ws: with_yaml(ws / "run/config.yaml", lambda d: d["optim"].__setitem__("lr_typo", 1)),
          names=lambda ws: [str(ws / "run/config.yaml"), "--dataset"]),
        C("analyze: checkpoint missing", lambda ws: ["analyze", "routers", str(ws / "nope")],
          names=lambda ws: [str(ws / "nope")]),
        C("analyze: --limit 0", lambda ws: ["analyze", "routers", _run(ws), "--limit", "0"], exit_code=2,
          names=lambda ws: ["--limit"]),
        C("analyze: default place", lambda ws: ["analyze", "routers", _run(ws), "--data-root", str(ws / "data"),
                                                 "--limit", "2", *RUNTIME], ok=True,
          check=lambda ws: None if list((ws / "run" / "eval").glob("*/routers.png")) else "no RUN/eval/*/routers.png"),
        # -------------------------------------------------------------- data synth
        C("data synth: --out a dataset", lambda ws: ["data", "synth", "--out", str(ws / "data"), "-n", "2",
                                                      "--size", "16x16"], names=lambda ws: [str(ws / "data")]),
        C("data synth: --out under a file", lambda ws: ["data", "synth", "--out", str(ws / "train.yaml/x"), "-n", "2",
                                                         "--size", "16x16"], names=lambda ws: [str(ws / "train.yaml")]),
        C("data synth: --seed -1", lambda ws: ["data", "synth", "--out", str(ws / "s"), "--seed", "-1"], exit_code=2,
          names=lambda ws: ["-1"]),
        C("data synth: --count 0", lambda ws: ["data", "synth", "--out", str(ws / "s"), "-n", "0"], exit_code=2,
          names=lambda ws: ["0"]),
        C("data synth: --size abc", lambda ws: ["data", "synth", "--out", str(ws / "s"), "--size", "abc"],
          exit_code=2, names=lambda ws: ["abc"]),
        C("data synth: --val-fraction 1.5", lambda ws: ["data", "synth", "--out", str(ws / "s"), "--val-fraction",
                                                         "1.5"], exit_code=2, names=lambda ws: ["1.5"]),
        C("data synth: ulimit -f", lambda ws: ["data", "synth", "--out", str(ws / "s"), "-n", "4", "--size", "64x64"],
          subprocess=True, limits={resource.RLIMIT_FSIZE: 2000}, names=lambda ws: [str(ws / "s")]),
        # -------------------------------------------------------------- weights, describe, plugins
        C("weights: unknown teacher", lambda ws: ["weights", "nosuch"], names=lambda ws: ["nosuch"]),
        C("weights: unknown preset", lambda ws: ["weights", "--preset", "nosuch"], names=lambda ws: ["nosuch"]),
        C("weights: empty spec", lambda ws: ["weights", ","], names=lambda ws: ["','"]),
        C("describe: unknown teacher", lambda ws: ["describe", "teacher", "dinov3"], names=lambda ws: ["dinov3"]),
        C("describe: unknown dataset", lambda ws: ["describe", "dataset", "nosuch"], names=lambda ws: ["nosuch"]),
        C("describe: unknown kind", lambda ws: ["describe", "model", "x"], exit_code=2, names=lambda ws: ["model"]),
        C("predict: stdout is /dev/full", _predict(), subprocess=True, stdout="/dev/full",
          names=lambda ws: ["standard output"]),
        C("plugins: SAK_LOAD_PLUGINS a 300-character name", lambda ws: ["describe", "task", "semseg"],
          subprocess=True, env={"SAK_LOAD_PLUGINS": "x" * 300}, names=lambda ws: ["xxxx"]),
        # -------------------------------------------------------------- new
        C("new: bad name", lambda ws: ["new", "task", "Bad-Name", "--dir", str(ws)], names=lambda ws: ["Bad-Name"]),
        C("new: an installed name", lambda ws: ["new", "task", "semseg", "--dir", str(ws)], names=lambda ws: ["semseg"]),
        C("new: twice", lambda ws: ["new", "task", "mine", "--dir", str(ws / "plug")],
          setup=lambda ws: (ws / "plug" / "sak-task-mine").mkdir(parents=True),
          names=lambda ws: [str(ws / "plug" / "sak-task-mine")]),
        C("new: a 300-character name", lambda ws: ["new", "task", long_name, "--dir", str(ws)],
          names=lambda ws: ["too long"]),
        C("new: unknown kind", lambda ws: ["new", "dataset", "x"], exit_code=2, names=lambda ws: ["dataset"]),
        C("new: --dir under a file", lambda ws: ["new", "task", "mine", "--dir", str(ws / "train.yaml/sub")],
          names=lambda ws: [str(ws / "train.yaml"), "not a folder"]),
    ]


def _hold_lock(ws: Path) -> None:
    """Hold the run's writer lock from a process that outlives the setup (killed by the sweep)."""
    import fcntl  # noqa: F401 - the lock's kind

    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time\n"
        f"f = open({str(ws / 'run' / 'writer.lock')!r}, 'a+')\n"
        "fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "print('held', flush=True)\n"
        "time.sleep(120)\n")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    _HOLDERS.append(holder)


_HOLDERS: list[subprocess.Popen] = []


def all_cases() -> list[Case]:
    matrix = [fk.image_case(image, mode) for image in fk.BAD_IMAGES for mode in fk.MODES]
    return [*matrix, *fk.config_cases(), *fk.environment_cases(), *more_cases()]


def sweep(work: Path, only: str = "", in_process_only: bool = False, log=print) -> list[fk.Outcome]:
    base = fk.build_workspace(work / "base")
    outcomes = []
    for case in all_cases():
        if only not in case.id or (in_process_only and case.subprocess):
            continue
        start = time.monotonic()
        try:
            outcome = fk.run_case(case, base, work / "case")
        finally:
            while _HOLDERS:
                holder = _HOLDERS.pop()
                holder.kill()  # the lock holder this case started
                holder.wait()
        outcomes.append(outcome)
        log(f"{time.monotonic() - start:5.1f}s  {outcome.kind:12s} {outcome.code}  {case.id}: {outcome.line[:200]}")
    return outcomes


def machine() -> str:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name")), "?")
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"]
    return f"{model}, {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), load {' '.join(load)}, " \
           f"Python {platform.python_version()}"


def markdown(outcomes: list[fk.Outcome]) -> str:
    counts = Counter(o.kind for o in outcomes)
    lines = ["| class | cases |", "|---|---|", *(f"| {k} | {counts.get(k, 0)} |" for k in fk.CLASSES),
             f"| **total** | **{len(outcomes)}** |", "", "| # | case | outcome | exit | sak's line (or why) |",
             "|---|---|---|---|---|"]
    for i, o in enumerate(outcomes, 1):
        text = o.line.replace("|", "\\|").replace(str(Path.home()), "~")
        text = text if len(text) <= 160 else text[:157] + "..."
        lines.append(f"| {i} | {o.case} | {o.kind} | {o.code} | {text} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", help="write the results table to this file")
    parser.add_argument("--only", default="", help="run the cases whose name holds this")
    parser.add_argument("--in-process-only", action="store_true", help="leave out the cases that need a process")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sak-sweep-") as tmp:
        outcomes = sweep(Path(tmp), args.only, args.in_process_only)
        if args.markdown:
            # paths of this machine out: WS is the case's copy of the workspace, . the current folder
            table = markdown(outcomes).replace(f"{tmp}/case", "WS").replace(tmp, "WS").replace(os.getcwd(), ".")
            Path(args.markdown).write_text(table)
    counts = Counter(o.kind for o in outcomes)
    print(", ".join(f"{k}: {counts.get(k, 0)}" for k in fk.CLASSES), f"(of {len(outcomes)}) on {machine()}")
    return 1 if any(counts.get(k) for k in SEVERE) else 0


if __name__ == "__main__":
    sys.exit(main())
