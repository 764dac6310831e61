"""The events the history subgraph publishes: none. It only listens (`handlers.py`); its
timeline is a read model that anyone may rebuild from the topics (`rebuild.py`)."""
