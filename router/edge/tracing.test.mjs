// node --test router/edge/ (run by tests/unit/test_edge_node.py): the edge's spans.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLIENT, SERVER, Tracer, parseTraceparent } from './tracing.mjs';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

test('a caller\'s traceparent is continued; a malformed or absent one starts a trace', () => {
  assert.deepEqual(parseTraceparent(`00-${TRACE}-00f067aa0ba902b7-01`), {
    traceId: TRACE,
    spanId: '00f067aa0ba902b7',
    flags: '01',
  });
  for (const bad of [undefined, '', 'garbage', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, `ff-${TRACE}-00f067aa0ba902b7-01`]) {
    assert.equal(parseTraceparent(bad), null, String(bad));
  }
  const tracer = new Tracer();
  const continued = tracer.startSpan('query Mine', `00-${TRACE}-00f067aa0ba902b7-01`);
  assert.equal(continued.traceId, TRACE);
  assert.equal(continued.parentSpanId, '00f067aa0ba902b7');
  assert.match(continued.traceparent(), new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
  const fresh = tracer.startSpan('query Mine', 'garbage');
  assert.match(fresh.traceId, /^[0-9a-f]{32}$/);
  assert.equal(fresh.parentSpanId, '');
});

test('ended spans go out in one OTLP JSON batch; unsampled ones and a full queue are dropped', async () => {
  const posts = [];
  const tracer = new Tracer({ url: 'http://127.0.0.1:1/v1/traces', maxQueue: 2, delayMs: 5, post: async (url, body) => posts.push([url, JSON.parse(body)]) });
  const server = tracer.startSpan('mutation UpdateBio', `00-${TRACE}-00f067aa0ba902b7-01`, SERVER, { 'url.path': '/graphql' });
  const call = server.child('grafbase POST /graphql', CLIENT);
  call.fail('the engine is unreachable');
  call.end();
  server.end({ 'http.response.status_code': 200 });
  server.end(); // once only
  tracer.startSpan('not sampled', `00-${TRACE}-00f067aa0ba902b7-00`).end();
  tracer.startSpan('over the queue').end();
  assert.equal(tracer.dropped, 1);
  await tracer.flush();
  assert.equal(posts.length, 1);
  const [url, body] = posts[0];
  assert.equal(url, 'http://127.0.0.1:1/v1/traces');
  const [resource] = body.resourceSpans;
  assert.deepEqual(resource.resource.attributes, [{ key: 'service.name', value: { stringValue: 'kindred-gateway' } }]);
  const [callSpan, serverSpan] = resource.scopeSpans[0].spans;
  assert.equal(serverSpan.name, 'mutation UpdateBio');
  assert.equal(serverSpan.kind, SERVER);
  assert.equal(serverSpan.parentSpanId, '00f067aa0ba902b7');
  assert.deepEqual(serverSpan.attributes, [
    { key: 'url.path', value: { stringValue: '/graphql' } },
    { key: 'http.response.status_code', value: { intValue: '200' } },
  ]);
  assert.equal(callSpan.parentSpanId, serverSpan.spanId);
  assert.equal(callSpan.traceId, TRACE);
  assert.deepEqual(callSpan.status, { code: 2, message: 'the engine is unreachable' });
  assert.ok(BigInt(serverSpan.endTimeUnixNano) >= BigInt(callSpan.endTimeUnixNano));
  assert.ok(BigInt(serverSpan.startTimeUnixNano) <= BigInt(callSpan.startTimeUnixNano));
});

test('a receiver that is down costs the batch, not the caller', async () => {
  const tracer = new Tracer({ url: 'http://127.0.0.1:1/v1/traces', delayMs: 5, post: async () => { throw new Error('refused'); } });
  tracer.startSpan('query Mine').end();
  await tracer.flush();
  assert.equal(tracer.dropped, 1);
  assert.equal(tracer.pending.length, 0);
});
