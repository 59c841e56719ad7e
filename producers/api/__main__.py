"""`python -m producers.api`: serve the API with uvicorn on ETUDE_API_HOST:ETUDE_API_PORT."""

from __future__ import annotations

import uvicorn

from etude.logging import configure_logging
from etude.settings import get_settings
from ledger.migrate import upgrade_to_head
from producers.api.app import create_app


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, component="etude.api")
    # The users table is the API's own: make sure it exists (idempotent, serialised by a lock).
    upgrade_to_head(settings.database_url)
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
