"""Turn decoded Erlang terms into Python values, and the PBX's structured values into models.

Everything here is total: a value of an unexpected type gives back what can be kept (often None)
and, when a reporter is given, a problem report. Nothing raises on input from the network.

Text: every binary is UTF-8, falling back to Latin-1 (real servers send Latin-1 names). A `str`
from the decoder is an Erlang string (STRING_EXT, one character per byte): Erlang writes any list
of integers 0 to 255 so, so it is text (decoded the same way) only when that text is printable,
and otherwise the list of integers it stands for (`[3, 5, 7]`, a list of ids). An `Atom` is a
name and stays as it is.
"""

from __future__ import annotations

from binascii import a2b_qp
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
import json
import math
import re
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, unquote, unquote_plus, unquote_to_bytes, urlsplit

from .etf import MAX_DEPTH
from .models import ChannelState, Disposition, EndUser, OtherInfo, Party, Target, Whoscall
from .problems import ProblemReporter, brief
from .terms import Atom, FrozenMap, ImproperList, hash_flooding

__all__ = [
    "END_USER_AVATARS",
    "USER_AVATARS",
    "avatar_url",
    "decode_text",
    "from_bert",
    "from_bert_values",
    "is_absent",
    "parse_disposition",
    "parse_end_user",
    "parse_mwi",
    "parse_origination",
    "parse_other_info",
    "parse_state",
    "parse_tags",
    "parse_target",
    "parse_whoscall",
    "to_datetime",
    "to_int",
    "to_name",
    "to_text",
]

_BERT = "bert"
_UNDEFINED = "undefined"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Past the decoder's own nesting limit a term is kept as decoded (only a term decoded with a
# higher limit gets there): the limit keeps a pathological term from exhausting the stack.
_MAX_DEPTH = MAX_DEPTH


def is_absent(value: Any) -> bool:
    """Return whether a value, converted or still raw, means "no value".

    The parse functions take converted values, but a raw `undefined` or `{bert, nil}` must not
    become text either.
    """
    if value is None:
        return True
    kind = type(value)
    if kind is str or kind is int:
        return False
    if isinstance(value, Atom):
        return value == _UNDEFINED
    return isinstance(value, tuple) and len(value) == 2 and value[0] == _BERT and value[1] == "nil"


def _report(reporter: ProblemReporter | None, kind: str, message: str, *args: object) -> None:
    if reporter is not None:
        reporter.report(kind, message, *args)


# --- text --------------------------------------------------------------------------------------


