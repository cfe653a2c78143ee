"""The model card (``README.md``) ``sak push`` writes for a student: Hub metadata a person can read.

The metadata is what huggingface_hub's :class:`~huggingface_hub.ModelCardData` holds:
``library_name: sak``, tags, the run's datasets, the licence, the primary metric of each scored task
(per dataset) as a ``model-index`` (from the run's ``metrics.json``), and the teachers and tasks
under ``sak:``.
The text says what the student is, its results, and how to use it: the exact ``pip install``
line of the plugins it needs (from the run's ``plugins.json``), a ``sak predict`` and a
``sak_core.load_student`` example.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sak_core.errors import SakError, UnknownNameError

LIBRARY = "sak"
CORE_DISTRIBUTION = "sak-core"
TAGS = ("sak", "knowledge-distillation", "multi-task", "dense-prediction", "vision")
# sak task -> the Hub's task type, for the model-index; other tasks keep their own name
HUB_TASK_TYPES = {"semseg": "image-segmentation", "human_parts": "image-segmentation", "depth": "depth-estimation"}


@dataclass
class StudentFacts:
    """What the card says about a student, read from its run (see :func:`student_facts`)."""

    repo_id: str
    tasks: dict[str, int]  # task -> output channels of its head
    teachers: list[str]  # NAME[:VARIANT] as the run names them
    stem: str
    input_size: list[int]
    dataset: str | None  # the run's (first) dataset
    step: int | None
    plugins: list[dict[str, Any]] = field(default_factory=list)  # the run's plugins.json
    metrics: dict[str, Any] | None = None  # the run's metrics.json
    license: str = "other"
    licenses: dict[str, str] = field(default_factory=dict)  # teacher -> its weights' licence(s)
    datasets: dict[str, str] = field(default_factory=dict)  # every dataset of the run: key (alias or name) -> name

    def dataset_names(self) -> list[str]:
        """The registered names of the run's datasets, each once, in order."""
        names = list(self.datasets.values()) or ([self.dataset] if self.dataset else [])
        return list(dict.fromkeys(names))

    def trained_on(self) -> str:
        """``"nyud"``, or ``"synthetic, synth-b (synthetic)"`` for a run with several datasets."""
        if len(self.datasets) > 1:
            return ", ".join(key if key == name else f"{key} ({name})" for key, name in self.datasets.items())
        return self.dataset or "unknown"


def teacher_licenses(teachers: Sequence[Any]) -> dict[str, str]:
    """Teacher (``NAME[:VARIANT]``) -> the licence(s) its weight sources declare ("" when its
    plugin is not installed or it declares none)."""
    from sak_core.plugin.lookup import get_teacher_spec

    found = {}
    for entry in teachers:
        try:
            spec = get_teacher_spec(entry.name, **entry.options)
        except (UnknownNameError, SakError):
            found[entry.name] = ""
            continue
        found[entry.name] = ", ".join(sorted({s.license for s in spec.weights if s.license}))
    return found


def install_line(plugins: Sequence[Mapping[str, Any]], kinds: Sequence[str] = ("task",)) -> str:
    """``pip install sak-core==X DIST==Y ...``: sak-core and the distributions of ``kinds`` in the
    run's ``plugins.json``, at the versions it was trained with."""
    try:
        pins = {CORE_DISTRIBUTION: importlib.metadata.version(CORE_DISTRIBUTION)}
    except importlib.metadata.PackageNotFoundError:
        pins = {CORE_DISTRIBUTION: ""}
    for entry in plugins:
        if entry.get("kind") in kinds and entry.get("distribution"):
            pins.setdefault(str(entry["distribution"]), str(entry.get("version") or ""))
    return "pip install " + " ".join(f"{name}=={version}" if version else name for name, version in pins.items())


