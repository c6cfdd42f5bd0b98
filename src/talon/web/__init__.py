"""/health, /metrics (and later the status page), served by the daemon."""
