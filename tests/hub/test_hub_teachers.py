"""Teacher weights in a Hugging Face cache (offline): a transformers-layout DINOv2 placed as
facebook/dinov2-small is found with no weights= and gives the features of the same file by path;
`sak weights --preset paper-pascal` finds and names the Hub cache; a missing file is one line."""

from __future__ import annotations

import pytest
import torch

import sak_core
from sak_core.errors import CheckpointError, ConvertedWeightsWarning

transformers = pytest.importorskip("transformers")
TINY = dict(embed_dim=32, depth=2, num_heads=2, img_size=56)


def test_transformers_dinov2_in_the_hub_cache_is_found_without_weights(hub, tmp_path):
    torch.manual_seed(0)
    model = transformers.Dinov2Model(transformers.Dinov2Config(hidden_size=32, num_hidden_layers=2,
                                                               num_attention_heads=2, image_size=56, patch_size=14))
    model.save_pretrained(tmp_path / "hf")
    path = tmp_path / "hf" / "model.safetensors"
    hub.place("facebook/dinov2-small", {"model.safetensors": path})
    with pytest.warns(ConvertedWeightsWarning):
        found = sak_core.create_teacher("dinov2", size="small", arch=TINY)
    with pytest.warns(ConvertedWeightsWarning):
        given = sak_core.create_teacher("dinov2", size="small", arch=TINY, weights=str(path))
    images = torch.randn(1, 3, 56, 56)
    for a, b in zip(found(images).features, given(images).features, strict=True):
        assert torch.equal(a, b)


def test_missing_teacher_file_offline_names_the_repo_and_file(hub):
    with pytest.raises(CheckpointError) as info:
        sak_core.create_teacher("dinov2", size="small", arch=TINY)
    assert "model.safetensors of Hub repository facebook/dinov2-small" in str(info.value)
    assert "offline" in str(info.value)


def test_sak_weights_preset_finds_the_hub_cache(hub, capsys, monkeypatch):
    from sak_core.plugin.lookup import get_teacher_spec
    from sak_core.cli.main import main
    from sak_core.config import RunConfig
    from sak_core.presets import get_preset

    monkeypatch.setenv("COLUMNS", "400")
    teachers = RunConfig.model_validate({"teachers": get_preset("paper-pascal").as_layer()["teachers"]}).teachers
    assert main(["weights", "--preset", "paper-pascal", "--check"]) == 1
    for t in teachers:
        source = get_teacher_spec(t.name, **t.options).weights[0].hub
        hub.place(source.repo_id, {source.filename: b"x"})
    capsys.readouterr()
    assert main(["weights", "--preset", "paper-pascal", "--check"]) == 0
    out = capsys.readouterr().out
    assert out.count("Hub cache") == len(teachers) and str(hub.cache) in out
