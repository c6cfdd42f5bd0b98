"""The worker supervisor: Talon's own child process, kept alive with backoff (F7-F9)."""
