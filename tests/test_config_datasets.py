"""The configuration of several datasets (docs/datasets.md#mixing): data.datasets entries, the
labels option, aliases, how layers replace one form with the other, config.yaml read back,
and the repeatable ``--dataset NAME,KEY=VALUE`` flag of `sak train`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sak_core.cli.main import main
from sak_core.config import build_config, config_yaml, deep_merge, merge_layers, parse_dataset_flag
from sak_core.errors import ConfigError
from sak_core.model.mixture import run_datasets
from sak_test_utils import TOY_RUN

TOY_WITHOUT_DATASET = {**TOY_RUN, "data": {k: v for k, v in TOY_RUN["data"].items() if k != "dataset"}}
SYNTAX = "NAME[,alias=A][,root=DIR][,weight=W][,input_size=HxW][,OPTION=VALUE...]"


def toy_datasets(*entries: dict):
    """The toy run training on ``entries`` (data.datasets)."""
    return build_config(deep_merge(TOY_WITHOUT_DATASET, {"data": {"datasets": list(entries)}}))


# -- the labels option ------------------------------------------------------------------------------
def test_labels_narrow_the_dataset_to_the_tasks_named(toy_plugins):
    config = toy_datasets({"name": "toy", "options": {"labels": ["toy_reg"]}},
                          {"name": "toy", "alias": "toy-b", "options": {"labels": ["toy_seg"], "k": 1}})
    first, second = run_datasets(config)
    assert (first.key, list(first.spec.tasks), dict(first.options)) == ("toy", ["toy_reg"], {})
    assert (second.key, list(second.spec.tasks), dict(second.options)) == ("toy-b", ["toy_seg"], {"k": 1})
    assert second.describe() == "'toy' (alias toy-b)"


def test_labels_naming_a_task_the_dataset_lacks_names_the_dataset_the_task_and_what_it_has(toy_plugins):
    config = toy_datasets({"name": "toy"}, {"name": "toy", "alias": "toy-b", "options": {"labels": ["toy_seg", "depth"]}})
    with pytest.raises(ConfigError) as excinfo:
        run_datasets(config)
    assert str(excinfo.value) == ("dataset 'toy' (alias toy-b) in data.datasets has no labels for depth, which its "
                                  "labels option names; it has labels for: toy_seg, toy_reg")
    one = build_config(deep_merge(TOY_RUN, {"data": {"options": {"labels": ["semseg"]}}}))
    with pytest.raises(ConfigError) as excinfo:
        run_datasets(one)
    assert str(excinfo.value) == ("dataset 'toy' in data.options has no labels for semseg, which its labels option "
                                  "names; it has labels for: toy_seg, toy_reg")


@pytest.mark.parametrize("labels", ["toy_seg", [1], {"toy_seg": True}])
def test_labels_that_are_not_a_list_of_task_names_are_refused(toy_plugins, labels):
    config = toy_datasets({"name": "toy", "options": {"labels": labels}}, {"name": "toy", "alias": "toy-b"})
    with pytest.raises(ConfigError) as excinfo:
        run_datasets(config)
    assert str(excinfo.value) == ("dataset 'toy' in data.datasets: the labels option is a list of task names, e.g. "
                                  f"labels: [toy_seg, toy_reg], not {labels!r}")


# -- entries, aliases and the two forms -------------------------------------------------------------
def test_a_dataset_listed_twice_needs_an_alias():
    with pytest.raises(ConfigError) as excinfo:
        toy_datasets({"name": "toy"}, {"name": "toy", "options": {"labels": ["toy_seg"]}})
    assert str(excinfo.value) == ("invalid configuration: data.datasets: Value error, 'toy' listed more than once: "
                                  "give each entry of one dataset its own alias (alias: NAME)")
    with pytest.raises(ConfigError, match=r"data.datasets: Value error, 'a' listed more than once"):
        toy_datasets({"name": "toy", "alias": "a"}, {"name": "other", "alias": "a"})
    assert [e.key for e in toy_datasets({"name": "toy"}, {"name": "toy", "alias": "b"}).data.entries()] == ["toy", "b"]


@pytest.mark.parametrize("alias", ["a b", "../up", "", "x/y"])
def test_an_alias_that_cannot_name_metrics_and_folders_is_refused(alias):
    with pytest.raises(ConfigError, match=r"data.datasets.1.alias: Value error, alias .* must be letters, digits"):
        toy_datasets({"name": "toy"}, {"name": "toy", "alias": alias})


@pytest.mark.parametrize("single", [{"dataset": "toy"}, {"root": "/data"}, {"options": {"count": 3}}])
def test_data_datasets_together_with_the_one_dataset_form_is_refused(single):
    field = next(iter(single))
    with pytest.raises(ConfigError) as excinfo:
        build_config(deep_merge(TOY_WITHOUT_DATASET, {"data": {"datasets": [{"name": "toy"}], **single}}))
    assert str(excinfo.value) == (
        "invalid configuration: data: Value error, data.datasets lists the datasets, each with its own root and "
        f"options, but data.{field} (the form for a single dataset) is given too: move it into the entries")


def test_a_layer_with_datasets_drops_the_one_dataset_fields_below_it_and_vice_versa():
    preset = {"data": {"dataset": "nyud", "root": "/data/nyud", "options": {"count": 3}, "batch_size": 8}}
    config = {"data": {"datasets": [{"name": "toy"}, {"name": "toy", "alias": "b"}]}}
    assert merge_layers(preset, config) == {"data": {"batch_size": 8, **config["data"]}}
    # and back: a later layer naming one dataset drops the entries (and their options) below it
    flag = {"data": {"dataset": "pascal-context", "options": {"labels": ["semseg"]}}}
    assert merge_layers(preset, config, flag) == {"data": {"batch_size": 8, **flag["data"]}}
    # a layer touching neither keeps the entries
    assert merge_layers(config, {"data": {"batch_size": 2}}) == {"data": {**config["data"], "batch_size": 2}}
    merged = build_config(TOY_WITHOUT_DATASET, preset, config)
    assert [e.key for e in merged.data.entries()] == ["toy", "b"] and merged.data.options == {}


def test_a_multi_dataset_config_yaml_reads_back_equal():
    config = toy_datasets(
        {"name": "toy", "weight": 3.0, "options": {"labels": ["toy_seg"]}},
        {"name": "toy", "alias": "toy-b", "root": "/data/toy", "input_size": [48, 64], "options": {"count": 5}},
    )
    text = config_yaml(config)
    data = yaml.safe_load(text)["data"]
    assert not {"dataset", "root", "options"} & set(data)  # the one-dataset form is not written
    assert build_config(yaml.safe_load(text)) == config
    again = build_config(yaml.safe_load(text))
    assert [(e.key, e.weight, e.input_size, e.root, e.options) for e in again.data.entries()] == [
        ("toy", 3.0, None, None, {"labels": ["toy_seg"]}),
        ("toy-b", None, (48, 64), "/data/toy", {"count": 5})]


# -- --dataset ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "entry"), [
    ("nyud", {"name": "nyud"}),
    ("nyud,root=~/data/NYUDv2", {"name": "nyud", "root": str(Path("~/data/NYUDv2").expanduser())}),
    ("nyud,input_size=448x576", {"name": "nyud", "input_size": [448, 576]}),
    ("nyud,input_size=[448,576]", {"name": "nyud", "input_size": [448, 576]}),
    ("nyud,labels=[depth,normals]", {"name": "nyud", "options": {"labels": ["depth", "normals"]}}),
    ("nyud,weight=0.25,alias=n2", {"name": "nyud", "weight": 0.25, "alias": "n2"}),
    ("synthetic, count=30 ,seed=7,labels=[semseg]",
     {"name": "synthetic", "options": {"count": 30, "seed": 7, "labels": ["semseg"]}}),
])
def test_the_dataset_flag_reads_entry_fields_and_options(text, entry):
    assert parse_dataset_flag(text) == entry


def test_the_weight_of_a_dataset_flag_is_a_float():
    weight = parse_dataset_flag("nyud,weight=2")["weight"]
    config = toy_datasets({"name": "toy", "weight": weight}, {"name": "toy", "alias": "b", "weight": 0.5})
    assert [e.weight for e in config.data.entries()] == [2.0, 0.5]
    assert isinstance(config.data.entries()[0].weight, float)
    with pytest.raises(ConfigError, match=r"data.datasets.0.weight: Input should be greater than 0"):
        toy_datasets({"name": "toy", "weight": 0}, {"name": "toy", "alias": "b"})


@pytest.mark.parametrize(("text", "error"), [
    ("root=/data,nyud", f"--dataset 'root=/data,nyud' does not start with a dataset name; write {SYNTAX}, "
                        "e.g. --dataset nyud,root=/data/NYUDv2,weight=0.5"),
    ("", f"--dataset '' does not start with a dataset name; write {SYNTAX}, e.g. --dataset nyud,root=/data/NYUDv2,"
         "weight=0.5"),
    ("nyud,normals", f"--dataset 'nyud,normals': 'normals' is not KEY=VALUE; write {SYNTAX}"),
    ("nyud,labels=[depth,normals", "--dataset 'nyud,labels=[depth,normals': unbalanced ']'"),
])
def test_dataset_flag_errors_say_what_to_write(text, error):
    with pytest.raises(ConfigError) as excinfo:
        parse_dataset_flag(text)
    assert str(excinfo.value) == error


def test_train_print_config_with_two_dataset_flags_shows_data_datasets(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--preset", "demo", "--dataset", "synthetic,count=30,labels=[semseg]",
                 "--dataset", "synthetic,alias=synth-b,weight=2,root=rel/dir,input_size=64x96", "--print-config"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)["data"]
    assert "dataset" not in data and "options" not in data and "root" not in data
    assert data["datasets"] == [
        {"name": "synthetic", "alias": None, "root": None, "weight": None, "input_size": None,
         "options": {"count": 30, "labels": ["semseg"]}},
        {"name": "synthetic", "alias": "synth-b", "root": str(tmp_path / "rel" / "dir"), "weight": 2.0,
         "input_size": [64, 96], "options": {}},
    ]


def test_train_data_root_with_two_dataset_flags_is_refused(capsys):
    assert main(["train", "--preset", "demo", "--dataset", "synthetic", "--dataset", "synthetic,alias=b",
                 "--data-root", "/data", "--print-config"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == ("error: --data-root names the folder of a run's one dataset; with several --dataset, "
                           "give each its own: --dataset NAME,root=DIR")


def test_train_one_plain_dataset_flag_keeps_the_one_dataset_form(capsys):
    assert main(["train", "--preset", "demo", "--dataset", "synthetic", "--data-root", "/data/s", "--print-config"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)["data"]
    assert (data["dataset"], data["root"], data["datasets"]) == ("synthetic", "/data/s", [])
