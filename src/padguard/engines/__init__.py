"""Engines that execute a compiled Plan: simulate (scalar), and later verify, risk, live."""
