// Kindred's edge: the gateway's public port. It answers every request in the
// GraphQL-over-HTTP shape, checks each document once (DocumentChecker), and passes what
// is sound to the federation engine behind it: HTTP over kept-alive connections, and
// graphql-transport-ws WebSockets message by message.
import http from 'node:http';
import { GraphQLError, execute } from 'graphql';
import { WebSocket, WebSocketServer } from 'ws';
import { completeAnswer } from './answer.mjs';
import { sendFile } from './graphiql.mjs';
import { LIMITS } from './limits.mjs';
import { CLIENT, SERVER, Tracer } from './tracing.mjs';
import {
  GRAPHQL_RESPONSE,
  JSON_MEDIA,
  RequestError,
  negotiate,
  parametersOfGet,
  parametersOfPost,
} from './request.mjs';

const WS_PROTOCOL = 'graphql-transport-ws';
// Headers that describe one hop, not the request: never passed on. (The engine's
// answers are read here, so they come uncompressed.)
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te',
  'trailer', 'host', 'content-length', 'accept-encoding',
]);
const SIGN_IN_FIRST =
  'Sign in first: send `authorization: "Bearer <access token>"` in connection_init\'s payload.';
const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, content-type, traceparent, tracestate',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
  'access-control-max-age': '600',
};

function errorJson(error, code) {
  const json = { message: error.message };
  if (error.locations?.length) json.locations = error.locations;
  json.extensions = { ...(error.extensions ?? {}), code: error.extensions?.code ?? code };
  return json;
}

function send(res, status, body, { media = JSON_MEDIA, headers = {} } = {}) {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': `${media}; charset=utf-8`,
    'content-length': Buffer.byteLength(text),
    ...CORS,
    ...headers,
  });
  res.end(text);
}

function sendErrors(res, status, errors, code, options) {
  send(res, status, { errors: errors.map((error) => errorJson(error, code)) }, options);
}

const INTROSPECTION_FIELDS = new Set(['__schema', '__type', '__typename']);

// A query that asks for nothing but the schema (every root field an introspection field).
function introspectionOnly(operation) {
  return (
    operation.operation === 'query' &&
    operation.selectionSet.selections.every(
      (selection) => selection.kind === 'Field' && INTROSPECTION_FIELDS.has(selection.name.value),
    )
  );
}

function forwardedFor(req) {
  const peer = req.socket.remoteAddress ?? '';
  const prior = req.headers['x-forwarded-for'];
  return prior ? `${prior}, ${peer}` : peer;
}

