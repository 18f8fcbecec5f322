"""The launch team's web console: FastAPI app, screens, permission table, two-person rule.

An edge beside ``links/``: it reads the runtime's state and the archive and asks the runtime
to apply commands; it never talks to the pad and the core never imports it.
"""