def decode_text(data: bytes) -> str:
    """Decode bytes as UTF-8, or as Latin-1 when they are not valid UTF-8 (never fails)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


# Short texts repeat across records (user ids, extensions, names, event names): each distinct
# one is decoded once and then shared, which saves both the decoding and a string per record
# that keeps it. Bounded in two generations: when the current one is full it becomes the old
# one (the one before is dropped), and a text found in the old one moves back into the current
# one. So a peer sending ever new texts costs at most twice this many entries, and a text that
# keeps coming stays one str for as long as it does.
_TEXT_CACHE_MAX = 8192
_TEXT_CACHE_BYTES = 24
_TEXTS: dict[bytes, str] = {}
_OLD_TEXTS: dict[bytes, str] = {}


# The last longer text: a record often carries one twice (a channel's `end_user` is its
# `other_info`'s party too). One (bytes, text) pair, replaced whole, so threads cannot mix it;
# only up to this size, so that it never keeps a frame's huge binary alive after the frame.
_LAST_LONG: list[tuple[bytes, str]] = [(b"", "")]
_LONG_MEMO_BYTES = 4096


def _text_of(
    data: bytes, texts: dict[bytes, str] = _TEXTS, old: dict[bytes, str] = _OLD_TEXTS
) -> str:
    """`decode_text`, shared for short texts and for a long one that comes again at once."""
    text = texts.get(data)
    if text is not None:
        return text
    if len(data) <= _TEXT_CACHE_BYTES:
        text = old.get(data)
        if text is None:
            text = decode_text(data)
        _remember(texts, old, data, text)
        return text
    if len(data) > _LONG_MEMO_BYTES:
        return decode_text(data)
    last = _LAST_LONG[0]
    if last[0] == data:
        return last[1]
    text = decode_text(data)
    _LAST_LONG[0] = (data, text)
    return text


def _remember[K](texts: dict[K, str], old: dict[K, str], key: K, text: str) -> None:
    if len(texts) >= _TEXT_CACHE_MAX:
        old.clear()
        old.update(texts)
        texts.clear()
    texts[key] = text


# Atoms are names, handed on as plain str: one str per distinct atom, not one per use. The
# decoder caches 4,096 atoms; past this many, an atom's text is made anew each time.
_ATOM_TEXTS: dict[Atom, str] = {}
_ATOM_TEXTS_MAX = 4096


def atom_text(atom: Atom) -> str:
    """The plain `str` of an atom, shared."""
    text = _ATOM_TEXTS.get(atom)
    if text is None:
        text = str(atom)
        if len(_ATOM_TEXTS) < _ATOM_TEXTS_MAX:
            _ATOM_TEXTS[atom] = text
    return text


# Short texts made here (the parts of an end_user), shared alike: the same name, company
# and prefecture come on call after call.
_PARTS: dict[str, str] = {}
_OLD_PARTS: dict[str, str] = {}


def _shared(text: str, parts: dict[str, str] = _PARTS, old: dict[str, str] = _OLD_PARTS) -> str:
    shared = parts.get(text)
    if shared is not None:
        return shared
    if len(text) <= _TEXT_CACHE_BYTES:
        text = old.get(text, text)
        _remember(parts, old, text, text)
    return text


def _erlang_string(value: str) -> str | list[int]:
    # A STRING_EXT arrives one character per byte; its bytes are UTF-8 text like any binary.
    # A str with wider characters did not come from the wire that way, so it is already text.
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        return value
    text = value if raw.isascii() else decode_text(raw)
    if text.isprintable() or all(c.isprintable() or c.isspace() for c in text):
        return text
    return list(raw)  # not text: the list of small integers Erlang wrote as a string


def to_text(value: Any) -> str | None:
    """Return a BERT-converted scalar as text: ids and names, whatever type the server chose.

    None and empty text give None; numbers give their decimal form (exact for any size the
    interpreter can print); anything structured gives None (the caller keeps the raw value).
    """
    if type(value) is str:
        return value or None
    match value:
        case None | "":
            return None
        case bool():
            return "true" if value else "false"
        case Atom():
            return atom_text(value)
        case str():
            return str(value)
        case bytes():
            return decode_text(value) or None
        case int():
            try:
                return str(value)
            except ValueError:  # more digits than the interpreter will print
                return None
        case float():
            return str(int(value)) if value.is_integer() else repr(value)
        case _:
            return None


def to_int(value: Any) -> int | None:
    """Return an integer from an int, an integral float or decimal text; else None."""
    match value:
        case bool():
            return int(value)
        case int():
            return value
        case float() if value.is_integer():
            return int(value)
        case str() | bytes():
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            text = text.strip()
            return int(text) if re.fullmatch(r"[+-]?\d{1,30}", text) else None
        case _:
            return None


# --- BERT --------------------------------------------------------------------------------------


def from_bert(term: Any, reporter: ProblemReporter | None = None) -> Any:
    """Convert a decoded term and its BERT conventions into plain Python values.

    `{bert, nil}` and the atom `undefined` -> None; `{bert, true|false}` -> bool;
    `{bert, dict, [{K, V}]}` -> dict; `{bert, time, Mega, Sec, Micro}` -> aware UTC datetime;
    binaries -> text; Erlang strings -> text, or a list of integers when not printable text;
    atoms stay atoms; tuples, lists and maps are converted element by element.

    A BERT dict whose keys were chosen to share hash values (quadratic to build, see
    `terms.hash_flooding`) stays a list of its `(key, value)` pairs, reported.
    """
    return _from_bert(term, 0, reporter)


def _from_bert(term: Any, depth: int, reporter: ProblemReporter | None) -> Any:
    # The exact types the decoder gives, tested first by identity: this runs for every value
    # of every record, and the match below tests its cases one `isinstance` after another.
    if depth > _MAX_DEPTH:
        return term
    kind = type(term)
    if kind is bytes:
        return _text_of(term)
    if kind is Atom:
        return None if term == _UNDEFINED else term
    if kind is int or kind is bool or kind is float:
        return term
    depth += 1  # of the elements, from here on
    if kind is tuple and not (term and type(term[0]) is Atom and term[0] == _BERT):
        return tuple(_items(term, depth, reporter))
    if kind is list:
        return _items(term, depth, reporter)
    match term:
        case Atom():
            return None if term == _UNDEFINED else term
        case str():
            return _erlang_string(term)
        case bytes():
            return decode_text(term)
        case tuple() if term and isinstance(term[0], Atom) and term[0] == _BERT:
            return _bert_tuple(term, depth, reporter)
        case tuple():
            return tuple([_from_bert(item, depth, reporter) for item in term])
        case list():
            return [_from_bert(item, depth, reporter) for item in term]
        case dict():
            return {
                _hashable(_from_bert(k, depth, reporter)): _from_bert(v, depth, reporter)
                for k, v in term.items()
            }
        case FrozenMap():  # a map that is itself a key: it must stay hashable
            return FrozenMap(
                (
                    _hashable(_from_bert(k, depth, reporter)),
                    _hashable(_from_bert(v, depth, reporter)),
                )
                for k, v in term.items()
            )
        case ImproperList():
            return ImproperList(
                tuple([_from_bert(item, depth, reporter) for item in term.elements]),
                _from_bert(term.tail, depth, reporter),
            )
        case _:
            return term


def from_bert_values(
    values: tuple[Any, ...], reporter: ProblemReporter | None = None
) -> tuple[Any, ...]:
    """`from_bert` of each of a record's values (each a term of its own, at depth 0)."""
    return tuple(_items(values, 0, reporter))


def _items(terms: Sequence[Any], depth: int, reporter: ProblemReporter | None) -> list[Any]:
    """`_from_bert` of each of `terms` at `depth`: the parser's hottest loop, its leaves inline."""
    if depth > _MAX_DEPTH:
        return list(terms)
    out: list[Any] = []
    append = out.append
    texts = _TEXTS
    for term in terms:
        kind = type(term)
        if kind is bytes:
            text = texts.get(term)
            append(text if text is not None else _text_of(term))
        elif kind is Atom:
            append(None if term == _UNDEFINED else term)
        elif kind is int:
            append(term)
        else:
            append(_from_bert(term, depth, reporter))
    return out


