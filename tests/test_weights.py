"""Tests of sak_core.weights.sources: finding, reading and strictly loading teacher weights (no network)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from sak_core.errors import CheckpointError
from sak_core.plugin.specs import WeightSource
from sak_core.weights.sources import (
    RandomWeightsWarning,
    cached_path,
    hub_source,
    load_state_dict_strict,
    parse_hub_url,
    read_state_dict,
    resolve_weights,
    weights_dir,
)

SOURCE = WeightSource("tiny_teacher.safetensors", "https://huggingface.co/org/tiny/resolve/main/model.safetensors")
OTHER = WeightSource("tiny_teacher.pth", "https://example.org/releases/tiny_teacher.pth")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty sak weights folder, empty library caches, and no network."""
    import huggingface_hub.constants

    folder = tmp_path / "sak-weights"
    monkeypatch.setenv("SAK_WEIGHTS", str(folder))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))  # sak reads the variable on each call
    return folder


def tiny_module() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3))


def test_weights_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SAK_WEIGHTS", str(tmp_path / "w"))
    assert weights_dir() == tmp_path / "w"
    monkeypatch.delenv("SAK_WEIGHTS")
    assert weights_dir().parts[-3:] == (".cache", "sak", "weights")


def test_parse_hub_url_round_trips_hub_source():
    source = hub_source("timm/vit_x.tag", "model.safetensors", "vit_x.tag.safetensors")
    hub = parse_hub_url(source.url)
    assert (hub.repo_id, hub.filename, hub.revision) == ("timm/vit_x.tag", "model.safetensors", "main")
    assert parse_hub_url("https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth") is None


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_read_state_dict_round_trips_and_unwraps(tmp_path, suffix):
    state = {k: v.clone() for k, v in tiny_module().state_dict().items()}
    path = tmp_path / f"w{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:  # a training checkpoint: wrapped and saved from DataParallel
        torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    loaded = read_state_dict(path)
    assert loaded.keys() == state.keys()
    assert all(torch.equal(loaded[k], state[k]) for k in state)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_truncated_file_is_a_clear_error(tmp_path, suffix):
    path = tmp_path / f"w{suffix}"
    state = {"weight": torch.randn(64, 64)}
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save(state, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated, corrupt") as info:
        read_state_dict(path, "tiny", hint="Fetch it from https://example.org/w")
    assert str(path) in str(info.value) and "https://example.org/w" in str(info.value)


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(1), "obj": nn.Linear(1, 1)}, path)  # needs full unpickling
    with pytest.raises(CheckpointError) as info:
        read_state_dict(path, "tiny")
    message = str(info.value)
    assert f"weights file for teacher 'tiny' {path} holds objects other than tensors" in message
    assert "refuses to unpickle" in message
    assert "weights_only" not in message and "will likely succeed" not in message  # no unsafe advice


def test_strict_load_lists_what_does_not_fit_and_loads_nothing(tmp_path):
    module = tiny_module()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    state = {k: torch.ones_like(v) for k, v in before.items()}
    del state["1.bias"]
    state["2.weight"] = torch.ones(3)
    state["0.weight"] = torch.ones(5, 4)
    with pytest.raises(CheckpointError) as info:
        load_state_dict_strict(module, state, "tiny", tmp_path / "w.pth")
    message = str(info.value)
    assert "missing keys: 1.bias" in message
    assert "unexpected keys: 2.weight" in message
    assert "0.weight (5, 4) vs (3, 4)" in message
    assert all(torch.equal(module.state_dict()[k], v) for k, v in before.items())


def test_strict_load_loads_exactly(tmp_path):
    source, target = tiny_module(), tiny_module()
    load_state_dict_strict(target, source.state_dict(), "tiny", tmp_path / "w.pth")
    assert all(torch.equal(target.state_dict()[k], v) for k, v in source.state_dict().items())


def test_random_weights_are_announced(cache):
    with pytest.warns(RandomWeightsWarning, match="teacher 'tiny' uses random weights"):
        assert resolve_weights("tiny", "random", [SOURCE]) is None


def test_explicit_path_must_exist(cache, tmp_path):
    with pytest.raises(CheckpointError, match="not found: .*nope.pth"):
        resolve_weights("tiny", tmp_path / "nope.pth", [SOURCE])
    path = tmp_path / "mine.pth"
    torch.save({"w": torch.zeros(1)}, path)
    assert resolve_weights("tiny", str(path), [SOURCE]) == path


def test_file_in_weights_folder_is_found(cache):
    cache.mkdir(parents=True)
    save_file({"w": torch.zeros(1)}, str(cache / OTHER.filename))
    assert cached_path(SOURCE) is None
    assert resolve_weights("tiny", None, [SOURCE, OTHER]) == cache / OTHER.filename


def test_file_in_torch_hub_cache_is_found(cache, tmp_path):
    target = tmp_path / "torch" / "hub" / "checkpoints" / "tiny_teacher.pth"
    target.parent.mkdir(parents=True)
    torch.save({"w": torch.zeros(1)}, target)
    assert cached_path(OTHER) == target


def test_offline_error_names_files_urls_and_folder(cache):
    with pytest.raises(CheckpointError) as info:
        resolve_weights("tiny", None, [SOURCE, OTHER])
    message = str(info.value)
    assert "no weights for teacher 'tiny'" in message and "offline" in message
    for source in (SOURCE, OTHER):
        assert source.url in message
        assert str(cache / source.filename) in message
    assert "--teacher-weights tiny=PATH" in message


