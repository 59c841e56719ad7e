"""The local stack's pure parts: addresses, port checks, pid records, Procfile, argv."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psutil  # type: ignore[import-untyped]
import pytest

from deploy import binaries, proc
from deploy.net import HostPort, PortInUseError, check_ports_free, from_bootstrap, from_url
from deploy.processes import PROCFILE, module_of, procfile_entries, settings_env
from deploy.services.postgres import parse_database_url
from deploy.services.s3 import S3Service
from deploy.stack import SERVICE_NAMES, LocalStack
from etude.settings import Settings


def test_addresses_come_from_the_settings_urls() -> None:
    assert from_url("http://127.0.0.1:18333", 80) == HostPort("127.0.0.1", 18333)
    assert from_bootstrap("127.0.0.1:19092,other:9092") == HostPort("127.0.0.1", 19092)
    target = parse_database_url("postgresql+asyncpg://etude:p%40ss@127.0.0.1:15432/etude")
    assert (target.user, target.password, target.port, target.database) == (
        "etude",
        "p@ss",
        15432,
        "etude",
    )


def test_default_ports_avoid_the_machines_own_servers() -> None:
    s = Settings()
    taken = {5432, 3306, 6379, 5672, 1883, 4222, 9092, 8333, 9333, 8888, 9000}
    stack = LocalStack(s)
    ports = {hp.port for svc in stack.services.values() for hp in svc.ports().values()}
    assert not ports & taken
    assert len(ports) == sum(len(svc.ports()) for svc in stack.services.values())  # no overlap


def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(PortInUseError, match=str(port)):
            check_ports_free("redis", {"listener": HostPort("127.0.0.1", port)})


def test_weed_gets_every_port_moved(tmp_path: Path) -> None:
    svc = S3Service(Settings(s3_local_port_base=30100), tmp_path)
    argv = " ".join(svc.argv())
    for flag in ("master.port", "volume.port", "filer.port", "admin.port", "s3.port.grpc"):
        assert f"-{flag}=301" in argv
    assert "-webdav=false" in argv and "-master.telemetry=false" in argv
    assert len(svc.ports()) == 10


def test_pid_record_of_a_reused_pid_is_not_ours(tmp_path: Path) -> None:
    me = psutil.Process(os.getpid())
    pidfile = proc.PidFile(tmp_path / "x.pid")
    pidfile.write(proc.PidRecord(me.pid, me.create_time(), ["python"]))
    assert pidfile.live() is not None
    pidfile.write(proc.PidRecord(me.pid, me.create_time() - 3600, ["python"]))  # same pid, older
    assert pidfile.live() is None
    assert not proc.send(proc.PidRecord(me.pid, 0.0, ["python"]), 0)


def test_procfile_lists_the_pipeline_processes() -> None:
    entries = procfile_entries(PROCFILE)
    assert set(entries) == {"render", "ledger", "omr", "fingering", "api"}
    assert module_of(entries["render"]) == "consumers.render"
    assert module_of(entries["ledger"]) == "ledger"


def test_settings_survive_the_trip_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = Settings(kafka_bootstrap="127.0.0.1:1", stack_dir=Path("/tmp/x"))
    for key, value in settings_env(original).items():
        monkeypatch.setenv(key, value)
    assert Settings() == original


def test_every_server_binary_ships_in_a_wheel() -> None:
    for path in (binaries.weed(), binaries.tansu(), binaries.redis_server()):
        assert path.is_file() and os.access(path, os.X_OK)
    assert (binaries.postgres_bin_dir() / "initdb").is_file()
    assert set(SERVICE_NAMES) == {"s3", "kafka", "postgres", "redis"}