def _bert_tuple(term: tuple[Any, ...], depth: int, reporter: ProblemReporter | None) -> Any:
    kind = term[1] if len(term) > 1 else None
    if len(term) == 2 and isinstance(kind, bool):
        # `{bert, true}` as Erlang writes it: the atom, which the decoder gives as a bool.
        return kind
    if len(term) == 2 and isinstance(kind, str) and kind in _BERT_CONSTANTS:
        return _BERT_CONSTANTS[kind]
    if kind == "dict" and len(term) == 3 and isinstance(term[2], list):
        return _bert_dict(term[2], depth, reporter)
    if kind == "time" and len(term) == 5:
        moment = to_datetime(term)
        if moment is not None:
            return moment
    # An unknown or malformed BERT tag: keep it as an ordinary tuple.
    return tuple([_from_bert(item, depth, reporter) for item in term])


_BERT_CONSTANTS: Mapping[str, bool | None] = {"nil": None, "true": True, "false": False}


def _bert_dict(
    pairs: list[Any], depth: int, reporter: ProblemReporter | None
) -> dict[Any, Any] | list[tuple[Any, Any]]:
    # `depth` is already that of the pairs; keys and values are one level further down.
    keys: list[Any] = []
    values: list[Any] = []
    for pair in pairs:
        if isinstance(pair, tuple) and len(pair) == 2:
            keys.append(_hashable(_from_bert(pair[0], depth + 1, reporter)))
            values.append(_from_bert(pair[1], depth + 1, reporter))
    distinct = hash_flooding(keys)
    if distinct is None:
        return dict(zip(keys, values, strict=True))
    _report(
        reporter,
        "hash_flooding",
        "Kept a BERT dict of %d keys as a list of pairs: its keys have only %d distinct hashes",
        len(keys),
        distinct,
    )
    return list(zip(keys, values, strict=True))


def _hashable(value: Any) -> Any:
    # Erlang allows any term as a key; lists become tuples and maps FrozenMaps (as the decoder
    # does), at any depth, so that Python can key on them.
    match value:
        case list() | tuple():
            return tuple([_hashable(item) for item in value])
        case dict():
            return FrozenMap((_hashable(k), _hashable(v)) for k, v in value.items())
        case ImproperList():
            return ImproperList(_hashable(value.elements), _hashable(value.tail))
        case _:
            return value


# --- time --------------------------------------------------------------------------------------

# Timestamps come in seconds, milliseconds or microseconds depending on the field and the
# server's age; the magnitude tells them apart for any date between 1973 and 5138.
_UNIT_THRESHOLDS = ((10**11, 1_000_000), (10**14, 1_000), (10**17, 1))


def to_datetime(value: Any) -> datetime | None:
    """Return an aware UTC datetime for a timestamp, or None for no time / an unusable value.

    Accepts datetimes, numbers of seconds, milliseconds or microseconds since the epoch (told
    apart by magnitude; nanoseconds too), Erlang `{Mega, Sec, Micro}`, BERT time tuples and
    decimal or ISO 8601 text. Zero and negative numbers mean "not set" on this PBX.
    """
    if type(value) is int:
        return _from_int(value)
    match value:
        case datetime():
            return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        case bool() | None:
            return None
        case int() | float():
            return _from_number(value)
        case tuple() if len(value) == 5 and value[0] == _BERT and value[1] == "time":
            return _from_now_tuple(value[2:])
        case tuple() if len(value) == 3:
            return _from_now_tuple(value)
        case str() | bytes():
            return _from_text(value.decode("latin-1") if isinstance(value, bytes) else value)
        case _:
            return None


# The same instant comes in several fields of a record (a channel's offer time is its
# state's and its other_info's too) and of the next records: each integer is made a datetime
# once. Bounded as the text caches are.
_MOMENTS: dict[int, datetime | None] = {}
_MOMENTS_MAX = 4096
_MAX_MOMENT = 1 << 64


def _from_int(value: int, moments: dict[int, datetime | None] = _MOMENTS) -> datetime | None:
    if not 0 < value < _MAX_MOMENT:  # not a time (and a huge integer is no cache key)
        return _from_number(value)
    try:
        return moments[value]
    except KeyError:
        pass
    moment = _from_number(value)
    if len(moments) >= _MOMENTS_MAX:
        moments.clear()
    moments[value] = moment
    return moment


