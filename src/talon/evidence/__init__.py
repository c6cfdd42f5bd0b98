"""Incident bundles: what was seen before and after every change (R25), redacted."""
