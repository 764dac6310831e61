"""The interaction subgraph: likes, passes, blocks and ratings between matched members."""
