// The engine's JSON answer to a GraphQL request, as the client gets it: its error codes in
// the subgraphs' vocabulary, and never a null `data` without an error.

// The engines' codes for what the subgraphs call otherwise: one vocabulary for clients.
const ENGINE_CODES = {
  OPERATION_PARSING_ERROR: 'GRAPHQL_PARSE_FAILED',
  OPERATION_VALIDATION_ERROR: 'GRAPHQL_VALIDATION_FAILED',
  VARIABLE_ERROR: 'BAD_USER_INPUT',
};

// grafbase answers `{"data": null}` and no error when a non-null field had no value (an
// entity a subgraph did not find, say); GraphQL over HTTP wants an error with null data.
export const NO_VALUE_ERROR = Object.freeze({
  message: 'A field that cannot be null had no value (an entity a subgraph did not find).',
  extensions: Object.freeze({ code: 'INTERNAL_SERVER_ERROR' }),
});

/**
 * The engine's answer `text` made whole: each error's code in the subgraphs' vocabulary
 * (INTERNAL_SERVER_ERROR where it has none), and an error added when `data` is null or
 * absent and there is none. Text that is not a JSON object is passed on as it is.
 */
export function completeAnswer(text) {
  // The common answer, data and no errors, is passed on without parsing it.
  if (!text.includes('"errors"') && text.trimStart().startsWith('{"data":{')) return text;
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    return text;
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return text;
  const hasErrors = Array.isArray(body.errors) && body.errors.length > 0;
  if (!hasErrors && (body.data === null || body.data === undefined)) {
    body.data = null;
    body.errors = [structuredClone(NO_VALUE_ERROR)];
    return JSON.stringify(body);
  }
  if (!Array.isArray(body.errors)) return text;
  for (const error of body.errors) {
    const code = error?.extensions?.code;
    if (typeof code === 'string' && Object.hasOwn(ENGINE_CODES, code)) error.extensions.code = ENGINE_CODES[code];
    else if (!code && error && typeof error === 'object') {
      error.extensions = { ...(error.extensions ?? {}), code: 'INTERNAL_SERVER_ERROR' };
    }
  }
  return JSON.stringify(body);
}
