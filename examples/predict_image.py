"""Load a trained student and predict every task on one image; save a colour rendering per task.

    python examples/predict_image.py RUN_DIR IMAGE [--out DIR] [--dataset NAME]

RUN_DIR is a run directory written by `sak train` (or a model.safetensors file); `--dataset`
defaults to the dataset in the run's config.yaml and sets the image normalisation and the
tasks' options.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml
from PIL import Image

import sak_core


def run_dataset(run: Path) -> str | None:
    """The dataset a run was trained on, from its config.yaml (its first, for a run with several;
    None for a bare checkpoint)."""
    config = run / "config.yaml"
    if not config.is_file():
        return None
    data = yaml.safe_load(config.read_text())["data"]
    return data["datasets"][0]["name"] if data.get("datasets") else data["dataset"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="run directory or model.safetensors")
    parser.add_argument("image", type=Path, help="an image file")
    parser.add_argument("--out", type=Path, default=Path("predictions"), help="folder for the renderings")
    parser.add_argument("--dataset", help="dataset the student was trained on (default: the run's)")
    args = parser.parse_args()

    dataset = args.dataset or run_dataset(args.run)
    if dataset is None:
        parser.error("a bare checkpoint has no config.yaml: pass --dataset NAME")
    student = sak_core.load_student(args.run)  # no teacher needed
    predictions = sak_core.predict(student, args.image, dataset=dataset)  # task -> prediction at image size

    args.out.mkdir(parents=True, exist_ok=True)
    for name, prediction in predictions.items():
        rendering = sak_core.create_task(name, dataset=dataset).visualise(prediction)  # H x W x 3 uint8
        path = args.out / f"{args.image.stem}_{name}.png"
        Image.fromarray(rendering).save(path)
        print(f"{name}: {tuple(prediction.shape)} -> {path}")


if __name__ == "__main__":
    main()
