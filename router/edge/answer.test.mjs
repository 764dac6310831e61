// node --test router/edge/ (run by tests/unit/test_edge_node.py): what the edge makes of
// the engine's answers.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { test } from 'node:test';
import { ROUTER_SUPPORTED_SUPERGRAPH_FEATURES, Supergraph } from '@apollo/federation-internals';
import { NO_VALUE_ERROR, completeAnswer } from './answer.mjs';
import { DocumentChecker } from './document.mjs';
import { createEdge } from './server.mjs';

const complete = (body) => JSON.parse(completeAnswer(JSON.stringify(body)));

test('null data without an error gets one, whether data is null or absent', () => {
  for (const body of [{ data: null }, {}, { data: null, errors: [] }]) {
    const answer = complete(body);
    assert.equal(answer.data, null);
    assert.deepEqual(answer.errors, [
      { message: NO_VALUE_ERROR.message, extensions: { code: 'INTERNAL_SERVER_ERROR' } },
    ]);
  }
  // The engine's other entries stay.
  const traced = complete({ data: null, extensions: { traceId: 'abc' } });
  assert.deepEqual(traced.extensions, { traceId: 'abc' });
  assert.equal(traced.errors.length, 1);
});

test('answers with data, or with errors of their own, get no error added', () => {
  const ok = '{"data":{"me":{"id":"1"}}}';
  assert.equal(completeAnswer(ok), ok);
  assert.deepEqual(complete({ data: { me: null } }), { data: { me: null } });
  const refused = {
    data: null,
    errors: [{ message: 'No such case.', extensions: { code: 'NOT_FOUND' } }],
  };
  assert.deepEqual(complete(refused), refused);
  const partial = { data: { a: 1, b: null }, errors: [{ message: 'b', path: ['b'], extensions: { code: 'FORBIDDEN' } }] };
  assert.deepEqual(complete(partial), partial);
});

test("the engine's codes are put in the subgraphs' vocabulary", () => {
  const answer = complete({
    errors: [
      { message: 'parse', extensions: { code: 'OPERATION_PARSING_ERROR' } },
      { message: 'variables', extensions: { code: 'VARIABLE_ERROR' } },
      { message: 'no code' },
      { message: 'odd code', extensions: { code: 'toString' } },
    ],
  });
  assert.deepEqual(
    answer.errors.map((error) => error.extensions.code),
    ['GRAPHQL_PARSE_FAILED', 'BAD_USER_INPUT', 'INTERNAL_SERVER_ERROR', 'toString'],
  );
});

test('what is not a JSON object is passed on as it is', () => {
  for (const text of ['not json', '[1,2]', 'null', '"errors"']) assert.equal(completeAnswer(text), text);
});

// The edge in front of a fake engine that answers as grafbase does when a subgraph
// returns null for an entity in a non-null position.
async function listening(server) {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server.address().port;
}

test("the edge adds the error to the engine's null data on the way to the client", async (t) => {
  const engine = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"data":null}');
    });
  });
  const supergraph = readFileSync(new URL('../../supergraph.graphql', import.meta.url), 'utf8');
  const checker = new DocumentChecker(Supergraph.build(supergraph, { supportedFeatures: ROUTER_SUPPORTED_SUPERGRAPH_FEATURES }).apiSchema().toGraphQLJSSchema());
  const enginePort = await listening(engine);
  const edge = createEdge({
    engine: { host: '127.0.0.1', port: enginePort, graphqlPath: '/graphql', wsUrl: `ws://127.0.0.1:${enginePort}/graphql` },
    checker,
    readiness: async () => true,
    graphiql: async () => new Map(),
  });
  const edgePort = await listening(edge);
  t.after(() => {
    edge.closeAllConnections();
    edge.close();
    engine.closeAllConnections();
    engine.close();
  });
  const response = await fetch(`http://127.0.0.1:${edgePort}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query: '{ moderationCases(first: 1) { edges { node { id user { id } } } } }' }),
  });
  assert.equal(response.status, 200);
  const body = await response.json();
  assert.equal(body.data, null);
  assert.deepEqual(body.errors.map((error) => error.extensions.code), ['INTERNAL_SERVER_ERROR']);
});
