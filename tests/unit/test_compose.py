"""docker-compose.yml is valid Compose and speaks Étude's settings (no Docker engine needed)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

from deploy.processes import PROCFILE, module_of, procfile_entries
from etude.settings import Settings
from schemas.topics import ALL_TOPICS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
# Put there by deploy/setup.sh from the docker-compose 1.29.2 wheel (see the comment there).
SCHEMA = ROOT / "build" / "compose-spec" / "compose_spec.json"
_ETUDE_VAR = re.compile(r"\bETUDE_[A-Z0-9_]+")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())  # resolves the <<: merge keys like Compose
    assert isinstance(data, dict)
    return data


def _stage_packages() -> list[str]:
    """Every consumer stage: a package under consumers/."""
    return sorted(p.name for p in (ROOT / "consumers").iterdir() if (p / "__init__.py").is_file())


def test_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    assert SCHEMA.is_file(), f"{SCHEMA} missing: run `bash deploy/setup.sh`"
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors
    )


def test_every_etude_variable_is_a_settings_field() -> None:
    # Scan the raw text: environment blocks, ${ETUDE_...} interpolations and comments alike.
    used = set(_ETUDE_VAR.findall(COMPOSE.read_text()))
    fields = {f"ETUDE_{name.upper()}" for name in Settings.model_fields}
    assert used, "compose should configure Étude through ETUDE_* variables"
    assert used <= fields, f"not Settings fields: {sorted(used - fields)}"


def test_every_stage_and_the_ledger_has_a_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    expected = {name: f"consumers.{name}" for name in _stage_packages()} | {"ledger": "ledger"}
    for name, module in expected.items():
        assert name in services, f"no compose service for {name}"
        assert services[name]["command"] == ["python", "-m", module]
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
        env = services[name]["environment"]
        assert env["ETUDE_LOCAL_SERVICES"] == "", "in compose every server is external"


def test_procfile_runs_the_same_processes_as_compose(compose: dict[str, Any]) -> None:
    procfile = {name: module_of(cmd) for name, cmd in procfile_entries(PROCFILE).items()}
    composed = {
        name: svc["command"][2]
        for name, svc in compose["services"].items()
        if svc.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
    }
    assert procfile == composed


def test_compose_creates_every_topic_with_history_kept(compose: dict[str, Any]) -> None:
    init = compose["services"]["kafka-init"]
    assert init["environment"]["TOPICS"].split() == list(ALL_TOPICS)
    assert "retention.ms=-1" in init["command"][0]
    assert compose["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == (
        "broker,controller"
    )


def test_artifact_bucket_is_versioned(compose: dict[str, Any]) -> None:
    init = compose["services"]["minio-init"]
    env = compose["services"]["render"]["environment"]
    assert init["environment"]["BUCKET"] == env["ETUDE_S3_BUCKET"]
    assert 'mc version enable "etude/$$BUCKET"' in init["command"][0]


def test_dockerfile_installs_the_project_with_cpu_torch() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile
    # CPU-only torch, installed before the project so pip never resolves a CUDA build.
    torch_at = dockerfile.index("pip install torch==2.13.0 --index-url")
    assert "whl/cpu" in dockerfile
    assert torch_at < dockerfile.index("pip install .")
