"""The job state machine: transitions, and state as a function of the SET of events."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence

import pytest

from ledger.state_machine import (
    ALLOWED_TRANSITIONS,
    RETRYABLE_STATES,
    JobFacts,
    JobState,
    allowed_transitions,
    can_retry,
    can_transition,
    derive_state,
    facts_from_json,
    facts_of,
    facts_to_json,
    fold,
    is_reachable,
    retry_stage,
    state_of,
)
from ledger.synthetic import JobRun, completed_job
from schemas.events import Event
from schemas.kinds import ArtifactKind, StageName

S = JobState

# -- the transition graph ----------------------------------------------------------------------


def test_ten_states() -> None:
    assert len(JobState) == 10
    assert set(ALLOWED_TRANSITIONS) == set(JobState)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (S.PENDING, S.OMR_PROCESSING),
        (S.OMR_PROCESSING, S.OMR_COMPLETED),
        (S.OMR_PROCESSING, S.OMR_FAILED),
        (S.OMR_FAILED, S.OMR_PROCESSING),
        (S.OMR_COMPLETED, S.FINGERING_PROCESSING),
        (S.FINGERING_PROCESSING, S.FINGERING_COMPLETED),
        (S.FINGERING_PROCESSING, S.FINGERING_FAILED),
        (S.FINGERING_FAILED, S.FINGERING_PROCESSING),
        (S.FINGERING_COMPLETED, S.RENDERING_PROCESSING),
        (S.RENDERING_PROCESSING, S.COMPLETED),
        (S.RENDERING_PROCESSING, S.FAILED),
        (S.PENDING, S.RENDERING_PROCESSING),
    ],
)
def test_allowed(a: JobState, b: JobState) -> None:
    assert can_transition(a, b)
    assert can_transition(a.value, b.value)
    assert b in allowed_transitions(a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (S.PENDING, S.COMPLETED),
        (S.OMR_PROCESSING, S.FINGERING_PROCESSING),
        (S.OMR_COMPLETED, S.OMR_PROCESSING),
        (S.COMPLETED, S.FAILED),
        (S.FAILED, S.PENDING),
        (S.FAILED, S.RENDERING_PROCESSING),
        (S.FINGERING_FAILED, S.OMR_PROCESSING),
    ],
)
def test_forbidden(a: JobState, b: JobState) -> None:
    assert not can_transition(a, b)


def test_any_non_terminal_state_may_fail() -> None:
    for state in JobState:
        assert can_transition(state, S.FAILED) == (state not in {S.COMPLETED, S.FAILED})


def test_terminal_states_have_no_exit() -> None:
    assert allowed_transitions(S.COMPLETED) == frozenset()
    assert allowed_transitions(S.FAILED) == frozenset()


def test_every_state_reachable_from_pending() -> None:
    assert all(is_reachable(S.PENDING, s) for s in JobState)


def test_retry_only_from_stage_failures() -> None:
    assert {s for s in JobState if can_retry(s)} == {S.OMR_FAILED, S.FINGERING_FAILED}
    assert {S.OMR_FAILED, S.FINGERING_FAILED} == RETRYABLE_STATES
    assert retry_stage(S.OMR_FAILED) is StageName.OMR
    assert retry_stage(S.FINGERING_FAILED) is StageName.FINGERING
    assert retry_stage(S.FAILED) is None
    assert retry_stage(S.COMPLETED) is None
    for state in RETRYABLE_STATES:
        stage = retry_stage(state)
        assert stage is not None
        assert any(can_transition(state, t) and t.name.startswith(stage.name) for t in JobState)


# -- scenarios: (events in causal order, expected final state) ---------------------------------


def _success() -> list[Event]:
    return completed_job(pages=2)


def _omr_failed() -> list[Event]:
    run = JobRun().submit()
    pdf = run.artifact(ArtifactKind.PDF)
    run.started(StageName.OMR, pdf).failed(StageName.OMR, pdf)
    return run.events


def _omr_retried_then_done() -> list[Event]:
    run = JobRun().submit()
    pdf = run.artifact(ArtifactKind.PDF)
    run.started(StageName.OMR, pdf).failed(StageName.OMR, pdf)
    ir1 = run.omr(pdf, attempt=1)
    run.render(run.fingering(ir1), pages=1)
    return run.events


def _omr_retried_running() -> list[Event]:
    run = JobRun().submit()
    pdf = run.artifact(ArtifactKind.PDF)
    run.started(StageName.OMR, pdf).failed(StageName.OMR, pdf)
    run.started(StageName.OMR, pdf, attempt=1)
    return run.events


def _omr_failed_twice() -> list[Event]:
    run = JobRun().submit()
    pdf = run.artifact(ArtifactKind.PDF)
    run.started(StageName.OMR, pdf).failed(StageName.OMR, pdf)
    run.started(StageName.OMR, pdf, attempt=1).failed(StageName.OMR, pdf, attempt=1)
    return run.events


def _fingering_failed() -> list[Event]:
    run = JobRun().submit()
    ir1 = run.omr(run.artifact(ArtifactKind.PDF))
    run.started(StageName.FINGERING, ir1).failed(StageName.FINGERING, ir1)
    return run.events


def _fingering_running() -> list[Event]:
    run = JobRun().submit()
    ir1 = run.omr(run.artifact(ArtifactKind.PDF))
    run.started(StageName.FINGERING, ir1)
    return run.events


def _render_failed() -> list[Event]:
    run = JobRun().submit()
    ir2 = run.fingering(run.omr(run.artifact(ArtifactKind.PDF)))
    run.started(StageName.RENDER, ir2)
    run.artifact(ArtifactKind.MUSICXML, (ir2,), "render")
    run.failed(StageName.RENDER, ir2)
    return run.events


def _render_missing_page() -> list[Event]:
    run = JobRun().submit()
    ir2 = run.fingering(run.omr(run.artifact(ArtifactKind.PDF)))
    run.started(StageName.RENDER, ir2)
    run.artifact(ArtifactKind.MUSICXML, (ir2,), "render")
    run.artifact(ArtifactKind.MIDI, (ir2,), "render")
    run.artifact(ArtifactKind.SVG, (ir2,), "render", page=1, page_count=3)
    run.artifact(ArtifactKind.SVG, (ir2,), "render", page=3, page_count=3)
    return run.events


def _unreadable_input() -> list[Event]:
    run = JobRun().submit()
    run.artifact(ArtifactKind.PDF)
    run.failed(None, None, reason="not a PDF")
    return run.events


def _render_only() -> list[Event]:
    run = JobRun().submit(first_stage=StageName.RENDER)
    ir2 = run.artifact(ArtifactKind.IR_V2)
    run.render(ir2, pages=1)
    return run.events


def _render_only_running() -> list[Event]:
    run = JobRun().submit(first_stage=StageName.RENDER)
    ir2 = run.artifact(ArtifactKind.IR_V2)
    run.started(StageName.RENDER, ir2)
    return run.events


SCENARIOS: dict[str, tuple[Callable[[], list[Event]], JobState]] = {
    "success": (_success, S.COMPLETED),
    "omr_failed": (_omr_failed, S.OMR_FAILED),
    "omr_retried_then_done": (_omr_retried_then_done, S.COMPLETED),
    "omr_retried_running": (_omr_retried_running, S.OMR_PROCESSING),
    "omr_failed_twice": (_omr_failed_twice, S.OMR_FAILED),
    "fingering_failed": (_fingering_failed, S.FINGERING_FAILED),
    "fingering_running": (_fingering_running, S.FINGERING_PROCESSING),
    "render_failed": (_render_failed, S.FAILED),
    "render_missing_page": (_render_missing_page, S.RENDERING_PROCESSING),
    "unreadable_input": (_unreadable_input, S.FAILED),
    "render_only": (_render_only, S.COMPLETED),
    "render_only_running": (_render_only_running, S.RENDERING_PROCESSING),
}


def _orders(events: Sequence[Event], limit: int = 5040) -> list[Sequence[Event]]:
    """Every permutation when there are few (≤ 7 events), else a fixed random sample."""
    if len(events) <= 7:
        return list(itertools.permutations(events))
    rng = random.Random(len(events))
    sample: list[Sequence[Event]] = []
    for _ in range(limit):
        order = list(events)
        rng.shuffle(order)
        sample.append(order)
    return sample


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_causal_order_reaches_expected_state_by_allowed_steps(name: str) -> None:
    build, expected = SCENARIOS[name]
    events = build()
    states = [derive_state(fold(events[:i])) for i in range(len(events) + 1)]
    assert states[0] is S.PENDING
    assert states[-1] is expected
    for before, after in itertools.pairwise(states):
        assert before == after or can_transition(before, after), (before, after)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_every_order_gives_same_state_and_moves_along_the_graph(name: str) -> None:
    build, expected = SCENARIOS[name]
    events = build()
    for order in _orders(events):
        facts = JobFacts()
        state = S.PENDING
        for event in order:
            facts = facts.merge(facts_of(event))
            new = derive_state(facts)
            # Out of order, a state may be skipped, but never go against the graph.
            assert is_reachable(state, new), (state, new)
            state = new
        assert state is expected


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_duplicates_change_nothing(name: str) -> None:
    build, expected = SCENARIOS[name]
    events = build()
    rng = random.Random(name)
    for _ in range(200):
        noisy = events + [rng.choice(events) for _ in range(rng.randint(1, len(events)))]
        rng.shuffle(noisy)
        assert state_of(noisy) is expected
        assert fold(noisy) == fold(events)


def test_facts_merge_is_commutative_associative_idempotent() -> None:
    events = [e for build, _ in SCENARIOS.values() for e in build()]
    parts = [facts_of(e) for e in events]
    rng = random.Random(7)
    for _ in range(500):
        a, b, c = (rng.choice(parts) for _ in range(3))
        assert a.merge(b) == b.merge(a)
        assert a.merge(b).merge(c) == a.merge(b.merge(c))
        assert a.merge(a) == a
        assert a.merge(JobFacts()) == a


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_facts_json_round_trip(name: str) -> None:
    facts = fold(SCENARIOS[name][0]())
    data = facts_to_json(facts)
    assert facts_from_json(data) == facts
    assert facts_to_json(facts_from_json(data)) == data


def test_submission_fields_come_from_job_submitted() -> None:
    run = JobRun(owner="bob", filename="x.pdf").submit()
    pdf = run.artifact(ArtifactKind.PDF)
    run.omr(pdf)
    late_first = fold(reversed(run.events))
    assert late_first.submission is not None
    assert late_first.submission.owner == "bob"
    assert late_first.submission.filename == "x.pdf"
    assert late_first.correlation_id == str(run.correlation_id)
    assert late_first.first_seen is not None
    assert late_first.last_seen is not None
    assert late_first.first_seen < late_first.last_seen


def test_without_job_submitted_the_job_is_pending_or_running() -> None:
    run = JobRun()
    pdf = run.artifact(ArtifactKind.PDF)
    assert state_of(run.events) is S.PENDING
    run.started(StageName.OMR, pdf)
    assert state_of(run.events) is S.OMR_PROCESSING


def test_last_error_is_the_latest_failure() -> None:
    events = _omr_failed_twice()
    facts = fold(reversed(events))
    assert facts.last_error is not None
    assert facts.last_error.attempt == 1


def test_output_before_start_of_earlier_stage_waits() -> None:
    """An ir_v2 seen before ir_v1 (different topics) does not skip OMR."""
    run = JobRun().submit()
    pdf = run.artifact(ArtifactKind.PDF)
    ir1 = run.omr(pdf)
    run.fingering(ir1)
    events = run.events
    without_ir1 = [e for e in events if getattr(e, "artifact_id", None) != ir1]
    assert state_of(without_ir1) is S.OMR_PROCESSING
    assert state_of(events) is S.FINGERING_COMPLETED
