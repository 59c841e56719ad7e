"""A render stage process whose transform first sleeps: for crash and poll-interval tests.

`python -m tests.integration.slow_render` with ETUDE_TEST_RENDER_DELAY_S (seconds of sleep
before rendering), ETUDE_TEST_MAX_PROCESSING_S (the stage's declared worst case) and optionally
ETUDE_TEST_GROUP_ID (consumer group; default etude-render).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence

from consumers.render.stage import render_outputs, render_spec
from etude.service import run_stage
from etude.settings import Settings
from etude.stage import Output, StageSpec


def slow_render(data: bytes) -> Sequence[Output]:
    time.sleep(float(os.environ.get("ETUDE_TEST_RENDER_DELAY_S", "0")))
    return render_outputs(data)


def slow_spec(settings: Settings) -> StageSpec:
    worst = float(os.environ.get("ETUDE_TEST_MAX_PROCESSING_S", "120"))
    return dataclasses.replace(render_spec(settings), transform=slow_render, max_processing_s=worst)


if __name__ == "__main__":
    # ETUDE_TEST_GROUP_ID: a group of the test's own, so members with long rebalance timeouts
    # never linger in the shared `etude-render` group.
    group = os.environ.get("ETUDE_TEST_GROUP_ID") or None
    run_stage(slow_spec, component="etude.render.slow-test", group_id=group)
