"""A bad file read in a DataLoader worker is the same one-line sak error as with ``workers=0``
(torch's own re-raise printed "Caught CorruptFileError in DataLoader worker process 0" and some
fifty lines of traceback)."""

from __future__ import annotations

import shutil

import pytest
import torch

from sak_core.plugin.lookup import get_dataset_spec
from sak_core import StudentConfig, create_student, save_student
from sak_core.datasets.batch import collate_samples
from sak_core.datasets.errors import CorruptFileError, DataNotFoundError
from sak_core.datasets.loader import SakDataLoader, WorkerFailure
from sak_core.errors import SakError
from tests.datasets.conftest import SIZE
from tests.fixtures.sak_test_utils import run_sak


@pytest.fixture
def corrupt_nyud(trees, tmp_path):
    """A NYUD tree whose first val image is not an image."""
    root = tmp_path / "nyud"
    shutil.copytree(trees["nyud"], root)
    first = (root / "gt_sets" / "val.txt").read_text().split()[0]
    bad = root / "images" / f"{first}.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    return root, bad


def _error_of(loader) -> BaseException:
    with pytest.raises(SakError) as info:
        for _ in loader:
            pass
    return info.value


@pytest.mark.parametrize("batch_size", [2, None])
def test_a_worker_error_is_the_same_error_as_without_workers(corrupt_nyud, batch_size):
    root, bad = corrupt_nyud
    dataset = get_dataset_spec("nyud").create("val", False, root, SIZE, tasks=["semseg"])
    collate = collate_samples if batch_size else None
    in_main = _error_of(SakDataLoader(dataset, batch_size=batch_size, num_workers=0, collate_fn=collate))
    in_worker = _error_of(SakDataLoader(dataset, batch_size=batch_size, num_workers=2, collate_fn=collate))
    assert type(in_worker) is type(in_main) is CorruptFileError
    assert str(in_worker) == str(in_main) and str(bad) in str(in_worker)
    assert "worker process" not in str(in_worker) and "Traceback" not in str(in_worker)


def test_the_wrapped_dataset_behaves_as_the_dataset(trees):
    dataset = get_dataset_spec("nyud").create("val", False, trees["nyud"], SIZE, tasks=["semseg"])
    loader = SakDataLoader(dataset, batch_size=2, num_workers=2, collate_fn=collate_samples)
    assert len(loader.dataset) == len(dataset) and loader.dataset.ids == dataset.ids
    assert loader.dataset[0]["meta"]["id"] == dataset[0]["meta"]["id"]
    ids = [i for batch in loader for i in (m["id"] for m in batch["meta"])]
    assert ids == dataset.ids


def test_a_failure_is_rebuilt_as_its_class_or_a_plain_sak_error():
    assert type(WorkerFailure(DataNotFoundError("gone: a.png")).error()) is DataNotFoundError

    class TwoArguments(SakError):
        def __init__(self, message: str, code: int) -> None:
            super().__init__(message)

    rebuilt = WorkerFailure(TwoArguments("odd: b.png", 3)).error()
    assert type(rebuilt) is SakError and str(rebuilt) == "odd: b.png"


def test_sak_eval_with_workers_prints_one_error_line_naming_the_file(corrupt_nyud, tmp_path):
    root, bad = corrupt_nyud
    torch.manual_seed(0)
    student = create_student(StudentConfig(
        stem="vit_small", stem_overrides={"embed_dim": 32, "depth": 2, "num_heads": 2}, input_size=SIZE,
        teachers={"dinov2": 0}, tasks={"semseg": 40},
    ))
    checkpoint = tmp_path / "student.safetensors"
    save_student(student, checkpoint)
    result = run_sak("eval", str(checkpoint), "--dataset", "nyud", "--data-root", str(root), "--split", "val",
                     "--tasks", "semseg", "--workers", "2", "--device", "cpu", "--out", str(tmp_path / "m.json"))
    assert result.returncode == 1, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line.endswith(f"{bad} is not a readable image (cannot identify image file '{bad}')"), result.stderr
    assert "Traceback" not in result.stderr and "worker process" not in result.stderr
    assert "bug" not in result.stderr
    assert not (tmp_path / "m.json").exists()
