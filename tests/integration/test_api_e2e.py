"""End to end on a real HTTP server: the render stage and the ledger running, the CLI following
a job over SSE, and the web page driven in headless Chromium (Debian's, through Playwright)."""

from __future__ import annotations

import io
import shutil
import uuid

import httpx
import pytest
from playwright.async_api import FilePayload, async_playwright
from pydantic import SecretStr
from rich.console import Console

from consumers.render.stage import render_spec
from etude.settings import Settings
from ledger.state_machine import JobState
from producers.client import follow
from producers.submit import submit_ir
from tests.integration.api_support import api_stack, new_user, uvicorn_server, wait_for_state
from tests.integration.pipeline import clara_ir_v2, producer, running_stage
from tests.unit.api_pdfs import blank_pdf

pytestmark = pytest.mark.integration

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("Debian's chromium is not installed (deploy/setup.sh installs it as root)")
    return path


async def test_cli_follows_over_sse_and_the_page_shows_progress_preview_and_downloads(
    stack: Settings,
) -> None:
    browser_path = chromium_path()
    async with (
        api_stack(stack) as (app, settings),
        uvicorn_server(app) as base,
        running_stage(settings, render_spec(settings)),
        httpx.AsyncClient(base_url=base, timeout=30) as client,
    ):
        user = await new_user(client)
        async with producer(settings) as (store, pub):
            job = await submit_ir(
                store, pub, clara_ir_v2(4), owner=str(user.id), filename="clara.json"
            )
        job_id = str(job.job_id)
        # A job the API did not upload is known once the ledger has projected it.
        await wait_for_state(
            client, user, job_id, {s.value for s in JobState}, until_projected=True
        )

        # The CLI's --wait, through the API's Server-Sent Events.
        out = io.StringIO()
        cli = settings.model_copy(update={"api_url": base, "api_token": SecretStr(user.access)})
        view = await follow(cli, job.job_id, 120, Console(file=out, width=120))
        assert view is not None and view.state is JobState.COMPLETED, out.getvalue()
        assert "from the ledger" not in out.getvalue(), "fell back to polling"

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=browser_path, args=CHROMIUM_FLAGS)
            try:
                page = await browser.new_page()
                await page.goto(base)
                await page.fill("#email", user.email)
                await page.fill("#password", user.password)
                await page.click("#login-btn")
                await page.wait_for_selector("#app:not(.hidden)")

                # Upload a PDF in the page: it is accepted and its progress shows (no OMR
                # stage runs here, so it stays PENDING).
                await page.set_input_files(
                    "#file",
                    files=FilePayload(name="s.pdf", mimeType="application/pdf", buffer=blank_pdf()),
                )
                await page.click("#upload-btn")
                await page.wait_for_function(
                    "document.getElementById('state').textContent === 'PENDING'"
                )
                uploaded = (await page.text_content("#job-id")) or ""
                assert uuid.UUID(uploaded)

                # The symbolic job: COMPLETED, the fingered SVG previewed, downloads linked.
                await page.click(f"li[data-job-id='{job_id}']")
                await page.wait_for_function(
                    "document.getElementById('state').textContent === 'COMPLETED'", timeout=30_000
                )
                await page.wait_for_function(
                    "(() => { const i = document.getElementById('svg-preview');"
                    " return i && i.complete && i.naturalWidth > 0; })()",
                    timeout=30_000,
                )
                assert await page.get_attribute("#bar", "value") == "1"
                links = {
                    kind: await page.get_attribute(f"#dl-{kind}", "href")
                    for kind in ("musicxml", "midi")
                }
            finally:
                await browser.close()

        async with httpx.AsyncClient() as raw:
            musicxml = (await raw.get(str(links["musicxml"]))).content
            midi = (await raw.get(str(links["midi"]))).content
        assert b"<score-partwise" in musicxml and b"<note" in musicxml
        assert midi[:4] == b"MThd"
