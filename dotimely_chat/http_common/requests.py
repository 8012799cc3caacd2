"""Reading requests: JSON bodies, query and path parameters, with errors that name what is wrong.

Every string from outside ends up in a stanza sooner or later (a roster name, a room name, an XEP-0133
password form), so every string of every body, query and path parameter must be XML 1.0 text
(policies/text.py): one control character would otherwise make Prosody close the component's stream.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, NoReturn

from aiohttp import web

from ..errors import BAD_REQUEST, UNSUPPORTED_MEDIA_TYPE, DomainError
from ..policies.text import non_xml_text_reason

MAX_JSON_DEPTH = 16  # our bodies are flat objects; a deep one is an attack on the parser (or on us)
UTF8_NAMES = frozenset({"utf-8", "utf8"})
_INTEGER = re.compile(r"-?[0-9]{1,18}")  # ASCII digits only: int() would also take '١٢' and '1_0'


def bad(field: str, message: str) -> NoReturn:
    raise DomainError(BAD_REQUEST, f"{field}: {message}", field=field)


async def read_json(request: web.Request) -> Any:
    """The JSON body: UTF-8 `application/json`, at most MAX_JSON_DEPTH levels, only XML-safe strings."""
    if request.content_type != "application/json":
        raise DomainError(UNSUPPORTED_MEDIA_TYPE, "body: send JSON with 'Content-Type: application/json'",
                          field="body")
    charset = request.charset
    if charset is not None and charset.lower() not in UTF8_NAMES:
        raise DomainError(UNSUPPORTED_MEDIA_TYPE, f"body: charset {charset[:40]!r} is not supported; JSON is "
                          "UTF-8 (send 'Content-Type: application/json' or '…; charset=utf-8')", field="body")
    raw = await request.read()  # aiohttp refuses a body over client_max_size with 413
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad("body", f"not UTF-8 (byte {exc.start})")
    return parse_json(text)


def parse_json(text: str) -> Any:
    """Parse and check a JSON document (also for property tests: it raises DomainError only)."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        bad("body", f"nested too deeply (at most {MAX_JSON_DEPTH} levels)")
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, an integer of more than 4300 digits
        bad("body", f"not valid JSON ({str(exc)[:120]})")
    check_json_strings(value)
    return value


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def check_json_strings(value: Any) -> None:
    """Refuse a document deeper than MAX_JSON_DEPTH or with a key or string XML cannot carry; the error
    names the field ('password', 'members[2].name'). Iterative: a deep document cannot exhaust the stack."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            reason = non_xml_text_reason(item)
            if reason:
                bad(path or "body", reason)
        elif isinstance(item, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                bad(path or "body", f"nested too deeply (at most {MAX_JSON_DEPTH} levels)")
            if isinstance(item, dict):
                for key, child in item.items():
                    child_path = f"{path}.{key}" if path else key
                    if non_xml_text_reason(key):
                        bad(path or "body", "a key " + str(non_xml_text_reason(key)))
                    stack.append((child, child_path, depth + 1))
            else:
                stack.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))


def check_parameters(names_and_values: Mapping[str, str], kind: str) -> None:
    """Query or path parameters: each value (and query name) must be XML text."""
    for name, value in names_and_values.items():
        reason = non_xml_text_reason(name) or non_xml_text_reason(value)
        if reason:
            label = name if not non_xml_text_reason(name) else kind
            bad(label, f"{kind} parameter {reason}")


def int_param(request: web.Request, name: str, default: int, minimum: int = 0,
              maximum: int = 1_000_000) -> int:
    """An integer query parameter in [minimum, maximum]; refused otherwise, naming it and the range."""
    raw = request.query.get(name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw):
        bad(name, f"{raw[:40]!r} is not an integer from {minimum} to {maximum}")
    value = int(raw)
    if not minimum <= value <= maximum:
        bad(name, f"{value} is not an integer from {minimum} to {maximum}")
    return value
