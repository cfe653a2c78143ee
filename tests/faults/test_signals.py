"""Ctrl-C and `sak train`: two quick ones stop at once with a sentence, not a KeyboardInterrupt
traceback, and one more while sak exits does not kill it by signal (exit status 130 either way);
a third ends a stopping process at once."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from sak_core.runtime import interrupts
from sak_core.training.signals import StopRequest
from sak_test_utils import TOY_ENV, start_sak


@pytest.mark.parametrize("gap", [0.05, 0.4], ids=["second Ctrl-C at once", "second Ctrl-C while sak exits"])
def test_two_ctrl_cs_stop_with_a_sentence_and_status_130(tmp_path, toy_site, toy_yaml, gap):
    run = tmp_path / "run"
    proc = start_sak("train", "--config", str(toy_yaml(output={"checkpoint_every": 1})), "--out", str(run),
                     "--iterations", "100000", site=toy_site, env=TOY_ENV)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None and not (run / "metrics.jsonl").is_file():
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        time.sleep(gap)  # 0.4 s: the second lands while Python shuts down, where it used to kill with -2
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err and "KeyboardInterrupt" not in out + err
    text = " ".join((out + err).split())
    assert "stopped" in text and ("--resume" in text or "start the run again" in text), text


@pytest.fixture
def fresh_process_state(monkeypatch):
    """A process in which no signal has asked to stop yet."""
    monkeypatch.setattr(interrupts, "_requests", 0)


def test_the_command_handler_raises_on_the_first_ctrl_c_and_ignores_the_second(fresh_process_state):
    with pytest.raises(KeyboardInterrupt):
        interrupts.interrupt_once(signal.SIGINT, None)
    assert interrupts.stop_under_way()
    interrupts.interrupt_once(signal.SIGINT, None)  # ignored: sak is already stopping (a third would end it)


def test_the_loop_records_one_signal_and_stops_at_the_second(fresh_process_state):
    stop = StopRequest()
    stop._handle(signal.SIGTERM, None)
    assert stop.requested and stop.signal_number == signal.SIGTERM and interrupts.stop_under_way()
    with pytest.raises(KeyboardInterrupt):
        stop._handle(signal.SIGINT, None)
    assert stop.signal_number == signal.SIGTERM  # the first signal decides the exit status


def test_the_third_ctrl_c_ends_a_stopping_process_at_once():
    """The way out of an exit that hangs: the process dies by SIGINT, after the first Ctrl-C was a
    KeyboardInterrupt and the second was ignored."""
    script = textwrap.dedent("""
        import os, signal, time
        from sak_core.runtime import interrupts
        signal.signal(signal.SIGINT, interrupts.interrupt_once)
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            print("stopping", flush=True)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        print("second ignored", flush=True)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
        print("never printed", flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == -signal.SIGINT, done
    assert done.stdout.split() == ["stopping", "second", "ignored"] and "a third time" in done.stderr


def test_signals_are_ignored_while_exiting_only_after_a_stop(fresh_process_state):
    before = {s: signal.getsignal(s) for s in interrupts.STOP_SIGNALS}
    try:
        interrupts.ignore_while_exiting()
        assert {s: signal.getsignal(s) for s in interrupts.STOP_SIGNALS} == before
        interrupts.note_stop_requested(signal.SIGINT)
        interrupts.ignore_while_exiting()
        assert all(signal.getsignal(s) == signal.SIG_IGN for s in interrupts.STOP_SIGNALS)
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
