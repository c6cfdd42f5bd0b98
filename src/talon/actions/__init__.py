"""The shell's actions: heals, notifications, the agent hand-off, the event sink."""
