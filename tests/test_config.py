"""Run configuration: YAML, overrides, validation messages, the resolved file."""

from __future__ import annotations

import json

import pytest
import yaml

from sak_core.config import RunConfig, load_config, parse_override, parse_teachers
from sak_core.run.layout import write_resolved
from sak_core.errors import ConfigError


def test_defaults_follow_the_paper_stage2_recipe():
    config = RunConfig()
    assert (config.optim.lr, config.optim.weight_decay, config.optim.schedule) == (2e-5, 1e-6, "poly")
    assert (config.optim.iterations, config.optim.grad_clip, config.optim.alpha) == (40000, 10.0, 1.0)
    assert config.data.batch_size == 4 and config.model.router == "mor"


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("teachers: dinov2,clip\noptim:\n  lr: 0.001\n  iterations: 10\nmodel:\n  aligners: true\n")
    config = load_config(path, ["optim.lr=3e-4", "tasks=semseg,normals", "model.stem_overrides={embed_dim: 64}"])
    assert config.optim.lr == pytest.approx(3e-4)
    assert config.optim.iterations == 10
    assert [t.name for t in config.teachers] == ["dinov2", "clip"]
    assert config.tasks == ["semseg", "normals"]
    assert config.model.aligners is True
    assert config.model.stem_overrides == {"embed_dim": 64}


def test_base_layer_is_overridden_by_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("optim:\n  lr: 0.5\n")
    config = load_config(path, base={"optim": {"lr": 0.1, "iterations": 7}})
    assert (config.optim.lr, config.optim.iterations) == (0.5, 7)


