"""The communication subgraph: conversations, messages, read receipts, typing, live delivery."""
