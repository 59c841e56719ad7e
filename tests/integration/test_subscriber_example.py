"""The README's subscriber example runs as written and sees a job's MusicXML event."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from consumers.render.stage import render_spec
from etude.settings import Settings
from producers.submit import submit_ir
from tests.integration.pipeline import clara_ir_v2, producer, running_stage

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "subscriber.py"


def test_readme_quotes_the_example_verbatim() -> None:
    body = EXAMPLE.read_text().split('"""', 2)[2].strip()
    assert body in (ROOT / "README.md").read_text()


async def test_subscriber_example_prints_the_musicxml_event(stack: Settings) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        env={**os.environ, "ETUDE_KAFKA_BOOTSTRAP": stack.kafka_bootstrap},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    try:
        async with producer(stack) as (store, pub), running_stage(stack, render_spec(stack)):
            job = await submit_ir(store, pub, clara_ir_v2(3))
            assert proc.stdout is not None
            async with asyncio.timeout(120):
                while True:
                    line = (await proc.stdout.readline()).decode()
                    if line.startswith(str(job.job_id)):
                        break
        assert "musicxml/" in line
    finally:
        proc.kill()
        await asyncio.wait_for(proc.wait(), 30)
