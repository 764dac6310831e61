// Introspection answered by the guard itself, from the API schema's introspection result
// (what `node router/api_schema.mjs --introspection` prints): GraphiQL's docs work the
// same whatever the engine's own introspection lacks (grafbase knows no deprecated
// arguments, and drops some descriptions).
#ifndef KINDRED_GUARD_INTROSPECT_H
#define KINDRED_GUARD_INTROSPECT_H

#include "buf.h"
#include "graphql.h"
#include "json.h"

typedef struct Introspection Introspection;

// The schema in `result` (the JSON of graphql-js's introspectionFromSchema with every
// option on: {"__schema": {...}}), indexed for lookups; NULL with `error` set (static
// text) when it is not such a result. Keeps pointers into `result` (same arena).
Introspection *introspection_load(Arena *arena, const Json *result, const char **error);

// Runs `op` (a query whose root fields are all __schema, __type or __typename; see
// gql_introspection_only) of `doc` with `variables` (a JSON object, or NULL), and appends
// the whole GraphQL response to `out`: {"data":{...}} or {"errors":[...]} with codes.
// Returns 0 when the document was valid and executed, 1 when it was refused as invalid
// against the introspection types (unknown field, argument or type condition: errors with
// GRAPHQL_VALIDATION_FAILED, no data), 2 when its variables do not fit (BAD_USER_INPUT,
// no data).
int introspection_execute(const Introspection *schema, const GqlDocument *doc, const GqlOperation *op,
                          const Json *variables, Buf *out);

#endif
