// GraphQL executable documents (the October 2021 spec): parse one into a tree held by one
// arena, check it against Kindred's limits and the spec's schema-free validation rules,
// and pick the operation to run. The federation engine behind the guard validates the
// document against the schema; what it must never see is a document that can hurt it (a
// fragment cycle aborts grafbase) or one over the limits.
#ifndef KINDRED_GUARD_GRAPHQL_H
#define KINDRED_GUARD_GRAPHQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct GqlLoc {
    uint32_t line;    // 1-based, as GraphQL errors' `locations` give them
    uint32_t column;  // 1-based, in characters (code points) from the start of the line
} GqlLoc;

typedef enum {
    GQL_VARIABLE,
    GQL_INT,
    GQL_FLOAT,
    GQL_STRING,
    GQL_BOOLEAN,
    GQL_NULL,
    GQL_ENUM,
    GQL_LIST,
    GQL_OBJECT,
} GqlValueKind;

typedef struct GqlValue GqlValue;
struct GqlValue {
    GqlValueKind kind;
    GqlLoc loc;
    // GQL_STRING: the decoded value (escapes and block strings resolved), UTF-8.
    // GQL_VARIABLE: the name without `$`. GQL_INT, GQL_FLOAT, GQL_ENUM: the token's text.
    // GQL_BOOLEAN: "true" or "false". NUL-terminated; `len` bytes.
    const char *text;
    size_t len;
    // GQL_LIST: items[0..count). GQL_OBJECT: names[i] is the field whose value is items[i].
    GqlValue **items;
    const char **names;
    GqlLoc *name_locs;  // GQL_OBJECT: where names[i] is written
    size_t count;
};

typedef struct GqlArgument {
    const char *name;
    GqlValue *value;
    GqlLoc loc;
} GqlArgument;

typedef struct GqlDirective {
    const char *name;
    GqlArgument *args;
    size_t nargs;
    GqlLoc loc;
} GqlDirective;

typedef struct GqlSelection GqlSelection;

typedef struct GqlSelectionSet {
    GqlSelection *items;
    size_t count;  // 0 when the field has no selection set
} GqlSelectionSet;

typedef enum { GQL_FIELD, GQL_FRAGMENT_SPREAD, GQL_INLINE_FRAGMENT } GqlSelectionKind;

struct GqlSelection {
    GqlSelectionKind kind;
    GqlLoc loc;
    const char *alias;           // GQL_FIELD: NULL when none
    const char *name;            // GQL_FIELD: the field; GQL_FRAGMENT_SPREAD: the fragment
    const char *type_condition;  // GQL_INLINE_FRAGMENT: NULL when none
    GqlArgument *args;           // GQL_FIELD
    size_t nargs;
    GqlDirective *directives;
    size_t ndirectives;
    GqlSelectionSet selections;  // GQL_FIELD (may be empty), GQL_INLINE_FRAGMENT
    GqlLoc name_loc;             // GQL_FIELD, GQL_FRAGMENT_SPREAD: where `name` is written
};

typedef struct GqlVariable {
    const char *name;          // without `$`
    const char *type;          // the type as written, whitespace removed: "String!", "[ID!]"
    GqlValue *default_value;   // NULL when none
    GqlDirective *directives;
    size_t ndirectives;
    GqlLoc loc;
    GqlLoc name_loc;           // where the name is written (after the `$`)
} GqlVariable;

typedef enum { GQL_QUERY, GQL_MUTATION, GQL_SUBSCRIPTION } GqlOperationType;

typedef struct GqlOperation {
    GqlOperationType type;
    const char *name;  // NULL when anonymous
    GqlVariable *variables;
    size_t nvariables;
    GqlDirective *directives;
    size_t ndirectives;
    GqlSelectionSet selections;
    GqlLoc loc;
    GqlLoc name_loc;  // where the name is written, when there is one
} GqlOperation;

typedef struct GqlFragment {
    const char *name;
    const char *type_condition;
    GqlDirective *directives;
    size_t ndirectives;
    GqlSelectionSet selections;
    GqlLoc loc;
    GqlLoc name_loc;
} GqlFragment;

// A type-system definition or extension (`type`, `schema`, `extend ...`): not executable,
// kept so that gql_check can refuse it by name.
typedef struct GqlTypeSystemDefinition {
    const char *name;  // NULL for `schema` and `extend schema`
    GqlLoc loc;
} GqlTypeSystemDefinition;

typedef struct GqlDocument {
    GqlOperation *operations;  // in document order
    size_t noperations;
    GqlFragment *fragments;    // in document order
    size_t nfragments;
    size_t ndefinitions;       // every definition, executable or not
    size_t ntokens;
    GqlTypeSystemDefinition *type_system;  // in document order
    size_t ntype_system;
} GqlDocument;

// Kindred's limits (libs/kindred/limits.json; libs/kindred/limits.py explains each).
typedef struct GqlLimits {
    size_t max_tokens;
    size_t max_depth;                 // levels below a root field, fragments inlined
    size_t max_aliases;               // in one operation, fragments counted once per spread
    size_t max_directives;            // per location (field, spread, fragment, operation, variable)
    size_t max_introspection_depth;   // nesting of fields inside __schema / __type
    size_t max_introspection_lists;   // nesting of fields/interfaces/possibleTypes/inputFields
} GqlLimits;

enum { GQL_MAX_LOCATIONS = 4 };

typedef struct GqlError {
    char message[400];
    GqlLoc locations[GQL_MAX_LOCATIONS];
    int nlocations;
    const char *code;   // static: "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED",
                        // "OPERATION_RESOLUTION_FAILURE"
    const char *limit;  // static: the limit a document is over ("depth", "tokens", ...), or NULL
    long max;           // that limit's value
} GqlError;

// The document `text` holds, allocated in `arena`; NULL with `error` filled when it is not
// a GraphQL document (GRAPHQL_PARSE_FAILED, with the place), or when it has more than
// limits->max_tokens tokens (GRAPHQL_VALIDATION_FAILED, limit "tokens"). Definitions that
// are not executable (type system ones) parse: gql_check refuses them.
GqlDocument *gql_parse(Arena *arena, const char *text, size_t len, const GqlLimits *limits, GqlError *error);

// Checks `doc` against the limits, then the schema-free validation rules; writes at most
// `max_errors` errors and returns how many it wrote (0: the document may go to the engine).
size_t gql_check(const GqlDocument *doc, const GqlLimits *limits, GqlError *errors, size_t max_errors);

// The operation to run (graphql-js getOperationAST): the one called `name`, or, with
// `name` NULL or empty, the document's only one. NULL with `error` filled
// (OPERATION_RESOLUTION_FAILURE) when there is none such.
const GqlOperation *gql_operation(const GqlDocument *doc, const char *name, GqlError *error);

// Whether every root field of `op` is __schema, __type or __typename (and `op` a query).
bool gql_introspection_only(const GqlOperation *op);

// `error` as a GraphQL error object: {"message","locations"?,"extensions":{"code",
// "limit"?,"max"?}}, appended to `out`.
void gql_error_json(Buf *out, const GqlError *error);

// `errors[0..n)` as a JSON array of such objects, appended to `out`.
void gql_errors_json(Buf *out, const GqlError *errors, size_t n);

#endif
