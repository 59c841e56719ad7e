"""`python -m producers.api`: serve the API with uvicorn on ETUDE_API_HOST:ETUDE_API_PORT."""

from __future__ import annotations

import uvicorn

from etude.logging import configure_logging
from etude.settings import get_settings
from producers.api.app import create_app


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, component="etude.api")
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
