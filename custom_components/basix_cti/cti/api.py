"""The Basix REST API's `call_user`: have the PBX ring a user's phone, then call a destination.

`POST https://SERVER/basix/api/call_user` with Basic `DOMAIN:TOKEN` (the same credentials as the
WebSocket) and a JSON body naming the user (`user_id`, `user_name` or `user_email`), the
`destination` (a number, an extension or a user name) and, to call out as a group, `group_name`.
The PBX first rings the user's phone and, once it is answered (or auto-answered), calls the
destination. It answers JSON: `result_code` 0 and the `uuids` of the channels it made, or a
non-zero `result_code` and an `error` whose `id` says why (`authentication_required`, as
Brastel's web app checks; the other ids are not documented, so they are read by their words).

The token goes into the `Authorization` header and nowhere else: no URL, log line or error text
carries it (texts from the server or aiohttp are scrubbed with `CtiConfig.redact`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
import json
import logging
from typing import Any

import aiohttp

from .client import CtiConfig
from .errors import (
    AuthenticationError,
    CallRejectedError,
    CannotConnectError,
    ConnectTimeoutError,
    NoSuchUserError,
    ProtocolError,
    UnknownDestinationError,
)

_LOGGER = logging.getLogger(__name__)

CALL_USER_PATH = "/basix/api/call_user"
CALL_TIMEOUT = 10.0
# An answer is a few hundred bytes; a proxy's error page must not be read whole.
_MAX_ANSWER = 64 * 1024

# How an `error.id` may say what went wrong. Only `authentication_required` is known from
# Brastel's own code; the rest are matched by their words, as the ids are undocumented.
AUTH_ERROR_WORDS = ("authenticat", "unauthori", "token", "credential", "login")
DESTINATION_ERROR_WORDS = ("destination", "number", "route", "unreachable")
USER_ERROR_WORDS = ("user", "group", "email")


@dataclass(frozen=True, slots=True)
class CallResult:
    """A call the PBX started: the uuids of the channels it made (the user's leg first)."""

    uuids: tuple[str, ...]


def api_url(config: CtiConfig, path: str = CALL_USER_PATH) -> str:
    """The REST API's URL on the entry's server: `https://` for `wss://`, `http://` for `ws://`.

    The WebSocket's own path (if the server was given as a URL) is the ws_cti endpoint's, not
    the API's: only scheme, host and port are taken from it.
    """
    scheme, netloc, _ = config._endpoint()
    return f"{'https' if scheme == 'wss' else 'http'}://{netloc}{path}"


async def call_user(
    session: aiohttp.ClientSession,
    config: CtiConfig,
    destination: str,
    *,
    user_id: str | None = None,
    user_name: str | None = None,
    user_email: str | None = None,
    group_name: str | None = None,
    timeout: float = CALL_TIMEOUT,  # noqa: ASYNC109 - one deadline for the whole request
) -> CallResult:
    """Ask the PBX to ring a user, then call `destination`; return the uuids it made.

    Exactly one of `user_id`, `user_name`, `user_email` names the user whose phone rings first.
    Raises `AuthenticationError` (the token was refused: a new one is needed),
    `UnknownDestinationError`, `NoSuchUserError`, `CallRejectedError` (any other refusal, with
    its `error_id`), `ConnectTimeoutError` (no answer within `timeout`), `CannotConnectError`
    (the server was not reached) or `ProtocolError` (the answer was not the API's JSON).
    """
    destination = destination.strip()
    if not destination:
        raise ValueError("the destination is empty")
    users = {
        name: value.strip()
        for name, value in (
            ("user_id", user_id),
            ("user_name", user_name),
            ("user_email", user_email),
        )
        if value is not None and value.strip()
    }
    if len(users) != 1:
        raise ValueError("name the user by exactly one of user_id, user_name, user_email")
    body: dict[str, str] = {"destination": destination, **users}
    if group_name is not None and group_name.strip():
        body["group_name"] = group_name.strip()
    host = config.host
    url = api_url(config)
    try:
        async with (
            asyncio.timeout(timeout),
            session.post(
                url,
                json=body,
                headers={**config.headers(), "Accept": "application/json"},
                ssl=config.verify_tls,  # False only when the user opted out (self-hosted PBX)
                allow_redirects=False,
            ) as response,
        ):
            status = response.status
            raw = await response.content.read(_MAX_ANSWER)
    except TimeoutError:
        raise ConnectTimeoutError(
            f"The Basix API at {host} did not answer the call request within {timeout:g} s"
        ) from None
    except aiohttp.ClientConnectorCertificateError:
        raise CannotConnectError(
            f"The TLS certificate of {host} could not be verified: if the PBX is self-hosted with "
            "its own certificate, turn off certificate verification"
        ) from None
    except (aiohttp.ClientError, OSError) as err:
        # raised from None: aiohttp's texts name the URL, and a chained cause would be printed.
        raise CannotConnectError(
            f"Cannot reach the Basix API at {host} ({type(err).__name__}: "
            f"{config.redact(str(err))})"
        ) from None
    answer = _json_object(raw)
    _LOGGER.debug(
        "call_user on %s: HTTP %s, result_code %s", host, status, (answer or {}).get("result_code")
    )
    if answer is None:
        if status in (401, 403):
            raise AuthenticationError(
                f"The Basix API at {host} refused the API token of domain {config.domain!r} "
                f"(HTTP {status}): enter a new API token",
                status=status,
            )
        raise ProtocolError(
            f"The server at {host} answered the call request with HTTP {status} but not with the "
            "Basix API's JSON: check the server name",
            status=status,
        )
    result_code = answer.get("result_code")
    if result_code in (0, "0") and 200 <= status < 300:
        return CallResult(_uuids(answer.get("uuids")))
    raise _rejection(config, answer, result_code, status, next(iter(users)))


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _uuids(value: Any) -> tuple[str, ...]:
    # A list of uuids is what Brastel's web app reads; a single one is taken too.
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list):
        return tuple(str(uuid) for uuid in value if isinstance(uuid, str | int) and str(uuid))
    return ()


