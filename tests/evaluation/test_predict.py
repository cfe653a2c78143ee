"""`sak predict` and `sak_core.predict`: formats, grids, sizes, cropping back, missing plugins."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import sak_core
from sak_core import load_student, save_student
from sak_core.cli.main import main
from sak_core.config import RunConfig
from sak_core.evaluation import MissingPluginError, RunContext, bind_tasks
from sak_core.evaluation.prediction import padded_size, prepare_image


def write_image(path, h, w, seed=0):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return pixels


@pytest.mark.parametrize("size", [(37, 61), (64, 64), (100, 45)])
def test_prepare_pads_to_multiples_of_16_and_the_box_crops_back(size):
    pixels = np.random.default_rng(1).integers(0, 256, size=(*size, 3), dtype=np.uint8)
    prepared = prepare_image(pixels, input_size=(64, 64))
    _, _, H, W = prepared.tensor.shape
    assert H % 16 == 0 and W % 16 == 0 and H >= max(64, size[0]) and W >= max(64, size[1])
    top, left, h, w = prepared.box
    assert (h, w) == size
    # the crop holds exactly the normalised image; the rest is zero padding
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    expected = (torch.from_numpy(pixels).permute(2, 0, 1).float() / 255 - mean) / std
    inside = prepared.tensor[0, :, top : top + h, left : left + w]
    assert torch.allclose(inside, expected, atol=1e-5)
    assert float(prepared.tensor.abs().sum()) == pytest.approx(float(inside.abs().sum()), rel=1e-5)
    assert padded_size(size, (64, 64), "multiple") == tuple(-(-s // 16) * 16 for s in size)


def test_student_predict_returns_each_task_at_the_image_size(probe, tiny_run):
    student = load_student(tiny_run)
    image = Image.fromarray(np.random.default_rng(2).integers(0, 256, size=(37, 61, 3), dtype=np.uint8))
    out = sak_core.predict(student, image, dataset="evalprobe")
    assert set(out) == set(probe.TASKS)
    assert out["semseg"].shape == (37, 61) and out["semseg"].dtype == torch.int64
    assert out["depth"].shape == (1, 37, 61) and float(out["depth"].min()) >= 0
    assert out["normals"].shape == (3, 37, 61)
    assert torch.allclose(out["normals"].norm(dim=0), torch.ones(37, 61), atol=1e-4)
    # the same image as an array, a uint8 tensor, and a pre-normalised tensor agree
    array = np.array(image)
    assert torch.equal(sak_core.predict(student, array, tasks=["semseg"], dataset="evalprobe")["semseg"], out["semseg"])
    chw = torch.from_numpy(array).permute(2, 0, 1).contiguous()
    assert torch.equal(sak_core.predict(student, chw, tasks=["semseg"])["semseg"], out["semseg"])


def test_predict_crops_the_prediction_of_the_padded_image(probe, tiny_run):
    """The prediction equals the centre crop of the student's output on the padded image."""
    student = load_student(tiny_run).eval()
    pixels = np.random.default_rng(3).integers(0, 256, size=(50, 30, 3), dtype=np.uint8)
    prepared = prepare_image(pixels, input_size=(64, 64))
    with torch.no_grad():
        raw = student(prepared.tensor).tasks["semseg"]
    top, left, h, w = prepared.box
    assert (top, left) == (7, 17)  # centred like the test split
    expected = raw.argmax(1)[0, top : top + h, left : left + w]
    assert torch.equal(sak_core.predict(student, pixels, tasks=["semseg"], precision="fp32")["semseg"], expected)


