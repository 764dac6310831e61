import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { encodingFor, loadGraphiql } from './graphiql.mjs';

test('the best encoding the browser accepts, none when it refuses both', () => {
  assert.equal(encodingFor('gzip, deflate, br, zstd'), 'br');
  assert.equal(encodingFor('gzip'), 'gzip');
  assert.equal(encodingFor('br;q=0, gzip;q=0.5'), 'gzip');
  assert.equal(encodingFor('identity'), null);
  assert.equal(encodingFor(undefined), null);
});

test('a missing build names the command that makes it', () => {
  const empty = mkdtempSync(path.join(tmpdir(), 'graphiql-'));
  assert.throws(() => loadGraphiql(empty), /GraphiQL is not built .*make install/);
});
