"""`python -m console` serves the staff console on JINGKANG_CONSOLE_PORT (default 8000)."""
from __future__ import annotations

import logging

import uvicorn

from console.app import create_app
from console.settings import load_console_settings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load_console_settings()
    # Access logs show paths only: no personal identifier is ever in a console URL.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, proxy_headers=True)


if __name__ == "__main__":
    main()
