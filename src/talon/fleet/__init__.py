"""The fleet: every node's ``/health`` read at once (``talon fleet status``).

``view`` is pure (what the answers mean); ``fetch`` is the aiohttp adapter.
"""
