"""Each task and teacher of a run named once, and an explicit rule for no teachers: `--teachers none`
(or `teachers: none` / an empty list in a file) trains stage 2 without teachers; a text that names
no teacher (`--teachers ""`, an unset shell variable) is refused, as `--tasks ""` is."""

from __future__ import annotations

import pytest
import yaml

from sak_core.cli.main import main
from sak_core.config import RunConfig, build_config
from sak_core.errors import ConfigError
from sak_core.training import train


def _error(capsys, *argv: str) -> str:
    assert main(["train", "--preset", "paper-pascal", *argv, "--print-config"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "bug" not in err, err
    return err


def _teachers(capsys, *argv: str) -> list[str]:
    assert main(["train", "--preset", "paper-pascal", *argv, "--print-config"]) == 0
    return [t["name"] for t in yaml.safe_load(capsys.readouterr().out)["teachers"]]


@pytest.mark.parametrize(("argv", "named"), [
    (["--tasks", "semseg,semseg"], "'semseg'"),
    (["--tasks", "semseg, depth,normals,depth,semseg"], "'depth', 'semseg'"),
    (["--teachers", "dinov2,clip,dinov2"], "'dinov2'"),
    (["--teachers", "dinov2", "--teachers", "dinov2:large"], "'dinov2'"),
    (["tasks=[parts,parts]"], "'parts'"),
])
def test_a_name_given_twice_is_refused_in_one_line(capsys, argv, named):
    err = _error(capsys, *argv)
    assert f"{named} named more than once" in err and "drop the repeat" in err


@pytest.mark.parametrize("text", ["", " ", ",", " , "])
def test_teachers_that_name_no_teacher_are_refused_not_read_as_none(capsys, text):
    err = _error(capsys, "--teachers", text)
    assert "names no teacher" in err and "--teachers none" in err


def test_teachers_none_is_stage_two_without_teachers_and_not_with_others(capsys):
    assert _teachers(capsys, "--teachers", "none") == []
    assert _teachers(capsys, "--teachers", "NONE") == []
    assert _teachers(capsys, "teachers=none") == []
    assert "cannot be listed with teachers" in _error(capsys, "--teachers", "none,clip")
    assert "cannot be given with other --teachers" in _error(capsys, "--teachers", "none", "--teachers", "clip")
    assert "stage 1 distils teachers" in _error(capsys, "--teachers", "none", "--stage", "1")


def test_config_files_follow_the_same_rules(tmp_path, capsys):
    assert RunConfig.model_validate({"teachers": []}).teachers == []  # an empty list is explicit
    assert RunConfig.model_validate({"teachers": "none"}).teachers == []
    for bad, message in [({"teachers": ""}, "names no teacher"), ({"teachers": ["clip", ""]}, "names no teacher"),
                         ({"teachers": ["clip", "sam,size=vit_l", "clip"]}, "'clip' named more than once"),
                         ({"tasks": ["depth", "depth"]}, "'depth' named more than once")]:
        with pytest.raises(ConfigError, match=message):
            build_config(bad)
        path = tmp_path / "run.yaml"
        path.write_text(yaml.safe_dump(bad))
        assert message in _error(capsys, "--config", str(path))


def test_a_stage_two_run_with_teachers_none_trains_the_tasks_alone(toy_config, tmp_path, capsys):
    result = train(toy_config(teachers="none", optim={"iterations": 1}), tmp_path / "run")
    assert result.step == 1
    assert "teachers none" in capsys.readouterr().out
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["teachers"] == []
