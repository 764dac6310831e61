"""The user subgraph: accounts, credentials, profiles, preferences, devices; owner of `User`."""
