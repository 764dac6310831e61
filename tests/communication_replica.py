"""A second communication process for the fan-out test (`uvicorn tests.communication_replica:app`).

Same code, same databases and Redis; without an event consumer, so starting it does not
make the end-to-end stack's communication consumer group rebalance.
"""

from __future__ import annotations

import dataclasses

from kindred.app import create_app
from subgraphs.communication.app import SUBGRAPH

app = create_app(dataclasses.replace(SUBGRAPH, handlers={}))
