// What one request to the gateway may ask for. The subgraphs enforce the same numbers
// (libs/kindred/limits.py) and router.yaml gives them to the Apollo Router; a test keeps
// the three in step.
export const LIMITS = Object.freeze({
  // Bytes of request body (POST) or of the query string (GET).
  maxBodyBytes: 256 * 1024,
  // Characters of GraphQL document text.
  maxQueryBytes: 32 * 1024,
  // Lexical tokens of the document: parsing stops there.
  maxTokens: 4000,
  // Nesting of fields (fragments inlined), outside introspection.
  maxDepth: 12,
  // Aliased fields in the operation (a fragment counts once per spread).
  maxAliases: 30,
  // Directives on any one field, fragment spread or inline fragment.
  maxDirectivesPerField: 5,
  // `__schema` / `__type` fields in one operation. Their nesting may go as deep as
  // GraphiQL's own introspection query (document.mjs measures it), and no deeper.
  maxIntrospectionFields: 2,
  // One operation per request: a JSON array (a batch) is refused.
  maxBatchSize: 1,
  // Validation errors reported before giving up on a document.
  maxValidationErrors: 20,
});
