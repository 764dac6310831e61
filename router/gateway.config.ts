// Hive Gateway configuration for the embedded (no Docker) setup. The gateway loads this
// file by itself from its working directory, so it is started from router/:
//
//   cd router && node_modules/.bin/hive-gateway supergraph /abs/path/supergraph.graphql \
//       --port 4000 --host 127.0.0.1
//
// Production runs the Apollo Router with router.yaml instead; keep both in step
// (header propagation, limits, health).
//
// Environment:
//   KINDRED_GATEWAY_DEDUP=0  turn off deduplication of identical in-flight subgraph
//                            requests (on by default; off for honest benchmarks)
import { defineConfig, type GatewayPlugin } from '@graphql-hive/gateway';
import { GraphQLError } from 'graphql';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';

const dedup = process.env.KINDRED_GATEWAY_DEDUP !== '0';

// Forwarded from the client's request to every subgraph request: the bearer token the
// subgraphs verify themselves, and the W3C trace context so a trace continues from the
// client through the subgraphs.
const PROPAGATED_HEADERS = ['authorization', 'traceparent', 'tracestate'] as const;

// Every error a client sees carries an `extensions.code`, as the subgraphs' errors do:
// the gateway's own variable-coercion errors come without one.
function errorCodes(): GatewayPlugin {
  const withCode = (error: GraphQLError) =>
    error.extensions?.code
      ? error
      : new GraphQLError(error.message, {
          nodes: error.nodes,
          source: error.source,
          positions: error.positions,
          path: error.path,
          originalError: error.originalError,
          extensions: { ...error.extensions, code: 'BAD_USER_INPUT' },
        });
  return {
    onExecute() {
      return {
        onExecuteDone({ result, setResult }) {
          if ('errors' in result && result.errors?.length) {
            setResult({ ...result, errors: result.errors.map(withCode) });
          }
        },
      };
    },
  };
}

export const gatewayConfig = defineConfig({
  plugins: () => [errorCodes()],

  propagateHeaders: {
    fromClientToSubgraphs({ request }) {
      const headers: Record<string, string> = {};
      for (const name of PROPAGATED_HEADERS) {
        const value = request.headers.get(name);
        if (value) headers[name] = value;
      }
      return headers;
    },
  },

  transportEntries: {
    '*.http': {
      options: {
        // Identical in-flight queries to one subgraph share one request (gateway default).
        deduplicateInflightRequests: dedup,
        // Subscriptions go to the subgraph over graphql-transport-ws on its /graphql path;
        // a WebSocket carries no per-request headers, so the token rides in connectionParams.
        subscriptions: {
          kind: 'ws',
          location: '/graphql',
          options: {
            connectionParams: {
              authorization: '{context.headers.authorization}',
            },
          },
        },
      },
    },
  },

  // GraphiQL on GET /graphql, fully bundled (no CDN): about 9 MB instead of the
  // default Hive Laboratory page's 21 MB.
  graphiql: { title: 'Kindred' },
  renderGraphiQL,
  landingPage: false,

  // Health: /healthcheck (process up) and /readiness (supergraph loaded) are the defaults.

  // Limits: deep nesting and huge documents are refused before planning.
  maxDepth: 12,
  maxTokens: 5000,
  upstreamTimeout: 30_000,
});
