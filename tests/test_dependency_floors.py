"""The APIs sak calls exist in the installed dependencies, and every pyproject.toml's floor is at
least the release that introduced them (docs/installing.md says why each floor is what it is).
`./dev test-min` runs the plugin tests with every floor installed."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import os
from collections.abc import Callable

import pytest
import sak_floors


def _has(module: str, *path: str) -> Callable[[], bool]:
    def check() -> bool:
        obj = importlib.import_module(module)
        for name in path:
            obj = getattr(obj, name)
        return True
    return check


def _accepts(module: str, path: str, *params: str) -> Callable[[], bool]:
    def check() -> bool:
        obj = importlib.import_module(module)
        for name in path.split("."):
            obj = getattr(obj, name)
        accepted = inspect.signature(obj).parameters
        return all(p in accepted for p in params)
    return check


# (distribution, the release that introduced the API, what we call, the check)
APIS = [
    ("torch", "2.3", "torch.amp.GradScaler(device)", _has("torch.amp", "GradScaler")),
    ("timm", "1.0.3", "VisionTransformer.forward_intermediates(indices, norm, output_fmt, intermediates_only)",
     _accepts("timm.models.vision_transformer", "VisionTransformer.forward_intermediates",
              "indices", "norm", "output_fmt", "intermediates_only")),
    ("timm", "1.0.3", "VisionTransformerSAM.forward_intermediates (SAM teacher, timm backend)",
     _accepts("timm.models.vision_transformer_sam", "VisionTransformerSAM.forward_intermediates",
              "indices", "norm", "output_fmt", "intermediates_only")),
    ("timm", "1.0.3", "ConvNeXt.forward_intermediates (examples/sak-teacher-convnext)",
     _accepts("timm.models.convnext", "ConvNeXt.forward_intermediates", "indices", "intermediates_only")),
    ("timm", "1.0.3", "timm.layers.resample_abs_pos_embed", _has("timm.layers", "resample_abs_pos_embed")),
    ("timm", "1.0.21", "timm.layers.calculate_drop_path_rates: ViTs build on the meta device (clip and timm "
     "teachers read a model's shape without weights; before 1.0.21 the build calls Tensor.item())",
     _has("timm.layers", "calculate_drop_path_rates")),
    ("open-clip-torch", "2.32.0", "open_clip Transformer.forward_intermediates(indices, stop_early)",
     _accepts("open_clip.transformer", "Transformer.forward_intermediates", "indices", "stop_early")),
    ("open-clip-torch", "2.32.0", "open_clip.model._build_vision_tower", _has("open_clip.model", "_build_vision_tower")),
    ("huggingface-hub", "0.25.0", "huggingface_hub.errors.LocalEntryNotFoundError, GatedRepoError, "
     "RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError (weights/hub.py)",
     lambda: all(_has("huggingface_hub.errors", name)() for name in (
         "LocalEntryNotFoundError", "GatedRepoError", "RepositoryNotFoundError", "RevisionNotFoundError",
         "EntryNotFoundError"))),
    ("huggingface-hub", "0.34.0", "the hf command (hf auth login, hf download) sak's messages name",
     lambda: any(e.name == "hf" for e in importlib.metadata.entry_points(group="console_scripts")
                 if e.value.startswith("huggingface_hub"))),
    ("huggingface-hub", "0.25.0", "try_to_load_from_cache, hf_hub_download, snapshot_download(allow_patterns, "
     "local_files_only), HfApi.create_branch(exist_ok), ModelCard, ModelCardData, EvalResult, get_token",
     lambda: _accepts("huggingface_hub", "snapshot_download", "allow_patterns", "local_files_only")()
     and _accepts("huggingface_hub", "HfApi.create_branch", "exist_ok")()
     and all(_has("huggingface_hub", n)() for n in ("try_to_load_from_cache", "hf_hub_download", "ModelCard",
                                                   "ModelCardData", "EvalResult", "get_token"))),
    ("scipy", "1.8", "scipy.sparse.csr_array and csgraph.maximum_flow (boundary odsF)",
     lambda: _has("scipy.sparse", "csr_array")() and _has("scipy.sparse.csgraph", "maximum_flow")()),
]


def _optional(distribution: str) -> bool:
    return distribution in {"open-clip-torch"}


@pytest.mark.parametrize("distribution, introduced, api, check", APIS, ids=[a[2].split("(")[0] for a in APIS])
def test_the_apis_we_call_exist(distribution, introduced, api, check):
    if _optional(distribution):
        pytest.importorskip(api.split()[0].split(".")[0])
    try:
        ok = check()
    except (AttributeError, ImportError, ValueError, TypeError) as exc:
        ok, why = False, f" ({type(exc).__name__}: {exc})"
    else:
        why = ""
    assert ok, f"{api} is missing from the installed {distribution}{why}: sak needs {distribution} >= {introduced}"


@pytest.mark.parametrize("distribution, introduced", sorted({(a[0], a[1]) for a in APIS}))
def test_every_pyproject_floor_is_at_least_the_api_floor(distribution, introduced):
    declared = sak_floors.declared_floors().get(distribution, {})
    assert declared, f"no pyproject.toml requires {distribution}"
    too_low = {path: floor for path, floor in declared.items()
               if floor is None or sak_floors.version_key(floor) < sak_floors.version_key(introduced)}
    assert not too_low, f"{distribution} needs >= {introduced}, but these floors are lower or missing: {too_low}"


def test_floors_are_read_from_every_pyproject():
    names = {p.parent.name for p in sak_floors.pyprojects()}
    assert {"clip", "dinov2", "sam", "semseg", "sak-teacher-convnext"} <= names
    assert sak_floors.floor_of("open_clip_torch>=2.32.0") == ("open-clip-torch", "2.32.0")
    assert sak_floors.floor_of("sak-core[onnx] >= 0.1 ; python_version>'3'") == ("sak-core", "0.1")
    assert "open-clip-torch==2.32.0" in sak_floors.constraints()
    assert not any(line.startswith(("torch==", "torchvision==")) for line in sak_floors.constraints())


@pytest.mark.skipif(not os.environ.get("SAK_EXPECT_FLOORS"), reason="only in ./dev test-min's venv")
def test_the_floors_are_what_is_installed():
    """In `./dev test-min`, every pinned dependency is installed at exactly its floor."""
    wrong = {}
    for line in sak_floors.constraints():
        name, floor = line.split("==")
        installed = importlib.metadata.version(name)
        if sak_floors.version_key(installed) != sak_floors.version_key(floor) + (0,) * (
                len(sak_floors.version_key(installed)) - len(sak_floors.version_key(floor))):
            wrong[name] = (floor, installed)
    assert not wrong, f"installed versions differ from the floors (floor, installed): {wrong}"