def test_sak_weights_command_lists_sources(cache, capsys, monkeypatch):
    from sak_core import hookimpl
    from sak_core.cli.main import main
    from sak_core.plugin.registry import temporary_plugin
    from sak_core.plugin.specs import TeacherSpec

    monkeypatch.setenv("COLUMNS", "300")
    spec = TeacherSpec("tinyweights", factory=lambda **_: None, feature_dim=4, tap_indices=(0,),
                       patch_size=16, input_size=(32, 32), weights=(SOURCE, OTHER))

    class Plugin:
        @hookimpl
        def sak_register_teachers(self, register):
            register(spec)

    cache.mkdir(parents=True)
    torch.save({"w": torch.zeros(1)}, cache / OTHER.filename)
    with temporary_plugin(Plugin()):
        assert main(["weights", "tinyweights"]) == 0
    out = capsys.readouterr().out
    assert SOURCE.filename in out and SOURCE.url in out and OTHER.url in out
    assert str(cache / OTHER.filename) in out  # present, with where it was found
    assert "missing" in out  # the safetensors source is absent


PAPER_FILES = {  # the teachers of the paper presets: the file each loads (first) or accepts instead
    "dinov2": ["vit_base_patch14_dinov2.lvd142m.safetensors", "dinov2-base.safetensors", "dinov2_vitb14_pretrain.pth"],
    "clip": ["vit_base_patch16_clip_384.laion2b_ft_in12k_in1k.safetensors"],
    "sam": ["samvit_base_patch16.sa1b.safetensors", "sam_vit_b_01ec64.pth", "sam-vit-base.safetensors"],
}


def _weights_output(capsys, monkeypatch, columns: int, *argv: str) -> str:
    from sak_core.cli.main import main

    monkeypatch.setenv("COLUMNS", str(columns))
    assert main(["weights", *argv]) == 0
    return capsys.readouterr().out


def test_preset_lists_exactly_its_files_and_finds_one_in_the_weights_folder(cache, capsys, monkeypatch):
    from sak_core.cli.main import main
    from sak_core.cli.weights import teacher_rows
    from sak_core.config import RunConfig
    from sak_core.presets import get_preset

    teachers = RunConfig.model_validate({"teachers": get_preset("paper-pascal").as_layer()["teachers"]}).teachers
    files = {t.name: [r.file for r in teacher_rows(t.model_dump())] for t in teachers}
    assert files == PAPER_FILES
    cache.mkdir(parents=True)
    (cache / "samvit_base_patch16.sa1b.safetensors").write_bytes(b"")
    out = _weights_output(capsys, monkeypatch, 80, "--preset", "paper-pascal")
    lines = out.splitlines()
    assert f"  found at {cache / 'samvit_base_patch16.sa1b.safetensors'}" in lines
    assert f"  save as  {cache / 'vit_base_patch16_clip_384.laion2b_ft_in12k_in1k.safetensors'}" in lines
    assert "sam  samvit_base_patch16.sa1b.safetensors  found ($SAK_WEIGHTS)" in lines  # and where
    assert "clip  vit_base_patch16_clip_384.laion2b_ft_in12k_in1k.safetensors  missing" in lines
    assert "without weights on this machine: dinov2, clip." in out  # sam has one of its files
    assert main(["weights", "--preset", "paper-pascal", "--check"]) == 1  # a script can stop here
    assert main(["weights", "sam:vit_b,backend=timm", "--check"]) == 0  # sam has its file
    assert main(["weights", "clip,weights=random", "--check"]) == 0  # no file needed


def test_urls_are_never_folded(cache, capsys, monkeypatch):
    from sak_core.plugin.lookup import get_teacher_spec

    urls = [s.url for s in get_teacher_spec("clip", backend="timm").weights + get_teacher_spec("dinov2").weights]
    assert max(len(u) for u in urls) > 80  # else this test proves nothing at 80 columns
    narrow = _weights_output(capsys, monkeypatch, 80, "clip,backend=timm", "dinov2")
    assert all(f"  url      {u}" in narrow.splitlines() for u in urls)  # each whole, on its own line
    wide = _weights_output(capsys, monkeypatch, 400, "clip,backend=timm", "dinov2")
    assert all(any(u in line and "│" in line for line in wide.splitlines()) for u in urls)  # a table row


def test_explicit_and_random_weights_are_shown_as_such(cache, capsys, monkeypatch, tmp_path):
    path = tmp_path / "mine.pth"
    path.write_bytes(b"")
    out = _weights_output(capsys, monkeypatch, 80, f"dinov2:large,weights={path}", "clip,weights=random")
    assert "dinov2:large  mine.pth  found" in out and f"  found at {path}" in out
    assert "clip  (random weights: no file)" in out
    assert "without weights" not in out


def test_sak_weights_with_no_teacher_named_or_a_missing_path_says_so(cache, capsys, monkeypatch, tmp_path):
    from sak_core.cli.main import main

    monkeypatch.setenv("COLUMNS", "300")
    assert main(["weights", ","]) == 1
    assert "no teacher named in ','" in capsys.readouterr().err
    assert main(["weights", f"dinov2,weights={tmp_path / 'nope.pth'}", "--check"]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "weights=PATH names no file for: dinov2; check the path." in out
    assert "downloads its first file on first use" not in out  # that advice is for the default files


def test_sak_weights_naming_a_file_says_it_must_name_a_folder(cache, monkeypatch):
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(b"a weights file, not the folder")
    with pytest.raises(CheckpointError) as info:
        resolve_weights("tiny", None, [SOURCE])
    message = " ".join(str(info.value).split())
    assert f"SAK_WEIGHTS={cache} names a file, not a folder" in message and "must name the folder" in message
    assert str(cache / SOURCE.filename) not in message  # was: save it inside that file
    assert cache.read_bytes() == b"a weights file, not the folder"
