"""The contract: JSON Schema files current, schemas importable alone, events round-trip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import uuid
import zipfile
from fractions import Fraction
from pathlib import Path

import pytest
from pydantic import ValidationError

from schemas import (
    ALL_TOPICS,
    ArtifactCreated,
    ArtifactKind,
    EventDecodeError,
    JobSubmitted,
    NoteV1,
    Pitch,
    Producer,
    S3Location,
    StageName,
    Transformation,
    decode_event,
    derive_artifact_id,
    encode_event,
)
from schemas.export import DEFAULT_DIR, render_all

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = {"etude", "producers", "consumers", "ledger", "deploy"}


def test_checked_in_json_schemas_are_current() -> None:
    expected = render_all()
    on_disk = {p.name: p.read_text() for p in DEFAULT_DIR.glob("*.json")}
    stale = sorted(n for n in expected if on_disk.get(n) != expected[n])
    assert not stale, f"run `etude export-schemas`: stale {stale}"
    assert set(on_disk) == set(expected)


def test_schemas_package_installs_and_imports_alone(tmp_path: Path) -> None:
    """Built from schemas/ alone and imported with only pydantic beside it."""
    # A copy, so the build's leftovers (build/, egg-info) never land in the source tree.
    src = shutil.copytree(
        ROOT / "schemas", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__")
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("etude_schemas-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    probe = (
        "import sys, schemas; "
        "from schemas import ArtifactCreated, ScoreIRV2, artifact_topic; "
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {sorted(PROJECT_PACKAGES)!r}); "
        "assert not bad, bad; "
        "print(schemas.__file__, artifact_topic('svg'))"
    )
    # -S: no site hooks, so the project's editable install is invisible; only the wheel and
    # the interpreter's third-party packages (for pydantic) are on the path.
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), sysconfig.get_paths()["purelib"]]),
    }
    out = subprocess.run(
        [sys.executable, "-S", "-c", probe], env=env, capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert str(site) in out.stdout
    assert "etude.artifact.svg" in out.stdout


def _created() -> ArtifactCreated:
    return ArtifactCreated(
        job_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        producer=Producer(name="test", version="0"),
        artifact_id=uuid.uuid4(),
        kind=ArtifactKind.PDF,
        location=S3Location(bucket="b", key="pdf/aa/" + "a" * 64),
        sha256="a" * 64,
        size=10,
        media_type="application/pdf",
        transformation=Transformation(type="upload", version="1"),
    )


def test_events_round_trip_and_are_frozen() -> None:
    event = _created()
    assert decode_event(encode_event(event)) == event
    with pytest.raises(ValidationError):
        event.size = 3  # type: ignore[misc]
    submitted = JobSubmitted(
        job_id=event.job_id,
        correlation_id=event.correlation_id,
        producer=event.producer,
        first_stage=StageName.RENDER,
    )
    assert decode_event(encode_event(submitted)) == submitted


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{", "malformed event JSON"),
        (b"[1]", "must be a JSON object"),
        (b'{"event_type": "Nope", "schema_version": 1}', "unknown event_type 'Nope'"),
        (b'{"event_type": "JobSubmitted", "schema_version": 2}', "unsupported schema_version 2"),
        (b'{"event_type": "JobSubmitted", "schema_version": 1}', "invalid JobSubmitted"),
    ],
)
def test_decode_errors_say_why(payload: bytes, reason: str) -> None:
    with pytest.raises(EventDecodeError) as info:
        decode_event(payload)
    assert reason in info.value.reason


def test_derived_artifact_ids_depend_on_every_input() -> None:
    src = (uuid.uuid4(),)
    t1 = Transformation(type="render", version="1")
    base = derive_artifact_id(src, t1, "midi")
    assert base == derive_artifact_id(src, t1, "midi")
    assert base != derive_artifact_id(src, t1, "musicxml")
    assert base != derive_artifact_id(src, Transformation(type="render", version="2"), "midi")
    assert base != derive_artifact_id(src, t1.model_copy(update={"parameters": {"x": 1}}), "midi")
    assert base != derive_artifact_id((uuid.uuid4(),), t1, "midi")


def test_topics_are_unique_and_cover_every_kind() -> None:
    assert len(set(ALL_TOPICS)) == len(ALL_TOPICS)
    assert {f"etude.artifact.{k.value}" for k in ArtifactKind} <= set(ALL_TOPICS)


def test_ir_note_times_are_exact_fractions_and_checked() -> None:
    pitch = Pitch(step="C", alter=1, octave=4)
    note = NoteV1(
        id="n1",
        pitch=pitch,
        spelled="C#4",
        midi=61,
        onset="1/3",
        duration="2/3",
        measure=1,
        measure_onset="1/3",
        staff=1,
        hand="right",
        voice=1,
    )
    assert note.onset == Fraction(1, 3)
    assert '"onset":"1/3"' in note.model_dump_json()
    with pytest.raises(ValidationError, match="midi 60"):
        NoteV1.model_validate({**note.model_dump(), "midi": 60})
    with pytest.raises(ValidationError, match="exact fraction"):
        NoteV1.model_validate({**note.model_dump(), "onset": "a/b"})
