"""Kindred subgraphs: one package per domain, all shaped alike."""
