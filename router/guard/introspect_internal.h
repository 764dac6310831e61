// What the files of the introspection module share (introspect.h is its API): graphql-js 16's
// validate and execute of a query whose root fields are all __schema, __type or __typename,
// against the API schema's introspection result. introspect_schema.c loads that result and
// describes the introspection meta-schema; introspect_validate.c checks the validation
// rules that need the schema (introspect_overlap.c: OverlappingFieldsCanBeMerged), with
// the messages introspect_messages.c writes; introspect_execute.c runs the whole: it
// validates, coerces the variables and answers.
#ifndef KINDRED_GUARD_INTROSPECT_INTERNAL_H
#define KINDRED_GUARD_INTROSPECT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "graphql.h"
#include "introspect.h"
#include "json.h"

enum {
    MAX_NESTING = 64,
    MAX_VALIDATION_ERRORS = 20,  // as the edge's validate() call
    MAX_VARIABLE_ERRORS = 50,    // as graphql-js's execute()
    MAX_SUGGESTIONS = 5,
    CONFLICT_BUDGET = 500000,    // graphql-js's OverlappingFieldsCanBeMergedRule's
    MAX_CONFLICT_DETAIL = 1000,
    MAX_CONFLICT_NODES = 20,
};
// Bounds on work and memory: the gateway must fit 64 MB.
#define MAX_STEPS ((size_t)2000000)
#define MAX_ANSWER_BYTES ((size_t)4 << 20)
#define MAX_SCRATCH_BYTES ((size_t)8 << 20)

// ---- Strings and hash maps (introspect_schema.c) ----

typedef struct Str {
    const char *p;
    size_t n;
} Str;

typedef struct MapSlot {
    Str key;  // key.p NULL: empty
    uint64_t hash;
    void *value;
} MapSlot;

// Open addressing, keys not copied (they live as long as the map); values never NULL.
typedef struct Map {
    MapSlot *slots;
    size_t cap;
    size_t count;
} Map;

Str introspect_str(const char *text);
bool introspect_str_eq(Str a, Str b);
bool introspect_str_is(Str a, const char *text);
Str introspect_json_text(const Json *value);
Str introspect_member_text(const Json *object, const char *key);
void *introspect_map_get(const Map *m, Str key);
void introspect_map_put(Arena *arena, Map *m, Str key, void *value);
Str introspect_pointers_key(const void *const pair[2]);
Str introspect_stored_key(Arena *arena, Str key);
void *introspect_grow_array(Arena *arena, void *items, size_t count, size_t *cap, size_t size);

// ---- The schema (introspect_schema.c) ----

typedef enum { KIND_NONE, KIND_SCALAR, KIND_OBJECT, KIND_INTERFACE, KIND_UNION, KIND_ENUM, KIND_INPUT_OBJECT } Kind;

struct Introspection {
    const Json *schema;      // the __schema object
    const Json *types;       // its full types, in order
    const Json *directives;  // its directives, in order
    Str roots[3];            // the query, mutation and subscription type names ({NULL, 0}: none)
    Map types_by_name;       // name -> full type
    Map directives_by_name;  // name -> directive
};

const Json *introspect_type_named(const Introspection *s, Str name);
bool introspect_is_composite(Kind kind);
bool introspect_is_leaf(Kind kind);
bool introspect_is_input(Kind kind);

// ---- Type references (introspect_schema.c) ----

typedef enum { REF_NAMED, REF_LIST, REF_NON_NULL } RefKind;

typedef struct TypeRef TypeRef;
struct TypeRef {
    RefKind kind;
    const TypeRef *of;  // REF_LIST, REF_NON_NULL
    Str name;           // REF_NAMED
};

extern const TypeRef INTROSPECT_BOOLEAN;
extern const TypeRef INTROSPECT_BOOLEAN_NON_NULL;

const TypeRef *introspect_type_from_text(Arena *arena, const char *text);
const TypeRef *introspect_type_from_json(Arena *arena, const Json *ref, int depth);
const TypeRef *introspect_named_type(const TypeRef *ref);
const TypeRef *introspect_nullable(const TypeRef *ref);
bool introspect_is_non_null(const TypeRef *ref);
void introspect_print_type(Buf *b, const TypeRef *ref);

// ---- The introspection meta-schema (introspect_schema.c) ----

typedef enum { META_ROOT, META_SCHEMA, META_TYPE, META_FIELD, META_INPUT_VALUE, META_ENUM_VALUE, META_DIRECTIVE, META_NONE } Meta;

extern const char *const INTROSPECT_META_NAMES[];

// How a meta field's value comes out of the JSON object it is asked of.
typedef enum {
    FROM_MEMBER,        // the member of its name, as it is
    FROM_SCHEMA,        // __schema: the __schema object
    FROM_TYPE_NAMED,    // __type(name:): the full type of that name, or null
    FROM_LIST,          // the member of its name: an array of objects
    FROM_REFERENCE,     // the member of its name: a type reference, resolved to the full type
    FROM_REFERENCES,    // the member of its name: an array of type references, resolved
} Source;

typedef struct ArgDef {
    Str name;
    const TypeRef *type;  // NULL when the schema does not know it
    bool has_default;     // (the meta-schema's defaults are all false)
} ArgDef;

