"""Custom integrations of this repository (a package so that tests import it before Home Assistant's)."""
