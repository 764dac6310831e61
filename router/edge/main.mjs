#!/usr/bin/env node
// The gateway's public port, in front of a federation engine (grafbase or Hive Gateway)
// listening on a private one:
//
//   node router/edge/main.mjs --listen 127.0.0.1:4000 --schema api.graphql \
//       --engine http://127.0.0.1:4100 [--engine-graphql /graphql] [--engine-ws /ws] \
//       [--engine-health /health] [--engine-name grafbase] [--otlp http://127.0.0.1:4318/v1/traces]
//
// --schema is the API schema clients see, as `node router/api_schema.mjs supergraph.graphql`
// prints it (printed once beforehand: the edge then carries no composition library).
// GET /graphql in a browser is GraphiQL (router/edge/graphiql.mjs); /healthcheck answers
// while the process is up, /readiness once the engine answers its health check. With
// --otlp, each GraphQL request's span (and its engine call's) goes to that OTLP/HTTP
// receiver (router/edge/tracing.mjs).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { buildSchema } from 'graphql';
import { DocumentChecker } from './document.mjs';
import { loadGraphiql } from './graphiql.mjs';
import { createEdge } from './server.mjs';
import { Tracer } from './tracing.mjs';

function parseArgs(argv) {
  const options = { engineGraphql: '/graphql', engineWs: '/graphql', engineHealth: '/health' };
  const names = {
    '--listen': 'listen',
    '--schema': 'schema',
    '--engine': 'engine',
    '--engine-graphql': 'engineGraphql',
    '--engine-ws': 'engineWs',
    '--engine-health': 'engineHealth',
    '--engine-name': 'engineName',
    '--otlp': 'otlp',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const name = names[argv[i]];
    if (!name || argv[i + 1] === undefined) {
      console.error(`usage: node router/edge/main.mjs ${Object.keys(names).map((n) => `${n} VALUE`).join(' ')}`);
      process.exit(2);
    }
    options[name] = argv[i + 1];
  }
  for (const required of ['listen', 'schema', 'engine']) {
    if (!options[required]) {
      console.error(`--${required} is required (see the comment at the top of router/edge/main.mjs)`);
      process.exit(2);
    }
  }
  return options;
}


function probe(url) {
  return new Promise((resolve) => {
    const request = http.get(url, { timeout: 2000 }, (answer) => {
      answer.resume();
      resolve(answer.statusCode === 200);
    });
    request.on('error', () => resolve(false));
    request.on('timeout', () => request.destroy());
  });
}

// Read on the first visit only (the benchmarks never ask for it); a missing build is
// said on the page and in the log, and every GraphQL request is served all the same.
let graphiqlFiles = null;
async function graphiql() {
  graphiqlFiles ??= loadGraphiql();
  return graphiqlFiles;
}

const options = parseArgs(process.argv.slice(2));
const engineUrl = new URL(options.engine);
const engine = {
  host: engineUrl.hostname,
  port: Number(engineUrl.port),
  name: options.engineName ?? 'engine',
  graphqlPath: options.engineGraphql,
  wsUrl: `ws://${engineUrl.host}${options.engineWs}`,
};
const checker = new DocumentChecker(buildSchema(readFileSync(options.schema, 'utf8')));
const readiness = () => probe(new URL(options.engineHealth, engineUrl));
const [host, port] = [options.listen.slice(0, options.listen.lastIndexOf(':')), Number(options.listen.split(':').pop())];

const tracer = new Tracer({ url: options.otlp ?? null });
const server = createEdge({ engine, checker, readiness, graphiql, tracer });
server.listen(port, host, () => console.log(`[edge] GraphQL on http://${options.listen}/graphql, engine at ${options.engine}`));
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => server.close(() => process.exit(0)) && setTimeout(() => process.exit(0), 2000).unref());
}
