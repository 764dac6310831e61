// GraphQL over HTTP (https://graphql.github.io/graphql-over-http/): which media type to
// answer in, and the request's parameters, or the typed error that says what is wrong.
import { LIMITS } from './limits.mjs';

export const GRAPHQL_RESPONSE = 'application/graphql-response+json';
export const JSON_MEDIA = 'application/json';
// Subscriptions over HTTP: passed through to the engine, which streams them.
export const STREAMING = ['text/event-stream', 'multipart/mixed'];

/** A request the gateway refuses before the engine sees it. */
export class RequestError extends Error {
  constructor(status, code, message, { headers = {}, errors } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
    this.errors = errors;
  }
}

function mediaRanges(accept) {
  return accept.split(',').flatMap((part) => {
    const [range, ...params] = part.trim().toLowerCase().split(';');
    if (!range) return [];
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const quality = q === undefined ? 1 : Number(q.slice(2));
    return Number.isFinite(quality) && quality > 0 ? [{ range: range.trim(), quality }] : [];
  });
}

/**
 * The media type to answer in: graphql-response+json when asked for, application/json
 * for application/json, wildcards or no Accept at all; 'stream' for a streamed
 * subscription; null when nothing acceptable can be produced.
 */
export function negotiate(accept) {
  if (!accept) return JSON_MEDIA;
  let best = null;
  let bestQuality = 0;
  for (const { range, quality } of mediaRanges(accept)) {
    let media = null;
    if (range === GRAPHQL_RESPONSE) media = GRAPHQL_RESPONSE;
    else if (range === JSON_MEDIA || range === '*/*' || range === 'application/*') media = JSON_MEDIA;
    else if (STREAMING.includes(range)) media = 'stream';
    if (!media) continue;
    // Equal preference: the spec's own media type wins.
    if (quality > bestQuality || (quality === bestQuality && media === GRAPHQL_RESPONSE)) {
      best = media;
      bestQuality = quality;
    }
  }
  return best;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function badRequest(message, code = 'BAD_REQUEST') {
  return new RequestError(400, code, message);
}

function decodeJsonParameter(name, raw) {
  if (raw === null || raw === undefined || raw === '') return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    throw badRequest(`The \`${name}\` parameter is not valid JSON.`);
  }
}

function checkContentType(contentType) {
  if (!contentType) {
    throw new RequestError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the request body as JSON with `Content-Type: application/json`.');
  }
  const [media, ...params] = contentType.toLowerCase().split(';').map((part) => part.trim());
  if (media !== JSON_MEDIA) {
    throw new RequestError(415, 'UNSUPPORTED_MEDIA_TYPE', `A body of type \`${media}\` is not accepted: send JSON with \`Content-Type: application/json\`.`);
  }
  const charset = params.find((p) => p.startsWith('charset='));
  if (charset && !['utf-8', 'utf8', '"utf-8"'].includes(charset.slice('charset='.length))) {
    throw new RequestError(415, 'UNSUPPORTED_MEDIA_TYPE', 'The body must be UTF-8 (`charset=utf-8`, or no charset).');
  }
}

function checkParameters(params) {
  const { query, variables, operationName, extensions } = params;
  const isMap = (value) => value === undefined || value === null || (typeof value === 'object' && !Array.isArray(value));
  if (!isMap(extensions)) throw badRequest('`extensions` must be an object when given.');
  if (query === undefined || query === null) {
    if (extensions?.persistedQuery) {
      throw badRequest('Persisted queries are not supported: send the document in `query`.', 'PERSISTED_QUERY_NOT_SUPPORTED');
    }
    throw badRequest('The request has no `query`: send the GraphQL document as a string in `query`.');
  }
  if (typeof query !== 'string') throw badRequest('`query` must be a string holding a GraphQL document.');
  if (!isMap(variables)) throw badRequest('`variables` must be an object (a map from names to values) when given.');
  if (operationName !== undefined && operationName !== null && typeof operationName !== 'string') {
    throw badRequest('`operationName` must be a string when given.');
  }
  return { query, variables: variables ?? undefined, operationName: operationName ?? undefined, extensions: extensions ?? undefined };
}

/** The parameters of a GET request (from its URL's query string). */
export function parametersOfGet(url) {
  if (url.search.length > LIMITS.maxBodyBytes) {
    throw new RequestError(413, 'PAYLOAD_TOO_LARGE', `The URL's query string is over ${LIMITS.maxBodyBytes} bytes: send the request as a POST.`);
  }
  const search = url.searchParams;
  return checkParameters({
    query: search.get('query') ?? undefined,
    operationName: search.get('operationName') || undefined,
    variables: decodeJsonParameter('variables', search.get('variables')),
    extensions: decodeJsonParameter('extensions', search.get('extensions')),
  });
}

/** The parameters of a POST request, from its Content-Type and body. */
export function parametersOfPost(contentType, body) {
  checkContentType(contentType);
  if (body.length === 0) throw badRequest('The request body is empty: send `{"query": "..."}`.');
  let text;
  try {
    text = utf8.decode(body);
  } catch {
    throw badRequest('The request body is not valid UTF-8.');
  }
  let payload;
  try {
    payload = JSON.parse(text);
  } catch {
    throw badRequest('The request body is not valid JSON: send `{"query": "..."}`.');
  }
  if (Array.isArray(payload)) {
    throw badRequest(
      `Batched requests are not accepted (at most ${LIMITS.maxBatchSize} operation per request): send each operation on its own.`,
      'BATCHING_NOT_SUPPORTED',
    );
  }
  if (payload === null || typeof payload !== 'object') {
    throw badRequest('The request body must be a JSON object: `{"query": "..."}`.');
  }
  const params = checkParameters(payload);
  // `null` means absent, but not every engine takes it so: pass such a body on without them.
  const hasNull = ['variables', 'operationName', 'extensions'].some((name) => payload[name] === null);
  if (hasNull) params.normalised = Object.fromEntries(Object.entries(payload).filter(([, value]) => value !== null));
  return params;
}
