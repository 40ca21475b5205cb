"""Constants of the Basix PBX integration."""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "basix_cti"

CONF_SERVER: Final = "server"
CONF_DOMAIN: Final = "domain"
CONF_API_TOKEN: Final = "api_token"
CONF_API_USER: Final = "api_user"
CONF_APP_NAME: Final = "app_name"
CONF_SCOPE: Final = "scope"
CONF_SCOPE_VALUE: Final = "scope_value"
CONF_FORCED: Final = "forced"
# Option: add the PBX's raw channel record to every `basix_cti_call` event (off by default).
CONF_RAW_RECORD: Final = "raw_record"

MANUFACTURER: Final = "Brastel"

DEFAULT_SERVER: Final = "bcs.brastel.com"
DEFAULT_APP_NAME: Final = "home_assistant"

# The bus event fired for every call transition (the raw channel record only on request).
EVENT_CALL: Final = "basix_cti_call"
