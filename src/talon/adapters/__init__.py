"""Adapters: everything that touches a platform tool lives here, behind small interfaces."""