extern const ArgDef INTROSPECT_INCLUDE_DEPRECATED[];
extern const ArgDef INTROSPECT_INCLUDE_DEPRECATED_NON_NULL[];

typedef struct MetaField {
    const char *name;
    const char *type;  // as graphql-js prints it
    Meta meta;         // the meta type of its values (META_NONE: leaves)
    Source source;
    const ArgDef *args;
    size_t nargs;
} MetaField;

extern const MetaField INTROSPECT_TYPENAME;

// Each meta type's fields (META_ROOT's: __schema and __type), indexed by Meta.
typedef struct MetaFields {
    const MetaField *fields;
    size_t count;
} MetaFields;

extern const MetaFields INTROSPECT_META_FIELDS[];

Meta introspect_meta_of_name(Str name);
Kind introspect_kind_of(const Introspection *s, Str name);
bool introspect_type_text_is_non_null(const char *type);

// ---- The state of one introspection_execute (introspect_execute.c) ----

typedef struct Usage {
    const GqlValue *variable;
    const TypeRef *type;    // the type expected where it is used (NULL: unknown there)
    bool location_default;  // whether that place has a default value
    const TypeRef *parent;  // the type of the input object it is a field of, if any
} Usage;

typedef struct Usages {
    Usage *items;
    size_t count;
    size_t cap;
} Usages;

typedef struct Errors {
    Buf json;  // the error objects, comma-separated
    size_t count;
    size_t max;            // 0: no limit
    const char *too_many;  // the last error, once `max` are there
    const char *code;
    bool stopped;
} Errors;

typedef struct VariableValue {
    const Json *json;         // the value `variables` gives it, or NULL
    const GqlValue *literal;  // else its default value
} VariableValue;

typedef struct PathStep {
    Str key;  // a field name, or {NULL, 0} for a list index
    size_t index;
} PathStep;

typedef struct Ctx {
    const Introspection *s;
    const GqlOperation *op;
    Arena *arena;    // everything below, freed at the end
    Str root;        // the operation's root type name
    Map fragments;   // name -> GqlFragment (the last of a name, as graphql-js)
    Map variable_definitions;  // name -> the operation's GqlVariable (the last of a name)
    Map directives;  // name -> DirectiveDef, made when first needed
    Str *type_names;  // every type's name, made when first needed
    size_t ntype_names;
    Buf msg;         // the message being written
    Errors errors;
    size_t steps;
    bool too_deep;
    bool too_big;
    // Validation.
    bool quiet;       // walking for variable usages only: no errors
    Usages *usages;   // where variable usages go (NULL: nowhere)
    long conflict_budget;
    bool conflicts_aborted;
    Map collected;       // (type, selection set) -> Collected
    Map compared_pairs;  // fragment pairs compared for conflicts
    // Variables.
    Map variables;  // name -> VariableValue (given, or with a default)
    const GqlVariable *variable;
    PathStep path[MAX_NESTING + 2];
    size_t path_len;
} Ctx;

bool introspect_within_limits(const Ctx *c);
bool introspect_steps(Ctx *c, size_t n);
bool introspect_step(Ctx *c);
bool introspect_deeper_than_allowed(Ctx *c, int depth);
void introspect_append_error(Errors *e, Str message, const GqlLoc *locs, size_t nlocs);
void introspect_add_error(Ctx *c, const GqlLoc *locs, size_t nlocs);
void introspect_add_error_at(Ctx *c, GqlLoc loc);

// ---- Suggestions and printing values (introspect_messages.c) ----

void introspect_suggest(Ctx *c, const char *sub, Str input, const Str *options, size_t noptions);
Str *introspect_names_of(Arena *arena, const Json *array, size_t *n);
void introspect_print_value(Buf *b, const GqlValue *v);
bool introspect_value_too_deep(const GqlValue *v, int depth);
void introspect_js_number(Buf *b, const char *text);
void *introspect_must_malloc(size_t size);

typedef struct Entry {
    Str key;
    size_t first;  // where the key is first written (its place in the object)
    size_t last;   // where it is last written (its value)
    uint64_t index;
    bool is_index;
} Entry;

Entry *introspect_object_entries(const Json *object, size_t *n);
void introspect_inspect_json(Buf *b, const Json *v, int seen);

// ---- Validation (introspect_validate.c, introspect_overlap.c) ----

const char *introspect_canonical_type(const Introspection *s, Str name);
const TypeRef *introspect_known_input_type(const Ctx *c, const TypeRef *ref);
bool introspect_has_default(const Json *input_value);
bool introspect_is_true(const Json *v);
const Json *introspect_find_named(const Json *array, Str name);
const GqlArgument *introspect_last_argument(const GqlArgument *args, size_t n, Str name);
const MetaField *introspect_meta_field(const Ctx *c, Meta meta, Str name);
Str *introspect_enum_value_names(Ctx *c, Str enum_name, size_t *n);
bool introspect_types_overlap(const Ctx *c, Str parent, Str fragment);
const TypeRef *introspect_variable_type(Ctx *c, const GqlVariable *v);
void introspect_validate(Ctx *c);
Str introspect_arena_text(Ctx *c, const Buf *b);
void introspect_report_conflicts(Ctx *c, const char *parent, const GqlSelectionSet *set, int depth);

#endif
