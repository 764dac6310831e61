"""Kindred's shared platform: everything a subgraph needs besides its own domain."""
