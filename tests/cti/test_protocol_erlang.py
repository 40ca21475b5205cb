"""A current-generation session as real Erlang wrote it, through parser, store and tracker.

The frames in tests/fixtures/erlang/current/ come from `term_to_binary` (see
generate.escript): Latin-1 atoms as the real server writes them, names also as binaries and
charlists, the 2023 README's field lists. Read in order, as the server sends them.
"""

from __future__ import annotations

import logging
from pathlib import Path

from custom_components.basix_cti.cti import etf
from custom_components.basix_cti.cti.calls import CallEvent, CallTracker, EndReason
from custom_components.basix_cti.cti.client import CtiConfig, _classify_close
from custom_components.basix_cti.cti.errors import ConnectionLimitError, ConnectionTakenOverError
from custom_components.basix_cti.cti.models import Message, Notice
from custom_components.basix_cti.cti.problems import ProblemReporter
from custom_components.basix_cti.cti.protocol import Parser
from custom_components.basix_cti.cti.store import Delta, PbxState

FRAMES = sorted((Path(__file__).parent.parent / "fixtures" / "erlang" / "current").glob("*.bin"))


def test_a_current_session_as_erlang_wrote_it() -> None:
    reporter = ProblemReporter(logging.getLogger("test.protocol_erlang"))
    parser = Parser(reporter, server="pbx.example.com")
    state = PbxState()
    tracker = CallTracker(state)
    events: list[CallEvent] = []
    deltas: dict[str, Delta] = {}
    notices: list[Notice] = []
    assert len(FRAMES) == 28
    for path in FRAMES:
        data = path.read_bytes()
        messages: list[Message] = parser.feed(etf.decode(data))
        for message in messages:
            if isinstance(message, Notice):
                notices.append(message)
            delta = state.apply(message)
            if delta is not None:
                deltas[path.stem[3:]] = delta
                events.extend(tracker.apply(delta)[0])
    assert reporter.counts == {}  # every frame read without a complaint

    # Users, their voicemail from their own mwi field, groups, members, terminals, domain.
    yamada = state.users["10001001"]
    assert (yamada.extension, yamada.label) == ("1001", "山田 太郎")
    assert yamada.avatar_url == "https://pbx.example.com/basix/avatars/users/a1001.png"
    assert yamada.mwi is not None
    assert (yamada.mwi.new_messages, yamada.mwi.old_messages, yamada.mwi.urgent_new) == (3, 5, 1)
    assert state.users["10001003"].mwi is not None
    assert state.users["10001003"].mwi.new_messages == 0  # type: ignore[union-attr]
    group = state.groups["10001111"]
    assert (group.group_type, group.label) == ("ring", "グループ・10001111")
    assert group.mwi is not None
    assert group.mwi.new_messages == 1
    assert [m.user_id for m in state.members_of("10001111")] == ["10001001", "10001002"]
    assert {t.key: t.registered for t in state.terminals.values()} == {"7": True, "8": False}
    assert state.domain is not None
    assert state.domain.key == "1"

    # The user removed with names as charlists is gone, and the delta says so.
    assert "10001002" not in state.users
    assert [u.key for u in deltas["user_removed_strings"].removed] == ["10001002"]

    # Queued, then picked up by 1003 and parked: channel_waiting read like a channel.
    assert [c.key for c in deltas["queued"].upserted] == ["a-1"]
    (parked,) = state.waiting_channels.values()
    assert parked.state is not None
    assert parked.state.name == "park"
    assert parked.state.details["parker_name"] == "高橋"
    caller = state.channels["a-1"]
    assert caller.tags == ("monitoring_required",)
    assert caller.call_id == "sip-a-1@10.0.0.1"
    party = caller.end_user.party if caller.end_user else None
    assert party is not None
    assert (party.name, party.prefecture) == ("田中", "大阪府")
    assert set(state.channels) == {"a-1", "p-1"}  # both rung legs are gone

    # The rung users were picked off by 1003, who has the call.
    for user_id in ("10001001", "10001002"):
        ending = [e for e in events if e.user_id == user_id][-1]
        assert (ending.type.value, ending.reason) == ("ended", EndReason.PICKED_UP)
        assert ending.picked_up_by == "10001003"
        assert (ending.hangup_cause, ending.hangup_side) == ("PICKED_OFF", "pbx")
    assert [e.type.value for e in events if e.user_id == "10001003"] == [
        "incoming_call",
        "answered",
    ]

    # The notices name the limit and the takeover, as the client's repairs expect.
    assert [n.text for n in notices] == ["connection_limit_reached", "connection_replaced"]
    config = CtiConfig(server="pbx.example.com", domain="test1.com", token="token")
    limit = _classify_close(config, 1000, None, notices[0].text)
    replaced = _classify_close(config, 1000, None, notices[1].text)
    assert type(limit) is ConnectionLimitError
    assert type(replaced) is ConnectionTakenOverError
