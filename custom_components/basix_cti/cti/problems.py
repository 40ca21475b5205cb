"""Report malformed input once, count it always.

The PBX is a network peer: a frame or record this client does not expect is logged, never raised.
A server that sends the same oddity in every frame must not flood the log, so each kind of
problem is logged at most once per interval and counted every time (the counts go into
diagnostics).

A kind is a fixed name chosen by the code (`unknown_message`, `bad_value`), never built from what
the server sent: names from the wire go into the message. Even so, the kinds a reporter keeps are
capped (`max_kinds`); past the cap, new kinds are counted and rate-limited together as `other`.
"""

from __future__ import annotations

from collections.abc import Mapping
import logging
import reprlib
import time
from types import MappingProxyType

__all__ = ["MAX_TEXT", "OTHER", "ProblemReporter", "brief", "clip"]

# The kind that stands for every kind past a reporter's `max_kinds`.
OTHER = "other"

# Short enough for one log line, long enough to recognise the value.
_BRIEF = reprlib.Repr(maxlevel=3, maxtuple=6, maxlist=6, maxdict=4, maxstring=60, maxlong=40)
_BRIEF.maxother = 60


# The most characters of a server's free text (a notice, a close reason) that go into a log
# line, an error or what a user sees: a 1 MiB system_msg must not become a 1 MiB warning.
MAX_TEXT = 300


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """Return `text` cut to `limit` characters, saying how long it was when it was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def brief(value: object) -> str:
    """Return a short, truncated repr of a term, safe to put in a log line.

    Terms arrive from the network and may be huge (a snapshot, a big integer): a log line only
    needs enough to recognise the value.
    """
    try:
        return _BRIEF.repr(value)
    except Exception:  # noqa: BLE001  # pragma: no cover - reprlib guards reprs already; a log line must never raise
        return f"<{type(value).__name__}>"


class ProblemReporter:
    """Log each kind of problem once per interval at WARNING, and count every occurrence."""

    def __init__(
        self, logger: logging.Logger, interval: float = 300.0, max_kinds: int = 256
    ) -> None:
        """Log through `logger`; repeat a kind's warning at most once every `interval` seconds.

        At most `max_kinds` kinds are kept apart; any further kind counts as `OTHER`.
        """
        self._logger = logger
        self._interval = interval
        self._max_kinds = max_kinds
        self._counts: dict[str, int] = {}
        self._last_logged: dict[str, float] = {}
        # Occurrences since the last warning of a kind, so the next warning can say how many
        # were kept quiet.
        self._quiet: dict[str, int] = {}

    @property
    def counts(self) -> Mapping[str, int]:
        """Occurrences of each kind since this reporter was made (a read-only live view)."""
        return MappingProxyType(self._counts)

    def report(self, kind: str, message: str, *args: object) -> None:
        """Count a problem of `kind`; log `message % args` if this kind was not logged lately."""
        count = self._counts.get(kind)
        if count is None and len(self._counts) >= self._max_kinds:
            kind = OTHER
            count = self._counts.get(kind)
        self._counts[kind] = (count or 0) + 1
        now = time.monotonic()
        last = self._last_logged.get(kind)
        if last is not None and now - last < self._interval:
            self._quiet[kind] = self._quiet.get(kind, 0) + 1
            return
        self._last_logged[kind] = now
        quiet = self._quiet.pop(kind, 0)
        if not quiet:
            self._logger.warning(message, *args)
            return
        # Stay lazy: the suffix joins the caller's format string rather than a formatted text.
        # Without args the caller's message is not a format string, so it goes in as a value.
        if args:
            fmt = message + " (and %d more like it since the last warning)"
            self._logger.warning(fmt, *args, quiet)
        else:
            self._logger.warning("%s (and %d more like it since the last warning)", message, quiet)
