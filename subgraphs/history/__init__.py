"""The history subgraph: each member's timeline, a read model built only from events."""
