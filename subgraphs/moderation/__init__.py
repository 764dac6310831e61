"""The moderation subgraph: reports, cases, actions, standings, screening and appeals."""
