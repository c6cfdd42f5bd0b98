"""The lab's emulated Kubernetes API: server, state, RBAC, certificates."""
