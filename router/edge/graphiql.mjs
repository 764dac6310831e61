// GraphiQL for browsers: GET /graphql (Accept: text/html, no query) is a small HTML page;
// its script and stylesheet are /graphiql/graphiql.js and /graphiql/graphiql.css. All
// three are built into router/graphiql/dist/ by router/graphiql/build.mjs (`make install`
// runs it), as they are and gzip- and brotli-compressed, and read here once; nothing
// comes from anywhere but this origin.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const DIST = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'graphiql', 'dist');

// The page and its two files, by path; throws, naming the fix, when they are not built.
export function loadGraphiql(dist = DIST) {
  const read = (name) => {
    try {
      return readFileSync(path.join(dist, name));
    } catch {
      throw new Error(`GraphiQL is not built (${path.join(dist, name)} is missing): run \`make install\` or \`node router/graphiql/build.mjs\`.`);
    }
  };
  const file = (name, type) => ({ type, plain: read(name), br: read(`${name}.br`), gzip: read(`${name}.gz`) });
  return new Map([
    ['/graphql', file('index.html', 'text/html; charset=utf-8')],
    ['/graphiql/graphiql.js', file('graphiql.js', 'text/javascript; charset=utf-8')],
    ['/graphiql/graphiql.css', file('graphiql.css', 'text/css; charset=utf-8')],
  ]);
}

// The best encoding the client accepts (q=0 refuses one).
export function encodingFor(acceptEncoding = '') {
  const accepted = new Map();
  for (const part of acceptEncoding.toLowerCase().split(',')) {
    const [name, ...params] = part.trim().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    accepted.set(name.trim(), q ? Number(q.slice(2)) : 1);
  }
  for (const encoding of ['br', 'gzip']) {
    if ((accepted.get(encoding) ?? (accepted.get('*') || 0)) > 0) return encoding;
  }
  return null;
}

export function sendFile(req, res, file) {
  const encoding = encodingFor(req.headers['accept-encoding']);
  const body = encoding ? file[encoding] : file.plain;
  res.writeHead(200, {
    'content-type': file.type,
    'content-length': body.length,
    'cache-control': 'no-cache',
    vary: 'accept-encoding',
    ...(encoding ? { 'content-encoding': encoding } : {}),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
