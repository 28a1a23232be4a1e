"""The embedded broker (portal/broker.py, kombu's filesystem transport) on a full disk: enqueueing fails softly
and leaves no empty message behind, and a worker started on a folder holding the broken files an older
version left (0-byte messages and exchange tables) sets them aside and carries on with the good tasks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from celery import Celery

from portal.broker import enqueue
from tests.conftest import ROOT, fill

NOT_EMBEDDED = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "WHARF_STORAGE_PATH")


def broker_app(folder: Path) -> Celery:
    """A Celery app on the embedded broker in `folder`, set up as portal/settings.py sets up Wharf's."""
    for sub in ("out", "processed", "control"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    app = Celery("broker-test", set_as_current=False, broker="filesystem://")
    app.conf.broker_transport = "portal.broker:Transport"
    app.conf.task_default_queue = "default"
    app.conf.broker_transport_options = {"data_folder_in": str(folder / "out"), "data_folder_out": str(folder / "out"),
                                         "processed_folder": str(folder / "processed"),
                                         "control_folder": str(folder / "control"), "store_processed": False}
    return app


def nothing() -> None:
    pass


def test_enqueueing_on_a_full_disk_is_refused_softly_and_leaves_no_file(small_disk: Path) -> None:
    app = broker_app(small_disk / "broker")
    noop = app.task(name="tests.noop")(nothing)
    filler = fill(small_disk)

    assert enqueue(noop) is False
    assert os.listdir(small_disk / "broker" / "out") == []

    filler.unlink()
    assert enqueue(noop) is True
    (message,) = os.listdir(small_disk / "broker" / "out")
    assert message.endswith(".default.msg") and (small_disk / "broker" / "out" / message).stat().st_size > 0


def test_a_worker_sets_broken_message_files_aside_and_runs_the_good_task(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {key: value for key, value in os.environ.items() if key not in NOT_EMBEDDED}
    env.update(DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="portal.settings")
    broker = data_dir / "broker"
    for sub in ("out", "control"):
        (broker / sub).mkdir(parents=True)
    # What kombu's own transport left on a full disk: empty messages and an empty exchange table.
    for stamp in (1, 2):
        (broker / "out" / f"{stamp}_0000{stamp}.default.msg").write_bytes(b"")
    (broker / "out" / "3_00003.default.msg").write_bytes(b'{"cut off')
    (broker / "control" / "default.exchange").write_bytes(b"")
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", "solo", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        subprocess.run([sys.executable, "-m", "celery", "-A", "portal", "call", "registry_api.tasks.checkpoint_sqlite"],
                       cwd=ROOT, env=env, check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + 60
        while "checkpoint_sqlite" not in log_path.read_text() or "succeeded" not in log_path.read_text():
            assert worker.poll() is None, f"the worker exited {worker.returncode}:\n{log_path.read_text()[-3000:]}"
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.2)
        assert worker.poll() is None
        assert sorted(path.name.split(".")[0] for path in (broker / "broken").iterdir()) == [
            "1_00001", "2_00002", "3_00003", "default"]
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def test_a_message_sent_after_its_exchange_table_broke_still_reaches_its_queue(tmp_path: Path) -> None:
    app = broker_app(tmp_path / "broker")
    noop = app.task(name="tests.noop")(nothing)
    assert enqueue(noop) is True   # declares the queue: the producer will not declare it again
    (tmp_path / "broker" / "out" / os.listdir(tmp_path / "broker" / "out")[0]).unlink()
    (tmp_path / "broker" / "control" / "default.exchange").write_bytes(b"")   # as a full disk left it

    assert enqueue(noop) is True

    (message,) = os.listdir(tmp_path / "broker" / "out")
    assert message.endswith(".default.msg")
