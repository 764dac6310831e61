"""The events the admin subgraph publishes: none. A staff action's effects are published
by the subgraph that owns what was acted on (moderation, subscription); the admin subgraph
keeps the record of who did it (the audit log)."""
