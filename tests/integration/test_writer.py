"""The state writer's queue: order, folding, and what a failing event or an unload leave."""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.util.signal_type import SignalType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.basix_cti.const import DOMAIN
from custom_components.basix_cti.writer import SlicedQueue, StateWriter

SIGNALS = [SignalType[()](f"test_user_{i}") for i in range(40)]


@pytest.fixture
def entry(hass: HomeAssistant) -> MockConfigEntry:
    """An entry for the writer's tasks."""
    entry = MockConfigEntry(domain=DOMAIN)
    entry.add_to_hass(hass)
    return entry


def _follow(hass: HomeAssistant, log: list[str]) -> None:
    for signal in SIGNALS:
        async_dispatcher_connect(hass, signal, callback(lambda name=str(signal): log.append(name)))


async def test_a_large_change_is_queued_and_folded(
    hass: HomeAssistant, entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """Queued in order, each signal once, events after the writes before them, failures logged."""
    log: list[str] = []
    _follow(hass, log)
    writer = StateWriter(hass, entry)
    writer.time_slice = 0  # a job a turn

    def broken() -> None:
        raise RuntimeError("boom")

    writer.publish(SIGNALS, lambda: log.append("first events"))
    writer.publish(SIGNALS[:1], broken)  # queued behind, and folded into the first write
    writer.publish(SIGNALS[:1], lambda: log.append("second events"))
    assert log == []  # nothing in the caller's callback
    await hass.async_block_till_done()

    assert log == [str(signal) for signal in SIGNALS] + ["first events", "second events"]
    assert "Error in basix_cti state writes" in caplog.text


async def test_a_closed_writer_drops_what_waits(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Closed (the entry unloads), a writer drops its queue and takes nothing more."""
    log: list[str] = []
    _follow(hass, log)
    writer = StateWriter(hass, entry)
    writer.publish(SIGNALS, None)
    writer.close()
    writer.publish(SIGNALS[:1], lambda: log.append("events"))
    await hass.async_block_till_done()
    assert log == []

    queue = SlicedQueue(hass, entry, "test", 0.0)
    queue.extend([lambda: log.append("job")] * 3)
    queue.close()
    await hass.async_block_till_done()
    assert log == []


async def test_a_failing_job_leaves_the_rest_running(
    hass: HomeAssistant, entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """A job that raises is logged; the jobs behind it still run, and a closed queue takes none."""
    log: list[str] = []

    def broken() -> None:
        raise RuntimeError("boom")

    queue = SlicedQueue(hass, entry, "test jobs", 0.0)
    queue.extend([lambda: log.append("first"), broken, lambda: log.append("after")])
    await hass.async_block_till_done()
    assert log == ["first", "after"]
    assert "Error in test jobs" in caplog.text

    queue.close()
    queue.extend([lambda: log.append("late")])
    await hass.async_block_till_done()
    assert log == ["first", "after"]
    assert queue.closed
