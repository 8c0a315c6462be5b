"""Real processes: a writer killed with SIGKILL, and two writers sharing one store."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from switchgear.audit.signing import load_public_key
from switchgear.audit.verify import verify
from switchgear.store.database import Database
from tests.audit.helpers import request_ids

CHILD = str(Path(__file__).with_name("child_writer.py"))
REPO = str(Path(__file__).resolve().parents[2])


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, CHILD, *args], cwd=REPO, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def test_sigkill_loses_only_the_unflushed_tail(store_url: str, tmp_path: Path) -> None:
    key = str(tmp_path / "key.pem")
    child = _spawn("crash", store_url, key)
    reported = 0
    try:
        assert child.stdout is not None
        for line in child.stdout:
            m = re.fullmatch(r"submitted (\d+) written (\d+)\n", line)
            assert m, line
            reported = int(m[2])
            if reported >= 300:
                break
        else:
            raise AssertionError(f"child ended early: {child.stderr.read() if child.stderr else ''}")
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    for line in rest.splitlines():  # progress printed before the kill landed
        reported = max(reported, int(line.split()[-1]))
    assert child.returncode == -signal.SIGKILL

    db = Database(store_url)
    try:
        ids = request_ids(db)
        # Everything reported as written is there; what is there is exactly the first
        # len(ids) entries submitted: the loss is only the tail that was still queued.
        assert len(ids) >= reported
        assert ids == [f"r{i}" for i in range(len(ids))]
        report = verify(db, [load_public_key(key)])
        assert report.ok, report.problems
        assert report.entries_checked == len(ids) and report.checkpoints_verified >= 3
    finally:
        db.close_sync()


def test_two_processes_appending_concurrently_build_one_chain(store_url: str, tmp_path: Path) -> None:
    key = str(tmp_path / "key.pem")  # both processes race to create the key, too
    n = 300
    # Open the store once first, as the first gateway would: Database switches SQLite to
    # WAL on connect, and two processes doing that at once on a fresh file can get an
    # immediate "database is locked" (reported to the lead, store/database.py).
    warm = Database(store_url)
    warm.run_sync(lambda c: c.one("SELECT 1"))
    warm.close_sync()
    children = [_spawn("append", store_url, key, tag, str(n)) for tag in ("a", "b")]
    try:
        for c in children:  # both connected before either starts: they really overlap
            assert c.stdout is not None and c.stdout.readline() == "ready\n", c.stderr and c.stderr.read()
        for c in children:
            assert c.stdin is not None
            c.stdin.write("go\n")
            c.stdin.flush()
        outs = [c.communicate(timeout=120) for c in children]
    finally:
        for c in children:
            if c.poll() is None:
                c.kill()
                c.wait()
    for c, (out, err) in zip(children, outs):
        assert c.returncode == 0, err
        assert out.strip() == f"done {n} lost 0"
    db = Database(store_url)
    try:
        ids = request_ids(db)
        assert len(ids) == 2 * n
        for tag in ("a", "b"):  # each process's entries keep their order within the one chain
            assert [x for x in ids if x[0] == tag] == [f"{tag}{i}" for i in range(n)]
        assert ids != sorted(ids, key=lambda x: x[0])  # and the two really interleaved
        report = verify(db, [load_public_key(key)])
        assert report.ok, report.problems
        assert report.entries_checked == 2 * n and report.last_checkpoint_seq == 2 * n
    finally:
        db.close_sync()