def _rejection(
    config: CtiConfig,
    answer: dict[str, Any],
    result_code: Any,
    status: int,
    named_by: str,
) -> CallRejectedError | AuthenticationError:
    """The typed error of a refusal, from its `error.id`.

    The error's own text is left out on purpose: it may repeat the destination or the user's
    name, and these messages reach logs and automation traces. The id says enough.
    """
    error = answer.get("error")
    error_id: str | None = None
    if isinstance(error, dict) and error.get("id") is not None:
        error_id = config.redact(str(error["id"]))[:100]
    elif isinstance(error, str):
        error_id = config.redact(error)[:100]
    host = config.host
    said = error_id or "no error id"
    code = result_code if isinstance(result_code, int | str) else None
    folded = (error_id or "").casefold()
    if status in (401, 403) or any(word in folded for word in AUTH_ERROR_WORDS):
        return AuthenticationError(
            f"The Basix API at {host} refused the API token of domain {config.domain!r} ({said}): "
            "enter a new API token",
            status=status,
        )
    if any(word in folded for word in DESTINATION_ERROR_WORDS):
        return UnknownDestinationError(
            f"The PBX at {host} cannot call that destination ({said})",
            error_id=error_id,
            result_code=code,
            status=status,
        )
    if any(word in folded for word in USER_ERROR_WORDS):
        return NoSuchUserError(
            f"The PBX at {host} knows no such user or group (the call named the user by "
            f"{named_by}; {said})",
            error_id=error_id,
            result_code=code,
            status=status,
        )
    return CallRejectedError(
        f"The PBX at {host} refused the call (result_code {code}, {said})",
        error_id=error_id,
        result_code=code,
        status=status,
    )


__all__ = ["CALL_USER_PATH", "CallResult", "api_url", "call_user"]
