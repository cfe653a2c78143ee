"""`sak push`: a run's student to the Hugging Face Hub, with a generated model card."""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from pathlib import PureWindowsPath
from typing import Any

import yaml
from rich.console import Console

from sak_core.cli.options import add_overwrite_option
from sak_core.errors import SakError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "push",
        help="upload a run's student to the Hugging Face Hub with a model card (or --dry-run DIR)",
        description="Upload a run's student to a model repository on the Hugging Face Hub: "
        "model.safetensors, config.yaml, plugins.json, metrics.json when the checkpoint was scored with "
        "sak eval, and a generated model card (README.md: library_name sak, tags, dataset, licence, the "
        "metrics per task as a model-index, the teachers and tasks, and how to use it, with the pip "
        "install line of the plugins it needs). Others then use it as hf://REPO_ID wherever sak takes a "
        "run. The pushed config.yaml leaves out absolute local paths (teacher weights, data root, ...). "
        "The token is huggingface_hub's own (hf auth login, or HF_TOKEN). --dry-run DIR writes the "
        "folder that would be uploaded and uploads nothing.",
    )
    parser.add_argument("run", metavar="RUN", help="run directory (or a checkpoint inside one, e.g. RUN/best/model.safetensors)")
    parser.add_argument("repo_id", metavar="REPO_ID", help="the Hub repository, ORG/NAME (created when absent)")
    parser.add_argument("--dry-run", metavar="DIR", help="write the folder that would be uploaded into DIR; upload nothing")
    add_overwrite_option(parser, "files of the --dry-run folder")
    parser.add_argument("--private", action="store_true", help="create the repository private")
    parser.add_argument("--revision", default="main", help="the branch to push to (created when absent; default main)")
    parser.add_argument("--license", metavar="ID", help="the card's licence (default: the teachers' weights' licence "
                        "when they all share one, else 'other' with each listed)")
    parser.add_argument("--message", help="the commit message (default: 'Upload sak student')")
    parser.set_defaults(func=run)


def student_files(run: str) -> tuple[Any, dict[str, Path], Any]:
    """The run's context, its files to upload (name -> path) and what its card says
    (:class:`~sak_core.run.card.StudentFacts`, without the repository). A run without its
    config.yaml or plugins.json, or with an unreadable metrics.json, is refused by name."""
    from sak_core.run.card import StudentFacts, teacher_licenses
    from sak_core.run.checkpoint import CONFIG_KEY, read_metadata
    from sak_core.run.context import RunContext
    from sak_core.run.hub import is_hub_ref
    from sak_core.run.layout import CONFIG_FILE, METRICS_FILE, MODEL_FILE, PLUGINS_FILE
    from sak_core.runtime.files import read_text

    if is_hub_ref(run):
        raise SakError(f"{run} is already on the Hub: sak push takes a local run directory")
    context = RunContext.open(run)
    if context.run_dir is None or context.config is None:
        raise SakError(f"{context.checkpoint} is not inside a run with a readable {CONFIG_FILE}: sak push takes a "
                       f"run directory (the card is written from its {CONFIG_FILE} and {PLUGINS_FILE})")
    plugins_file = context.run_dir / PLUGINS_FILE
    if not context.plugins:
        raise SakError(f"{plugins_file} is missing or unreadable: sak push names the plugins a student needs from "
                       "it; a run trained by sak train has one")
    files = {MODEL_FILE: context.checkpoint, CONFIG_FILE: context.run_dir / CONFIG_FILE, PLUGINS_FILE: plugins_file}
    metrics_path = context.results_folder() / METRICS_FILE
    metrics = None
    if metrics_path.is_file():
        try:
            metrics = json.loads(read_text(metrics_path))
        except json.JSONDecodeError as exc:
            raise SakError(f"{metrics_path} is not valid JSON ({exc}): score the run again with sak eval, or "
                           "remove the file to push without results") from None
        files[METRICS_FILE] = metrics_path
    meta = read_metadata(context.checkpoint)
    if CONFIG_KEY not in meta:
        raise SakError(f"{context.checkpoint} was not written by sak (no '{CONFIG_KEY}' metadata): push a sak run")
    student = json.loads(meta[CONFIG_KEY])
    config = context.config
    licenses = teacher_licenses(config.teachers)
    shared = set(licenses.values())
    facts = StudentFacts(
        repo_id="", tasks=dict(student.get("tasks", {})), teachers=[t.name for t in config.teachers],
        stem=str(student.get("stem")), input_size=list(student.get("input_size", config.data.input_size)),
        dataset=context.dataset_name(), datasets={e.key: e.name for e in context.dataset_entries()},
        step=int(meta["step"]) if meta.get("step", "").isdigit() else None, plugins=context.plugins, metrics=metrics,
        licenses=licenses,
        # one licence every teacher's weights declare, else "other" (the card lists each)
        license=next(iter(shared)) if len(shared) == 1 and "" not in shared and "," not in next(iter(shared)) else "other",
    )
    return context, files, facts


def _is_local_path(value: object) -> bool:
    return isinstance(value, str) and (value.startswith(("/", "~", "\\\\")) or (len(value) > 2 and value[1] == ":"
                                                                             and value[2] in "/\\"))


