// What one request to the gateway may ask for: the numbers every subgraph enforces too
// (libs/kindred/limits.json, explained in libs/kindred/limits.py), read from that one file.
// router.yaml gives the Apollo Router the same ones; a test keeps it in step.
import { readFileSync } from 'node:fs';

export const LIMITS = Object.freeze(
  JSON.parse(readFileSync(new URL('../../libs/kindred/limits.json', import.meta.url), 'utf8')),
);
