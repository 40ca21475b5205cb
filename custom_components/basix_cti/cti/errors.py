"""The errors of the ws_cti client, each worded so that a user knows what to do next.

Every message names the PBX by its domain and server, never by a URL that could carry the API
token: these texts end up in config flow forms, logs and bug reports. Whoever raises one passes a
finished sentence; the attributes carry the same facts for code (the config flow maps the class
to a form error, repairs read `status` and `close_code`).
"""

from __future__ import annotations


class CtiError(Exception):
    """Anything that went wrong talking to the PBX's ws_cti endpoint.

    `status` is the HTTP status of a refused WebSocket upgrade, `close_code` the WebSocket close
    code the server ended the connection with, `retry_after` the seconds a refusing server asked
    to wait (its `Retry-After` header); each is None when it does not apply.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        close_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Keep the user-facing message and the facts it was built from."""
        super().__init__(message)
        self.message = message
        self.status = status
        self.close_code = close_code
        self.retry_after = retry_after

    def __str__(self) -> str:
        """Return the user-facing message alone."""
        return self.message

    def __repr__(self) -> str:
        """Class, message and the machine-readable facts (never any credential)."""
        extra = "".join(
            f", {name}={value!r}"
            for name, value in (("status", self.status), ("close_code", self.close_code))
            if value is not None
        )
        return f"{type(self).__name__}({self.message!r}{extra})"


class AuthenticationError(CtiError):
    """The PBX refused the domain / API token (or the API user): retrying will not help."""


class ConnectionLimitError(CtiError):
    """The PBX already has its maximum of connections for this user and app name.

    The server allows two connections per user + app_name; a third is refused unless it asks
    for `forced`, in which case the oldest is closed (and that one sees this error).
    """


class ConnectionTakenOverError(ConnectionLimitError):
    """Another client with the same app name took this connection's place (`forced`).

    Turning on `forced` here too would only have the two push each other out in turn; each
    client needs its own app name.
    """


class CannotConnectError(CtiError):
    """The PBX could not be reached: name resolution, TCP, TLS or an unexpected HTTP answer."""


class PossibleAuthenticationError(CannotConnectError):
    """The PBX closed with words that sound like a refused token, but no definite code.

    Retried: wording alone may be a passing notice. The client believes it (AuthenticationError)
    only when it repeats; an owner waiting for a first connection should keep waiting too.
    """


class ConnectTimeoutError(CannotConnectError):
    """The PBX did not answer (or did not send its snapshot) in time."""


class ProtocolError(CtiError):
    """The server answered, but not as a Basix ws_cti endpoint does."""


class NotConnectedError(CannotConnectError):
    """A command needs the live connection, and it is down right now (reconnecting)."""


class CallRejectedError(CtiError):
    """The Basix API answered a `call_user` request with a failure.

    `result_code` is the answer's non-zero `result_code` (None when the answer had none),
    `error_id` its `error.id` (e.g. `authentication_required`), kept as the PBX sent it.
    """

    def __init__(
        self,
        message: str,
        *,
        error_id: str | None = None,
        result_code: int | str | None = None,
        status: int | None = None,
    ) -> None:
        """Keep the message and the answer's machine-readable parts."""
        super().__init__(message, status=status)
        self.error_id = error_id
        self.result_code = result_code


class UnknownDestinationError(CallRejectedError):
    """The PBX could not place a call to the destination: no such number, extension or user."""


class NoSuchUserError(CallRejectedError):
    """The PBX knows no user (or group) by the name, id or e-mail address the call named."""


class CommandNotConfirmedError(CtiError):
    """A command was sent on the WebSocket, but the PBX's channel events never showed it done.

    Whether the PBX accepts commands from an API-token connection is not documented; its own
    channel events are the only proof that one worked. `command` names it (`hangup`, `park`,
    `transfer`), `seconds` is how long it was waited for.
    """

    def __init__(self, message: str, *, command: str, seconds: float) -> None:
        """Keep the message, the command's name and the time waited."""
        super().__init__(message)
        self.command = command
        self.seconds = seconds
