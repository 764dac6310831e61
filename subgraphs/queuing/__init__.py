"""The queuing subgraph: queue entries with a denormalized profile copy, matchmaking."""
