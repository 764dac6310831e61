// node --test router/edge/ (run by tests/unit/test_edge_node.py): the edge's document checks.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ROUTER_SUPPORTED_SUPERGRAPH_FEATURES, Supergraph } from '@apollo/federation-internals';
import { getIntrospectionQuery } from 'graphql';
import { DocumentChecker } from './document.mjs';
import { LIMITS } from './limits.mjs';

const supergraph = readFileSync(new URL('../../supergraph.graphql', import.meta.url), 'utf8');
const checker = new DocumentChecker(Supergraph.build(supergraph, { supportedFeatures: ROUTER_SUPPORTED_SUPERGRAPH_FEATURES }).apiSchema().toGraphQLJSSchema());

function refusal(query, operationName) {
  const verdict = checker.check(query, operationName);
  assert.ok(verdict.errors, `expected ${query.slice(0, 60)} to be refused`);
  const limits = verdict.errors.map((error) => error.extensions?.limit).filter(Boolean);
  return { code: verdict.code, limit: limits[0], status: verdict.status };
}

test("GraphiQL's introspection query passes", () => {
  const query = getIntrospectionQuery({
    descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true,
    schemaDescription: true, inputValueDeprecation: true, oneOf: true,
  });
  assert.equal(checker.check(query).operation.operation, 'query');
});

test('a fragment cycle is refused before any engine sees it', () => {
  assert.equal(refusal('query { ...A } fragment A on Query { ...A }').code, 'GRAPHQL_VALIDATION_FAILED');
  assert.equal(refusal('query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }').code, 'GRAPHQL_VALIDATION_FAILED');
});

test('fragments spreading others twice, sixty deep, are measured in linear time', () => {
  let query = 'query { ...F0 }\n';
  for (let i = 0; i < 60; i++) query += `fragment F${i} on Query { __typename ...F${i + 1} ...F${i + 1} }\n`;
  query += 'fragment F60 on Query { __typename }';
  // 2^60 expansions would never finish: measured exponentially, this test hangs and the
  // runner's timeout (tests/unit/test_edge_node.py) fails it.
  assert.equal(checker.check(query).operation.operation, 'query');
});

test('each limit is refused with its name, as the subgraphs name it', () => {
  const deep = `{ me { ${'matches { edges { node { participants { '.repeat(4)}id${' } } } }'.repeat(4)} } }`;
  assert.equal(refusal(deep).limit, 'depth');
  const aliases = `{ ${Array.from({ length: LIMITS.maxAliases + 1 }, (_, i) => `a${i}: __typename`).join(' ')} }`;
  assert.equal(refusal(aliases).limit, 'aliases');
  const directives = `{ __typename${' @include(if: true)'.repeat(LIMITS.maxDirectivesPerLocation + 1)} }`;
  assert.equal(refusal(directives).limit, 'directives');
  const tokens = `{ ${'a '.repeat(LIMITS.maxTokens)} }`;
  assert.equal(refusal(tokens).limit, 'tokens');
  const lists = '{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }';
  assert.equal(refusal(lists).limit, 'introspectionLists');
  const huge = `{ __typename } # ${'x'.repeat(LIMITS.maxQueryBytes)}`;
  assert.deepEqual(refusal(huge), { code: 'PAYLOAD_TOO_LARGE', limit: undefined, status: 413 });
});

test('operations are chosen as the spec says', () => {
  assert.equal(refusal('{ a: __typename } { b: __typename }').code, 'GRAPHQL_VALIDATION_FAILED');
  const two = 'query A { __typename } query B { __typename }';
  assert.equal(refusal(two).code, 'OPERATION_RESOLUTION_FAILURE');
  assert.equal(refusal(two, 'C').code, 'OPERATION_RESOLUTION_FAILURE');
  assert.equal(checker.check(two, 'B').operation.name.value, 'B');
});

test('syntax errors and unknown fields get the subgraphs codes', () => {
  assert.equal(refusal('{ me { id ').code, 'GRAPHQL_PARSE_FAILED');
  assert.equal(refusal('{ me { shoeSize } }').code, 'GRAPHQL_VALIDATION_FAILED');
});
