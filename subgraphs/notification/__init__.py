"""The notification subgraph: notifications, a read model of push tokens, push delivery."""
