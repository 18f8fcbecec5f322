"""``python -m padguard.cli``."""

from padguard.cli import main

main()
