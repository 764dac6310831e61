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

const gateway = new ApolloGateway({
  supergraphSdl: readFileSync(supergraphPath, 'utf8'),
  buildService: ({ url }) => new Forwarding({ url }),
});
const server = new ApolloServer({ gateway, csrfPrevention: false });
const { url } = await startStandaloneServer(server, {
  listen: { port: Number(port), host: '127.0.0.1' },
  context: async ({ req }) => ({ headers: req.headers }),
});
console.log(`[apollo-gateway] ${url}`);