function upstreamHeaders(req, extra = {}) {
  const headers = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (!HOP_BY_HOP.has(name) && !name.startsWith('sec-websocket')) headers[name] = value;
  }
  headers['x-forwarded-for'] = forwardedFor(req);
  return { ...headers, ...extra };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > LIMITS.maxBodyBytes) {
      reject(new RequestError(413, 'PAYLOAD_TOO_LARGE', `The request body is over ${LIMITS.maxBodyBytes} bytes.`));
      req.resume();
      return;
    }
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > LIMITS.maxBodyBytes) {
        reject(new RequestError(413, 'PAYLOAD_TOO_LARGE', `The request body is over ${LIMITS.maxBodyBytes} bytes.`));
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// `graphiql()` gives the page and its files by path (router/edge/graphiql.mjs); `tracer`
// (router/edge/tracing.mjs) gets a span per GraphQL request and one per engine call.
export function createEdge({ engine, checker, readiness, graphiql, tracer = new Tracer() }) {
  async function sendGraphiql(req, res, pathname) {
    let files;
    try {
      files = await graphiql();
    } catch (error) {
      console.error(`[edge] ${error.message}`);
      throw new RequestError(503, 'SERVICE_UNAVAILABLE', error.message);
    }
    const file = files.get(pathname);
    if (!file) throw new RequestError(404, 'NOT_FOUND', `Nothing is served at ${pathname}: GraphQL is at /graphql.`);
    sendFile(req, res, file);
  }

  const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64 });

  function proxy(req, res, body, media, span) {
    // The engine's subgraph requests carry this span's context: the subgraphs' spans
    // nest under it.
    const call = span.child(`${engine.name ?? 'engine'} ${req.method} ${engine.graphqlPath}`, CLIENT, {
      'server.address': engine.host,
      'server.port': engine.port,
    });
    res.on('close', () => call.end());
    const upstream = http.request(
      {
        host: engine.host,
        port: engine.port,
        method: req.method,
        path: req.method === 'GET' ? engine.graphqlPath + new URL(req.url, 'http://edge').search : engine.graphqlPath,
        headers: upstreamHeaders(req, {
          ...(body ? { 'content-length': body.length } : {}),
          traceparent: call.traceparent(),
        }),
        agent,
      },
      (answer) => {
        call.setAttributes({ 'http.response.status_code': answer.statusCode });
        const type = answer.headers['content-type'] ?? '';
        if (media === 'stream' || !type.includes('json')) {
          // A streamed subscription (or something that is not GraphQL JSON): as it comes.
          res.writeHead(answer.statusCode, { ...answer.headers, ...CORS });
          answer.pipe(res);
          return;
        }
        const chunks = [];
        answer.on('data', (chunk) => chunks.push(chunk));
        answer.on('end', () => {
          const text = completeAnswer(Buffer.concat(chunks).toString('utf8'));
          res.writeHead(answer.statusCode, {
            'content-type': type,
            'content-length': Buffer.byteLength(text),
            ...CORS,
          });
          res.end(text);
        });
      },
    );
    upstream.on('error', (error) => {
      call.fail(`the engine is unreachable: ${error.code ?? error.message}`);
      if (res.headersSent) return res.destroy();
      sendErrors(res, 503, [new GraphQLError('The gateway cannot reach its federation engine; try again shortly.')], 'SERVICE_UNAVAILABLE');
    });
    upstream.end(body);
  }

  async function graphqlRequest(req, res, url) {
    const accept = req.headers.accept ?? '';
    if (req.method === 'GET' && accept.includes('text/html') && !url.searchParams.has('query')) {
      return sendGraphiql(req, res, url.pathname);
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, CORS);
      res.end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'POST') {
      throw new RequestError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not used here: send GraphQL requests with POST (or GET for queries).`, { headers: { allow: 'GET, POST' } });
    }
    // The gateway's span of this request, in the caller's trace if it sent one.
    const span = tracer.startSpan(`${req.method} /graphql`, req.headers.traceparent, SERVER, {
      'http.request.method': req.method,
      'url.path': url.pathname,
    });
    res.on('close', () => {
      if (res.statusCode >= 500) span.fail(`HTTP ${res.statusCode}`);
      span.end({ 'http.response.status_code': res.statusCode });
    });
    const media = negotiate(accept);
    if (!media) {
      throw new RequestError(406, 'NOT_ACCEPTABLE', `Nothing here matches \`Accept: ${accept}\`: accept ${GRAPHQL_RESPONSE} or ${JSON_MEDIA}.`);
    }
    let body = req.method === 'POST' ? await readBody(req) : null;
    const params = body ? parametersOfPost(req.headers['content-type'], body) : parametersOfGet(url);
    if (body && params.normalised) body = Buffer.from(JSON.stringify(params.normalised));
    const verdict = checker.check(params.query, params.operationName);
    if (verdict.operation) {
      const { operation } = verdict.operation;
      const name = verdict.operation.name?.value;
      span.name = name ? `${operation} ${name}` : operation;
      span.setAttributes({ 'graphql.operation.type': operation, 'graphql.operation.name': name });
    }
    if (verdict.errors) {
      span.setAttributes({ 'graphql.error.code': verdict.code });
      // Per the spec: 200 for application/json clients, 400 for graphql-response+json.
      const status = verdict.status ?? (media === GRAPHQL_RESPONSE ? 400 : 200);
      sendErrors(res, status, verdict.errors, verdict.code, { media: media === 'stream' ? JSON_MEDIA : media });
      return;
    }
    if (verdict.operation.operation === 'subscription' && media !== 'stream') {
      throw new RequestError(400, 'BAD_REQUEST', 'Subscriptions are served over WebSocket (graphql-transport-ws on /graphql) or with `Accept: text/event-stream`.');
    }
    if (req.method === 'GET' && verdict.operation.operation !== 'query') {
      throw new RequestError(405, 'METHOD_NOT_ALLOWED', `A ${verdict.operation.operation} cannot be sent with GET: use POST.`, { headers: { allow: 'POST' } });
    }
    if (introspectionOnly(verdict.operation)) {
      // Answered here from the API schema (the one the engine serves, a test checks):
      // GraphiQL's docs work the same on every engine, whatever its introspection lacks.
      const result = await execute({
        schema: checker.schema,
        document: verdict.document,
        operationName: params.operationName,
        variableValues: params.variables,
      });
      // Its only possible errors are variables that do not fit.
      const errors = result.errors?.map((error) => errorJson(error, 'BAD_USER_INPUT'));
      const status = errors && media === GRAPHQL_RESPONSE && !result.data ? 400 : 200;
      const answer = errors ? { ...result, errors } : result;
      send(res, status, answer, { media: media === 'stream' ? JSON_MEDIA : media });
      return;
    }
    proxy(req, res, body, media, span);
  }

  async function handle(req, res) {
    const url = new URL(req.url, 'http://edge');
    try {
      if (url.pathname === '/graphql') return await graphqlRequest(req, res, url);
      if (url.pathname.startsWith('/graphiql/') && (req.method === 'GET' || req.method === 'HEAD')) {
        return await sendGraphiql(req, res, url.pathname);
      }
      if (url.pathname === '/healthcheck') return send(res, 200, { status: 'ok' });
      if (url.pathname === '/readiness') {
        const ready = await readiness();
        return send(res, ready ? 200 : 503, { status: ready ? 'ready' : 'starting' });
      }
      throw new RequestError(404, 'NOT_FOUND', `Nothing is served at ${url.pathname}: GraphQL is at /graphql.`);
    } catch (error) {
      if (!(error instanceof RequestError)) {
        console.error('[edge] unexpected error', error);
        error = new RequestError(500, 'INTERNAL_SERVER_ERROR', 'Internal server error.');
      }
      if (res.headersSent) return res.destroy();
      const media = negotiate(req.headers.accept ?? '') === GRAPHQL_RESPONSE ? GRAPHQL_RESPONSE : JSON_MEDIA;
      sendErrors(res, error.status, [error], error.code, { media, headers: error.headers });
    }
  }

  const server = http.createServer({ maxHeaderSize: 16 * 1024 }, (req, res) => {
    handle(req, res);
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;

  // Requests Node's parser rejects (oversized headers, garbage): still a GraphQL answer.
  server.on('clientError', (error, socket) => {
    if (!socket.writable || error.code === 'ECONNRESET') return socket.destroy();
    const [status, code, message] =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'REQUEST_HEADER_FIELDS_TOO_LARGE', 'The request headers are over 16 KiB.']
        : [400, 'BAD_REQUEST', 'The request is not valid HTTP.'];
    const text = JSON.stringify({ errors: [{ message, extensions: { code } }] });
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
    );
  });

  attachWebSockets(server, { engine, checker });
  return server;
}

