"""The job state machine: one pure function from the set of a job's events to its state.

Kafka only orders one job's events within one topic, and delivery is at-least-once, so the ledger
cannot apply events as a sequence of transitions. Instead each event is folded into a small
per-job summary, `JobFacts`, whose merge is commutative, associative and idempotent (per stage:
max attempt started, max attempt failed, outputs seen; render: svg pages seen). The state is
derived from the facts alone, so it depends on the set of events seen, not their order or count.

Facts only grow, and the derivation is monotone along the transition graph: whatever order the
events arrive in, each change of derived state follows a path of `ALLOWED_TRANSITIONS`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

from schemas.events import ArtifactCreated, Event, JobSubmitted, StageFailed, StageStarted
from schemas.kinds import STAGE_OUTPUTS, ArtifactKind, StageName

NEVER: Final = -1  # "no attempt seen"; attempts start at 0


class JobState(StrEnum):
    PENDING = "PENDING"
    OMR_PROCESSING = "OMR_PROCESSING"
    OMR_COMPLETED = "OMR_COMPLETED"
    OMR_FAILED = "OMR_FAILED"
    FINGERING_PROCESSING = "FINGERING_PROCESSING"
    FINGERING_COMPLETED = "FINGERING_COMPLETED"
    FINGERING_FAILED = "FINGERING_FAILED"
    RENDERING_PROCESSING = "RENDERING_PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


PIPELINE: Final[tuple[StageName, ...]] = (StageName.OMR, StageName.FINGERING, StageName.RENDER)

# Per stage: the state while it runs, after it succeeded, after it failed (retryable).
# Render has no "completed" of its own (the job is COMPLETED) and no retryable failure: the
# seed state list has no RENDERING_FAILED, so a failed render is the terminal FAILED.
PROCESSING: Final = {
    StageName.OMR: JobState.OMR_PROCESSING,
    StageName.FINGERING: JobState.FINGERING_PROCESSING,
    StageName.RENDER: JobState.RENDERING_PROCESSING,
}
STAGE_COMPLETED: Final = {
    StageName.OMR: JobState.OMR_COMPLETED,
    StageName.FINGERING: JobState.FINGERING_COMPLETED,
    StageName.RENDER: JobState.COMPLETED,
}
STAGE_FAILED: Final = {
    StageName.OMR: JobState.OMR_FAILED,
    StageName.FINGERING: JobState.FINGERING_FAILED,
    StageName.RENDER: JobState.FAILED,
}
RETRYABLE_STATES: Final = frozenset({JobState.OMR_FAILED, JobState.FINGERING_FAILED})
TERMINAL_STATES: Final = frozenset({JobState.COMPLETED, JobState.FAILED})


def _allowed() -> dict[JobState, frozenset[JobState]]:
    s = JobState
    graph: dict[JobState, set[JobState]] = {
        # Jobs may start at a later stage (JobSubmitted.first_stage, e.g. render-only jobs).
        s.PENDING: {s.OMR_PROCESSING, s.FINGERING_PROCESSING, s.RENDERING_PROCESSING},
        s.OMR_PROCESSING: {s.OMR_COMPLETED, s.OMR_FAILED},
        s.OMR_COMPLETED: {s.FINGERING_PROCESSING},
        s.OMR_FAILED: {s.OMR_PROCESSING},  # retry
        s.FINGERING_PROCESSING: {s.FINGERING_COMPLETED, s.FINGERING_FAILED},
        s.FINGERING_COMPLETED: {s.RENDERING_PROCESSING},
        s.FINGERING_FAILED: {s.FINGERING_PROCESSING},  # retry
        s.RENDERING_PROCESSING: {s.COMPLETED, s.FAILED},
        s.COMPLETED: set(),
        s.FAILED: set(),
    }
    for state in JobState:
        if state not in TERMINAL_STATES:
            graph[state].add(s.FAILED)  # any → FAILED
    return {k: frozenset(v) for k, v in graph.items()}


ALLOWED_TRANSITIONS: Final[Mapping[JobState, frozenset[JobState]]] = _allowed()


def allowed_transitions(state: JobState | str) -> frozenset[JobState]:
    """States directly reachable from `state`."""
    return ALLOWED_TRANSITIONS[JobState(state)]


def can_transition(current: JobState | str, target: JobState | str) -> bool:
    return JobState(target) in ALLOWED_TRANSITIONS[JobState(current)]


def can_retry(state: JobState | str) -> bool:
    """Whether the API may retry a job in `state` (only the retryable `*_FAILED` states)."""
    return JobState(state) in RETRYABLE_STATES


def retry_stage(state: JobState | str) -> StageName | None:
    """The stage a retry re-runs for a job in `state`; None when it cannot be retried."""
    for stage, failed in STAGE_FAILED.items():
        if failed == JobState(state) and failed in RETRYABLE_STATES:
            return stage
    return None


def is_reachable(source: JobState, target: JobState) -> bool:
    """Whether a path of allowed transitions (possibly empty) leads from source to target."""
    seen, frontier = {source}, [source]
    while frontier:
        for nxt in ALLOWED_TRANSITIONS[frontier.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                frontier.append(nxt)
    return target in seen


# ---------------------------------------------------------------------------------------------
# Facts: what the events of one job say, merged commutatively.


@dataclass(frozen=True)
class StageFacts:
    started: int = NEVER  # highest StageStarted attempt
    failed: int = NEVER  # highest StageFailed attempt
    outputs: frozenset[str] = frozenset()  # output kinds seen (ArtifactCreated)

    def merge(self, other: StageFacts) -> StageFacts:
        return StageFacts(
            started=max(self.started, other.started),
            failed=max(self.failed, other.failed),
            outputs=self.outputs | other.outputs,
        )


@dataclass(frozen=True, order=True)
class Submission:
    """The JobSubmitted that defines owner/filename/first stage: the lowest (attempt, event_id)."""

    attempt: int
    event_id: str
    first_stage: StageName = StageName.OMR
    owner: str | None = None
    filename: str | None = None
    correlation_id: str | None = None
    occurred_at: str | None = None


@dataclass(frozen=True, order=True)
class ErrorFact:
    """A failure; the latest (occurred_at, event_id) one is the job's last error."""

    occurred_at: str
    event_id: str
    stage: str | None = None
    attempt: int = 0
    error_kind: str = ""
    reason: str = ""


