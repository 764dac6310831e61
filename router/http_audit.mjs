// The GraphQL-over-HTTP audit (graphql-http's own suite) against one endpoint:
//
//   node router/http_audit.mjs http://127.0.0.1:3001/graphql
//
// Prints every audit result as JSON to stdout:
//   {"url": ..., "counts": {"ok": n, "notice": n, "warn": n, "error": n}, "results": [...]}
// and exits 1 if any MUST fails (error) or any SHOULD fails (warn); 2 on bad usage or if
// the audit could not run. MAY items that fail are notices and do not fail the run.
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node router/http_audit.mjs <GraphQL endpoint URL>');
  process.exit(2);
}

try {
  const results = await auditServer({ url });
  const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
  const report = [];
  for (const result of results) {
    counts[result.status] += 1;
    const entry = { id: result.id, name: result.name, status: result.status };
    if (result.status !== 'ok') {
      entry.reason = result.reason;
      entry.response = {
        status: result.response.status,
        contentType: result.response.headers.get('content-type'),
        body: await result.response.text().catch(() => null),
      };
    }
    report.push(entry);
  }
  process.stdout.write(JSON.stringify({ url, counts, results: report }, null, 2) + '\n');
  process.exit(counts.error || counts.warn ? 1 : 0);
} catch (error) {
  console.error(`the audit could not run against ${url}: ${error?.stack ?? error}`);
  process.exit(2);
}
