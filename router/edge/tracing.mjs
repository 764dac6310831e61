// The edge's own spans, in the caller's trace (W3C `traceparent`), sent in batches to an
// OTLP/HTTP receiver with JSON encoding (the dev stack's trace store). Exporting never
// holds a request: spans queue in memory (at most maxQueue; more are dropped) and go out
// every delayMs on one connection at a time; a receiver that is down costs the batch.
import { randomBytes } from 'node:crypto';
import http from 'node:http';

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
// OTLP's SpanKind.
export const SERVER = 2;
export const CLIENT = 3;

const epochAtStart = BigInt(Date.now()) * 1_000_000n;
const hrtimeAtStart = process.hrtime.bigint();
const nowNanos = () => epochAtStart + (process.hrtime.bigint() - hrtimeAtStart);

// The caller's trace context, or null when it sends none (or a malformed one).
export function parseTraceparent(value) {
  const match = TRACEPARENT.exec(String(value ?? '').trim().toLowerCase());
  if (!match || match[1] === 'ff' || /^0+$/.test(match[2]) || /^0+$/.test(match[3])) return null;
  return { traceId: match[2], spanId: match[3], flags: match[4] };
}

function otlpValue(value) {
  if (typeof value === 'boolean') return { boolValue: value };
  if (Number.isInteger(value)) return { intValue: String(value) };
  if (typeof value === 'number') return { doubleValue: value };
  return { stringValue: String(value) };
}

function otlpAttributes(attributes) {
  return Object.entries(attributes)
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([key, value]) => ({ key, value: otlpValue(value) }));
}

export class Span {
  constructor(tracer, name, { parent, kind, attributes }) {
    this.tracer = tracer;
    this.name = name;
    this.kind = kind;
    this.traceId = parent?.traceId ?? randomBytes(16).toString('hex');
    this.parentSpanId = parent?.spanId ?? '';
    this.spanId = randomBytes(8).toString('hex');
    this.flags = parent?.flags ?? '01';
    this.attributes = { ...attributes };
    this.start = nowNanos();
    this.ended = false;
    this.error = '';
  }

  // The header that makes the next hop's spans this one's children.
  traceparent() {
    return `00-${this.traceId}-${this.spanId}-${this.flags}`;
  }

  child(name, kind, attributes = {}) {
    return new Span(this.tracer, name, { parent: this, kind, attributes });
  }

  setAttributes(attributes) {
    Object.assign(this.attributes, attributes);
  }

  fail(message) {
    this.error = message;
  }

  end(attributes = {}) {
    if (this.ended) return;
    this.ended = true;
    Object.assign(this.attributes, attributes);
    this.endTime = nowNanos();
    // Sampled only when the caller's flags say so (or it sent none).
    if (Number.parseInt(this.flags, 16) & 1) this.tracer.queue(this);
  }

  toOtlp() {
    const span = {
      traceId: this.traceId,
      spanId: this.spanId,
      name: this.name,
      kind: this.kind,
      startTimeUnixNano: String(this.start),
      endTimeUnixNano: String(this.endTime),
      attributes: otlpAttributes(this.attributes),
      status: this.error ? { code: 2, message: this.error } : { code: 0 },
    };
    if (this.parentSpanId) span.parentSpanId = this.parentSpanId;
    return span;
  }
}

export class Tracer {
  // url: the receiver's whole traces URL (…/v1/traces); none: spans are made (so the
  // trace context still moves on) but kept nowhere.
  constructor({ url = null, service = 'kindred-gateway', maxQueue = 4096, delayMs = 500, post = postJson } = {}) {
    this.url = url;
    this.service = service;
    this.maxQueue = maxQueue;
    this.delayMs = delayMs;
    this.post = post;
    this.pending = [];
    this.sending = false;
    this.dropped = 0;
    this.timer = null;
  }

  startSpan(name, traceparent, kind = SERVER, attributes = {}) {
    return new Span(this, name, { parent: parseTraceparent(traceparent), kind, attributes });
  }

  queue(span) {
    if (!this.url) return;
    if (this.pending.length >= this.maxQueue) {
      this.dropped += 1;
      return;
    }
    this.pending.push(span);
    this.timer ??= setTimeout(() => this.flush(), this.delayMs);
    this.timer.unref?.();
  }

  // Sends what is queued (one export at a time); resolves when that export is done.
  async flush() {
    this.timer = null;
    if (this.sending || !this.pending.length) return;
    const batch = this.pending.splice(0, 1000);
    const body = JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: otlpAttributes({ 'service.name': this.service }) },
          scopeSpans: [{ scope: { name: 'kindred-edge' }, spans: batch.map((span) => span.toOtlp()) }],
        },
      ],
    });
    this.sending = true;
    try {
      await this.post(this.url, body);
    } catch {
      this.dropped += batch.length;
    } finally {
      this.sending = false;
      if (this.pending.length) {
        this.timer ??= setTimeout(() => this.flush(), this.delayMs);
        this.timer.unref?.();
      }
    }
  }
}

function postJson(url, body) {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: 2000,
      },
      (answer) => {
        answer.resume();
        answer.on('end', () => (answer.statusCode === 200 ? resolve() : reject(new Error(`status ${answer.statusCode}`))));
      },
    );
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', reject);
    request.end(body);
  });
}