def _from_number(value: float) -> datetime | None:
    if (isinstance(value, float) and not math.isfinite(value)) or value <= 0:
        return None
    for limit, scale in _UNIT_THRESHOLDS:
        if value < limit:
            return _from_micros(round(value * scale))
    # Nanoseconds; integer division keeps an int of any size exact (and out of float range).
    return _from_micros(round(value / 1_000) if isinstance(value, float) else int(value) // 1_000)


def _from_micros(micros: int) -> datetime | None:
    try:
        return _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        return None


def _from_now_tuple(parts: Sequence[Any]) -> datetime | None:
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
        return None
    mega, sec, micro = parts
    total = (mega * 1_000_000 + sec) * 1_000_000 + micro
    return _from_micros(total) if total > 0 else None


def _from_text(text: str) -> datetime | None:
    text = text.strip()
    number = to_int(text)
    if number is not None:
        return _from_number(number)
    try:
        return to_datetime(datetime.fromisoformat(text))
    except ValueError:
        return None


# --- URL-encoded parts (end_user, origination) --------------------------------------------------

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# A part that ends inside an escape (`...%E`, `...%`): the text was cut there.
_CUT_ESCAPE = re.compile(r"%[0-9A-Fa-f]?\Z")


def _cut(part: str, raw: bytes, err: UnicodeDecodeError) -> bool:
    """Whether a part that is not UTF-8 was cut short rather than written in Latin-1.

    Cut: it ends inside an escape, or inside a UTF-8 character, after UTF-8 text or with a
    lead byte and at least one continuation byte (`%E7%94`). A lone byte after ASCII, such as
    the `%E9` of `Jos%E9`, is Latin-1 `é`.
    """
    if _CUT_ESCAPE.search(part) is not None:
        return True
    if err.reason != "unexpected end of data" or err.end != len(raw):
        return False
    return len(raw) - err.start >= 2 or not raw[: err.start].isascii()


def _form_decode(part: str, reporter: ProblemReporter | None, what: str) -> str:
    """Decode one form-encoded part: `+` is a space, `%XX` a byte, the bytes UTF-8 text.

    Nothing is lost to a bad escape: a `%` that starts none stays as it is (the rest of the part
    is decoded as usual); a part whose escapes end in the middle of a UTF-8 character (text cut
    short) is kept exactly as sent; other bytes that are not UTF-8 are read as Latin-1, as
    servers that send Latin-1 names write them. Each of these is reported.
    """
    if "%" not in part:
        return part.replace("+", " ")
    if _BAD_ESCAPE.search(part) is not None:
        _report(
            reporter,
            f"bad_escape:{what}",
            "A %s part has a %% that starts no escape, kept as sent: %s",
            what,
            brief(part),
        )
    raw = unquote_to_bytes(part.replace("+", " "))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        if _cut(part, raw, err):
            _report(
                reporter,
                f"cut_escape:{what}",
                "A %s part ends inside a UTF-8 character (cut short?), kept as sent: %s",
                what,
                brief(part),
            )
            return part
        _report(
            reporter,
            f"latin1_escape:{what}",
            "A %s part is not URL-encoded UTF-8; read as Latin-1: %s",
            what,
            brief(part),
        )
        return raw.decode("latin-1")


def _as_str(value: Any) -> str | None:
    match value:
        case Atom():
            return atom_text(value)
        case str():
            return str(value)
        case bytes():
            return decode_text(value)
        case _:
            return None


def parse_end_user(
    value: Any, reporter: ProblemReporter | None = None, server: str | None = None
) -> EndUser | None:
    """Parse `end_user`: `id*name*organization*avatar*prefecture` or `_MANY_:N|p1|p2...`.

    None for no end user: an absent or empty value, or one made only of `*` (`***`, `****`).
    Older servers send four parts (no prefecture). An avatar file name resolves against
    `server` under `basix/avatars/end_users/`.
    """
    if is_absent(value):
        return None
    text = _as_str(value)
    if text is None:
        _report(reporter, "bad_end_user", "Ignored an end_user that is not text: %s", brief(value))
        return None
    if not text.strip("*"):
        return None
    if text.startswith("_MANY_:"):
        _count, _sep, rest = text[len("_MANY_:") :].partition("|")
        parts = rest.split("|") if rest else []
        found = [_party(p, reporter, server) for p in parts]
        candidates: tuple[Party, ...] = tuple(c for c in found if c is not None)
    else:
        party = _party(text, reporter, server)
        candidates = () if party is None else (party,)
    return EndUser(candidates=candidates, raw=text)


_PARTY_PARTS = 5  # id, name, organization, avatar, prefecture (four before 2023)


# Characters that would mean something else to `binascii.a2b_qp` (see `_form_decode_all`).
_NOT_FOR_QP = frozenset("=\r\n")


def _form_decode_all(text: str) -> list[str] | None:
    """Decode a whole well-formed `*`-separated text at once: its parts, or None if not so.

    The same as `_form_decode` on each part when no escape stands for a `*` itself (`%2A`),
    none is bad and all are UTF-8: a UTF-8 character never contains the byte of `*`, so a
    part that is UTF-8 in the whole text is UTF-8 alone. Anything else is for `_form_decode`,
    which tells what is wrong, part by part.

    The escapes are undone in C: `%XX` is quoted-printable's `=XX`, and an ASCII text with no
    `=` and no line break means nothing else to `binascii.a2b_qp` (checked against
    `unquote_to_bytes` on every such text of up to 9 ASCII characters we could generate);
    `urllib.parse` would loop in Python over every escape.
    """
    text = text.replace("+", " ")
    if "%" not in text:
        return text.split("*")
    if (
        "%2A" in text
        or "%2a" in text
        or not text.isascii()
        or not _NOT_FOR_QP.isdisjoint(text)
        or _BAD_ESCAPE.search(text) is not None
    ):
        return None
    try:
        return a2b_qp(text.replace("%", "=").encode("ascii")).decode("utf-8").split("*")
    except UnicodeDecodeError:
        return None


def _party(text: str, reporter: ProblemReporter | None, server: str | None) -> Party | None:
    parts = text.split("*")
    if len(parts) not in (_PARTY_PARTS - 1, _PARTY_PARTS):
        _report(
            reporter,
            "end_user_parts",
            "An end_user candidate has %d parts, not 4 or 5: %s",
            len(parts),
            brief(text),
        )
    fast = _form_decode_all(text)
    if fast is not None:
        decoded = [_shared(part) if part else None for part in fast[:_PARTY_PARTS]]
    else:
        decoded = [_form_decode(p, reporter, "end_user") or None for p in parts[:_PARTY_PARTS]]
    decoded += [None] * (_PARTY_PARTS - len(decoded))
    if not any(decoded):
        return None  # `****`: nobody
    return Party(
        id=decoded[0],
        name=decoded[1],
        organization=decoded[2],
        avatar=decoded[3],
        prefecture=decoded[4],
        avatar_url=None if decoded[3] is None else avatar_url(decoded[3], server, END_USER_AVATARS),
    )


def parse_origination(
    value: Any, reporter: ProblemReporter | None = None
) -> tuple[str, ...] | None:
    """Parse `origination`: `*`-separated parts, each form-encoded (`+` is a space)."""
    if is_absent(value):
        return None
    text = _as_str(value)
    if text is None:
        _report(
            reporter, "bad_origination", "Ignored an origination that is not text: %s", brief(value)
        )
        return None
    if not text:
        return ()
    return tuple(_form_decode(p, reporter, "origination") for p in text.split("*"))


def parse_tags(value: Any, reporter: ProblemReporter | None = None) -> tuple[str, ...]:
    """Parse `tags`: a `;`-separated text of markers (a list of names is read alike)."""
    if is_absent(value) or value == "":  # most channels have no tags: empty text
        return ()
    if isinstance(value, list | tuple):
        items = [to_text(item) for item in value]
        return tuple(item.strip() for item in items if item and item.strip())
    text = to_text(value)
    if text is None:
        _report(reporter, "bad_tags", "Ignored tags that are not text: %s", brief(value))
        return ()
    return tuple(tag.strip() for tag in text.split(";") if tag.strip())


# Caller-ID data larger than this is kept as text only: nothing a person reads is that long.
_MAX_WHOSCALL = 64 * 1024


def parse_whoscall(value: Any, reporter: ProblemReporter | None = None) -> Whoscall | None:
    """Parse `whoscall` (the eighth `other_info` element): URL-encoded JSON.

    Decoded as Brastel's web phone does (`%XX` escapes; `+` stays), then, when that is no JSON,
    with `+` as a space (a form-encoding server). Text that is no JSON either keeps only its
    raw form (`data` None). A number there is the 2021 answer timestamp, not caller-ID data.
    """
    if value is None or (type(value) is str and not value):
        return None  # the commonest: no caller-ID data
    if is_absent(value) or isinstance(value, bool | int | float):
        return None
    text = _as_str(value)
    if text is None:
        _report(reporter, "bad_whoscall", "Ignored a whoscall that is not text: %s", brief(value))
        return None
    if not text.strip():
        return None
    if len(text) > _MAX_WHOSCALL:
        _report(reporter, "bad_whoscall", "Kept a whoscall of %d characters as text", len(text))
        return Whoscall(data=None, raw=text)
    for decode in (unquote, unquote_plus):
        try:
            return Whoscall(data=json.loads(decode(text)), raw=text)
        except ValueError, RecursionError:
            continue
    _report(reporter, "bad_whoscall", "A whoscall is not URL-encoded JSON: %s", brief(text))
    return Whoscall(data=None, raw=text)


def parse_disposition(value: Any, reporter: ProblemReporter | None = None) -> Disposition | None:
    """Parse a hangup disposition from `last_event_data`: `SIDE_ACTION,CAUSE`.

    `recv_cancel,ORIGINATOR_CANCEL` -> side `recv`, action `cancel`, cause `ORIGINATOR_CANCEL`.
    A bare cause (`LOSE_RACE`) is read as a cause without side; None for no text.
    """
    text = to_text(value) if not isinstance(value, list | tuple) else None
    if text is None:
        if not is_absent(value) and value != "":
            _report(
                reporter,
                "bad_disposition",
                "Ignored a last_event_data that is not text: %s",
                brief(value),
            )
        return None
    text = text.strip()
    if not text:
        return None
    head, comma, tail = text.partition(",")
    if not comma and not head.lower().startswith(("recv_", "send_")):
        head, tail = "", head  # a bare cause
    side, _sep, action = head.strip().lower().partition("_")
    if side not in ("recv", "send"):
        side, action = "", head.strip().lower()
    return Disposition(
        side=side or None,
        action=action or None,
        cause=tail.strip().upper() or None,
        raw=text,
    )


# --- voicemail counters ------------------------------------------------------------------------

type MwiCounts = tuple[int | None, int | None, int | None, int | None]
"""New, saved (old), urgent new and urgent saved messages; None where the value does not say."""

_MWI_TEXT = re.compile(
    r"\s*(\d{1,9})\s*(?:/\s*(\d{1,9})\s*)?(?:\(\s*(\d{1,9})\s*/\s*(\d{1,9})\s*\)\s*)?"
)
_MWI_FLAGS = {"yes": True, "true": True, "on": True, "no": False, "false": False, "off": False}
_MWI_KEYS = (
    ("new", "new_messages", "messages_new", "new_count", "unread"),
    ("old", "saved", "old_messages", "messages_old", "old_count", "saved_messages"),
    ("urgent_new", "new_urgent", "urgent"),
    ("urgent_old", "old_urgent", "urgent_saved"),
)
_NO_COUNTS: MwiCounts = (None, None, None, None)


def parse_mwi(value: Any, reporter: ProblemReporter | None = None) -> MwiCounts | None:
    """Read the voicemail counters of a user's or group's `mwi` field, whatever its form.

    None when the field has no value at all (`undefined`). Empty text is an empty box (0/0);
    `N`, `N/M` and `N/M (U/V)` (new/saved, then urgent, as SIP message summaries write them);
    a tuple or list of up to four counts (names in it are skipped: `{mwi, 2, 5}`); a map or
    BERT dict with keys such as `new` / `old`; an integer (new messages); a flag (true, `yes`:
    some messages, counted as one new). Any other form gives no counts, reported once.
    """
    if value is None or is_absent(value):
        return None
    counts = _mwi_counts(value)
    if counts is None:
        _report(
            reporter, "unknown_mwi", "A voicemail (mwi) value of unknown form: %s", brief(value)
        )
        return _NO_COUNTS
    return counts


def _mwi_counts(value: Any) -> MwiCounts | None:
    match value:
        case bool():
            return (int(value), None, None, None)
        case int():
            return (value, None, None, None) if value >= 0 else None
        case float() if value.is_integer() and value >= 0:
            return (int(value), None, None, None)
        case str() | bytes():
            return _mwi_text(decode_text(value) if isinstance(value, bytes) else str(value))
        case Mapping():
            return _mwi_map(value)
        case tuple() | list():
            return _mwi_sequence(value)
        case _:
            return None


def _mwi_text(text: str) -> MwiCounts | None:
    text = text.strip()
    if not text:
        return (0, 0, None, None)
    flag = _MWI_FLAGS.get(text.casefold())
    if flag is not None:
        return (int(flag), None, None, None)
    match = _MWI_TEXT.fullmatch(text)
    if match is None:
        return None
    new, old, urgent_new, urgent_old = (int(g) if g is not None else None for g in match.groups())
    return (new, old, urgent_new, urgent_old)


def _mwi_map(value: Mapping[Any, Any]) -> MwiCounts | None:
    by_name = {str(key).casefold(): item for key, item in value.items() if isinstance(key, str)}
    counts: list[int | None] = []
    for names in _MWI_KEYS:
        found = next((by_name[name] for name in names if name in by_name), None)
        counts.append(to_int(found) if found is not None and not isinstance(found, bool) else None)
    if all(count is None for count in counts):
        waiting = by_name.get("waiting", by_name.get("messages_waiting"))
        return (int(waiting), None, None, None) if isinstance(waiting, bool) else None
    return (counts[0], counts[1], counts[2], counts[3])


def _mwi_sequence(value: Sequence[Any]) -> MwiCounts | None:
    items = list(value)
    while items and isinstance(items[0], str) and _mwi_text(items[0]) is None:
        items.pop(0)  # a tag: `{mwi, 2, 5}`
    if len(items) == 1 and isinstance(items[0], str | bytes | Mapping | tuple | list):
        return _mwi_counts(items[0])
    if not 1 <= len(items) <= 4:
        return None
    counts = [to_int(item) if not isinstance(item, bool) else None for item in items]
    if any(count is None or count < 0 for count in counts):
        return None
    counts += [None] * (4 - len(counts))
    return (counts[0], counts[1], counts[2], counts[3])


# --- tuples: state, target, other_info ---------------------------------------------------------


def _as_tuple(value: Any) -> tuple[Any, ...] | None:
    # A list where a tuple was meant carries the same elements: read it alike.
    match value:
        case tuple():
            return value
        case list():
            return tuple(value)
        case _:
            return None


def _at(values: Sequence[Any], index: int) -> Any:
    return values[index] if index < len(values) else None


def _padded(values: tuple[Any, ...], size: int) -> tuple[Any, ...]:
    return values + (None,) * (size - len(values))


# A name is short; a longer list of integers is data, not a name.
_MAX_NAME = 255


def to_name(value: Any) -> str | None:
    """Return an atom, binary or Erlang string used as a name, as plain text; else None.

    An Erlang string arrives as a `str` (STRING_EXT) or, from an encoder that does not use
    that tag, as a list of character codes: both are names. Empty text is no name (None); so
    is a value of any other type.
    """
    kind = type(value)
    if kind is Atom:
        return atom_text(value) or None
    if kind is str:
        return value or None
    if isinstance(value, list) and 0 < len(value) <= _MAX_NAME:
        if all(type(c) is int and 32 <= c <= 0x10FFFF for c in value):
            text = "".join(map(chr, value))
            return text if text.isprintable() else None
        return None
    return _as_str(value) or None


# Every call for a user has the same target (the user, and the number dialled): one Target
# per distinct value, bounded as the text caches are.
_TARGETS: dict[tuple[Any, ...], Target] = {}
_TARGETS_MAX = 4096
_MAX_TARGET_TEXT = 256  # a longer target is read, not kept: cache keys stay small
_TEXT_TYPES = (str, Atom, type(None))


def parse_target(value: Any, reporter: ProblemReporter | None = None) -> Target | None:
    """Parse `target`: `{Type, Id, Name, Address}`."""
    if type(value) is tuple and len(value) == 4:
        # Only texts make the key: `1`, `1.0` and `true` are one key but three texts.
        kind, target_id, name, address = value
        if (
            type(kind) in _TEXT_TYPES
            and type(target_id) in _TEXT_TYPES
            and type(name) in _TEXT_TYPES
            and type(address) in _TEXT_TYPES
        ):
            target = _TARGETS.get(value)
            if target is None:
                target = _read_target(value)
                if sum(len(item or "") for item in value) <= _MAX_TARGET_TEXT:
                    if len(_TARGETS) >= _TARGETS_MAX:
                        _TARGETS.clear()
                    _TARGETS[value] = target
            return target
    if is_absent(value):
        return None
    items = _as_tuple(value)
    if items is None:
        _report(reporter, "bad_target", "Ignored a target that is not a tuple: %s", brief(value))
        return None
    return _read_target(items)


def _read_target(items: tuple[Any, ...]) -> Target:
    kind, target_id, name, address = items[:4] if len(items) >= 4 else _padded(items, 4)
    return Target(
        type=to_name(kind),
        id=to_text(target_id),
        name=to_text(name),
        address=to_text(address),
    )


def parse_other_info(
    value: Any,
    reporter: ProblemReporter | None = None,
    server: str | None = None,
    end_user: EndUser | None = None,
) -> OtherInfo | None:
    """Parse `other_info`: `{Type, UserIdOrEndUser, Direction, PeerLocation, Address, OfferTimestamp, GroupId, Whoscall}`.

    The eighth element (2024: `whoscall`) is optional: older servers send seven. `end_user` is
    the record's own `end_user`, already parsed: the same text here is that same party, and
    is not parsed (nor reported) twice.
    """
    if is_absent(value):
        return None
    items = _as_tuple(value)
    if items is None:
        _report(
            reporter,
            "bad_other_info",
            "Ignored an other_info that is not a tuple: %s",
            brief(value),
        )
        return None
    kind_value, who, direction, peer_location, address, offered, group_id, whoscall = (
        items[:8] if len(items) >= 8 else _padded(items, 8)
    )
    kind = to_name(kind_value)
    known, end_user = end_user, None
    user_id: str | None = None
    if kind == "user":
        user_id = to_text(who)
    elif not is_absent(who):
        if _as_str(who) is None:
            _report(
                reporter,
                "bad_other_info_end_user",
                "other_info of type %s names its party with a %s, not text: %s",
                kind,
                type(who).__name__,
                brief(who),
            )
        elif known is not None and who == known.raw:
            end_user = known  # the record's own end_user: the same party
        else:
            end_user = parse_end_user(who, reporter, server)
    return OtherInfo(
        type=kind,
        user_id=user_id,
        end_user=end_user,
        direction=to_name(direction),
        peer_location=to_name(peer_location),
        address=to_text(address),
        offered_at=to_datetime(offered),
        group_id=to_text(group_id),
        whoscall=parse_whoscall(whoscall, reporter),
    )


# state ------------------------------------------------------------------------------------------

type _Details = dict[str, Any]


def _fields(
    *names: str, ids: frozenset[str] = frozenset()
) -> Callable[[tuple[Any, ...]], _Details]:
    """Read a state's extra elements positionally; ids become text, names plain str."""

    def read(extra: tuple[Any, ...]) -> _Details:
        details: _Details = {}
        for index, key in enumerate(names):
            if not key:
                continue  # an element the protocol leaves unused
            item = _at(extra, index)
            details[key] = to_text(item) if key in ids else _plain(item)
        return details

    return read


def _plain(value: Any) -> Any:
    # Atoms are names here and binaries text; hand both on as plain str.
    match value:
        case Atom():
            return atom_text(value)
        case str():
            return str(value)
        case bytes():
            return decode_text(value)
        case _:
            return value


_IDS = frozenset(
    {
        "target_id",
        "user_id",
        "group_id",
        "group_queue_id",
        "ivr_id",
        "room_id",
        "slot",
        "parker_id",
        "uuid",
    }
)


# `voicemail`, and `calling` from older servers: TargetType, TargetId, TargetName.
_TARGET_FIELDS = _fields("target_type", "target_id", "target_name", ids=_IDS)


# What the newer form of `calling` starts with: where the target is.
_TARGET_LOCATIONS = frozenset({"int", "ext"})


def _calling(extra: tuple[Any, ...]) -> _Details:
    # Newer servers send TargetLocation, TargetType, TargetData (a tuple); older ones
    # TargetType, TargetId, TargetName. A target location first, or a tuple third, is the
    # newer form, even when its target data is missing.
    data = _as_tuple(_at(extra, 2))
    location = _at(extra, 0)
    if data is None and not (isinstance(location, str) and location in _TARGET_LOCATIONS):
        return _TARGET_FIELDS(extra)
    target_type = to_name(_at(extra, 1))
    details: _Details = {"target_location": _plain(location), "target_type": target_type}
    if data is None:
        return details
    reader = _CALLING_TARGETS.get(target_type or "")
    details.update(reader(data) if reader else {"target_data": data})
    return details


def _calling_user(data: tuple[Any, ...]) -> _Details:
    user_id = to_text(_at(data, 0))
    return {"user_id": user_id, "target_id": user_id}


def _calling_group(data: tuple[Any, ...]) -> _Details:
    group_type = to_name(_at(data, 0))
    group_id = to_text(_at(data, 1))
    # Brastel's key name; only a ring group has a queue.
    queue_id = to_text(_at(data, 4)) if group_type == "ring" else None
    return {
        "group_type": group_type,
        "group_id": group_id,
        "target_id": group_id,
        "group_queue_id": queue_id,
    }


def _calling_pstn(data: tuple[Any, ...]) -> _Details:
    return {"address": to_text(_at(data, 0))}


def _calling_bridged_endpoint(data: tuple[Any, ...]) -> _Details:
    user, host = to_text(_at(data, 0)), to_text(_at(data, 1))
    address = f"{user}@{host}" if user and host else user or host
    return {"address": address}


_CALLING_TARGETS: Mapping[str, Callable[[tuple[Any, ...]], _Details]] = {
    "user": _calling_user,
    "group": _calling_group,
    "pstn": _calling_pstn,
    "bridged_endpoint": _calling_bridged_endpoint,
}


_NO_DETAILS: Mapping[str, Any] = MappingProxyType({})


def _nothing(_extra: tuple[Any, ...]) -> Mapping[str, Any]:
    return _NO_DETAILS


_STATE_DETAILS: Mapping[str, Callable[[tuple[Any, ...]], Mapping[str, Any]]] = {
    "voicemail": _TARGET_FIELDS,
    "checking_voicemail": _fields("target_name"),
    "calling": _calling,
    "calling_external": _fields("address", ids=frozenset({"address"})),
    "calling_siptermination": _fields("url"),
    "ivr": _fields("ivr_id", ids=_IDS),
    "system_operation": _fields("operation"),
    "conference": _fields("room_id", ids=_IDS),
    "xml_ivr": _nothing,
    "plivo": _nothing,
    "bridged": _nothing,
    # Older servers send the slot only; the parker is then unknown rather than missing.
    "park": _fields("slot", "", "parker_id", "parker_name", ids=_IDS),
    "eavesdrop": _fields("uuid", "eavesdrop_state", ids=_IDS),
}


def parse_state(value: Any, reporter: ProblemReporter | None = None) -> ChannelState | None:
    """Parse `state`: `{Ts, Name, ...}` with per-name details (see ChannelState).

    A state that is not a tuple keeps its value in `raw` (a bare name becomes the name); one
    whose name is missing is `unknown`.
    """
    if is_absent(value):
        return None
    items = _as_tuple(value)
    if items is None:
        _report(reporter, "bad_state", "A channel state is not a tuple: %s", brief(value))
        return ChannelState(name=to_name(value) or "unknown", since=None, details={}, raw=(value,))
    since_value, name_value, extra = _split_state(items)
    name = to_name(name_value)
    if name is None:
        _report(reporter, "bad_state", "A channel state has no name: %s", brief(value))
        return ChannelState(name="unknown", since=to_datetime(since_value), details={}, raw=items)
    reader = _STATE_DETAILS.get(name)
    details = reader(extra) if reader else _NO_DETAILS
    return ChannelState(name=name, since=to_datetime(since_value), details=details, raw=items)


def _split_state(items: tuple[Any, ...]) -> tuple[Any, Any, tuple[Any, ...]]:
    # The documented form is {Ts, Name, ...}; a state that starts with its name (no time) is
    # read as such rather than taking the name for a time.
    if items and isinstance(items[0], str) and (len(items) == 1 or not isinstance(items[1], str)):
        return None, items[0], items[1:]
    return _at(items, 0), _at(items, 1), items[2:]


# --- avatars ------------------------------------------------------------------------------------

# Only web addresses are URLs: `javascript:`, `data:` and the like are never handed on as one.
_ABSOLUTE_URL = re.compile(r"(?:https?:|//)", re.IGNORECASE)
_HTTP_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


# Where the PBX keeps avatar files (since April 2026; before, all were under `basix/avatars/`).
USER_AVATARS = "basix/avatars/users"
END_USER_AVATARS = "basix/avatars/end_users"
_AVATARS = "basix/avatars"


def avatar_url(value: Any, server: str | None, folder: str = _AVATARS) -> str | None:
    """Return the URL of an avatar: None for the default icon, a URL as is, else a server file.

    A URL is an `http:` or `https:` address (in any case) or a scheme-relative `//host/...`.
    Anything else is a file name, `javascript:...`, `data:...` or `a1:b.png` included: it
    resolves to `https://SERVER/FOLDER/NAME` (`USER_AVATARS`, `END_USER_AVATARS`), URL-quoted
    (a `:` too, so the name can never be read as a scheme). With no server known there is no
    URL to give.
    """
    text = _as_str(value)
    if text is None:
        return None
    text = text.strip()
    if not text:
        return None
    if _ABSOLUTE_URL.match(text):
        return text
    base = _server_base(server)
    if base is None:
        return None
    return f"{base}/{folder}/{quote(text.lstrip('/'), safe="/%~!$&'()*+,;=@")}"


def _server_base(server: str | None) -> str | None:
    # The server is `host[:port]` or a ws(s):// URL; only its host and port make the base, so
    # credentials written into a URL can never end up in an avatar address.
    if not server:
        return None
    parts = urlsplit(server if "://" in server else f"//{server}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is not a number
        return None
    if not host:
        return None
    if ":" in host:
        host = f"[{host}]"  # IPv6
    scheme = _HTTP_SCHEMES.get(parts.scheme.lower(), "https")
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"
