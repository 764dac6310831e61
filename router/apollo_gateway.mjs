#!/usr/bin/env node
// Apollo Gateway (@apollo/gateway on @apollo/server) serving the supergraph: a candidate
// the gateway benchmark measures beside grafbase and Hive Gateway (bench/gateway_candidates.py).
//
//   node router/apollo_gateway.mjs SUPERGRAPH_FILE PORT
//
// Forwards the same headers as the other engines; health at /health.
import { readFileSync } from 'node:fs';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { parse, print, visit } from 'graphql';

const [supergraphPath, port] = process.argv.slice(2);
if (!supergraphPath || !port) {
  console.error('usage: node router/apollo_gateway.mjs SUPERGRAPH_FILE PORT');
  process.exit(2);
}
const PROPAGATED = ['authorization', 'traceparent', 'tracestate', 'x-forwarded-for'];

class Forwarding extends RemoteGraphQLDataSource {
  willSendRequest({ request, context }) {
    for (const name of PROPAGATED) {
      const value = context.headers?.[name];
      if (value) request.http.headers.set(name, value);
    }
  }
}

// Apollo Gateway refuses a supergraph whose features it cannot enforce (the staff fields'
// @authenticated and @requiresScopes, linked `for: SECURITY`). The subgraphs enforce them
// themselves, so this candidate serves the supergraph without them.
const SECURITY = new Set(['authenticated', 'requiresScopes']);
const securityLink = (directive) =>
  directive.name.value === 'link' &&
  directive.arguments.some(
    (arg) => arg.name.value === 'url' && /\/(authenticated|requiresScopes)\//.test(arg.value.value),
  );

function withoutSecurityFeatures(sdl) {
  return print(
    visit(parse(sdl), {
      Directive: (node) => (SECURITY.has(node.name.value) || securityLink(node) ? null : undefined),
      DirectiveDefinition: (node) => (SECURITY.has(node.name.value) ? null : undefined),
      ScalarTypeDefinition: (node) =>
        node.name.value.startsWith('requiresScopes__') ? null : undefined,
    }),
  );
}

const gateway = new ApolloGateway({
  supergraphSdl: withoutSecurityFeatures(readFileSync(supergraphPath, 'utf8')),
  buildService: ({ url }) => new Forwarding({ url }),
});
const server = new ApolloServer({ gateway, csrfPrevention: false });
const { url } = await startStandaloneServer(server, {
  listen: { port: Number(port), host: '127.0.0.1' },
  context: async ({ req }) => ({ headers: req.headers }),
});
console.log(`[apollo-gateway] ${url}`);
