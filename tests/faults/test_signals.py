"""Two quick Ctrl-Cs stop `sak train` at once with a sentence, not a KeyboardInterrupt traceback."""

from __future__ import annotations

import signal
import time

from sak_test_utils import TOY_ENV, start_sak


def test_a_second_ctrl_c_stops_with_a_sentence(tmp_path, toy_site, toy_yaml):
    run = tmp_path / "run"
    proc = start_sak("train", "--config", str(toy_yaml(output={"checkpoint_every": 1})), "--out", str(run),
                     "--iterations", "100000", site=toy_site, env=TOY_ENV)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None and not (run / "metrics.jsonl").is_file():
            time.sleep(0.1)
        for _ in range(2):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err and "KeyboardInterrupt" not in out + err
    text = " ".join((out + err).split())
    assert "stopped" in text and ("--resume" in text or "start the run again" in text), text