def test_predict_cli_writes_reference_formats_and_a_grid(probe, tiny_run, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    write_image(images / "odd.png", 37, 61, seed=4)
    write_image(images / "tall.jpg", 70, 33, seed=5)
    out = tmp_path / "out"
    assert main(["predict", str(tiny_run), str(images), "--out", str(out), "--device", "cpu"]) == 0

    student = load_student(tiny_run)
    for stem, (h, w) in {"odd": (37, 61), "tall": (70, 33)}.items():
        semseg = Image.open(out / "semseg" / f"{stem}.png")
        assert semseg.mode == "P" and semseg.size == (w, h)  # palette PNG whose values are class ids
        depth = np.load(out / "depth" / f"{stem}.npy")
        assert depth.dtype == np.float32 and depth.shape == (h, w) and depth.min() >= 0
        normals = Image.open(out / "normals" / f"{stem}.png")
        assert normals.mode == "RGB" and normals.size == (w, h)
        grid = Image.open(out / "grid" / f"{stem}.png")
        assert grid.format == "PNG" and grid.width > 4 * min(w, 160)  # image + three tasks
        # the saved labels are what the library predicts for the file
        expected = sak_core.predict(student, tmp_path / "images" / f"{stem}{'.png' if stem == 'odd' else '.jpg'}",
                                   tasks=["semseg"], dataset="evalprobe")["semseg"]
        assert np.array_equal(np.asarray(semseg), expected.numpy().astype(np.uint8))
        # normals PNG = (n + 1) / 2 * 255, truncated
        n = sak_core.predict(student, Image.open(images / f"{stem}{'.png' if stem == 'odd' else '.jpg'}"),
                            tasks=["normals"], dataset="evalprobe")["normals"]
        expected_rgb = np.clip((n.numpy().transpose(1, 2, 0) + 1) / 2 * 255, 0, 255).astype(np.uint8)
        assert np.abs(np.asarray(normals).astype(int) - expected_rgb).max() <= 1


def test_predict_from_a_split_adds_the_ground_truth_row(probe, tiny_run, tmp_path):
    plain, truth = tmp_path / "plain", tmp_path / "truth"
    write_image(tmp_path / "probe2.png", 37, 61)
    assert main(["predict", str(tiny_run), str(tmp_path / "probe2.png"), "--out", str(plain), "--device", "cpu"]) == 0
    assert main(["predict", str(tiny_run), "--ids", "probe2", "--out", str(truth), "--device", "cpu",
                 "--tasks", "semseg,depth,normals"]) == 0
    assert sorted(p.name for p in (truth / "semseg").iterdir()) == ["probe2.png"]
    assert Image.open(truth / "semseg" / "probe2.png").size == (61, 37)  # SIZES[2], cropped back
    with_truth, without = Image.open(truth / "grid" / "probe2.png"), Image.open(plain / "grid" / "probe2.png")
    assert with_truth.width == without.width and with_truth.height > 1.8 * without.height


def test_a_missing_task_plugin_is_named(probe, tiny_run, tmp_path):
    student = probe.tiny_student(tasks={"semseg": 3, "no_such_task": 2})
    run = tmp_path / "other"
    run.mkdir()
    save_student(student, run / "model.safetensors")
    (run / "config.yaml").write_text(yaml.safe_dump(RunConfig(data={"dataset": "evalprobe"}).model_dump(mode="json")))
    (run / "plugins.json").write_text(
        json.dumps([{"kind": "task", "name": "no_such_task", "distribution": "sak-task-nowhere", "version": "1"}])
    )
    with pytest.raises(MissingPluginError, match="no_such_task.*sak-task-nowhere"):
        bind_tasks(student, None, None, RunContext.open(run))
    with pytest.raises(MissingPluginError, match="no_such_task"):
        sak_core.predict(student, np.zeros((20, 20, 3), np.uint8))
    # the tasks whose plugins are installed still work
    assert set(sak_core.predict(student, np.zeros((20, 20, 3), np.uint8), tasks=["semseg"])) == {"semseg"}


def test_bad_images_are_refused_with_a_hint(tiny_run, probe):
    student = load_student(tiny_run)
    with pytest.raises(Exception, match="uint8"):
        sak_core.predict(student, np.zeros((20, 20, 3), np.float64))


def test_a_16_bit_png_is_scaled_not_clipped(tiny_run, probe, tmp_path):
    from sak_core.evaluation.prediction import read_image

    grey = (np.arange(30 * 20).reshape(30, 20) * 109).astype(np.uint16)  # up to 65291
    Image.fromarray(grey).save(tmp_path / "grey16.png")
    assert Image.open(tmp_path / "grey16.png").mode.startswith("I")
    pixels = read_image(tmp_path / "grey16.png")
    assert pixels.shape == (30, 20, 3) and np.array_equal(pixels[..., 0], pixels[..., 2])
    assert np.abs(pixels[..., 0].astype(int) - np.rint(grey / 257).astype(int)).max() == 0
    # sak predict on it equals predicting the 8-bit version of the same picture
    Image.fromarray(pixels).save(tmp_path / "grey8.png")
    student = load_student(tiny_run)
    sixteen = sak_core.predict(student, tmp_path / "grey16.png", tasks=["depth"], dataset="evalprobe")["depth"]
    eight = sak_core.predict(student, tmp_path / "grey8.png", tasks=["depth"], dataset="evalprobe")["depth"]
    assert torch.equal(sixteen, eight)


def test_predict_on_a_folder_reports_unreadable_files_and_goes_on(tiny_run, probe, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    write_image(images / "a.png", 20, 30, seed=1)
    (images / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (images / "c.jpg").write_bytes(b"")
    write_image(images / "d.png", 1, 1, seed=2)  # a 1x1 image predicts and draws its grid
    out = tmp_path / "out"
    code = main(["predict", str(tiny_run), str(images), "--out", str(out), "--device", "cpu"])
    captured = capsys.readouterr()
    text = " ".join((captured.out + captured.err).split())
    assert code == 1  # not every image could be read
    assert f"{images / 'b.png'} is not a readable image" in text and f"{images / 'c.jpg'}" in text
    assert "wrote 2 image(s)" in text and "2 file(s) could not be read" in text
    for stem in ("a", "d"):
        assert (out / "grid" / f"{stem}.png").is_file() and (out / "semseg" / f"{stem}.png").is_file()
    assert Image.open(out / "semseg" / "d.png").size == (1, 1)
    assert "Traceback" not in captured.err


def test_image_files_may_follow_the_options(tiny_run, probe, tmp_path, capsys):
    write_image(tmp_path / "a.png", 20, 30, seed=1)
    write_image(tmp_path / "b.png", 16, 16, seed=2)
    out = tmp_path / "out"
    assert main(["predict", str(tiny_run), str(tmp_path / "a.png"), "--out", str(out), "--no-grid", "--device", "cpu",
                 str(tmp_path / "b.png")]) == 0
    assert sorted(p.name for p in (out / "semseg").iterdir()) == ["a.png", "b.png"]
    with pytest.raises(SystemExit):  # an unknown option is still refused
        main(["predict", str(tiny_run), "--out", str(out), "--no-such-flag"])
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["file", "file/sub"])
def test_an_out_that_a_file_blocks_is_refused_before_predicting(tiny_run, tmp_path, capsys, where):
    (tmp_path / "file").write_text("keep")
    assert main(["predict", str(tiny_run), "--out", str(tmp_path / where), "--device", "cpu"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"{tmp_path / 'file'} is a file, not a folder" in err and "Traceback" not in err
    assert (tmp_path / "file").read_text() == "keep"


def test_a_photo_with_an_exif_rotation_is_read_upright(tmp_path):
    from sak_core.evaluation.prediction import read_image

    pixels = np.zeros((20, 30, 3), np.uint8)
    pixels[:, :10] = 255  # a white band on the left of the upright picture
    stored = Image.fromarray(pixels).transpose(Image.Transpose.ROTATE_90)  # 30 x 20, as a phone stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to view
    stored.save(tmp_path / "phone.jpg", exif=exif, quality=100)
    upright = read_image(tmp_path / "phone.jpg")
    assert upright.shape == (20, 30, 3)
    assert upright[:, :10].mean() > 200 and upright[:, 12:].mean() < 50
