"""ProblemReporter: once per kind per interval in the log, every time in the counts."""

from __future__ import annotations

import logging

import pytest

from custom_components.basix_cti.cti import problems
from custom_components.basix_cti.cti.problems import MAX_TEXT, ProblemReporter, brief, clip

LOGGER = logging.getLogger("test.problems")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(problems.time, "monotonic", fake)
    return fake


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_first_report_of_a_kind_is_logged_with_lazy_args(
    caplog: pytest.LogCaptureFixture, clock: Clock
) -> None:
    reporter = ProblemReporter(LOGGER)
    with caplog.at_level(logging.WARNING):
        reporter.report("bad_state", "State %s of %s", "x", 3)
    assert warnings(caplog) == ["State x of 3"]
    assert reporter.counts == {"bad_state": 1}


def test_repeats_within_the_interval_are_counted_not_logged(
    caplog: pytest.LogCaptureFixture, clock: Clock
) -> None:
    reporter = ProblemReporter(LOGGER, interval=60)
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            reporter.report("a", "problem a")
            clock.now += 1
        reporter.report("b", "problem b")
    assert warnings(caplog) == ["problem a", "problem b"]
    assert reporter.counts == {"a": 5, "b": 1}


def test_a_kind_is_logged_again_after_the_interval_with_the_quiet_count(
    caplog: pytest.LogCaptureFixture, clock: Clock
) -> None:
    reporter = ProblemReporter(LOGGER, interval=300)
    with caplog.at_level(logging.WARNING):
        reporter.report("a", "value %s", 1)
        reporter.report("a", "value %s", 2)
        reporter.report("a", "value %s", 3)
        clock.now += 300
        reporter.report("a", "value %s", 4)
        clock.now += 300
        reporter.report("a", "value %s", 5)
    assert warnings(caplog) == [
        "value 1",
        "value 4 (and 2 more like it since the last warning)",
        "value 5",
    ]
    assert reporter.counts["a"] == 5


def test_quiet_count_with_a_message_without_args_keeps_percent_signs(
    caplog: pytest.LogCaptureFixture, clock: Clock
) -> None:
    reporter = ProblemReporter(LOGGER, interval=10)
    with caplog.at_level(logging.WARNING):
        reporter.report("p", "100% odd")
        reporter.report("p", "100% odd")
        clock.now += 10
        reporter.report("p", "100% odd")
    assert warnings(caplog) == ["100% odd", "100% odd (and 1 more like it since the last warning)"]


def test_counts_is_read_only_and_live(clock: Clock) -> None:
    reporter = ProblemReporter(LOGGER)
    counts = reporter.counts
    reporter.report("x", "x")
    assert counts == {"x": 1}
    with pytest.raises(TypeError):
        counts["x"] = 5  # type: ignore[index]


def test_brief_truncates_big_terms() -> None:
    text = brief((b"x" * 10_000, list(range(1000)), "y" * 5000))
    assert len(text) < 300
    assert "..." in text


def test_brief_survives_huge_ints_and_broken_reprs() -> None:
    assert len(brief(10**10_000)) < 200

    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    assert "Broken" in brief(Broken())


def test_kinds_are_capped_then_counted_as_other(
    caplog: pytest.LogCaptureFixture, clock: Clock
) -> None:
    # Kinds are fixed names; should one ever carry a name from the wire, a server sending ever
    # new names must neither grow the reporter without end nor get past the rate limit.
    reporter = ProblemReporter(LOGGER, max_kinds=3)
    with caplog.at_level(logging.WARNING):
        for i in range(1000):
            reporter.report(f"kind_{i}", "problem %d", i)
        reporter.report("kind_1", "problem %d", 1)
    assert reporter.counts == {"kind_0": 1, "kind_1": 2, "kind_2": 1, problems.OTHER: 997}
    assert warnings(caplog) == ["problem 0", "problem 1", "problem 2", "problem 3"]


def test_the_default_cap_is_a_few_hundred_kinds(clock: Clock) -> None:
    reporter = ProblemReporter(LOGGER)
    for i in range(100_000):
        reporter.report(f"unknown_message:{i}", "Ignored %s", i)
    assert len(reporter.counts) == 257
    assert reporter.counts[problems.OTHER] == 100_000 - 256


def test_clip_cuts_long_text_and_says_so() -> None:
    assert clip("short") == "short"
    assert clip("x" * MAX_TEXT) == "x" * MAX_TEXT
    cut = clip("y" * (1 << 20))
    assert cut == "y" * MAX_TEXT + f"... ({1 << 20} characters)"
    assert clip("abcdef", 3) == "abc... (6 characters)"
