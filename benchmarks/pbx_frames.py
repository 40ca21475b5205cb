"""Frames a current-generation Basix PBX sends, built here so the benchmark needs no simulator.

The field lists are those of the 2023-2024 README of `brastelcloud/basix_ws_cti.js`, in its
order (see /work/shared/docs/protocol.md, "Fields of the current generation"); atoms are written
in the Latin-1 forms the production server uses. Everything is encoded once, up front, with
`cti.etf.encode`, so that the replay server only copies bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
import random
from typing import Any
from urllib.parse import quote_plus

from custom_components.basix_cti.cti.etf import Atom, encode

CHANNEL_FIELDS = (
    "uuid",
    "direction",
    "peer_location",
    "calling_name",
    "calling_number",
    "called_number",
    "offer_timestamp",
    "answer_timestamp",
    "hangup_timestamp",
    "other_uuid",
    "user_id",
    "state",
    "group_id",
    "target",
    "origination",
    "end_user",
    "tags",
    "last_bridged_user_id",
    "last_event",
    "last_event_data",
    "other_info",
    "call_id",
)
USER_FIELDS = (
    "id",
    "name",
    "fwd_always_status",
    "do_not_disturb_status",
    "language",
    "main_extension",
    "presence",
    "role",
    "park_group",
    "mwi_target",
    "flags",
    "followme",
    "email",
    "avatar",
    "label",
    "mwi",
)
GROUP_FIELDS = (
    "id",
    "name",
    "type",
    "language",
    "main_extension",
    "queue",
    "label",
    "flags",
    "check_login_status",
    "mwi",
)
GROUP_MEMBER_FIELDS = ("id", "group_id", "user_id", "priority", "login_status", "role")
SPECS = {
    "channel": CHANNEL_FIELDS,
    "channel_waiting": CHANNEL_FIELDS,
    "user": USER_FIELDS,
    "group": GROUP_FIELDS,
    "group_member": GROUP_MEMBER_FIELDS,
}

UNDEFINED = Atom("undefined")
BERT_NIL = (Atom("bert"), Atom("nil"))
SURNAMES = ["山田", "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "中村"]
GIVEN = ["太郎", "花子", "一郎", "美咲", "健太", "さくら"]
COMPANIES = ["株式会社ブラステル", "有限会社テスト", "Acme", "Globex"]
PREFECTURES = ["東京都", "大阪府", "北海道", ""]
T0_US = 1_780_000_000_000_000


def _etf(term: Any) -> bytes:
    return encode(term, atoms="latin1")


def user_id(i: int) -> str:
    return str(10_001 + i)


def extension(i: int) -> str:
    return str(2001 + i)


def _end_user(rng: random.Random) -> tuple[str, str]:
    phone = f"090{rng.randrange(10**8):08d}"
    name = f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}"
    parts = [phone, name, rng.choice(COMPANIES), "", rng.choice(PREFECTURES)]
    return phone, "*".join(quote_plus(p) for p in parts)


def _uuid(rng: random.Random) -> bytes:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}".encode()


def user_record(i: int, *, mwi: str = "", presence: int = 0) -> tuple[Any, ...]:
    """One user in USER_FIELDS order: user i on extension 2001 + i."""
    label = f"{SURNAMES[i % len(SURNAMES)]} {GIVEN[i % len(GIVEN)]}{i}"
    return (
        user_id(i).encode(),
        f"user{i}".encode(),
        0,
        0,
        b"ja",
        extension(i).encode(),
        presence,
        0,  # role: a number (100 for the README's admin)
        1 + i % 30,
        UNDEFINED,
        0,
        UNDEFINED,
        f"user{i}@example.jp".encode(),
        b"",
        label.encode(),
        mwi.encode(),
    )


def channel_record(
    rng: random.Random,
    uuid: bytes,
    user: int,
    *,
    state: str,
    last_event: str,
    offer_us: int,
    answered: bool,
    hangup: bool = False,
) -> tuple[Any, ...]:
    """One inbound external call ringing or bridged at user `user`, in CHANNEL_FIELDS order."""
    phone, end_user = _end_user(rng)
    uid = user_id(user).encode()
    ext = extension(user).encode()
    if state == "calling":
        state_term: tuple[Any, ...] = (offer_us, Atom("calling"), Atom("int"), Atom("user"), (uid,))
    else:
        state_term = (offer_us + 3_000_000, Atom(state))
    return (
        uuid,
        Atom("inbound"),
        Atom("external"),
        end_user.split("*")[1].encode(),
        phone.encode(),
        ext,
        offer_us,
        offer_us + 3_000_000 if answered else UNDEFINED,
        offer_us + 60_000_000 if hangup else UNDEFINED,
        UNDEFINED,
        uid,
        state_term,
        UNDEFINED,
        (Atom("user"), uid, f"user{user}".encode(), b"0312345678"),
        UNDEFINED,
        end_user.encode(),
        b"monitoring_required" if user % 5 == 0 else b"",
        UNDEFINED,
        last_event.encode(),
        b"recv_bye,NORMAL_CLEARING" if hangup else b"",
        (
            Atom("end_user"),
            end_user.encode(),
            Atom("inbound"),
            Atom("external"),
            phone.encode(),
            offer_us,
            UNDEFINED,
            b"",
        ),
        uuid[:18] + b"@sip.example.jp",
    )


@dataclass(frozen=True)
class Frames:
    """Every frame one benchmark configuration replays, pre-encoded."""

    users: int
    channels: int
    field_specs: list[bytes]
    users_snapshot: bytes
    others_snapshots: list[bytes]  # channel_waiting, group, group_member
    channel_snapshot: bytes
    empty_channel_snapshot: bytes
    events: list[bytes]

    def connect(self, *, with_channels: bool = True) -> list[bytes]:
        """What a PBX sends on connecting: field specs, then each entity's snapshot."""
        channels = self.channel_snapshot if with_channels else self.empty_channel_snapshot
        return [*self.field_specs, channels, self.users_snapshot, *self.others_snapshots]