def test_readable_validation_errors(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("optim:\n  lr: -1\n  colour: red\nmodel:\n  router: magic\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "optim.lr: Input should be greater than 0" in message
    assert "optim.colour: Extra inputs are not permitted" in message
    assert "model.router: Input should be 'mor' or 'sum'" in message


@pytest.mark.parametrize(
    "text, error",
    [("optim.lr", "is not KEY=VALUE"), ("=3", "is not KEY=VALUE"), ("a=[1,", "not valid YAML")],
)
def test_bad_overrides(text, error):
    with pytest.raises(ConfigError, match=error):
        parse_override(text)


def test_missing_and_non_mapping_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(tmp_path / "list.yaml")


def test_teacher_entries_with_options():
    config = RunConfig.model_validate({"teachers": [{"name": "sam", "options": {"size": "vit_l"}, "weights": "random"}, "clip"]})
    assert config.teachers[0].options == {"size": "vit_l"} and config.teachers[0].weights == "random"
    assert config.teachers[1].name == "clip"


def test_resolved_config_round_trips(tmp_path):
    config = load_config(overrides=["teachers=dinov2", "optim.lr=0.01"])
    write_resolved(tmp_path / "run", config, [{"distribution": "sak-core", "version": "0.1.0"}])
    again = RunConfig.model_validate(yaml.safe_load((tmp_path / "run" / "config.yaml").read_text()))
    assert again == config
    assert json.loads((tmp_path / "run" / "plugins.json").read_text())[0]["distribution"] == "sak-core"
    assert not list((tmp_path / "run").glob(".*tmp*"))


def test_teachers_syntax_names_teachers_and_their_options():
    text = ("dinov2:large, clip,backend=timm,variant=vit_base_patch16_clip_384,pretrained=laion2b_ft_in12k_in1k,"
            "faithful=true,sam,input_size=512,arch.global_attn_indexes=[2, 5],arch.window_size=7,weights=random,"
            "timm:hf-hub:org/model,taps={0: 1}")
    assert parse_teachers(text) == [
        {"name": "dinov2:large"},
        {"name": "clip", "options": {"backend": "timm", "variant": "vit_base_patch16_clip_384",
                                     "pretrained": "laion2b_ft_in12k_in1k", "faithful": True}},
        {"name": "sam", "options": {"input_size": 512, "arch": {"global_attn_indexes": [2, 5], "window_size": 7}},
         "weights": "random"},
        {"name": "timm:hf-hub:org/model", "options": {"taps": {0: 1}}},
    ]
    assert parse_teachers("dinov2,clip,sam") == [{"name": "dinov2"}, {"name": "clip"}, {"name": "sam"}]
    assert parse_teachers("sam,weights=~/w/sam.pth")[0]["weights"].endswith("/w/sam.pth")
    assert "~" not in parse_teachers("sam,weights=~/w/sam.pth")[0]["weights"]


@pytest.mark.parametrize(
    ("text", "error"),
    [("backend=timm,clip", "option 'backend=timm' comes before any teacher name"),
     ("clip,back end=timm", "'back end' in 'back end=timm' is not an option name"),
     ("sam,arch.global_attn_indexes=[2,5", "unbalanced ']'"),
     ("clip,variant='ViT", "unbalanced \"'\""),
     ("clip,variant=a: b: c", "is not valid YAML")],
)
def test_teachers_syntax_errors_say_what_to_write(text, error):
    with pytest.raises(ConfigError) as excinfo:
        parse_teachers(text)
    assert error in str(excinfo.value)


def test_config_files_take_the_teachers_syntax():
    config = RunConfig.model_validate({"teachers": ["dinov2:small", "sam,size=vit_l,weights=random"]})
    assert [(t.name, t.options, t.weights) for t in config.teachers] == [
        ("dinov2:small", {}, None), ("sam", {"size": "vit_l"}, "random")]


def test_train_teachers_flag_adds_options_on_top_of_the_preset(capsys):
    from sak_core.cli.main import main

    assert main(["train", "--preset", "paper-pascal", "--teachers", "dinov2:large,clip,pretrained=openai",
                 "--teachers", "sam,input_size=512,arch.window_size=7", "--teacher-weights", "sam=random",
                 "--print-config"]) == 0
    teachers = yaml.safe_load(capsys.readouterr().out)["teachers"]
    assert teachers == [
        {"name": "dinov2:large", "options": {"size": "base", "faithful": True}, "weights": None},
        {"name": "clip", "options": {"backend": "timm", "variant": "vit_base_patch16_clip_384",
                                     "pretrained": "openai", "faithful": True}, "weights": None},
        {"name": "sam", "options": {"size": "vit_b", "backend": "timm", "faithful": True, "input_size": 512,
                                    "arch": {"window_size": 7}}, "weights": "random"},
    ]


def test_a_preset_s_dataset_options_stay_with_its_dataset():
    from sak_core.config import build_config, parse_override
    from sak_core.presets import get_preset

    demo = get_preset("demo").as_layer()
    assert demo["data"]["options"] == {"count": 300}
    other = build_config(demo, {"data": {"dataset": "pascal-context", "root": None}})
    assert other.data.dataset == "pascal-context" and other.data.options == {}
    assert build_config(demo, {"data": {"dataset": "synthetic"}}).data.options == {"count": 300}
    assert build_config(demo, parse_override("data.options={}")).data.options == {}  # {} replaces
    assert build_config(demo, parse_override("data.options.seed=4")).data.options == {"count": 300, "seed": 4}
    both = build_config(demo, {"data": {"dataset": "nyud", "options": {"on_error": "skip"}}})
    assert both.data.options == {"on_error": "skip"}  # the layer that names the dataset sets its own



def test_name_variant_has_one_parser():
    import sak_core.plugin.lookup
    from sak_core.config import split_variant

    assert sak_core.plugin.lookup.split_variant is split_variant
    assert split_variant("teacher_a:large") == ("teacher_a", {"variant": "large"})
    assert split_variant("timm:vit_base_patch16_224") == ("timm", {"variant": "vit_base_patch16_224"})
    assert split_variant("teacher_a") == ("teacher_a", {})
    with pytest.raises(ValueError, match="more than once"):  # teacher_a and teacher_a:large are one teacher
        RunConfig.model_validate({"teachers": ["teacher_a", "teacher_a:large"]})
