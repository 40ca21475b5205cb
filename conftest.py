"""Make this repository's custom_components win over the test plugin's own copy.

pytest-homeassistant-custom-component puts its testing_config folder on sys.path, which holds a
`custom_components` package of its own; importing ours first, from the repository root, is what
lets Home Assistant find `basix_cti`.
"""

import custom_components  # noqa: F401
