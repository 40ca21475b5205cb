"""The Basix REST API's `call_user`, served next to the simulator's WebSocket.

`POST /basix/api/call_user` with Basic `DOMAIN:TOKEN` (the server's current domain and token,
so `revoke_token` refuses here too) and a JSON body (a form-encoded one is read as well):
`destination`, one of `user_id` / `user_name` / `user_email`, optionally `group_name`.
It starts `Pbx.call_user` and answers, always as JSON with HTTP 200 (Brastel's web app reads
refusals from the body of a successful response):

- success: `{"result_code": 0, "uuids": [U]}`, U being the leg ringing the user (the legs to the
  destination come only once the user answers, so they cannot be in the answer);
- refused: `{"result_code": 1, "error": {"id": ID, "text": ...}}` with ID one of
  `authentication_required` (missing or wrong credentials), `invalid_request` (no JSON object, a
  missing destination, not exactly one user field), `user_not_found`, `group_not_found`,
  `destination_not_found`. Only the first id is known from Brastel's code; the others are this
  simulator's choice (protocol.md: the ids are undocumented).

`SimulatorServer.refuse_with(status)` applies here too: that status, no JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

if TYPE_CHECKING:
    from .server import SimulatorServer

_LOGGER = logging.getLogger(__name__)

CALL_USER_PATH = "/basix/api/call_user"
USER_FIELDS = ("user_id", "user_name", "user_email")


class CallUserApi:
    """`POST /basix/api/call_user` for one `SimulatorServer`: its PBX, domain and token.

    `requests` keeps every request body received (credentials or not), in order: what tests
    assert on when nothing should have been sent.
    """

    def __init__(self, server: SimulatorServer) -> None:
        """Serve for `server`; `add_routes` puts the endpoint on its application."""
        self.server = server
        self.requests: list[dict[str, Any] | None] = []

    def add_routes(self, app: web.Application) -> None:
        """Register the endpoint."""
        app.router.add_post(CALL_USER_PATH, self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Check the credentials and the request, then ring the user; answer as the API does."""
        server = self.server
        body = _body(await request.read())
        self.requests.append(body)
        status = server._refuse_status  # refuse_with() covers the API too
        if status is not None:
            return web.Response(status=status, text=f"refused ({status})")
        if not _authorized(server, request.headers.get("Authorization")):
            return refusal("authentication_required", "authentication required")
        if body is None:
            return refusal("invalid_request", "the body must be a JSON object")
        destination = str(body.get("destination") or "").strip()
        named = [(field, str(body[field]).strip()) for field in USER_FIELDS if body.get(field)]
        if not destination or len(named) != 1:
            return refusal(
                "invalid_request", "destination and one of user_id, user_name, user_email"
            )
        pbx = server.pbx
        field, value = named[0]
        user = pbx.find_user(field.removeprefix("user_"), value)
        if user is None:
            return refusal("user_not_found", f"no user with that {field}")
        group = None
        if body.get("group_name"):
            group = next((g for g in pbx.groups.values() if g.name == body["group_name"]), None)
            if group is None:
                return refusal("group_not_found", "no group of that name")
        try:
            call = pbx.call_user(user, destination, group=group)
        except KeyError:
            return refusal("destination_not_found", "the destination is no user, group or number")
        _LOGGER.debug("simulator: call_user rings user %s (leg %s)", user.id, call.uuid)
        return web.json_response({"result_code": 0, "uuids": [call.uuid]})


def refusal(error_id: str, text: str) -> web.Response:
    """The API's answer to a request it does not carry out."""
    return web.json_response({"result_code": 1, "error": {"id": error_id, "text": text}})


def _authorized(server: SimulatorServer, header: str | None) -> bool:
    if header is None:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except binascii.Error, UnicodeDecodeError:
        return False
    domain, sep, token = decoded.partition(":")
    return bool(sep) and domain == server.domain and _same(token, server.token)


def _body(raw: bytes) -> dict[str, Any] | None:
    # Brastel's web app posts a JSON text whatever the content type says; a form is read too.
    text = raw.decode("utf-8", errors="replace")
    try:
        value = json.loads(text)
    except ValueError:
        form = dict(parse_qsl(text))
        return form or None
    return value if isinstance(value, dict) else None


def _same(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode(), expected.encode())


__all__ = ["CALL_USER_PATH", "CallUserApi", "refusal"]
