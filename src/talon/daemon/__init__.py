"""The daemon: the loop around the core, its actions, its journal and its surface."""
