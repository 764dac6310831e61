"""The subscription subgraph: plans, members' subscriptions and entitlements, and the
payment provider's webhook."""
