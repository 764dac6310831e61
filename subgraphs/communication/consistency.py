"""What communication keeps of others (blocks, suspensions): see `kindred.consistency`."""

from __future__ import annotations

from kindred.consistency import ReadModel, blocks_copy, suspensions_copy

READ_MODELS: list[ReadModel] = [blocks_copy(), suspensions_copy()]