def channel_snapshot_term(rng: random.Random, users: int, channels: int) -> Any:
    """C channels spread over the users, a third ringing and the rest bridged."""
    records = []
    for i in range(channels):
        ringing = i % 3 == 0
        records.append(
            channel_record(
                rng,
                _uuid(rng),
                i % users,
                state="calling" if ringing else "bridged",
                last_event="CHANNEL_CREATE" if ringing else "CHANNEL_BRIDGE",
                offer_us=T0_US + i * 1_000,
                answered=not ringing,
            )
        )
    return (Atom("initial_info"), Atom("channel"), records or BERT_NIL)


def event_terms(rng: random.Random, users: int, count: int) -> list[Any]:
    """`count` info_event frames: calls that ring, are answered and hang up, and voicemail news.

    Each call is five frames (added, ringing to bridged, hangup, removed, and the user's mwi
    counter changing as a voicemail-heavy office would see), on users spread over the PBX.
    """
    out: list[Any] = []
    call = 0
    while len(out) < count:
        user = (call * 7919) % users
        uuid = _uuid(rng)
        offer = T0_US + 10**9 + call * 10_000_000
        steps = (
            ("added", "calling", "CHANNEL_CREATE", False, False),
            ("updated", "bridged", "CHANNEL_ANSWER", True, False),
            ("updated", "bridged", "CHANNEL_HANGUP", True, True),
            ("removed", "bridged", "CHANNEL_HANGUP", True, True),
        )
        for event, state, last, answered, hangup in steps:
            record = channel_record(
                rng,
                uuid,
                user,
                state=state,
                last_event=last,
                offer_us=offer,
                answered=answered,
                hangup=hangup,
            )
            out.append((Atom("info_event"), Atom("channel"), record, Atom(event)))
        out.append(
            (
                Atom("info_event"),
                Atom("user"),
                user_record(user, mwi=f"{1 + call % 3}/{call % 5}"),
                Atom("updated"),
            )
        )
        call += 1
    return out[:count]


def build(users: int, channels: int, events: int = 1_000, seed: int = 2026) -> Frames:
    """All frames for N users and C channels, and `events` info_event frames."""
    rng = random.Random(seed)
    specs = [
        _etf((Atom("field_spec"), Atom(entity), [Atom(f) for f in fields]))
        for entity, fields in SPECS.items()
    ]
    user_snapshot = _etf(
        (Atom("initial_info"), Atom("user"), [user_record(i) for i in range(users)] or BERT_NIL)
    )
    group = (
        b"501",
        b"sales",
        0,
        b"ja",
        b"501",
        UNDEFINED,
        "営業部".encode(),
        0,
        0,
        b"",
    )
    members = [
        (str(i).encode(), b"501", user_id(i).encode(), 1, 1, Atom("member"))
        for i in range(min(users, 10))
    ]
    others = [
        _etf((Atom("initial_info"), Atom("channel_waiting"), BERT_NIL)),
        _etf((Atom("initial_info"), Atom("group"), [group])),
        _etf((Atom("initial_info"), Atom("group_member"), members)),
    ]
    terms = event_terms(rng, users, events)
    return Frames(
        users=users,
        channels=channels,
        field_specs=specs,
        users_snapshot=user_snapshot,
        others_snapshots=others,
        channel_snapshot=_etf(channel_snapshot_term(rng, users, channels)),
        empty_channel_snapshot=_etf((Atom("initial_info"), Atom("channel"), BERT_NIL)),
        events=[_etf(t) for t in terms],
    )
