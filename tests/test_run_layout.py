"""The run directory's names have one home (sak_core.run.layout): the on-disk contract, spelled
out here on purpose, and the modules that read or write a run use it."""

from __future__ import annotations

import ast
from pathlib import Path

from sak_core.run import layout
from sak_core.run.rundir import RunDir
from sak_core.run.context import RunContext

PACKAGE = Path(__file__).resolve().parents[1] / "sak_core"


def test_the_names_are_the_on_disk_contract(tmp_path):
    run = RunDir(tmp_path)
    assert run.config == tmp_path / "config.yaml" and run.plugins == tmp_path / "plugins.json"
    assert run.metrics == tmp_path / "metrics.jsonl" and run.final_model == tmp_path / "model.safetensors"
    assert run.best == tmp_path / "best" and run.last == tmp_path / "checkpoints" / "last"
    assert run.lock == tmp_path / "writer.lock" and run.tensorboard == tmp_path / "tensorboard"
    assert layout.LAST_FILES == ("model.safetensors", "trainer.pt")
    assert layout.BEST_FILES == ("model.safetensors", "score.json")
    assert layout.swap_folders(run.last) == (run.last.parent / ".last.new", run.last.parent / ".last.old")
    assert set(layout.LAST_SWAP_FOLDERS) == {"last", ".last.new", ".last.old"}


def test_eval_folder_is_by_step_else_by_checkpoint_folder(tmp_path):
    assert layout.eval_folder(tmp_path, 120) == tmp_path / "eval" / "step-120"
    assert layout.eval_folder(tmp_path, None, tmp_path / "best") == tmp_path / "eval" / "best"
    assert layout.eval_folder(tmp_path, None, tmp_path) == tmp_path / "eval" / "model"
    checkpoint = tmp_path / "checkpoints" / "last" / "model.safetensors"
    assert RunContext(checkpoint=checkpoint, run_dir=tmp_path, step=7).results_folder() == tmp_path / "eval" / "step-7"


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings}


def test_no_other_core_module_spells_a_run_file_name():
    """A string that is exactly one of the layout's names appears only in layout.py (help texts and
    messages that mention a name inside a sentence are not bare names)."""
    names = {value for key, value in vars(layout).items() if key.isupper() and isinstance(value, str)}
    names -= {"eval", "best", "last", "checkpoints", "tensorboard"}  # also ordinary words, a package name
    names |= {".last.new", ".last.old"}
    spelled = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name == "layout.py" and path.parent.name == "run" or "scaffold" in path.parts:
            continue
        found = _string_constants(path) & names
        if found:
            spelled[str(path.relative_to(PACKAGE))] = sorted(found)
    assert spelled == {"weights/sources.py": ["model.safetensors"]}  # a Hugging Face repository's file
