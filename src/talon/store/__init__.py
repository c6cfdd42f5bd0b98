"""Persisted state: state.json, last-probe.json, the action journal and closed incidents."""

from talon.store.files import StoreError, atomic_write
from talon.store.state import StateStore

__all__ = ["StateStore", "StoreError", "atomic_write"]
