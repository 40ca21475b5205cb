"""When a new connection is in sync: every snapshot the PBX announced has been applied.

Right after connecting the server sends each entity's layout (`field_spec`), then each entity's
snapshot (`initial_info`), then live changes. Until the snapshots are in, the owner's state still
holds what was true before an outage: a call whose caller hung up meanwhile would show as
ringing again. So a connection counts as connected (and entities as available) only once the
snapshot of every entity with a layout has arrived.

The generations differ in what follows a layout:
- newer and current: one `initial_info` per entity announced by a `field_spec`;
- older: layouts for `chan_info`, `park_info`, `unpark_info` and `mwi_info`, but the only
  snapshot is `initial_chan_info` (channels): parks and voicemail come as changes only.

A server that announces an entity and never sends its snapshot (an element this version does
not know of, a server upgrade) must not keep a connection out of sync for ever: `SYNC_SETTLE`
seconds after the last layout or snapshot, the connection is in sync with what it has.
"""

from __future__ import annotations

from collections.abc import Iterable

from .models import CHANNEL, FieldSpec, Message, Snapshot

__all__ = ["SYNC_SETTLE", "SnapshotSync"]

# Seconds without a further layout or snapshot after which a connection still missing some
# announced snapshot is taken as in sync: long enough for a large PBX's snapshots to follow one
# another, short enough that a set-up (which waits 20 s) does not time out on it.
SYNC_SETTLE = 5.0

# Older layouts, by the name they are sent under, and the snapshot each is followed by (None:
# none; that message only ever comes as a change).
_OLDER_LAYOUTS: dict[str, str | None] = {
    "chan_info": CHANNEL,
    "park_info": None,
    "unpark_info": None,
    "mwi_info": None,
}


class SnapshotSync:
    """The snapshots one connection still owes; `note` each message in arrival order."""

    def __init__(self) -> None:
        """Start a connection: nothing announced, nothing received."""
        self._snapshots: set[str] = set()
        self._started = False
        self.in_sync = False

    @property
    def started(self) -> bool:
        """Whether the server has begun its initial burst (a layout or a snapshot came)."""
        return self._started

    def note(self, message: Message, layouts: Iterable[str]) -> bool:
        """Take one message; return whether it brought the connection in sync.

        `layouts` are the entity names (as sent) of every `field_spec` of this connection so far,
        which tell an older layout (no snapshot to wait for) from a newer one.
        """
        if self.in_sync:
            return False
        if isinstance(message, FieldSpec):
            self._started = True
            return False
        if not isinstance(message, Snapshot):
            return False
        self._started = True
        self._snapshots.add(message.entity)
        expected = {_OLDER_LAYOUTS.get(name, name) for name in layouts} - {None}
        if expected <= self._snapshots:
            self.in_sync = True
        return self.in_sync

    def settle(self) -> bool:
        """The settle time passed: in sync now if the burst began; return whether it changed."""
        if self.in_sync or not self._started:
            return False
        self.in_sync = True
        return True
