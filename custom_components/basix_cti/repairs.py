"""Repairs: let a user take over a connection slot when the PBX's limit keeps us out."""

from __future__ import annotations

from typing import Any

from homeassistant.components.repairs import ConfirmRepairFlow, RepairsFlow, RepairsFlowResult
from homeassistant.core import HomeAssistant

from .const import CONF_FORCED


class ConnectionLimitRepairFlow(ConfirmRepairFlow):
    """Confirming turns on takeover (`forced`), which reloads the entry and connects."""

    def __init__(self, entry_id: str) -> None:
        """Remember which entry the issue is about."""
        super().__init__()
        self._entry_id = entry_id

    async def async_step_confirm(
        self, user_input: dict[str, str] | None = None
    ) -> RepairsFlowResult:
        """Turn takeover on once the user confirms."""
        if user_input is not None and (
            entry := self.hass.config_entries.async_get_entry(self._entry_id)
        ):
            self.hass.config_entries.async_update_entry(
                entry, options={**entry.options, CONF_FORCED: True}
            )
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
        return await super().async_step_confirm(user_input)


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """Only the connection-limit issue is fixable."""
    assert data is not None
    return ConnectionLimitRepairFlow(str(data["entry_id"]))