def shareable_config(text: str) -> tuple[str, list[str]]:
    """The run's ``config.yaml`` with every absolute local path (``/...``, ``~...``, ``C:\\...``) taken
    out, so the pushed copy names nothing of the pusher's machine: ``output.dir`` keeps its last
    component, every other such value (teacher ``weights``, ``data.root``, ``init``, ...) becomes
    null (the default: find the file, the dataset where the user keeps it). Returns the text and
    the dotted keys changed."""
    data = yaml.safe_load(text) or {}
    changed: list[str] = []

    def clean(node: Any, where: str) -> Any:
        if isinstance(node, dict):
            return {k: clean(v, f"{where}.{k}" if where else str(k)) for k, v in node.items()}
        if isinstance(node, list):
            return [clean(v, f"{where}[{i}]") for i, v in enumerate(node)]
        if _is_local_path(node):
            changed.append(where)
            return PureWindowsPath(node).name if where == "output.dir" else None
        return node

    cleaned = clean(data, "")
    if not changed:
        return text, []
    return yaml.safe_dump(cleaned, sort_keys=False, allow_unicode=True), changed


def write_folder(folder: Path, files: dict[str, Path], texts: dict[str, str], overwrite: bool,
                 reads: list[Path]) -> list[Path]:
    """Write ``files`` (copied) and ``texts`` into ``folder`` as one (all or none)."""
    from sak_core.runtime.files import check_output, staged_writes

    check_output(folder, "--dry-run", folder=True)
    targets = [check_output(folder / name, "--dry-run", reads=reads, overwrite=overwrite)
               for name in [*files, *texts]]
    with staged_writes() as stage:
        for name, source in files.items():
            shutil.copyfile(source, stage(folder / name))
        for name, text in texts.items():
            stage(folder / name).write_text(text, encoding="utf-8")
    return targets


def upload(folder: Path, repo_id: str, private: bool, revision: str, message: str) -> str:
    """Create ``repo_id`` (when absent) and its branch ``revision``, and upload ``folder`` as one
    commit with huggingface_hub's own token; returns the commit's URL."""
    from huggingface_hub import HfApi

    api = HfApi(library_name="sak")
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    if revision != "main":
        api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
    commit = api.upload_folder(repo_id=repo_id, folder_path=folder, revision=revision, commit_message=message,
                               repo_type="model")
    return str(commit.commit_url)


def run(args: argparse.Namespace) -> int:
    from sak_core.run.card import card_text
    from sak_core.run.hub import CARD_FILE
    from sak_core.run.layout import CONFIG_FILE
    from sak_core.runtime.files import describe_os_error, read_text
    from sak_core.weights.hub import is_offline, parse_hub_ref

    console = Console()
    if "@" in args.repo_id or args.repo_id.startswith("hf://"):
        raise SakError(f"REPO_ID {args.repo_id!r}: give ORG/NAME (the branch goes in --revision)")
    repo_id = parse_hub_ref(args.repo_id).repo_id
    context, files, facts = student_files(args.run)
    facts.repo_id = repo_id
    if args.license:
        facts.license = args.license
    config_text, scrubbed = shareable_config(read_text(files.pop(CONFIG_FILE)))
    texts = {CONFIG_FILE: config_text, CARD_FILE: card_text(facts)}
    if scrubbed:
        console.print(f"note: {CONFIG_FILE}: local paths left out of the pushed copy (null, or the folder's name "
                      f"for output.dir): {', '.join(scrubbed)}", style="yellow", highlight=False, markup=False)
    for note in context.notes:
        console.print(f"note: {note}", style="yellow", highlight=False, markup=False)
    if args.dry_run:
        folder = Path(args.dry_run)
        try:
            write_folder(folder, files, texts, args.overwrite, context.files_read())
        except OSError as exc:
            raise SakError(f"cannot write --dry-run {folder}: {describe_os_error(exc, folder) or exc}") from None
        console.print(f"wrote {', '.join([*files, *texts])} to {folder} (nothing uploaded); "
                      f"sak push {args.run} {repo_id} uploads them", soft_wrap=True, highlight=False)
        return 0
    if is_offline():
        raise SakError("sak push uploads, but sak is offline (SAK_OFFLINE / HF_HUB_OFFLINE set): unset it, or "
                       "write the folder with --dry-run DIR")
    from huggingface_hub import get_token

    if get_token() is None:
        raise SakError("no Hugging Face token: log in with `hf auth login` (or set HF_TOKEN), then push again")
    with tempfile.TemporaryDirectory(prefix="sak-push-") as tmp:
        write_folder(Path(tmp), files, texts, overwrite=False, reads=[])
        try:
            url = upload(Path(tmp), repo_id, args.private, args.revision, args.message or "Upload sak student")
        except Exception as exc:  # noqa: BLE001 - every hub and network failure is one line
            first = (str(exc).splitlines() or [""])[0]
            raise SakError(f"could not push to {repo_id} ({type(exc).__name__}: {first}); check the name, your "
                           "login (hf auth whoami) and the connection") from None
    console.print(f"pushed {', '.join([*files, *texts])} to {repo_id} ({args.revision}): {url}", soft_wrap=True,
                  highlight=False)
    console.print(f"use it as hf://{repo_id}" + ("" if args.revision == "main" else f"@{args.revision}"),
                  highlight=False)
    return 0