// graphql-transport-ws: the client's connection_init opens the engine's socket (its
// token also rides in that socket's handshake); every `subscribe` is checked like an
// HTTP request before it is passed on; everything else is relayed as it is.
function attachWebSockets(server, { engine, checker }) {
  const sockets = new WebSocketServer({
    noServer: true,
    maxPayload: LIMITS.maxBodyBytes,
    handleProtocols: (protocols) => (protocols.has(WS_PROTOCOL) ? WS_PROTOCOL : false),
  });

  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url, 'http://edge').pathname !== '/graphql') {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    sockets.handleUpgrade(req, socket, head, (client) => relay(client, req));
  });

  function relay(client, req) {
    if (client.protocol !== WS_PROTOCOL) return client.close(4406, 'Subprotocol not acceptable');
    let upstream = null;
    let signedIn = false;
    const pending = [];
    const initTimer = setTimeout(() => client.close(4408, 'Connection initialisation timeout'), 10_000);

    const toEngine = (text) => (upstream?.readyState === WebSocket.OPEN ? upstream.send(text) : pending.push(text));

    function open(init) {
      const params = init.payload && typeof init.payload === 'object' ? init.payload : {};
      const authorization = params.authorization ?? params.Authorization;
      // Every Kindred subscription is a member's: without a token there is nothing for a
      // subgraph to verify, so subscribing is refused here with the subgraphs' code.
      signedIn = typeof authorization === 'string' && /^bearer\s+\S+/i.test(authorization);
      const extra = signedIn ? { authorization } : {};
      upstream = new WebSocket(engine.wsUrl, WS_PROTOCOL, {
        headers: upstreamHeaders(req, extra),
        maxPayload: 16 * 1024 * 1024,
      });
      upstream.on('open', () => {
        for (const text of pending.splice(0)) upstream.send(text);
      });
      upstream.on('message', (data, isBinary) => client.send(data, { binary: isBinary }));
      upstream.on('close', (code, reason) => client.close(closeCode(code), reason.toString()));
      upstream.on('error', () => client.close(1011, 'The federation engine is unreachable'));
    }

    client.on('message', (data, isBinary) => {
      const text = data.toString('utf8');
      let message;
      try {
        message = JSON.parse(text);
      } catch {
        return client.close(4400, 'Invalid message received');
      }
      if (!upstream) {
        if (message?.type !== 'connection_init') return client.close(4401, 'Unauthorized');
        clearTimeout(initTimer);
        open(message);
        return toEngine(text);
      }
      if (message?.type === 'subscribe') {
        const query = message.payload?.query;
        const verdict = !signedIn
          ? { errors: [new GraphQLError(SIGN_IN_FIRST)], code: 'UNAUTHENTICATED' }
          : typeof query === 'string'
            ? checker.check(query, message.payload?.operationName)
            : { errors: [new GraphQLError('`payload.query` must be a string holding a GraphQL document.')], code: 'BAD_REQUEST' };
        if (verdict.errors) {
          const payload = verdict.errors.map((error) => errorJson(error, verdict.code));
          return client.send(JSON.stringify({ id: message.id, type: 'error', payload }));
        }
      }
      return toEngine(isBinary ? data : text);
    });
    client.on('close', () => {
      clearTimeout(initTimer);
      if (upstream && upstream.readyState <= WebSocket.OPEN) upstream.close(1000);
    });
    client.on('error', () => client.terminate());
  }
}

// Close codes a client may receive: 1005/1006 (none or abnormal) cannot be sent on.
function closeCode(code) {
  return code === 1005 || code === 1006 || code === 1015 ? 1011 : code;
}
