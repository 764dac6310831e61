"""The events the analytics subgraph publishes: none (it only counts; see `handlers.py`)."""
