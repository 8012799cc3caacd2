"""Reading requests: JSON bodies and query parameters, with errors that name what is wrong."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..errors import BAD_REQUEST, DomainError


async def read_json(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise DomainError(BAD_REQUEST, "body: send JSON with 'Content-Type: application/json'", field="body")
    try:
        return json.loads(await request.text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DomainError(BAD_REQUEST, f"body: not valid JSON ({exc})", field="body") from None


def int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise DomainError(BAD_REQUEST, f"{name}: {raw!r} is not an integer", field=name) from None
