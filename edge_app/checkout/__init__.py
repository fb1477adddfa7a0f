"""Checkout decisions: was what went into the bag scanned? (the functional core, no I/O)

- ``engine``: ``CheckoutEngine.step(event) -> [LaneEvent]`` composes the rest.
- ``state``: the records (``Journey`` and ``JourneyState``, ``ScanLine``, ``Transaction``,
  ``TrackSeen``, ``LaneView``).
- ``journeys``: item zone events into journeys, with the tracker repaired (``JourneyBuilder``).
- ``glass``: who was over the scanner glass, and when (``GlassLog``).
- ``matching``: which scan line paid for which journey (pure functions).
- ``alerts``: the alert rules, and how an alert is raised or self-corrected.
"""