def _min_opt(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _max_opt(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


@dataclass(frozen=True)
class JobFacts:
    stages: Mapping[StageName, StageFacts] = field(default_factory=dict)
    job_failed: bool = False  # a StageFailed with stage=None (input unreadable)
    svg_pages: frozenset[int] = frozenset()
    page_count: int | None = None  # highest page_count of any svg
    submission: Submission | None = None
    last_error: ErrorFact | None = None
    first_seen: str | None = None  # min occurred_at (ISO 8601 UTC: sorts as text)
    last_seen: str | None = None  # max occurred_at
    min_correlation_id: str | None = None  # correlation id when no JobSubmitted was seen

    def stage(self, stage: StageName) -> StageFacts:
        return self.stages.get(stage, StageFacts())

    def merge(self, other: JobFacts) -> JobFacts:
        stages = self.stages
        if other.stages:
            stages = dict(self.stages)
            for name, facts in other.stages.items():
                mine = stages.get(name)
                stages[name] = facts if mine is None else mine.merge(facts)
        return JobFacts(
            stages=stages,
            job_failed=self.job_failed or other.job_failed,
            svg_pages=self.svg_pages | other.svg_pages if other.svg_pages else self.svg_pages,
            page_count=_max_opt(self.page_count, other.page_count),
            submission=_min_opt(self.submission, other.submission),
            last_error=_max_opt(self.last_error, other.last_error),
            first_seen=_min_opt(self.first_seen, other.first_seen),
            last_seen=_max_opt(self.last_seen, other.last_seen),
            min_correlation_id=_min_opt(self.min_correlation_id, other.min_correlation_id),
        )

    # -- derived values ------------------------------------------------------------------------

    @property
    def first_stage(self) -> StageName:
        # Until JobSubmitted is seen assume the full pipeline: a render-only job then shows
        # PENDING until it arrives, which only ever moves the state forward.
        return self.submission.first_stage if self.submission else StageName.OMR

    @property
    def correlation_id(self) -> str | None:
        if self.submission and self.submission.correlation_id:
            return self.submission.correlation_id
        return self.min_correlation_id

    def stage_completed(self, stage: StageName) -> bool:
        outputs = self.stage(stage).outputs
        if not all(kind.value in outputs for kind in STAGE_OUTPUTS[stage]):
            return False
        if stage is StageName.RENDER:
            # Every page must be there; without any page_count one svg is enough.
            pages = self.page_count or 1
            return all(p in self.svg_pages for p in range(1, pages + 1))
        return True

    def render_failed(self) -> bool:
        return self.stage(StageName.RENDER).failed > NEVER


def derive_state(facts: JobFacts) -> JobState:
    """The job's state: a pure function of its facts (see module docstring)."""
    # FAILED is terminal; a failed render is FAILED because there is no RENDERING_FAILED.
    if facts.job_failed or facts.render_failed():
        return JobState.FAILED
    stages = PIPELINE[PIPELINE.index(facts.first_stage) :]
    previous: StageName | None = None
    for stage in stages:
        # A stage whose outputs exist has succeeded, whatever failures were also reported
        # (e.g. a redelivered copy that failed while another attempt succeeded).
        if facts.stage_completed(stage):
            previous = stage
            continue
        st = facts.stage(stage)
        if st.failed > NEVER and st.failed >= st.started:
            return STAGE_FAILED[stage]
        if st.started > NEVER:
            return PROCESSING[stage]  # never started before, or retried after a failure
        return JobState.PENDING if previous is None else STAGE_COMPLETED[previous]
    return JobState.COMPLETED


# ---------------------------------------------------------------------------------------------
# From events to facts.


def _iso(ts: datetime) -> str:
    # One textual form for every timestamp, so text order equals time order; naive = UTC.
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def facts_of(event: Event) -> JobFacts:
    """The facts a single event contributes to its job."""
    at = _iso(event.occurred_at)
    base = JobFacts(first_seen=at, last_seen=at, min_correlation_id=str(event.correlation_id))
    if isinstance(event, JobSubmitted):
        sub = Submission(
            attempt=event.attempt,
            event_id=str(event.event_id),
            first_stage=event.first_stage,
            owner=event.owner,
            filename=event.filename,
            correlation_id=str(event.correlation_id),
            occurred_at=at,
        )
        return replace(base, submission=sub)
    if isinstance(event, StageStarted):
        return replace(base, stages={event.stage: StageFacts(started=event.attempt)})
    if isinstance(event, StageFailed):
        error = ErrorFact(
            occurred_at=at,
            event_id=str(event.event_id),
            stage=event.stage.value if event.stage else None,
            attempt=event.attempt,
            error_kind=event.error_kind,
            reason=event.reason,
        )
        if event.stage is None:
            return replace(base, job_failed=True, last_error=error)
        return replace(
            base, stages={event.stage: StageFacts(failed=event.attempt)}, last_error=error
        )
    if isinstance(event, ArtifactCreated):
        return replace(base, **_artifact_facts(event))
    raise TypeError(f"not an Étude event: {type(event).__name__}")


def _artifact_facts(event: ArtifactCreated) -> dict[str, Any]:
    stage = _stage_of_output(event.kind)
    if stage is None:
        return {}  # the uploaded PDF starts a job; it completes no stage
    found: dict[str, Any] = {"stages": {stage: StageFacts(outputs=frozenset({event.kind.value}))}}
    if event.kind is ArtifactKind.SVG:
        found["svg_pages"] = frozenset({event.page or 1})
        found["page_count"] = event.page_count
    return found


def _stage_of_output(kind: ArtifactKind) -> StageName | None:
    for stage, outputs in STAGE_OUTPUTS.items():
        if kind in outputs:
            return stage
    return None


def fold(events: Iterable[Event], start: JobFacts | None = None) -> JobFacts:
    facts = start or JobFacts()
    for event in events:
        facts = facts.merge(facts_of(event))
    return facts


def state_of(events: Iterable[Event]) -> JobState:
    return derive_state(fold(events))


# ---------------------------------------------------------------------------------------------
# JSON form of the facts, stored in jobs.facts (canonical: sorted lists, fixed keys).


def facts_to_json(facts: JobFacts) -> dict[str, Any]:
    return {
        "stages": {
            name.value: {
                "started": st.started,
                "failed": st.failed,
                "outputs": sorted(st.outputs),
            }
            for name, st in sorted(facts.stages.items())
        },
        "job_failed": facts.job_failed,
        "svg_pages": sorted(facts.svg_pages),
        "page_count": facts.page_count,
        "submission": _dataclass_json(facts.submission),
        "last_error": _dataclass_json(facts.last_error),
        "first_seen": facts.first_seen,
        "last_seen": facts.last_seen,
        "min_correlation_id": facts.min_correlation_id,
    }


def _dataclass_json(obj: Submission | ErrorFact | None) -> dict[str, Any] | None:
    if obj is None:
        return None
    data = dict(obj.__dict__)
    if isinstance(obj, Submission):
        data["first_stage"] = obj.first_stage.value
    return data


def facts_from_json(data: Mapping[str, Any] | None) -> JobFacts:
    if not data:
        return JobFacts()
    sub = data.get("submission")
    err = data.get("last_error")
    return JobFacts(
        stages={
            StageName(name): StageFacts(
                started=int(st["started"]),
                failed=int(st["failed"]),
                outputs=frozenset(st["outputs"]),
            )
            for name, st in data.get("stages", {}).items()
        },
        job_failed=bool(data.get("job_failed", False)),
        svg_pages=frozenset(int(p) for p in data.get("svg_pages", ())),
        page_count=data.get("page_count"),
        submission=(
            Submission(**{**sub, "first_stage": StageName(sub["first_stage"])}) if sub else None
        ),
        last_error=ErrorFact(**err) if err else None,
        first_seen=data.get("first_seen"),
        last_seen=data.get("last_seen"),
        min_correlation_id=data.get("min_correlation_id"),
    )


def correlation_uuid(facts: JobFacts) -> uuid.UUID | None:
    cid = facts.correlation_id
    return uuid.UUID(cid) if cid else None
