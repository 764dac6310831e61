#!/usr/bin/env node
// The API schema clients see, printed in a canonical order, from either side:
//
//   node router/api_schema.mjs supergraph.graphql   composed by @apollo/composition
//   node router/api_schema.mjs --introspect URL     what a running gateway serves
//   node router/api_schema.mjs --introspection-of API_SCHEMA_FILE
//                                                   the printed API schema's introspection
//                                                   result (JSON), which the guard answers from
//
// tests/e2e/test_gateway_http.py compares the two, so every gateway (grafbase composes
// the subgraphs itself) serves the graph the Apollo Router of compose.yaml serves.
import { readFileSync } from 'node:fs';
import { ROUTER_SUPPORTED_SUPERGRAPH_FEATURES, Supergraph } from '@apollo/federation-internals';
import {
  buildClientSchema,
  buildSchema,
  introspectionFromSchema,
  getIntrospectionQuery,
  lexicographicSortSchema,
  printSchema,
} from 'graphql';

async function introspected(url) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({
      // What every engine answers (grafbase knows no deprecated arguments).
      query: getIntrospectionQuery({ descriptions: true, specifiedByUrl: true }),
    }),
  });
  const body = await response.json();
  if (!body.data) throw new Error(`introspection of ${url} failed: ${JSON.stringify(body.errors)}`);
  return buildClientSchema(body.data);
}

const args = process.argv.slice(2);
if (args.length === 0 || (args[0].startsWith('--') && args.length !== 2)) {
  console.error('usage: node router/api_schema.mjs SUPERGRAPH_FILE | --introspect URL | --introspection-of API_SCHEMA_FILE');
  process.exit(2);
}
if (args[0] === '--introspection-of') {
  const schema = buildSchema(readFileSync(args[1], 'utf8'));
  const options = {
    descriptions: true,
    specifiedByUrl: true,
    directiveIsRepeatable: true,
    schemaDescription: true,
    inputValueDeprecation: true,
  };
  console.log(JSON.stringify(introspectionFromSchema(schema, options)));
} else {
  const schema =
    args[0] === '--introspect'
      ? await introspected(args[1])
      : // The Apollo Router's features: staff-only fields carry @authenticated/@requiresScopes.
        Supergraph.build(readFileSync(args[0], 'utf8'), {
          supportedFeatures: ROUTER_SUPPORTED_SUPERGRAPH_FEATURES,
        })
          .apiSchema()
          .toGraphQLJSSchema();
  console.log(printSchema(lexicographicSortSchema(schema)));
}
