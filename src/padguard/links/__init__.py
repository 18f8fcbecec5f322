"""Edges to a real (or simulated) pad: the OPC UA mapping, the pad twin and server, the runtime."""
