"""The shared platform (outbox, relay, consumer, inbox, cache) against real servers."""
