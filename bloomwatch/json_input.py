"""Parsing JSON that comes from outside (Kafka values, HTTP bodies, publish files) in one place.

`json.loads` fails in three ways the sender controls, and only the first is a `JSONDecodeError`:
malformed text; an integer of more than `sys.get_int_max_str_digits()` (4,300) digits, a plain
`ValueError` (CPython's guard against quadratic int parsing); nesting deep enough to hit the
recursion guard, a `RecursionError`. A caller that catches only the first lets one message crash
a consumer or one request answer 500, so every caller parses through this module.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# An HTTP handler lets other tasks run after decoding this many characters of a JSON array.
YIELD_EVERY_CHARS = 256 * 1024
_DECODER = json.JSONDecoder()
_WHITESPACE = re.compile(r"[ \t\n\r]*")


class NotJSON(ValueError):
    """The input is not JSON this process can read; the message says why, for the sender."""


@contextmanager
def _not_json() -> Iterator[None]:
    """Every failure of the json module as NotJSON."""
    try:
        yield
    except json.JSONDecodeError as exc:
        raise NotJSON(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise NotJSON("JSON nested too deeply") from None
    except ValueError as exc:  # an over-long integer, or bytes that are not UTF-8
        raise NotJSON(str(exc)) from None


def parse_json(text: str | bytes) -> Any:
    """`json.loads`, raising only NotJSON."""
    with _not_json():
        return json.loads(text)


async def parse_json_body(body: bytes) -> Any:
    """`parse_json` for a request body on an event loop that serves other requests (and, in the
    worker, the Kafka consumer's heartbeats). The C decoder holds the GIL for a whole call, so a
    thread would not free the loop: a top-level array, the ingest batch, is decoded one element at
    a time instead, letting other tasks run every YIELD_EVERY_CHARS."""
    with _not_json():
        text = body.decode("utf-8-sig")
    start = _skip_whitespace(text, 0)
    if not text.startswith("[", start):
        return parse_json(text)
    items: list[Any] = []
    position, paused_at = _skip_whitespace(text, start + 1), 0
    if not text.startswith("]", position):
        while True:
            with _not_json():
                item, position = _DECODER.raw_decode(text, position)
            items.append(item)
            position = _skip_whitespace(text, position)
            if text.startswith("]", position):
                break
            if not text.startswith(",", position):
                raise NotJSON(f"expected ',' or ']' at character {position}")
            position = _skip_whitespace(text, position + 1)
            if position - paused_at >= YIELD_EVERY_CHARS:
                paused_at = position
                await asyncio.sleep(0)
    if _skip_whitespace(text, position + 1) != len(text):
        raise NotJSON(f"extra data after the array at character {position + 1}")
    return items


def _skip_whitespace(text: str, position: int) -> int:
    match = _WHITESPACE.match(text, position)
    assert match is not None  # `*`: it matches, if only the empty string
    return match.end()
