"""Faithful simulators of the stores and ERPs, served over real HTTP on loopback."""
