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
