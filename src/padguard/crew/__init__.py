"""Crew access and lifeboat coverage when a pad is out: a second domain beside the pad models.

Layers: :mod:`.model` (YAML scenario) -> :mod:`.days` (compiled day-by-day arrays) ->
engines :mod:`.timeline` (check, what-if), :mod:`.plan` (CP-SAT) and :mod:`.risk`.
"""