def scored_datasets(metrics: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    """Dataset key -> its ``sak eval`` document: each of ``metrics.json``'s ``datasets`` (a run
    with several), else the one document under its dataset's name ({} without metrics)."""
    if not metrics:
        return {}
    several = metrics.get("datasets")
    if isinstance(several, Mapping):
        return {str(key): doc for key, doc in several.items() if isinstance(doc, Mapping)}
    return {str(metrics.get("dataset") or "unknown"): metrics}


def eval_results(facts: StudentFacts) -> list[Any]:
    """The primary metric of each task scored in ``metrics.json``, per dataset, as huggingface_hub
    EvalResults. With several datasets, each result's dataset has its registered name as type and
    its key as name and config (what keeps two entries of one dataset apart in the model-index)."""
    from huggingface_hub import EvalResult

    several = "datasets" in (facts.metrics or {})
    results = []
    for key, metrics in scored_datasets(facts.metrics).items():
        dataset = str(metrics.get("dataset") or facts.dataset or "unknown")
        name = key if several else dataset
        for task, primary in (metrics.get("primary") or {}).items():
            if not isinstance(primary, Mapping) or primary.get("value") is None:
                continue
            results.append(EvalResult(
                task_type=HUB_TASK_TYPES.get(task, task), task_name=task, dataset_type=dataset, dataset_name=name,
                dataset_config=key if several else None, dataset_split=metrics.get("split"),
                metric_type=str(primary.get("metric")),
                metric_name=f"{task} {primary.get('metric')}", metric_value=primary["value"],
            ))
    return results


def card_data(facts: StudentFacts) -> Any:
    """The card's metadata as a :class:`huggingface_hub.ModelCardData`."""
    from huggingface_hub import ModelCardData

    return ModelCardData(
        library_name=LIBRARY, license=facts.license, tags=[*TAGS, *facts.tasks],
        datasets=facts.dataset_names() or None, model_name=facts.repo_id,
        eval_results=eval_results(facts) or None,
        sak={"teachers": list(facts.teachers), "tasks": dict(facts.tasks), "stem": facts.stem,
             "input_size": list(facts.input_size), "step": facts.step},
    )


def _results_table(facts: StudentFacts) -> list[str]:
    documents = {key: doc for key, doc in scored_datasets(facts.metrics).items() if doc.get("primary")}
    if not documents:
        return ["Not scored yet: run `sak eval` on the run before `sak push` to add its results here."]
    several = "datasets" in (facts.metrics or {})
    lines: list[str] = []
    for key, metrics in documents.items():
        where = key if not several or key == metrics.get("dataset") else f"{key} ({metrics.get('dataset')})"
        lines += [*([""] if lines else []),
                  f"Scored by `sak eval` on {where} / {metrics.get('split')} "
                  f"({metrics.get('num_images')} images, {metrics.get('protocol')} protocol):", "",
                  "| task | metric | value |", "|---|---|---|"]
        for task, entry in metrics["primary"].items():
            value = entry.get("value")
            arrow = "higher is better" if entry.get("higher_is_better") else "lower is better"
            lines.append(f"| {task} | {entry.get('metric')} ({arrow}) | {'n/a' if value is None else f'{value:.4g}'} |")
        if metrics.get("dm") is not None:
            lines += ["", f"Multi-task gain dm against {metrics['baseline']['name']}: {metrics['dm']:+.2f} %"]
    if several and (facts.metrics or {}).get("dm") is not None:
        lines += ["", f"Mean dm over {', '.join(facts.metrics['dm_datasets'])}: {facts.metrics['dm']:+.2f} %"]
    return lines


def card_text(facts: StudentFacts) -> str:
    """The whole ``README.md``: YAML metadata, then the text (see the module doc)."""
    from huggingface_hub import ModelCard

    ref = f"hf://{facts.repo_id}"
    dataset = facts.dataset or "DATASET"
    tasks = ", ".join(f"{name} ({n} output{'' if n == 1 else 's'})" for name, n in facts.tasks.items()) \
        or "none (a stage-1 student)"
    licences = [f"- {name}: {licence or 'unknown (its plugin is not installed here)'}"
                for name, licence in facts.licenses.items()]
    body = [
        f"# {facts.repo_id}", "",
        "A multi-task dense-prediction student distilled from vision foundation models with sak, "
        "the SAK toolkit (SAK, ICLR 2025).", "",
        f"- Teachers: {', '.join(facts.teachers) or 'none recorded'}",
        f"- Tasks: {tasks}",
        f"- Stem: {facts.stem}, input size {facts.input_size[0]}x{facts.input_size[1]}",
        f"- Trained on: {facts.trained_on()}" + (f", saved at step {facts.step}" if facts.step is not None else ""),
        "", "## Results", "", *_results_table(facts), "",
        "## How to use", "",
        "Install sak and the plugins of the student's tasks, at the versions it was trained with:", "",
        "```bash", install_line(facts.plugins), "```", "",
        "Predict images from the command line (the student is downloaded into the Hugging Face cache once, "
        "then used from there, also with `HF_HUB_OFFLINE=1`):", "",
        "```bash", f"sak predict {ref} image.jpg --out predictions/ --dataset {dataset}", "```", "",
        "or from Python:", "",
        "```python", "import sak_core", "from PIL import Image", "",
        f'student = sak_core.load_student("{ref}")',
        f'outputs = sak_core.predict(student, Image.open("image.jpg"), dataset="{dataset}")', "```", "",
        f"`sak eval {ref}` scores it (pass `--data-root` where the dataset is on your machine); "
        f"`sak train --init {ref}` starts a run from it. Evaluating on the training dataset or training "
        f"from it also needs the run's other plugins:", "",
        "```bash", install_line(facts.plugins, ("task", "dataset", "teacher")), "```", "",
        "## Licence", "",
        f"`{facts.license}`" + (" (given with `sak push --license`)." if facts.license != "other" or not licences else
                                ": the student is distilled from its teachers, whose weights come under these "
                                "licences; check them before you use or share it:"),
        *([""] + licences if facts.license == "other" and licences else []), "",
        "Files: `model.safetensors` (the student; its config is in the file's metadata), `config.yaml` (the "
        "resolved run config), `plugins.json` (the plugins and versions it was trained with)"
        + (", `metrics.json` (its `sak eval` results)" if facts.metrics else "") + ".", "",
    ]
    return ModelCard(f"---\n{card_data(facts).to_yaml()}\n---\n\n" + "\n".join(body)).content
