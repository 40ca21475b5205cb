"""Tests of the Home Assistant integration, against the simulator through real Home Assistant."""
