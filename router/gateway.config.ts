// Hive Gateway configuration (KINDRED_GATEWAY=hive or hive-rust): the federation engine
// behind the edge (router/edge/), which owns the public port. The gateway loads this file
// by itself from its working directory, so the devstack starts it from router/:
//
//   cd router && node_modules/.bin/hive-gateway supergraph /abs/path/supergraph.graphql \
//       --port PORT --host 127.0.0.1 [--hive-router-runtime]
//
// grafbase (router/grafbase.toml) is the default engine; production runs the Apollo Router
// with router.yaml. Keep all three in step (header propagation, limits, health).
//
// Environment:
//   KINDRED_GATEWAY_DEDUP=0  turn off deduplication of identical in-flight subgraph
//                            requests (on by default; off for honest benchmarks)
import { defineConfig, type GatewayPlugin } from '@graphql-hive/gateway';
import { GraphQLError } from 'graphql';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';

const dedup = process.env.KINDRED_GATEWAY_DEDUP !== '0';

// Forwarded from the client's request to every subgraph request: the bearer token the
// subgraphs verify themselves, the W3C trace context so a trace continues from the
// client through the subgraphs, and the client's address (appended by the edge).
const PROPAGATED_HEADERS = ['authorization', 'traceparent', 'tracestate', 'x-forwarded-for'] as const;

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
  const coded = <R extends { errors?: readonly GraphQLError[] }>(result: R): R =>
    result.errors?.length ? { ...result, errors: result.errors.map(withCode) } : result;
  return {
    onExecute() {
      return {
        onExecuteDone({ result, setResult }) {
          if ('errors' in result && result.errors?.length) setResult(coded(result));
        },
      };
    },
    onSubscribe() {
      return {
        onSubscribeResult() {
          return {
            onNext({ result, setResult }) {
              if (result.errors?.length) setResult(coded(result));
            },
          };
        },
      };
    },
  };
}

export const gatewayConfig = defineConfig({
  // A subscriber without a token is refused by the edge in front, as for every engine.
  plugins: () => [errorCodes()],

  propagateHeaders: {
    fromClientToSubgraphs({ request, context }) {
      // A WebSocket client's upgrade request has no token: it sent it in connectionParams,
      // and the subgraph requests an event triggers (say, User.displayName) need it too.
      const params = (context as { connectionParams?: Record<string, unknown> }).connectionParams;
      const headers: Record<string, string> = {};
      for (const name of PROPAGATED_HEADERS) {
        const fromParams = params?.[name] ?? params?.[name[0].toUpperCase() + name.slice(1)];
        const value =
          request.headers.get(name) ?? (typeof fromParams === 'string' ? fromParams : null);
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

  // Limits: the edge in front refuses oversized, deep and wide documents before they get
  // here (libs/kindred/limits.json); Hive's own depth count would double-count fragments.
  // A subscription lives as long as its subscriber: only requests that answer once time out.
  upstreamTimeout: ({ executionRequest }) =>
    executionRequest.operationType === 'subscription' ||
    executionRequest.document.definitions.some(
      (definition) =>
        definition.kind === 'OperationDefinition' && definition.operation === 'subscription',
    )
      ? 0
      : 30_000,
});
