// Introspection answered by the guard itself (introspect.h): graphql-js 16's validate and
// execute of a query whose root fields are all __schema, __type or __typename, against
// the API schema's introspection result. The validation rules that need the schema are
// checked here (the schema-free ones are gql_check's), with graphql-js's messages word for
// word; execution copies the result's JSON, resolving type references to full types.
//
// Where it knowingly differs from graphql-js: only the operation and the fragments it
// spreads are validated (not the document's other operations); selections inside a
// fragment on one of the API's own types (always an error in an introspection scope) are
// not checked further; and an error about a selection set or a type condition is put at
// the nearest node graphql.h records a place for (the field, fragment or variable).
//
// Everything is bounded: nesting (selections with fragments inlined, values, variables) by
// MAX_NESTING, work and scratch memory by MAX_STEPS and MAX_SCRATCH_BYTES, the answer by
// MAX_ANSWER_BYTES; over any of them the query is refused with one GRAPHQL_VALIDATION_FAILED
// error.
#include "introspect.h"

#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static const char TOO_DEEP[] =
    "The introspection query nests more than 64 levels deep (fragments and values included): ask for less nesting.";
static const char TOO_BIG[] =
    "The introspection answer would be over 4 MiB or take too long to build: ask for less of the schema.";

// ---- Strings and hash maps ----

typedef struct Str {
    const char *p;
    size_t n;
} Str;

static Str str(const char *text) { return (Str){text, strlen(text)}; }

static bool str_eq(Str a, Str b) { return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0); }

static bool str_is(Str a, const char *text) { return str_eq(a, str(text)); }

// A JSON string's text, or {NULL, 0} when `value` is not a string.
static Str json_text(const Json *value) {
    return value && value->type == JSON_STRING ? (Str){value->text, value->len} : (Str){NULL, 0};
}

static Str member_text(const Json *object, const char *key) { return json_text(json_get(object, key)); }

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

static uint64_t hash_str(Str key) {
    uint64_t hash = 1469598103934665603u;
    for (size_t i = 0; i < key.n; i++) hash = (hash ^ (unsigned char)key.p[i]) * 1099511628211u;
    return hash;
}

static MapSlot *map_find(const Map *m, Str key, uint64_t hash) {
    size_t mask = m->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        MapSlot *slot = &m->slots[i];
        if (!slot->key.p || (slot->hash == hash && str_eq(slot->key, key))) return slot;
    }
}

static void *map_get(const Map *m, Str key) {
    if (!m->cap || !key.p) return NULL;
    MapSlot *slot = map_find(m, key, hash_str(key));
    return slot->key.p ? slot->value : NULL;
}

static void map_grow(Arena *arena, Map *m) {
    MapSlot *old = m->slots;
    size_t old_cap = m->cap;
    m->cap = old_cap ? old_cap * 2 : 16;
    m->slots = arena_alloc(arena, m->cap * sizeof *m->slots);
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].key.p) *map_find(m, old[i].key, old[i].hash) = old[i];
    }
}

static void map_put(Arena *arena, Map *m, Str key, void *value) {
    if ((m->count + 1) * 2 > m->cap) map_grow(arena, m);
    uint64_t hash = hash_str(key);
    MapSlot *slot = map_find(m, key, hash);
    if (!slot->key.p) {
        slot->key = key;
        slot->hash = hash;
        m->count++;
    }
    slot->value = value;
}

// A key made of two pointers, for caches keyed by object identity: `pair` must live as
// long as the lookup; stored_key copies it for the map to keep.
static Str pointers_key(const void *const pair[2]) { return (Str){(const char *)pair, 2 * sizeof *pair}; }

static Str stored_key(Arena *arena, Str key) {
    char *copy = arena_alloc(arena, key.n);
    memcpy(copy, key.p, key.n);
    return (Str){copy, key.n};
}

// A growable array in the arena: `items` of `size` bytes each.
static void *grow_array(Arena *arena, void *items, size_t count, size_t *cap, size_t size) {
    if (count < *cap) return items;
    size_t new_cap = *cap ? *cap * 2 : 8;
    void *bigger = arena_alloc(arena, new_cap * size);
    if (count) memcpy(bigger, items, count * size);
    *cap = new_cap;
    return bigger;
}

// ---- The schema ----

typedef enum { KIND_NONE, KIND_SCALAR, KIND_OBJECT, KIND_INTERFACE, KIND_UNION, KIND_ENUM, KIND_INPUT_OBJECT } Kind;

struct Introspection {
    const Json *schema;      // the __schema object
    const Json *types;       // its full types, in order
    const Json *directives;  // its directives, in order
    Str roots[3];            // the query, mutation and subscription type names ({NULL, 0}: none)
    Map types_by_name;       // name -> full type
    Map directives_by_name;  // name -> directive
};

static const Json *type_named(const Introspection *s, Str name) { return map_get(&s->types_by_name, name); }

static Kind kind_from_text(Str kind) {
    static const char *const names[] = {"SCALAR", "OBJECT", "INTERFACE", "UNION", "ENUM", "INPUT_OBJECT"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (str_is(kind, names[i])) return (Kind)(i + 1);
    }
    return KIND_NONE;
}

static bool is_composite(Kind kind) { return kind == KIND_OBJECT || kind == KIND_INTERFACE || kind == KIND_UNION; }

static bool is_leaf(Kind kind) { return kind == KIND_SCALAR || kind == KIND_ENUM; }

static bool is_input(Kind kind) { return kind == KIND_SCALAR || kind == KIND_ENUM || kind == KIND_INPUT_OBJECT; }

// ---- Type references ----

typedef enum { REF_NAMED, REF_LIST, REF_NON_NULL } RefKind;

typedef struct TypeRef TypeRef;
struct TypeRef {
    RefKind kind;
    const TypeRef *of;  // REF_LIST, REF_NON_NULL
    Str name;           // REF_NAMED
};

static const TypeRef BOOLEAN = {REF_NAMED, NULL, {"Boolean", 7}};
static const TypeRef BOOLEAN_NON_NULL = {REF_NON_NULL, &BOOLEAN, {NULL, 0}};
static const TypeRef STRING = {REF_NAMED, NULL, {"String", 6}};
static const TypeRef STRING_NON_NULL = {REF_NON_NULL, &STRING, {NULL, 0}};

static TypeRef *new_ref(Arena *arena, RefKind kind, const TypeRef *of, Str name) {
    TypeRef *ref = arena_alloc(arena, sizeof *ref);
    *ref = (TypeRef){kind, of, name};
    return ref;
}

static bool is_name_char(char c) { return c == '_' || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'); }

// The type written at *p ("[ID!]!", whitespace removed), or NULL when it is not one or
// nests lists deeper than MAX_NESTING.
static const TypeRef *parse_type(Arena *arena, const char **p, int depth) {
    if (depth > MAX_NESTING) return NULL;
    const TypeRef *ref;
    if (**p == '[') {
        (*p)++;
        const TypeRef *item = parse_type(arena, p, depth + 1);
        if (!item || **p != ']') return NULL;
        (*p)++;
        ref = new_ref(arena, REF_LIST, item, (Str){NULL, 0});
    } else {
        const char *start = *p;
        while (is_name_char(**p)) (*p)++;
        if (*p == start) return NULL;
        ref = new_ref(arena, REF_NAMED, NULL, (Str){start, (size_t)(*p - start)});
    }
    if (**p == '!') {
        (*p)++;
        ref = new_ref(arena, REF_NON_NULL, ref, (Str){NULL, 0});
    }
    return ref;
}

static const TypeRef *type_from_text(Arena *arena, const char *text) {
    const char *p = text;
    const TypeRef *ref = parse_type(arena, &p, 0);
    return ref && !*p ? ref : NULL;
}

// The type a {kind, name, ofType} reference of the introspection result stands for, or
// NULL when it is not one.
static const TypeRef *type_from_json(Arena *arena, const Json *ref, int depth) {
    if (!ref || ref->type != JSON_OBJECT || depth > MAX_NESTING) return NULL;
    Str kind = member_text(ref, "kind");
    if (str_is(kind, "NON_NULL") || str_is(kind, "LIST")) {
        const TypeRef *of = type_from_json(arena, json_get(ref, "ofType"), depth + 1);
        return of ? new_ref(arena, str_is(kind, "LIST") ? REF_LIST : REF_NON_NULL, of, (Str){NULL, 0}) : NULL;
    }
    Str name = member_text(ref, "name");
    return name.p ? new_ref(arena, REF_NAMED, NULL, name) : NULL;
}

static const TypeRef *named_type(const TypeRef *ref) {
    while (ref->kind != REF_NAMED) ref = ref->of;
    return ref;
}

static const TypeRef *nullable(const TypeRef *ref) { return ref && ref->kind == REF_NON_NULL ? ref->of : ref; }

static bool is_non_null(const TypeRef *ref) { return ref && ref->kind == REF_NON_NULL; }

static void print_type(Buf *b, const TypeRef *ref) {
    switch (ref->kind) {
    case REF_NAMED:
        buf_append(b, ref->name.p, ref->name.n);
        break;
    case REF_LIST:
        buf_appendc(b, '[');
        print_type(b, ref->of);
        buf_appendc(b, ']');
        break;
    case REF_NON_NULL:
        print_type(b, ref->of);
        buf_appendc(b, '!');
        break;
    }
}

// ---- The introspection meta-schema ----

typedef enum { META_ROOT, META_SCHEMA, META_TYPE, META_FIELD, META_INPUT_VALUE, META_ENUM_VALUE, META_DIRECTIVE, META_NONE } Meta;

static const char *const META_NAMES[] = {NULL, "__Schema", "__Type", "__Field", "__InputValue", "__EnumValue", "__Directive"};

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

static const ArgDef INCLUDE_DEPRECATED[] = {{{"includeDeprecated", 17}, &BOOLEAN, true}};
static const ArgDef INCLUDE_DEPRECATED_NON_NULL[] = {{{"includeDeprecated", 17}, &BOOLEAN_NON_NULL, true}};
static const ArgDef TYPE_NAME[] = {{{"name", 4}, &STRING_NON_NULL, false}};

typedef struct MetaField {
    const char *name;
    const char *type;  // as graphql-js prints it
    Meta meta;         // the meta type of its values (META_NONE: leaves)
    Source source;
    const ArgDef *args;
    size_t nargs;
} MetaField;

#define NO_ARGS NULL, 0
#define ARGS(table) table, 1

static const MetaField ROOT_FIELDS[] = {
    {"__schema", "__Schema!", META_SCHEMA, FROM_SCHEMA, NO_ARGS},
    {"__type", "__Type", META_TYPE, FROM_TYPE_NAMED, ARGS(TYPE_NAME)},
};
static const MetaField SCHEMA_FIELDS[] = {
    {"description", "String", META_NONE, FROM_MEMBER, NO_ARGS},
    {"types", "[__Type!]!", META_TYPE, FROM_LIST, NO_ARGS},
    {"queryType", "__Type!", META_TYPE, FROM_REFERENCE, NO_ARGS},
    {"mutationType", "__Type", META_TYPE, FROM_REFERENCE, NO_ARGS},
    {"subscriptionType", "__Type", META_TYPE, FROM_REFERENCE, NO_ARGS},
    {"directives", "[__Directive!]!", META_DIRECTIVE, FROM_LIST, ARGS(INCLUDE_DEPRECATED_NON_NULL)},
};
static const MetaField TYPE_FIELDS[] = {
    {"kind", "__TypeKind!", META_NONE, FROM_MEMBER, NO_ARGS},
    {"name", "String", META_NONE, FROM_MEMBER, NO_ARGS},
    {"description", "String", META_NONE, FROM_MEMBER, NO_ARGS},
    {"specifiedByURL", "String", META_NONE, FROM_MEMBER, NO_ARGS},
    {"fields", "[__Field!]", META_FIELD, FROM_LIST, ARGS(INCLUDE_DEPRECATED)},
    {"interfaces", "[__Type!]", META_TYPE, FROM_REFERENCES, NO_ARGS},
    {"possibleTypes", "[__Type!]", META_TYPE, FROM_REFERENCES, NO_ARGS},
    {"enumValues", "[__EnumValue!]", META_ENUM_VALUE, FROM_LIST, ARGS(INCLUDE_DEPRECATED)},
    {"inputFields", "[__InputValue!]", META_INPUT_VALUE, FROM_LIST, ARGS(INCLUDE_DEPRECATED)},
    {"ofType", "__Type", META_TYPE, FROM_REFERENCE, NO_ARGS},
    {"isOneOf", "Boolean", META_NONE, FROM_MEMBER, NO_ARGS},
};
static const MetaField FIELD_FIELDS[] = {
    {"name", "String!", META_NONE, FROM_MEMBER, NO_ARGS},
    {"description", "String", META_NONE, FROM_MEMBER, NO_ARGS},
    {"args", "[__InputValue!]!", META_INPUT_VALUE, FROM_LIST, ARGS(INCLUDE_DEPRECATED)},
    {"type", "__Type!", META_TYPE, FROM_REFERENCE, NO_ARGS},
    {"isDeprecated", "Boolean!", META_NONE, FROM_MEMBER, NO_ARGS},
    {"deprecationReason", "String", META_NONE, FROM_MEMBER, NO_ARGS},
};
static const MetaField INPUT_VALUE_FIELDS[] = {
    {"name", "String!", META_NONE, FROM_MEMBER, NO_ARGS},
    {"description", "String", META_NONE, FROM_MEMBER, NO_ARGS},
    {"type", "__Type!", META_TYPE, FROM_REFERENCE, NO_ARGS},
    {"defaultValue", "String", META_NONE, FROM_MEMBER, NO_ARGS},
    {"isDeprecated", "Boolean!", META_NONE, FROM_MEMBER, NO_ARGS},
    {"deprecationReason", "String", META_NONE, FROM_MEMBER, NO_ARGS},
};
static const MetaField ENUM_VALUE_FIELDS[] = {
    {"name", "String!", META_NONE, FROM_MEMBER, NO_ARGS},
    {"description", "String", META_NONE, FROM_MEMBER, NO_ARGS},
    {"isDeprecated", "Boolean!", META_NONE, FROM_MEMBER, NO_ARGS},
    {"deprecationReason", "String", META_NONE, FROM_MEMBER, NO_ARGS},
};
static const MetaField DIRECTIVE_FIELDS[] = {
    {"name", "String!", META_NONE, FROM_MEMBER, NO_ARGS},
    {"description", "String", META_NONE, FROM_MEMBER, NO_ARGS},
    {"isRepeatable", "Boolean!", META_NONE, FROM_MEMBER, NO_ARGS},
    {"locations", "[__DirectiveLocation!]!", META_NONE, FROM_MEMBER, NO_ARGS},
    {"args", "[__InputValue!]!", META_INPUT_VALUE, FROM_LIST, ARGS(INCLUDE_DEPRECATED)},
    {"isDeprecated", "Boolean!", META_NONE, FROM_MEMBER, NO_ARGS},
    {"deprecationReason", "String", META_NONE, FROM_MEMBER, NO_ARGS},
};
// __typename, which every type has (graphql-js keeps it out of each type's fields).
static const MetaField TYPENAME = {"__typename", "String!", META_NONE, FROM_MEMBER, NO_ARGS};

#define TABLE(fields) {fields, sizeof fields / sizeof *fields}
static const struct {
    const MetaField *fields;
    size_t count;
} META_FIELDS[] = {
    TABLE(ROOT_FIELDS),       TABLE(SCHEMA_FIELDS),     TABLE(TYPE_FIELDS),      TABLE(FIELD_FIELDS),
    TABLE(INPUT_VALUE_FIELDS), TABLE(ENUM_VALUE_FIELDS), TABLE(DIRECTIVE_FIELDS),
};

static Meta meta_of_name(Str name) {
    for (int m = META_SCHEMA; m < META_NONE; m++) {
        if (str_is(name, META_NAMES[m])) return (Meta)m;
    }
    return META_NONE;
}

// The kind of the type called `name`: the meta types, and the scalars they use, are known
// even to a result that does not list them (every graphql-js schema has them).
static Kind kind_of(const Introspection *s, Str name) {
    Kind kind = kind_from_text(member_text(type_named(s, name), "kind"));
    if (kind != KIND_NONE) return kind;
    if (meta_of_name(name) != META_NONE) return KIND_OBJECT;
    if (str_is(name, "__TypeKind") || str_is(name, "__DirectiveLocation")) return KIND_ENUM;
    return str_is(name, "String") || str_is(name, "Boolean") ? KIND_SCALAR : KIND_NONE;
}

static bool type_text_is_non_null(const char *type) { return type[strlen(type) - 1] == '!'; }

// ---- Loading ----

static Introspection *refuse_schema(const char **error, const char *why) {
    *error = why;
    return NULL;
}

// Indexes each member of `array` (objects with a string "name") by that name; false when
// one has none.
static bool index_by_name(Arena *arena, Map *map, const Json *array) {
    for (size_t i = 0; i < array->count; i++) {
        Str name = member_text(array->items[i], "name");
        if (!name.p) return false;
        if (!map_get(map, name)) map_put(arena, map, name, array->items[i]);
    }
    return true;
}

static Str root_name(const Json *schema, const char *key) { return member_text(json_get(schema, key), "name"); }

Introspection *introspection_load(Arena *arena, const Json *result, const char **error) {
    const Json *schema = json_get(result, "__schema");
    if (!schema || schema->type != JSON_OBJECT) return refuse_schema(error, "it has no \"__schema\" object");
    const Json *types = json_get(schema, "types");
    const Json *directives = json_get(schema, "directives");
    if (!types || types->type != JSON_ARRAY) return refuse_schema(error, "\"__schema.types\" is not an array");
    if (!directives || directives->type != JSON_ARRAY) return refuse_schema(error, "\"__schema.directives\" is not an array");
    Introspection *s = arena_alloc(arena, sizeof *s);
    s->schema = schema;
    s->types = types;
    s->directives = directives;
    if (!index_by_name(arena, &s->types_by_name, types)) return refuse_schema(error, "a type has no name");
    if (!index_by_name(arena, &s->directives_by_name, directives)) return refuse_schema(error, "a directive has no name");
    for (size_t i = 0; i < types->count; i++) {
        Kind kind = kind_from_text(member_text(types->items[i], "kind"));
        if (kind == KIND_NONE) return refuse_schema(error, "a type has no known kind");
    }
    s->roots[GQL_QUERY] = root_name(schema, "queryType");
    s->roots[GQL_MUTATION] = root_name(schema, "mutationType");
    s->roots[GQL_SUBSCRIPTION] = root_name(schema, "subscriptionType");
    for (int i = 0; i < 3; i++) {
        if (s->roots[i].p && kind_of(s, s->roots[i]) != KIND_OBJECT) {
            return refuse_schema(error, "a root type is not among the object types");
        }
    }
    if (!s->roots[GQL_QUERY].p) return refuse_schema(error, "it has no query type");
    return s;
}

// ---- The state of one introspection_execute ----

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

static bool within_limits(const Ctx *c) { return !c->too_deep && !c->too_big; }

// Counts `n` units of work; false once over a limit.
static bool steps(Ctx *c, size_t n) {
    c->steps += n;
    if (c->steps > MAX_STEPS || arena_size(c->arena) > MAX_SCRATCH_BYTES) c->too_big = true;
    return within_limits(c);
}

static bool step(Ctx *c) { return steps(c, 1); }

static bool deeper_than_allowed(Ctx *c, int depth) {
    if (depth > MAX_NESTING) c->too_deep = true;
    return c->too_deep;
}

static void append_error(Errors *e, Str message, const GqlLoc *locs, size_t nlocs) {
    if (e->count++) buf_appendc(&e->json, ',');
    buf_appends(&e->json, "{\"message\":");
    buf_json_string(&e->json, message.p, message.n);
    if (nlocs) {
        buf_appends(&e->json, ",\"locations\":[");
        for (size_t i = 0; i < nlocs; i++) {
            buf_printf(&e->json, "%s{\"line\":%u,\"column\":%u}", i ? "," : "", (unsigned)locs[i].line, (unsigned)locs[i].column);
        }
        buf_appendc(&e->json, ']');
    }
    buf_printf(&e->json, ",\"extensions\":{\"code\":\"%s\"}}", e->code);
}

// Adds the error whose message c->msg holds (and empties it).
static void add_error(Ctx *c, const GqlLoc *locs, size_t nlocs) {
    Errors *e = &c->errors;
    if (!c->quiet && !e->stopped) {
        if (e->max && e->count >= e->max) {
            e->stopped = true;
            append_error(e, str(e->too_many), NULL, 0);
        } else {
            append_error(e, (Str){c->msg.data ? c->msg.data : "", c->msg.len}, locs, nlocs);
        }
    }
    if (e->json.len > MAX_ANSWER_BYTES) c->too_big = true;
    buf_clear(&c->msg);
}

static void add_error_at(Ctx *c, GqlLoc loc) { add_error(c, &loc, 1); }

// ---- Suggestions ("Did you mean ...?"), as graphql-js's suggestionList ----

// The UTF-16 code units of `s` with ASCII letters lowered (what JavaScript compares);
// malloc'ed, `*n` of them.
static uint16_t *lowered_units(Str s, size_t *n) {
    uint16_t *units = malloc((s.n + 1) * sizeof *units);
    if (!units) abort();
    size_t count = 0;
    const unsigned char *p = (const unsigned char *)s.p;
    for (size_t i = 0; i < s.n;) {
        unsigned char c = p[i];
        size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (i + len > s.n) len = s.n - i;
        uint32_t cp = len == 1 ? c : c & (0x3F >> (len - 1));
        for (size_t k = 1; k < len; k++) cp = (cp << 6) | (p[i + k] & 0x3F);
        if (cp >= 'A' && cp <= 'Z') cp += 'a' - 'A';
        if (cp > 0xFFFF) {
            units[count++] = (uint16_t)(0xD800 + ((cp - 0x10000) >> 10));
            units[count++] = (uint16_t)(0xDC00 + (cp & 0x3FF));
        } else {
            units[count++] = (uint16_t)cp;
        }
        i += len;
    }
    *n = count;
    return units;
}

static size_t min3(size_t a, size_t b, size_t c) { return a < b ? (a < c ? a : c) : (b < c ? b : c); }

// Damerau-Levenshtein distance between `a` and `b` (a the longer), or -1 when over
// `threshold` (graphql-js's LexicalDistance.measure, rows and early exit alike).
static long units_distance(const uint16_t *a, size_t an, const uint16_t *b, size_t bn, size_t threshold) {
    if (an - bn > threshold) return -1;
    size_t *rows = malloc(3 * (bn + 1) * sizeof *rows);
    if (!rows) abort();
    size_t *row[3] = {rows, rows + bn + 1, rows + 2 * (bn + 1)};
    for (size_t j = 0; j <= bn; j++) row[0][j] = j;
    long result = -1;
    bool exited = false;
    for (size_t i = 1; i <= an && !exited; i++) {
        size_t *up = row[(i - 1) % 3], *current = row[i % 3];
        size_t smallest = current[0] = i;
        for (size_t j = 1; j <= bn; j++) {
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t cell = min3(up[j] + 1, current[j - 1] + 1, up[j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                size_t transposed = row[(i - 2) % 3][j - 2] + 1;
                if (transposed < cell) cell = transposed;
            }
            if (cell < smallest) smallest = cell;
            current[j] = cell;
        }
        exited = smallest > threshold;
    }
    if (!exited && row[an % 3][bn] <= threshold) result = (long)row[an % 3][bn];
    free(rows);
    return result;
}

static long lexical_distance(Str input, const uint16_t *lower, size_t lower_n, Str option, size_t threshold) {
    if (str_eq(input, option)) return 0;
    size_t option_n;
    uint16_t *option_lower = lowered_units(option, &option_n);
    long distance;
    if (option_n == lower_n && memcmp(option_lower, lower, lower_n * sizeof *lower) == 0) {
        distance = 1;  // any change of case counts as one edit
    } else if (option_n >= lower_n) {
        distance = units_distance(option_lower, option_n, lower, lower_n, threshold);
    } else {
        distance = units_distance(lower, lower_n, option_lower, option_n, threshold);
    }
    free(option_lower);
    return distance;
}

static bool is_digit(int c) { return c >= '0' && c <= '9'; }

static int char_at(Str s, size_t i) { return i < s.n ? (unsigned char)s.p[i] : -1; }

// graphql-js's naturalCompare: digit runs compare as numbers.
static int natural_compare(Str a, Str b) {
    size_t i = 0, j = 0;
    while (i < a.n && j < b.n) {
        int ac = char_at(a, i), bc = char_at(b, j);
        if (is_digit(ac) && is_digit(bc)) {
            double an = 0, bn = 0;
            do {
                an = an * 10 + (ac - '0');
                ac = char_at(a, ++i);
            } while (is_digit(ac) && an > 0);
            do {
                bn = bn * 10 + (bc - '0');
                bc = char_at(b, ++j);
            } while (is_digit(bc) && bn > 0);
            if (an != bn) return an < bn ? -1 : 1;
        } else {
            if (ac != bc) return ac < bc ? -1 : 1;
            i++, j++;
        }
    }
    return a.n < b.n ? -1 : a.n > b.n;
}

typedef struct Suggestion {
    Str name;
    long distance;
} Suggestion;

static bool suggestion_before(const Suggestion *a, const Suggestion *b) {
    if (a->distance != b->distance) return a->distance < b->distance;
    return natural_compare(a->name, b->name) < 0;
}

// The options close enough to `input`, closest first: at most MAX_SUGGESTIONS of them
// are shown, so only those are kept.
static size_t suggestion_list(Str input, const Str *options, size_t noptions, Suggestion *out) {
    size_t lower_n;
    uint16_t *lower = lowered_units(input, &lower_n);
    size_t threshold = lower_n * 2 / 5 + 1;  // floor(length * 0.4) + 1, in UTF-16 units
    size_t count = 0;
    for (size_t i = 0; i < noptions; i++) {
        bool seen = false;
        for (size_t k = 0; k < count && !seen; k++) seen = str_eq(out[k].name, options[i]);
        long distance = seen ? -1 : lexical_distance(input, lower, lower_n, options[i], threshold);
        if (distance < 0) continue;
        Suggestion s = {options[i], distance};
        size_t at = count < MAX_SUGGESTIONS ? count++ : MAX_SUGGESTIONS;
        if (at == MAX_SUGGESTIONS && !suggestion_before(&s, &out[MAX_SUGGESTIONS - 1])) continue;
        if (at == MAX_SUGGESTIONS) at = MAX_SUGGESTIONS - 1;
        while (at > 0 && suggestion_before(&s, &out[at - 1])) {
            out[at] = out[at - 1];
            at--;
        }
        out[at] = s;
    }
    free(lower);
    return count;
}

// graphql-js's didYouMean: " Did you mean [sub ]"a", "b", or "c"?".
static void did_you_mean(Buf *b, const char *sub, const Suggestion *s, size_t n) {
    if (!n) return;
    buf_appends(b, " Did you mean ");
    if (sub) buf_printf(b, "%s ", sub);
    for (size_t i = 0; i < n; i++) {
        if (i) buf_appends(b, n == 2 ? " or " : i == n - 1 ? ", or " : ", ");
        buf_appendc(b, '"');
        buf_append(b, s[i].name.p, s[i].name.n);
        buf_appendc(b, '"');
    }
    buf_appendc(b, '?');
}

// Appends the suggestions to c->msg, unless no error is being reported (walking for
// variable usages only): they are the costly part of a message.
static void suggest(Ctx *c, const char *sub, Str input, const Str *options, size_t noptions) {
    if (c->quiet) return;
    Suggestion s[MAX_SUGGESTIONS];
    did_you_mean(&c->msg, sub, s, suggestion_list(input, options, noptions, s));
}

// The names of the members of `array` (objects with a "name").
static Str *names_of(Arena *arena, const Json *array, size_t *n) {
    *n = 0;
    if (!array || array->type != JSON_ARRAY) return NULL;
    Str *names = arena_alloc(arena, (array->count + 1) * sizeof *names);
    for (size_t i = 0; i < array->count; i++) {
        Str name = member_text(array->items[i], "name");
        if (name.p) names[(*n)++] = name;
    }
    return names;
}

// ---- Printing values: GraphQL literals (graphql-js print) and JSON (graphql-js inspect) ----

static void print_string_literal(Buf *b, Str s) {
    static const char hex[] = "0123456789ABCDEF";
    buf_appendc(b, '"');
    const unsigned char *p = (const unsigned char *)s.p;
    for (size_t i = 0; i < s.n; i++) {
        unsigned c = p[i];
        bool c1 = c == 0xC2 && i + 1 < s.n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9F;  // U+0080..U+009F
        if (c1) c = p[++i];
        if (c == '"' || c == '\\') {
            buf_appendc(b, '\\');
            buf_appendc(b, (char)c);
        } else if (c == '\b' || c == '\t' || c == '\n' || c == '\f' || c == '\r') {
            buf_appendc(b, '\\');
            buf_appendc(b, "btn?fr"[c - '\b']);
        } else if (c < 0x20 || c == 0x7F || c1) {
            buf_printf(b, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
        } else {
            buf_appendc(b, (char)c);
        }
    }
    buf_appendc(b, '"');
}

// Values are checked to nest at most MAX_NESTING deep before anything prints them.
static void print_value(Buf *b, const GqlValue *v) {
    switch (v->kind) {
    case GQL_VARIABLE:
        buf_appendc(b, '$');
        buf_append(b, v->text, v->len);
        break;
    case GQL_STRING:
        print_string_literal(b, (Str){v->text, v->len});
        break;
    case GQL_NULL:
        buf_appends(b, "null");
        break;
    case GQL_LIST:
    case GQL_OBJECT:
        buf_appendc(b, v->kind == GQL_LIST ? '[' : '{');
        for (size_t i = 0; i < v->count; i++) {
            if (i) buf_appends(b, ", ");
            if (v->kind == GQL_OBJECT) buf_printf(b, "%s: ", v->names[i]);
            print_value(b, v->items[i]);
        }
        buf_appendc(b, v->kind == GQL_LIST ? ']' : '}');
        break;
    default:  // numbers, enum values and booleans print as written
        buf_append(b, v->text, v->len);
        break;
    }
}

static bool value_too_deep(const GqlValue *v, int depth) {
    if (depth > MAX_NESTING) return true;
    if (v->kind == GQL_LIST || v->kind == GQL_OBJECT) {
        for (size_t i = 0; i < v->count; i++) {
            if (value_too_deep(v->items[i], depth + 1)) return true;
        }
    }
    return false;
}

// JavaScript's String(number) for the JSON number `text`: the shortest digits that read
// back as the same double, in fixed notation from 1e-7 up to 1e21.
static void js_number(Buf *b, const char *text) {
    double x = strtod(text, NULL);
    if (x != x) {
        buf_appends(b, "NaN");
        return;
    }
    if (x < 0) {
        buf_appendc(b, '-');
        x = -x;
    }
    if (x == 0) {
        buf_appendc(b, '0');  // -0 too
        return;
    }
    if (x > DBL_MAX) {
        buf_appends(b, "Infinity");
        return;
    }
    char scientific[40];
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(scientific, sizeof scientific, "%.*e", precision - 1, x);
        if (strtod(scientific, NULL) == x) break;
    }
    char digits[20];
    int k = 0;
    const char *p = scientific;
    for (; *p != 'e'; p++) {
        if (is_digit(*p)) digits[k++] = *p;
    }
    int n = atoi(p + 1) + 1;  // the value is 0.digits * 10^n
    if (k <= n && n <= 21) {
        buf_append(b, digits, (size_t)k);
        for (int i = k; i < n; i++) buf_appendc(b, '0');
    } else if (0 < n && n <= 21) {
        buf_append(b, digits, (size_t)n);
        buf_appendc(b, '.');
        buf_append(b, digits + n, (size_t)(k - n));
    } else if (-6 < n && n <= 0) {
        buf_appends(b, "0.");
        for (int i = n; i < 0; i++) buf_appendc(b, '0');
        buf_append(b, digits, (size_t)k);
    } else {
        buf_appendc(b, digits[0]);
        if (k > 1) {
            buf_appendc(b, '.');
            buf_append(b, digits + 1, (size_t)(k - 1));
        }
        buf_printf(b, "e%c%d", n - 1 >= 0 ? '+' : '-', n - 1 >= 0 ? n - 1 : 1 - n);
    }
}

// Whether `key` is an array index (a canonical integer below 2^32 - 1): JavaScript puts
// such keys first, in numeric order.
static bool array_index(Str key, uint64_t *value) {
    if (key.n == 0 || key.n > 10 || (key.n > 1 && key.p[0] == '0')) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < key.n; i++) {
        if (!is_digit(key.p[i])) return false;
        v = v * 10 + (uint64_t)(key.p[i] - '0');
    }
    *value = v;
    return v < 4294967295u;
}

typedef struct Entry {
    Str key;
    size_t first;  // where the key is first written (its place in the object)
    size_t last;   // where it is last written (its value)
    uint64_t index;
    bool is_index;
} Entry;

static int compare_keys(const void *a, const void *b, void *object) {
    const Json *o = object;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    Str ki = {o->keys[i], o->key_lens[i]}, kj = {o->keys[j], o->key_lens[j]};
    size_t n = ki.n < kj.n ? ki.n : kj.n;
    int order = n ? memcmp(ki.p, kj.p, n) : 0;
    if (order) return order;
    if (ki.n != kj.n) return ki.n < kj.n ? -1 : 1;
    return i < j ? -1 : i > j;
}

static int compare_entries(const void *a, const void *b) {
    const Entry *x = a, *y = b;
    if (x->is_index != y->is_index) return x->is_index ? -1 : 1;
    if (x->is_index) return x->index < y->index ? -1 : x->index > y->index;
    return x->first < y->first ? -1 : x->first > y->first;
}

static void *must_malloc(size_t size) {
    void *p = malloc(size);
    if (!p) abort();
    return p;
}

// The members of a JSON object as JavaScript's Object.entries sees what JSON.parse made of
// it: each key once (its last value, at its first place), array indexes first. Malloc'ed:
// messages inspect the same big object again and again, and must not pile up memory.
static Entry *object_entries(const Json *object, size_t *n) {
    size_t count = object->count;
    size_t *order = must_malloc((count + 1) * sizeof *order);
    for (size_t i = 0; i < count; i++) order[i] = i;
    qsort_r(order, count, sizeof *order, compare_keys, (void *)object);
    Entry *entries = must_malloc((count + 1) * sizeof *entries);
    *n = 0;
    for (size_t i = 0; i < count; i++) {
        Str key = {object->keys[order[i]], object->key_lens[order[i]]};
        if (*n && str_eq(entries[*n - 1].key, key)) {
            entries[*n - 1].last = order[i];
            continue;
        }
        Entry *e = &entries[(*n)++];
        *e = (Entry){key, order[i], order[i], 0, false};
        e->is_index = array_index(key, &e->index);
    }
    free(order);
    qsort(entries, *n, sizeof *entries, compare_entries);
    return entries;
}

// graphql-js's inspect: `seen` objects and arrays enclose this value.
static void inspect_json(Buf *b, const Json *v, int seen) {
    switch (v->type) {
    case JSON_NULL:
        buf_appends(b, "null");
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        buf_appends(b, v->type == JSON_TRUE ? "true" : "false");
        break;
    case JSON_NUMBER:
        js_number(b, v->text);
        break;
    case JSON_STRING:
        buf_json_string(b, v->text, v->len);
        break;
    case JSON_ARRAY: {
        if (!v->count) {
            buf_appends(b, "[]");
        } else if (seen + 1 > 2) {
            buf_appends(b, "[Array]");
        } else {
            size_t shown = v->count < 10 ? v->count : 10;
            buf_appendc(b, '[');
            for (size_t i = 0; i < shown; i++) {
                if (i) buf_appends(b, ", ");
                inspect_json(b, v->items[i], seen + 1);
            }
            size_t more = v->count - shown;
            if (more) buf_printf(b, more == 1 ? ", ... 1 more item" : ", ... %zu more items", more);
            buf_appendc(b, ']');
        }
        break;
    }
    case JSON_OBJECT: {
        if (!v->count) {
            buf_appends(b, "{}");
        } else if (seen + 1 > 2) {
            buf_appends(b, "[Object]");
        } else {
            size_t n;
            Entry *entries = object_entries(v, &n);
            buf_appends(b, "{ ");
            for (size_t i = 0; i < n; i++) {
                if (i) buf_appends(b, ", ");
                buf_append(b, entries[i].key.p, entries[i].key.n);
                buf_appends(b, ": ");
                inspect_json(b, v->items[entries[i].last], seen + 1);
            }
            buf_appends(b, " }");
            free(entries);
        }
        break;
    }
    }
}

// ---- Schema lookups for validation ----

// The name of the type called `name` as one pointer for every mention of it (graphql-js
// compares type objects), or NULL when the schema has no such type.
static const char *canonical_type(const Introspection *s, Str name) {
    const Json *type = type_named(s, name);
    if (type) return member_text(type, "name").p;
    Meta meta = meta_of_name(name);
    return meta != META_NONE ? META_NAMES[meta] : NULL;
}

// `ref` when it is an input type the schema knows (graphql-js's typeFromAST and
// isInputType), else NULL.
static const TypeRef *known_input_type(const Ctx *c, const TypeRef *ref) {
    return ref && is_input(kind_of(c->s, named_type(ref)->name)) ? ref : NULL;
}

static bool has_default(const Json *input_value) {
    const Json *d = json_get(input_value, "defaultValue");
    return d && d->type != JSON_NULL;
}

static bool is_true(const Json *v) { return v && v->type == JSON_TRUE; }

static const Json *find_named(const Json *array, Str name) {
    if (!array || array->type != JSON_ARRAY) return NULL;
    for (size_t i = 0; i < array->count; i++) {
        if (str_eq(member_text(array->items[i], "name"), name)) return array->items[i];
    }
    return NULL;
}

typedef struct DirectiveDef {
    ArgDef *args;
    size_t nargs;
    bool repeatable;
    const Json *locations;
} DirectiveDef;

static ArgDef *arg_defs_of(Ctx *c, const Json *args, size_t *n) {
    *n = 0;
    if (!args || args->type != JSON_ARRAY) return NULL;
    ArgDef *defs = arena_alloc(c->arena, (args->count + 1) * sizeof *defs);
    for (size_t i = 0; i < args->count; i++) {
        Str name = member_text(args->items[i], "name");
        if (!name.p) continue;
        const TypeRef *type = known_input_type(c, type_from_json(c->arena, json_get(args->items[i], "type"), 0));
        defs[(*n)++] = (ArgDef){name, type, has_default(args->items[i])};
    }
    return defs;
}

static const DirectiveDef *directive_def(Ctx *c, Str name) {
    DirectiveDef *def = map_get(&c->directives, name);
    if (def) return def;
    const Json *json = map_get(&c->s->directives_by_name, name);
    if (!json) return NULL;
    def = arena_alloc(c->arena, sizeof *def);
    def->args = arg_defs_of(c, json_get(json, "args"), &def->nargs);
    def->repeatable = is_true(json_get(json, "isRepeatable"));
    def->locations = json_get(json, "locations");
    map_put(c->arena, &c->directives, name, def);
    return def;
}

static const ArgDef *find_arg(const ArgDef *args, size_t n, Str name) {
    for (size_t i = 0; i < n; i++) {
        if (str_eq(args[i].name, name)) return &args[i];
    }
    return NULL;
}

static Str *arg_names(Arena *arena, const ArgDef *args, size_t n) {
    Str *names = arena_alloc(arena, (n + 1) * sizeof *names);
    for (size_t i = 0; i < n; i++) names[i] = args[i].name;
    return names;
}

static bool required(const ArgDef *arg) { return is_non_null(arg->type) && !arg->has_default; }

static const GqlArgument *last_argument(const GqlArgument *args, size_t n, Str name) {
    for (size_t i = n; i-- > 0;) {
        if (str_is(name, args[i].name)) return &args[i];
    }
    return NULL;
}

// The meta field `name` of `meta` (__typename included); NULL when there is none or
// `meta` is not a meta type. The root offers __schema and __type to queries only.
static const MetaField *meta_field(const Ctx *c, Meta meta, Str name) {
    if (meta == META_NONE) return NULL;
    if (str_is(name, "__typename")) return &TYPENAME;
    if (meta == META_ROOT && c->op->type != GQL_QUERY) return NULL;
    for (size_t i = 0; i < META_FIELDS[meta].count; i++) {
        if (str_is(name, META_FIELDS[meta].fields[i].name)) return &META_FIELDS[meta].fields[i];
    }
    return NULL;
}

// Every type's name, in the schema's order (graphql-js suggests among them).
static const Str *type_names(Ctx *c, size_t *n) {
    if (!c->type_names) c->type_names = names_of(c->arena, c->s->types, &c->ntype_names);
    *n = c->ntype_names;
    return c->type_names;
}

// ---- Validation: values (ValuesOfCorrectType, and where variables are used) ----

static void record_usage(Ctx *c, const GqlValue *variable, const TypeRef *type, bool location_default, const TypeRef *parent) {
    Usages *u = c->usages;
    if (!u) return;
    u->items = grow_array(c->arena, u->items, u->count, &u->cap, sizeof *u->items);
    u->items[u->count++] = (Usage){variable, type, location_default, parent};
}

static void check_value(Ctx *c, const GqlValue *v, const TypeRef *type, bool location_default, const TypeRef *parent,
                        bool checked);

static Str *enum_value_names(Ctx *c, Str enum_name, size_t *n) {
    return names_of(c->arena, json_get(type_named(c->s, enum_name), "enumValues"), n);
}

static void check_enum_literal(Ctx *c, const GqlValue *v, Str enum_name) {
    size_t n;
    Str *names = enum_value_names(c, enum_name, &n);
    Buf printed = BUF_INIT;
    print_value(&printed, v);
    Str text = {printed.data, printed.len};
    bool exists = false;
    for (size_t i = 0; i < n && !exists; i++) exists = v->kind == GQL_ENUM && str_eq(names[i], text);
    if (!exists) {
        if (v->kind != GQL_ENUM) {
            buf_printf(&c->msg, "Enum \"%.*s\" cannot represent non-enum value: %.*s.", (int)enum_name.n, enum_name.p,
                       (int)text.n, text.p);
        } else {
            buf_printf(&c->msg, "Value \"%.*s\" does not exist in \"%.*s\" enum.", (int)text.n, text.p, (int)enum_name.n,
                       enum_name.p);
        }
        suggest(c, "the enum value", text, names, n);
        add_error_at(c, v->loc);
    }
    buf_free(&printed);
}

static bool int_literal_fits(const GqlValue *v) {
    double x = strtod(v->text, NULL);
    return x <= 2147483647.0 && x >= -2147483648.0;
}

// A built-in scalar's parseLiteral: the message when `v` is not one of its literals.
static const char *scalar_literal_problem(Str scalar, const GqlValue *v) {
    if (str_is(scalar, "String")) return v->kind == GQL_STRING ? NULL : "String cannot represent a non string value: ";
    if (str_is(scalar, "Boolean")) return v->kind == GQL_BOOLEAN ? NULL : "Boolean cannot represent a non boolean value: ";
    if (str_is(scalar, "Int")) return v->kind == GQL_INT ? NULL : "Int cannot represent non-integer value: ";
    if (str_is(scalar,
               "Float")) return v->kind == GQL_FLOAT || v->kind == GQL_INT ? NULL : "Float cannot represent non numeric value: ";
    if (str_is(scalar, "ID")) {
        return v->kind == GQL_STRING || v->kind == GQL_INT ? NULL : "ID cannot represent a non-string and non-integer value: ";
    }
    return NULL;  // a custom scalar takes any literal
}

// graphql-js's isValidValueNode: `v`, a literal that is not a list or input object where
// one is expected, against the leaf type `type`.
static void check_leaf_literal(Ctx *c, const GqlValue *v, const TypeRef *type) {
    if (!type) return;
    Str named = named_type(type)->name;
    Kind kind = kind_of(c->s, named);
    const char *problem;
    if (!is_leaf(kind)) {
        buf_appends(&c->msg, "Expected value of type \"");
        print_type(&c->msg, type);
        buf_appends(&c->msg, "\", found ");
        print_value(&c->msg, v);
        buf_appendc(&c->msg, '.');
        add_error_at(c, v->loc);
    } else if (kind == KIND_ENUM) {
        check_enum_literal(c, v, named);
    } else if ((problem = scalar_literal_problem(named, v))) {
        buf_appends(&c->msg, problem);
        print_value(&c->msg, v);
        add_error_at(c, v->loc);
    } else if (str_is(named, "Int") && !int_literal_fits(v)) {
        buf_printf(&c->msg, "Int cannot represent non 32-bit signed integer value: %s", v->text);
        add_error_at(c, v->loc);
    }
}

static void check_list(Ctx *c, const GqlValue *v, const TypeRef *type, bool checked) {
    const TypeRef *list = nullable(type);
    const TypeRef *item = list && list->kind == REF_LIST ? list->of : list;
    if (checked && list && list->kind != REF_LIST) {
        check_leaf_literal(c, v, item);
        checked = false;
    }
    for (size_t i = 0; i < v->count; i++) check_value(c, v->items[i], item, false, type, checked);
}

static bool literal_has_field(Ctx *c, const GqlValue *v, Str name) {
    for (size_t i = 0; i < v->count && step(c); i++) {
        if (str_is(name, v->names[i])) return true;
    }
    return false;
}

static void check_required_input_fields(Ctx *c, const GqlValue *v, Str type_name, const Json *fields) {
    for (size_t i = 0; fields && fields->type == JSON_ARRAY && i < fields->count; i++) {
        const Json *field = fields->items[i];
        Str name = member_text(field, "name");
        const TypeRef *type = type_from_json(c->arena, json_get(field, "type"), 0);
        if (!name.p || !is_non_null(type) || has_default(field) || literal_has_field(c, v, name)) continue;
        buf_printf(&c->msg, "Field \"%.*s.%.*s\" of required type \"", (int)type_name.n, type_name.p, (int)name.n, name.p);
        print_type(&c->msg, type);
        buf_appends(&c->msg, "\" was not provided.");
        add_error_at(c, v->loc);
    }
}

static void check_one_of_literal(Ctx *c, const GqlValue *v, Str type_name) {
    bool one_key = v->count > 0;
    for (size_t i = 1; i < v->count && one_key; i++) one_key = strcmp(v->names[i], v->names[0]) == 0;
    if (!one_key) {
        buf_printf(&c->msg, "OneOf Input Object \"%.*s\" must specify exactly one key.", (int)type_name.n, type_name.p);
        add_error_at(c, v->loc);
    } else if (v->items[v->count - 1]->kind == GQL_NULL) {
        buf_printf(&c->msg, "Field \"%.*s.%s\" must be non-null.", (int)type_name.n, type_name.p, v->names[0]);
        add_error_at(c, v->loc);
    }
}

static void check_object(Ctx *c, const GqlValue *v, const TypeRef *type, bool checked) {
    const TypeRef *named = type ? named_type(type) : NULL;
    const Json *object_type = named && kind_of(c->s, named->name) == KIND_INPUT_OBJECT ? type_named(c->s, named->name) : NULL;
    const Json *fields = json_get(object_type, "inputFields");
    if (checked && !object_type) {
        check_leaf_literal(c, v, type);
        checked = false;
    } else if (checked) {
        check_required_input_fields(c, v, named->name, fields);
        if (is_true(json_get(object_type, "isOneOf"))) check_one_of_literal(c, v, named->name);
    }
    for (size_t i = 0; i < v->count; i++) {
        const Json *field = find_named(fields, str(v->names[i]));
        if (checked && !field) {
            size_t n;
            Str *names = names_of(c->arena, fields, &n);
            buf_printf(&c->msg, "Field \"%s\" is not defined by type \"%.*s\".", v->names[i], (int)named->name.n, named->name.p);
            suggest(c, NULL, str(v->names[i]), names, n);
            add_error_at(c, v->name_locs[i]);
        }
        const TypeRef *field_type = field ? known_input_type(c, type_from_json(c->arena, json_get(field, "type"), 0)) : NULL;
        check_value(c, v->items[i], field_type, field && has_default(field), type, checked);
    }
}

// `v` where a value of `type` is expected (NULL: not known there); `checked`: whether
// ValuesOfCorrectType still looks (it stops below a value it refused).
static void check_value(Ctx *c, const GqlValue *v, const TypeRef *type, bool location_default, const TypeRef *parent,
                        bool checked) {
    if (!step(c)) return;
    switch (v->kind) {
    case GQL_VARIABLE:
        record_usage(c, v, type, location_default, parent);
        break;
    case GQL_LIST:
        check_list(c, v, type, checked);
        break;
    case GQL_OBJECT:
        check_object(c, v, type, checked);
        break;
    case GQL_NULL:
        if (checked && is_non_null(type)) {
            buf_appends(&c->msg, "Expected value of type \"");
            print_type(&c->msg, type);
            buf_appends(&c->msg, "\", found null.");
            add_error_at(c, v->loc);
        }
        break;
    default:
        if (checked) check_leaf_literal(c, v, type);
        break;
    }
}

// An argument's value: refused when it nests too deep, else checked against `def`.
static void check_argument_value(Ctx *c, const GqlArgument *arg, const ArgDef *def) {
    if (value_too_deep(arg->value, 0)) {
        c->too_deep = true;
        return;
    }
    check_value(c, arg->value, def ? def->type : NULL, def && def->has_default, NULL, true);
}

// ---- Validation: directives ----

static void check_unique_directives(Ctx *c, const GqlDirective *ds, size_t n) {
    Map seen = {NULL, 0, 0};  // name -> its first directive here
    for (size_t i = 0; i < n && step(c); i++) {
        const DirectiveDef *def = directive_def(c, str(ds[i].name));
        if (!def || def->repeatable) continue;
        const GqlDirective *first = map_get(&seen, str(ds[i].name));
        if (!first) {
            map_put(c->arena, &seen, str(ds[i].name), (void *)&ds[i]);
            continue;
        }
        buf_printf(&c->msg, "The directive \"@%s\" can only be used once at this location.", ds[i].name);
        add_error(c, (GqlLoc[]){first->loc, ds[i].loc}, 2);
    }
}

static bool has_location(const DirectiveDef *def, const char *location) {
    for (size_t i = 0; def->locations && def->locations->type == JSON_ARRAY && i < def->locations->count; i++) {
        if (str_is(json_text(def->locations->items[i]), location)) return true;
    }
    return false;
}

static void check_directive(Ctx *c, const GqlDirective *d, const char *location) {
    const DirectiveDef *def = directive_def(c, str(d->name));
    if (!def) {
        buf_printf(&c->msg, "Unknown directive \"@%s\".", d->name);
        add_error_at(c, d->loc);
    } else if (!has_location(def, location)) {
        buf_printf(&c->msg, "Directive \"@%s\" may not be used on %s.", d->name, location);
        add_error_at(c, d->loc);
    }
    for (size_t i = 0; def && i < d->nargs; i++) {
        if (find_arg(def->args, def->nargs, str(d->args[i].name))) continue;
        buf_printf(&c->msg, "Unknown argument \"%s\" on directive \"@%s\".", d->args[i].name, d->name);
        suggest(c, NULL, str(d->args[i].name), arg_names(c->arena, def->args, def->nargs), def->nargs);
        add_error_at(c, d->args[i].loc);
    }
    for (size_t i = 0; i < d->nargs; i++) {
        check_argument_value(c, &d->args[i], def ? find_arg(def->args, def->nargs, str(d->args[i].name)) : NULL);
    }
    for (size_t i = 0; def && i < def->nargs; i++) {
        if (!required(&def->args[i]) || last_argument(d->args, d->nargs, def->args[i].name)) continue;
        buf_printf(&c->msg, "Directive \"@%s\" argument \"%.*s\" of type \"", d->name, (int)def->args[i].name.n,
                   def->args[i].name.p);
        print_type(&c->msg, def->args[i].type);
        buf_appends(&c->msg, "\" is required, but it was not provided.");
        add_error_at(c, d->loc);
    }
}

static void check_directives(Ctx *c, const GqlDirective *ds, size_t n, const char *location) {
    for (size_t i = 0; i < n; i++) check_directive(c, &ds[i], location);
}

// ---- Validation: OverlappingFieldsCanBeMerged (graphql-js 16.15's algorithm, budget and all) ----

typedef struct FieldDetail {
    const char *parent;  // canonical_type of the type it is selected on (NULL: unknown)
    const GqlSelection *node;
    const MetaField *def;  // NULL: __typename, or a type that is not a meta type
    bool simple_leaf;      // no arguments, no selections
} FieldDetail;

typedef struct Group {
    Str key;
    FieldDetail *items;
    size_t count;
    size_t cap;
} Group;

typedef struct Overlaps {
    size_t *first;   // indexes of groups in the first collection...
    size_t *second;  // ...and of the same response key's group in the second
    size_t count;
} Overlaps;

typedef struct Collected {
    Group *groups;
    size_t ngroups;
    size_t cap;
    Map by_key;  // response key -> group index + 1
    Str *fragments;
    size_t nfragments;
    size_t fragments_cap;
    Map fragment_set;
    Map compared;     // fragment name -> &EXCLUSIVE or &NOT_EXCLUSIVE
    Map overlapping;  // the other Collected -> Overlaps
} Collected;

static const char EXCLUSIVE = 1, NOT_EXCLUSIVE = 0;

typedef struct Conflict {
    Str key;
    Str reason;
    const GqlSelection **nodes1;
    size_t n1;
    const GqlSelection **nodes2;
    size_t n2;
} Conflict;

typedef struct Conflicts {
    Conflict *items;
    size_t count;
    size_t cap;
} Conflicts;

// Spends the rule's budget; false once it is gone (graphql-js then aborts validation).
static bool spend(Ctx *c, long cost) {
    c->conflict_budget -= cost;
    if (c->conflict_budget < 0) c->conflicts_aborted = true;
    return !c->conflicts_aborted && within_limits(c);
}

static const MetaField *detail_def(const char *parent, Str name) {
    Meta meta = parent ? meta_of_name(str(parent)) : META_NONE;
    if (meta == META_NONE) return NULL;
    for (size_t i = 0; i < META_FIELDS[meta].count; i++) {
        if (str_is(name, META_FIELDS[meta].fields[i].name)) return &META_FIELDS[meta].fields[i];
    }
    return NULL;
}

static void collect_into(Ctx *c, Collected *out, const char *parent, const GqlSelectionSet *set, int depth) {
    if (deeper_than_allowed(c, depth)) return;
    for (size_t i = 0; i < set->count && step(c); i++) {
        const GqlSelection *sel = &set->items[i];
        if (sel->kind == GQL_FIELD) {
            Str key = str(sel->alias ? sel->alias : sel->name);
            size_t index = (size_t)(uintptr_t)map_get(&out->by_key, key);
            if (!index) {
                out->groups = grow_array(c->arena, out->groups, out->ngroups, &out->cap, sizeof *out->groups);
                out->groups[out->ngroups++] = (Group){key, NULL, 0, 0};
                index = out->ngroups;
                map_put(c->arena, &out->by_key, key, (void *)(uintptr_t)index);
            }
            Group *g = &out->groups[index - 1];
            g->items = grow_array(c->arena, g->items, g->count, &g->cap, sizeof *g->items);
            g->items[g->count++] = (FieldDetail){parent, sel, detail_def(parent, str(sel->name)),
                                                 sel->nargs == 0 && sel->selections.count == 0};
        } else if (sel->kind == GQL_FRAGMENT_SPREAD) {
            if (map_get(&out->fragment_set, str(sel->name))) continue;
            map_put(c->arena, &out->fragment_set, str(sel->name), (void *)sel);
            out->fragments = grow_array(c->arena, out->fragments, out->nfragments, &out->fragments_cap, sizeof *out->fragments);
            out->fragments[out->nfragments++] = str(sel->name);
        } else {
            const char *type = sel->type_condition ? canonical_type(c->s, str(sel->type_condition)) : parent;
            collect_into(c, out, type, &sel->selections, depth + 1);
        }
    }
}

// The fields of `set` by response key, and the fragments it spreads (inline fragments
// inlined); made once for each selection set and type.
static Collected *collect(Ctx *c, const char *parent, const GqlSelectionSet *set, int depth) {
    const void *identity[2] = {set, parent};
    Collected *collected = map_get(&c->collected, pointers_key(identity));
    if (collected) return collected;
    collected = arena_alloc(c->arena, sizeof *collected);
    collect_into(c, collected, parent, set, depth);
    map_put(c->arena, &c->collected, stored_key(c->arena, pointers_key(identity)), collected);
    return collected;
}

static Collected *collect_fragment(Ctx *c, const GqlFragment *fragment, int depth) {
    const char *type = fragment->type_condition ? canonical_type(c->s, str(fragment->type_condition)) : NULL;
    return collect(c, type, &fragment->selections, depth);
}

static Str arena_text(Ctx *c, const Buf *b) { return (Str){arena_strndup(c->arena, b->data ? b->data : "", b->len), b->len}; }

static int compare_field_names(const void *a, const void *b, void *object) {
    const GqlValue *v = object;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int order = strcmp(v->names[i], v->names[j]);
    return order ? order : (i > j) - (i < j);
}

// A canonical text of a value: equal texts for values graphql-js's stringifyValue finds
// equal (object fields sorted by name, stably).
static void canonical_value(Buf *b, const GqlValue *v) {
    buf_printf(b, "%d:", (int)v->kind);
    if (v->kind == GQL_LIST) {
        for (size_t i = 0; i < v->count; i++) canonical_value(b, v->items[i]);
    } else if (v->kind == GQL_OBJECT) {
        size_t *order = must_malloc((v->count + 1) * sizeof *order);
        for (size_t i = 0; i < v->count; i++) order[i] = i;
        qsort_r(order, v->count, sizeof *order, compare_field_names, (void *)v);
        for (size_t i = 0; i < v->count; i++) {
            buf_printf(b, "%zu:%s", strlen(v->names[order[i]]), v->names[order[i]]);
            canonical_value(b, v->items[order[i]]);
        }
        free(order);
    } else {
        buf_printf(b, "%zu:", v->len);
        buf_append(b, v->text, v->len);
    }
    buf_appendc(b, ';');
}

static bool same_value(const GqlValue *a, const GqlValue *b) {
    Buf x = BUF_INIT, y = BUF_INIT;
    canonical_value(&x, a);
    canonical_value(&y, b);
    bool same = x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
    buf_free(&x);
    buf_free(&y);
    return same;
}

static bool same_arguments(Ctx *c, const GqlSelection *a, const GqlSelection *b) {
    if (a->nargs == 0) return b->nargs == 0;
    if (a->nargs != b->nargs) return false;
    for (size_t i = 0; i < a->nargs; i++) {
        if (!spend(c, 1) || !steps(c, b->nargs)) return true;  // (the lookup below)
        const GqlArgument *other = last_argument(b->args, b->nargs, str(a->args[i].name));
        if (!other) return false;
        if (value_too_deep(a->args[i].value, 0) || value_too_deep(other->value, 0)) {
            c->too_deep = true;
            return true;
        }
        if (!same_value(a->args[i].value, other->value)) return false;
    }
    return true;
}

static const TypeRef *def_type(Ctx *c, const MetaField *def) { return def ? type_from_text(c->arena, def->type) : NULL; }

// Whether a field's type is the very same graphql-js object as another's: a named type
// is one object; a wrapped one is made anew for each field.
static bool same_type_object(const MetaField *a, const MetaField *b) {
    if (a == b) return true;
    return a && b && strcmp(a->type, b->type) == 0 && strchr(a->type, '!') == NULL && strchr(a->type, '[') == NULL;
}

static bool types_conflict(Ctx *c, const TypeRef *a, const TypeRef *b) {
    if (!spend(c, 1)) return false;
    if (a->kind == REF_LIST || b->kind == REF_LIST) return a->kind == b->kind ? types_conflict(c, a->of, b->of) : true;
    if (a->kind == REF_NON_NULL || b->kind == REF_NON_NULL) return a->kind == b->kind ? types_conflict(c, a->of, b->of) : true;
    if (is_leaf(kind_of(c->s, a->name)) || is_leaf(kind_of(c->s, b->name))) return !str_eq(a->name, b->name);
    return false;
}

static Str abbreviated(Ctx *c, Str text) {
    if (text.n <= MAX_CONFLICT_DETAIL) return text;
    Buf b = BUF_INIT;
    buf_append(&b, text.p, MAX_CONFLICT_DETAIL);
    buf_appends(&b, "...");
    Str s = arena_text(c, &b);
    buf_free(&b);
    return s;
}

static void push_conflict(Ctx *c, Conflicts *out, Conflict conflict) {
    out->items = grow_array(c->arena, out->items, out->count, &out->cap, sizeof *out->items);
    out->items[out->count++] = conflict;
}

static const GqlSelection **one_node(Ctx *c, const GqlSelection *node) {
    const GqlSelection **nodes = arena_alloc(c->arena, sizeof *nodes);
    nodes[0] = node;
    return nodes;
}

static Conflict *new_conflict(Ctx *c, Str key, Str reason, const GqlSelection *a, const GqlSelection *b) {
    Conflict *conflict = arena_alloc(c->arena, sizeof *conflict);
    *conflict = (Conflict){key, reason, one_node(c, a), 1, one_node(c, b), 1};
    return conflict;
}

// The enclosing field, then the fields of the subfield conflicts, from the end of each,
// at most MAX_CONFLICT_NODES in all.
static const GqlSelection **conflict_nodes(Ctx *c, const GqlSelection *node, const Conflicts *sub, bool second, size_t *n) {
    const GqlSelection **nodes = arena_alloc(c->arena, MAX_CONFLICT_NODES * sizeof *nodes);
    nodes[0] = node;
    *n = 1;
    for (size_t i = 0; i < sub->count && *n < MAX_CONFLICT_NODES; i++) {
        const GqlSelection **from = second ? sub->items[i].nodes2 : sub->items[i].nodes1;
        size_t count = second ? sub->items[i].n2 : sub->items[i].n1;
        size_t keep = count < MAX_CONFLICT_NODES - *n ? count : MAX_CONFLICT_NODES - *n;
        for (size_t k = count - keep; k < count; k++) nodes[(*n)++] = from[k];
    }
    return nodes;
}

static Conflict *subfield_conflicts(Ctx *c, const Conflicts *sub, Str key, const GqlSelection *a, const GqlSelection *b) {
    if (!sub->count) return NULL;
    Buf message = BUF_INIT;
    for (size_t i = 0; i < sub->count && message.len <= MAX_CONFLICT_DETAIL; i++) {
        Str name = abbreviated(c, sub->items[i].key);
        buf_printf(&message, "%ssubfields \"%.*s\" conflict because %.*s", i ? " and " : "", (int)name.n, name.p,
                   (int)sub->items[i].reason.n, sub->items[i].reason.p);
    }
    Conflict *conflict = arena_alloc(c->arena, sizeof *conflict);
    conflict->key = key;
    conflict->reason = abbreviated(c, arena_text(c, &message));
    conflict->nodes1 = conflict_nodes(c, a, sub, false, &conflict->n1);
    conflict->nodes2 = conflict_nodes(c, b, sub, true, &conflict->n2);
    buf_free(&message);
    return conflict;
}

static Conflicts conflicts_between_sub_selections(Ctx *c, bool exclusive, const char *parent1, const GqlSelectionSet *set1,
                                                  const char *parent2, const GqlSelectionSet *set2, int depth);

static Conflict *find_conflict(Ctx *c, bool parents_exclusive, Str key, const FieldDetail *f1, const FieldDetail *f2, int depth) {
    bool objects = kind_of(c->s, str(f1->parent ? f1->parent : "")) == KIND_OBJECT &&
                   kind_of(c->s, str(f2->parent ? f2->parent : "")) == KIND_OBJECT;
    bool exclusive = parents_exclusive || (f1->parent != f2->parent && objects);
    if (!spend(c, 2) || deeper_than_allowed(c, depth)) return NULL;
    const GqlSelection *a = f1->node, *b = f2->node;
    if (f1->simple_leaf && f2->simple_leaf && same_type_object(f1->def, f2->def) && strcmp(a->name, b->name) == 0) return NULL;
    if (!exclusive) {
        Buf reason = BUF_INIT;
        if (strcmp(a->name, b->name) != 0) {
            Str n1 = abbreviated(c, str(a->name)), n2 = abbreviated(c, str(b->name));
            buf_printf(&reason, "\"%.*s\" and \"%.*s\" are different fields", (int)n1.n, n1.p, (int)n2.n, n2.p);
        } else if (!same_arguments(c, a, b)) {
            buf_appends(&reason, "they have differing arguments");
        }
        Conflict *conflict = reason.len ? new_conflict(c, key, arena_text(c, &reason), a, b) : NULL;
        buf_free(&reason);
        if (conflict) return conflict;
    }
    const TypeRef *t1 = def_type(c, f1->def), *t2 = def_type(c, f2->def);
    if (t1 && t2 && types_conflict(c, t1, t2)) {
        Buf reason = BUF_INIT;
        buf_appends(&reason, "they return conflicting types \"");
        print_type(&reason, t1);
        buf_appends(&reason, "\" and \"");
        print_type(&reason, t2);
        buf_appendc(&reason, '"');
        Conflict *conflict = new_conflict(c, key, arena_text(c, &reason), a, b);
        buf_free(&reason);
        return conflict;
    }
    if (a->selections.count && b->selections.count) {
        const char *p1 = f1->def && f1->def->meta != META_NONE ? META_NAMES[f1->def->meta] : NULL;
        const char *p2 = f2->def && f2->def->meta != META_NONE ? META_NAMES[f2->def->meta] : NULL;
        Conflicts sub = conflicts_between_sub_selections(c, exclusive, canonical_type(c->s, str(p1 ? p1 : "")), &a->selections,
                                                         canonical_type(c->s, str(p2 ? p2 : "")), &b->selections, depth + 1);
        return subfield_conflicts(c, &sub, key, a, b);
    }
    return NULL;
}

static void conflicts_within(Ctx *c, Conflicts *out, const Collected *collected, int depth) {
    for (size_t g = 0; g < collected->ngroups; g++) {
        const Group *group = &collected->groups[g];
        for (size_t i = 0; i < group->count; i++) {
            for (size_t j = i + 1; j < group->count; j++) {
                Conflict *conflict = find_conflict(c, false, group->key, &group->items[i], &group->items[j], depth);
                if (conflict) push_conflict(c, out, *conflict);
                if (!within_limits(c) || c->conflicts_aborted) return;
            }
        }
    }
}

static const Overlaps *overlapping(Ctx *c, Collected *first, const Collected *second) {
    const void *identity[2] = {second, NULL};
    Overlaps *o = map_get(&first->overlapping, pointers_key(identity));
    if (o) return o;
    o = arena_alloc(c->arena, sizeof *o);
    o->first = arena_alloc(c->arena, (first->ngroups + 1) * sizeof *o->first);
    o->second = arena_alloc(c->arena, (first->ngroups + 1) * sizeof *o->second);
    for (size_t g = 0; g < first->ngroups; g++) {
        if (!spend(c, 1)) break;
        size_t index = (size_t)(uintptr_t)map_get(&second->by_key, first->groups[g].key);
        if (!index) continue;
        o->first[o->count] = g;
        o->second[o->count++] = index - 1;
    }
    map_put(c->arena, &first->overlapping, stored_key(c->arena, pointers_key(identity)), o);
    return o;
}

static void conflicts_between(Ctx *c, Conflicts *out, bool exclusive, Collected *first, const Collected *second, int depth) {
    if (!first->ngroups || !second->ngroups) return;
    const Overlaps *o = overlapping(c, first, second);
    for (size_t k = 0; k < o->count; k++) {
        const Group *g1 = &first->groups[o->first[k]], *g2 = &second->groups[o->second[k]];
        for (size_t i = 0; i < g1->count; i++) {
            for (size_t j = 0; j < g2->count; j++) {
                Conflict *conflict = find_conflict(c, exclusive, g1->key, &g1->items[i], &g2->items[j], depth);
                if (conflict) push_conflict(c, out, *conflict);
                if (!within_limits(c) || c->conflicts_aborted) return;
            }
        }
    }
}

static void conflicts_with_fragment(Ctx *c, Conflicts *out, bool exclusive, Collected *collected, Str name, int depth) {
    if (!spend(c, 1) || deeper_than_allowed(c, depth) || !collected->ngroups) return;
    const char *compared = map_get(&collected->compared, name);
    if (compared == &NOT_EXCLUSIVE || (exclusive && compared == &EXCLUSIVE)) return;
    map_put(c->arena, &collected->compared, name, (void *)(exclusive ? &EXCLUSIVE : &NOT_EXCLUSIVE));
    const GqlFragment *fragment = map_get(&c->fragments, name);
    if (!fragment) return;
    Collected *other = collect_fragment(c, fragment, depth);
    if (other == collected) return;
    conflicts_between(c, out, exclusive, collected, other, depth);
    for (size_t i = 0; i < other->nfragments && within_limits(c) && !c->conflicts_aborted; i++) {
        conflicts_with_fragment(c, out, exclusive, collected, other->fragments[i], depth + 1);
    }
}

static Str pair_key(char *buf, size_t cap, Str a, Str b) {
    if (a.n + b.n + 1 > cap) return (Str){NULL, 0};
    memcpy(buf, a.p, a.n);
    buf[a.n] = 0;
    memcpy(buf + a.n + 1, b.p, b.n);
    return (Str){buf, a.n + b.n + 1};
}

// graphql-js's PairSet: a pair compared as mutually exclusive also covers exclusive
// comparisons; one compared as not exclusive covers both.
static bool pair_compared(Ctx *c, Str a, Str b, bool exclusive) {
    char buf[512];
    for (int order = 0; order < 2; order++) {
        Str key = order ? pair_key(buf, sizeof buf, b, a) : pair_key(buf, sizeof buf, a, b);
        if (!key.p) {
            Buf big = BUF_INIT;
            buf_append(&big, order ? b.p : a.p, order ? b.n : a.n);
            buf_appendc(&big, 0);
            buf_append(&big, order ? a.p : b.p, order ? a.n : b.n);
            key = arena_text(c, &big);
            buf_free(&big);
        }
        const char *mark = map_get(&c->compared_pairs, key);
        if (mark && (exclusive || mark == &NOT_EXCLUSIVE)) return true;
    }
    return false;
}

static void compare_pair(Ctx *c, Str a, Str b, bool exclusive) {
    Buf key = BUF_INIT;
    buf_append(&key, a.p, a.n);
    buf_appendc(&key, 0);
    buf_append(&key, b.p, b.n);
    map_put(c->arena, &c->compared_pairs, arena_text(c, &key), (void *)(exclusive ? &EXCLUSIVE : &NOT_EXCLUSIVE));
    buf_free(&key);
}

static void conflicts_between_fragments(Ctx *c, Conflicts *out, bool exclusive, Str a, Str b, int depth) {
    if (!spend(c, 2) || deeper_than_allowed(c, depth) || str_eq(a, b) || pair_compared(c, a, b, exclusive)) return;
    compare_pair(c, a, b, exclusive);
    const GqlFragment *fa = map_get(&c->fragments, a), *fb = map_get(&c->fragments, b);
    if (!fa || !fb) return;
    Collected *ca = collect_fragment(c, fa, depth), *cb = collect_fragment(c, fb, depth);
    conflicts_between(c, out, exclusive, ca, cb, depth);
    for (size_t i = 0; i < cb->nfragments && within_limits(c) && !c->conflicts_aborted; i++) {
        conflicts_between_fragments(c, out, exclusive, a, cb->fragments[i], depth + 1);
    }
    for (size_t i = 0; i < ca->nfragments && within_limits(c) && !c->conflicts_aborted; i++) {
        conflicts_between_fragments(c, out, exclusive, ca->fragments[i], b, depth + 1);
    }
}

static Conflicts conflicts_between_sub_selections(Ctx *c, bool exclusive, const char *parent1, const GqlSelectionSet *set1,
                                                  const char *parent2, const GqlSelectionSet *set2, int depth) {
    Conflicts out = {NULL, 0, 0};
    Collected *c1 = collect(c, parent1, set1, depth), *c2 = collect(c, parent2, set2, depth);
    conflicts_between(c, &out, exclusive, c1, c2, depth);
    for (size_t i = 0; i < c2->nfragments; i++) conflicts_with_fragment(c, &out, exclusive, c1, c2->fragments[i], depth);
    for (size_t i = 0; i < c1->nfragments; i++) conflicts_with_fragment(c, &out, exclusive, c2, c1->fragments[i], depth);
    for (size_t i = 0; i < c1->nfragments; i++) {
        for (size_t j = 0; j < c2->nfragments; j++) conflicts_between_fragments(c, &out, exclusive, c1->fragments[i],
                                                                                c2->fragments[j], depth);
    }
    return out;
}

static Conflicts conflicts_within_set(Ctx *c, const char *parent, const GqlSelectionSet *set, int depth) {
    Conflicts out = {NULL, 0, 0};
    Collected *collected = collect(c, parent, set, depth);
    conflicts_within(c, &out, collected, depth);
    if (collected->nfragments && (collected->ngroups || collected->nfragments > 1)) {
        for (size_t i = 0; i < collected->nfragments; i++) {
            conflicts_with_fragment(c, &out, false, collected, collected->fragments[i], depth);
            for (size_t j = i + 1; j < collected->nfragments; j++) {
                conflicts_between_fragments(c, &out, false, collected->fragments[i], collected->fragments[j], depth);
            }
        }
    }
    return out;
}

static void report_conflicts(Ctx *c, const char *parent, const GqlSelectionSet *set, int depth) {
    Conflicts conflicts = conflicts_within_set(c, parent, set, depth);
    if (c->conflicts_aborted || !within_limits(c)) return;
    for (size_t i = 0; i < conflicts.count; i++) {
        const Conflict *k = &conflicts.items[i];
        Str key = abbreviated(c, k->key);
        buf_printf(&c->msg,
                   "Fields \"%.*s\" conflict because %.*s. Use different aliases on the fields to fetch both if this was intentional.",
                   (int)key.n, key.p, (int)k->reason.n, k->reason.p);
        GqlLoc *locs = arena_alloc(c->arena, (k->n1 + k->n2) * sizeof *locs);
        for (size_t n = 0; n < k->n1; n++) locs[n] = k->nodes1[n]->loc;
        for (size_t n = 0; n < k->n2; n++) locs[k->n1 + n] = k->nodes2[n]->loc;
        add_error(c, locs, k->n1 + k->n2);
    }
}

// ---- Validation: selections, fragments and the operation ----

// The type selections are checked against: a meta type (or the root), or META_NONE for a
// type this module does not check (an unknown one, or one of the API's own types).
typedef struct Scope {
    Meta meta;
    Str name;  // for messages; {NULL, 0} with META_NONE
} Scope;

static const Scope UNCHECKED = {META_NONE, {NULL, 0}};

static Scope scope_of_type(Str name) {
    Meta meta = meta_of_name(name);
    return meta == META_NONE ? UNCHECKED : (Scope){meta, str(META_NAMES[meta])};
}

static Scope scope_of_field(const MetaField *def) {
    return def && def->meta != META_NONE ? (Scope){def->meta, str(META_NAMES[def->meta])} : UNCHECKED;
}

static bool possible_type_of(const Ctx *c, Str abstract, Str object) {
    return find_named(json_get(type_named(c->s, abstract), "possibleTypes"), object) != NULL;
}

// graphql-js's doTypesOverlap, for a parent that is an object type.
static bool types_overlap(const Ctx *c, Str parent, Str fragment) {
    if (str_eq(parent, fragment)) return true;
    Kind kind = kind_of(c->s, fragment);
    return (kind == KIND_INTERFACE || kind == KIND_UNION) && possible_type_of(c, fragment, parent);
}

static void unknown_type(Ctx *c, Str name, GqlLoc loc) {
    size_t n;
    const Str *names = type_names(c, &n);
    buf_printf(&c->msg, "Unknown type \"%.*s\".", (int)name.n, name.p);
    suggest(c, NULL, name, names, n);
    add_error_at(c, loc);
}

static void validate_selections(Ctx *c, Scope scope, const GqlSelectionSet *set, bool of_inline_fragment, int depth);

static Str *field_names(Ctx *c, Meta meta, size_t *n) {
    *n = meta == META_ROOT && c->op->type != GQL_QUERY ? 0 : META_FIELDS[meta].count;
    Str *names = arena_alloc(c->arena, (*n + 1) * sizeof *names);
    for (size_t i = 0; i < *n; i++) names[i] = str(META_FIELDS[meta].fields[i].name);
    return names;
}

// ScalarLeafsRule.
static void check_leaf_or_object(Ctx *c, const GqlSelection *f, const MetaField *def) {
    if (def->meta == META_NONE && f->selections.count) {
        buf_printf(&c->msg, "Field \"%s\" must not have a selection since type \"%s\" has no subfields.", f->name, def->type);
        add_error_at(c, f->loc);
    } else if (def->meta != META_NONE && !f->selections.count) {
        buf_printf(&c->msg, "Field \"%s\" of type \"%s\" must have a selection of subfields. Did you mean \"%s { ... }\"?",
                   f->name, def->type, f->name);
        add_error_at(c, f->loc);
    }
}

static void unknown_field(Ctx *c, Scope scope, const GqlSelection *f) {
    size_t n;
    Str *names = field_names(c, scope.meta, &n);
    buf_printf(&c->msg, "Cannot query field \"%s\" on type \"%.*s\".", f->name, (int)scope.name.n, scope.name.p);
    suggest(c, NULL, str(f->name), names, n);
    add_error_at(c, f->loc);
}

static void check_field_arguments(Ctx *c, Scope scope, const GqlSelection *f, const MetaField *def) {
    for (size_t i = 0; i < f->nargs; i++) {
        const ArgDef *arg = def ? find_arg(def->args, def->nargs, str(f->args[i].name)) : NULL;
        if (def && !arg) {
            buf_printf(&c->msg, "Unknown argument \"%s\" on field \"%.*s.%s\".", f->args[i].name, (int)scope.name.n,
                       scope.name.p, def->name);
            suggest(c, NULL, str(f->args[i].name), arg_names(c->arena, def->args, def->nargs), def->nargs);
            add_error_at(c, f->args[i].loc);
        }
        check_argument_value(c, &f->args[i], arg);
    }
}

static void check_required_arguments(Ctx *c, const GqlSelection *f, const MetaField *def) {
    for (size_t i = 0; i < def->nargs; i++) {
        if (!required(&def->args[i]) || last_argument(f->args, f->nargs, def->args[i].name)) continue;
        buf_printf(&c->msg, "Field \"%s\" argument \"%.*s\" of type \"", def->name, (int)def->args[i].name.n,
                   def->args[i].name.p);
        print_type(&c->msg, def->args[i].type);
        buf_appends(&c->msg, "\" is required, but it was not provided.");
        add_error_at(c, f->loc);
    }
}

// The rules in graphql-js's order: the field's own (ScalarLeafs, FieldsOnCorrectType,
// UniqueDirectivesPerLocation), its arguments, its directives, its selections, then
// ProvidedRequiredArguments as it is left.
static void validate_field(Ctx *c, Scope scope, const GqlSelection *f, int depth) {
    const MetaField *def = meta_field(c, scope.meta, str(f->name));
    if (def) {
        check_leaf_or_object(c, f, def);
    } else if (scope.meta != META_NONE) {
        unknown_field(c, scope, f);
    }
    check_unique_directives(c, f->directives, f->ndirectives);
    check_field_arguments(c, scope, f, def);
    check_directives(c, f->directives, f->ndirectives, "FIELD");
    if (f->selections.count) validate_selections(c, scope_of_field(def), &f->selections, false, depth + 1);
    if (def) check_required_arguments(c, f, def);
}

static void validate_inline_fragment(Ctx *c, Scope scope, const GqlSelection *sel, int depth) {
    Scope inner = scope;
    if (sel->type_condition) {
        Str type = str(sel->type_condition);
        Kind kind = kind_of(c->s, type);
        if (kind != KIND_NONE && !is_composite(kind)) {
            buf_printf(&c->msg, "Fragment cannot condition on non composite type \"%s\".", sel->type_condition);
            add_error_at(c, sel->loc);
        } else if (is_composite(kind) && scope.name.p && !types_overlap(c, scope.name, type)) {
            buf_printf(&c->msg, "Fragment cannot be spread here as objects of type \"%.*s\" can never be of type \"%s\".",
                       (int)scope.name.n,
                       scope.name.p, sel->type_condition);
            add_error_at(c, sel->loc);
        }
        check_unique_directives(c, sel->directives, sel->ndirectives);
        if (kind == KIND_NONE) unknown_type(c, type, sel->loc);
        inner = scope_of_type(type);
    } else {
        check_unique_directives(c, sel->directives, sel->ndirectives);
    }
    check_directives(c, sel->directives, sel->ndirectives, "INLINE_FRAGMENT");
    validate_selections(c, inner, &sel->selections, true, depth + 1);
}

static void validate_spread(Ctx *c, Scope scope, const GqlSelection *sel) {
    const GqlFragment *fragment = map_get(&c->fragments, str(sel->name));
    if (!fragment) {
        buf_printf(&c->msg, "Unknown fragment \"%s\".", sel->name);
        add_error_at(c, sel->name_loc);
    } else if (fragment->type_condition && is_composite(kind_of(c->s, str(fragment->type_condition))) && scope.name.p &&
               !types_overlap(c, scope.name, str(fragment->type_condition))) {
        buf_printf(&c->msg, "Fragment \"%s\" cannot be spread here as objects of type \"%.*s\" can never be of type \"%s\".",
                   sel->name,
                   (int)scope.name.n, scope.name.p, fragment->type_condition);
        add_error_at(c, sel->loc);
    }
    check_unique_directives(c, sel->directives, sel->ndirectives);
    check_directives(c, sel->directives, sel->ndirectives, "FRAGMENT_SPREAD");
}

static bool validation_goes_on(const Ctx *c) { return within_limits(c) && !c->errors.stopped && !c->conflicts_aborted; }

static void validate_selections(Ctx *c, Scope scope, const GqlSelectionSet *set, bool of_inline_fragment, int depth) {
    if (deeper_than_allowed(c, depth)) return;
    bool several = set->count > 1 || (set->count == 1 && set->items[0].kind == GQL_INLINE_FRAGMENT);
    if (!c->quiet && !of_inline_fragment && several) {
        report_conflicts(c, scope.name.p ? canonical_type(c->s, scope.name) : NULL, set, depth);
    }
    for (size_t i = 0; i < set->count && step(c) && validation_goes_on(c); i++) {
        const GqlSelection *sel = &set->items[i];
        if (sel->kind == GQL_FIELD) {
            validate_field(c, scope, sel, depth);
        } else if (sel->kind == GQL_INLINE_FRAGMENT) {
            validate_inline_fragment(c, scope, sel, depth);
        } else {
            validate_spread(c, scope, sel);
        }
    }
}

static void validate_fragment(Ctx *c, const GqlFragment *f) {
    Str type = str(f->type_condition ? f->type_condition : "");
    Kind kind = kind_of(c->s, type);
    if (kind != KIND_NONE && !is_composite(kind)) {
        buf_printf(&c->msg, "Fragment \"%s\" cannot condition on non composite type \"%.*s\".", f->name, (int)type.n, type.p);
        add_error_at(c, f->loc);
    }
    check_unique_directives(c, f->directives, f->ndirectives);
    if (kind == KIND_NONE) unknown_type(c, type, f->loc);
    check_directives(c, f->directives, f->ndirectives, "FRAGMENT_DEFINITION");
    validate_selections(c, scope_of_type(type), &f->selections, false, 1);
}

// The type a variable is declared with; NULL (and too deep) when its lists nest too deep.
static const TypeRef *variable_type(Ctx *c, const GqlVariable *v) {
    const TypeRef *type = type_from_text(c->arena, v->type);
    if (!type) c->too_deep = true;
    return type;
}

static void validate_variable_definition(Ctx *c, const GqlVariable *v) {
    const TypeRef *type = variable_type(c, v);
    if (!type) return;
    Str named = named_type(type)->name;
    Kind kind = kind_of(c->s, named);
    if (kind != KIND_NONE && !is_input(kind)) {
        buf_printf(&c->msg, "Variable \"$%s\" cannot be non-input type \"%s\".", v->name, v->type);
        add_error_at(c, v->loc);
    }
    check_unique_directives(c, v->directives, v->ndirectives);
    if (kind == KIND_NONE) unknown_type(c, named, v->loc);
    if (v->default_value && value_too_deep(v->default_value, 0)) {
        c->too_deep = true;
    } else if (v->default_value) {
        check_value(c, v->default_value, is_input(kind) ? type : NULL, false, NULL, true);
    }
    check_directives(c, v->directives, v->ndirectives, "VARIABLE_DEFINITION");
}

static const GqlVariable *variable_definition(const Ctx *c, Str name) { return map_get(&c->variable_definitions, name); }

static bool is_subtype(const TypeRef *sub, const TypeRef *super) {
    if (super->kind == REF_NON_NULL) return sub->kind == REF_NON_NULL && is_subtype(sub->of, super->of);
    if (sub->kind == REF_NON_NULL) return is_subtype(sub->of, super);
    if (super->kind == REF_LIST) return sub->kind == REF_LIST && is_subtype(sub->of, super->of);
    return sub->kind == REF_NAMED && str_eq(sub->name, super->name);
}

static bool allowed_usage(const TypeRef *var_type, const GqlValue *var_default, const Usage *u) {
    if (is_non_null(u->type) && !is_non_null(var_type)) {
        bool non_null_default = var_default && var_default->kind != GQL_NULL;
        if (!non_null_default && !u->location_default) return false;
        return is_subtype(var_type, u->type->of);
    }
    return is_subtype(var_type, u->type);
}

// NoUndefinedVariables then VariablesInAllowedPosition, over the operation's usages then
// those of the fragments it spreads.
static void check_variable_usages(Ctx *c, const Usages *const *all, size_t nall) {
    const GqlOperation *op = c->op;
    for (size_t k = 0; k < nall; k++) {
        for (size_t i = 0; i < all[k]->count; i++) {
            const GqlValue *v = all[k]->items[i].variable;
            if (variable_definition(c, (Str){v->text, v->len})) continue;
            if (op->name) {
                buf_printf(&c->msg, "Variable \"$%s\" is not defined by operation \"%s\".", v->text, op->name);
            } else {
                buf_printf(&c->msg, "Variable \"$%s\" is not defined.", v->text);
            }
            add_error(c, (GqlLoc[]){v->loc, op->loc}, 2);
        }
    }
    for (size_t k = 0; k < nall; k++) {
        for (size_t i = 0; i < all[k]->count; i++) {
            const Usage *u = &all[k]->items[i];
            const GqlVariable *def = variable_definition(c, (Str){u->variable->text, u->variable->len});
            const TypeRef *var_type = def ? type_from_text(c->arena, def->type) : NULL;
            if (var_type && kind_of(c->s, named_type(var_type)->name) == KIND_NONE) var_type = NULL;
            if (!def || !u->type || !var_type) continue;
            GqlLoc locs[2] = {def->loc, u->variable->loc};
            if (!allowed_usage(var_type, def->default_value, u)) {
                buf_printf(&c->msg, "Variable \"$%s\" of type \"%s\" used in position expecting type \"", def->name, def->type);
                print_type(&c->msg, u->type);
                buf_appends(&c->msg, "\".");
                add_error(c, locs, 2);
            }
            const TypeRef *parent = u->parent;
            if (parent && parent->kind == REF_NAMED && is_true(json_get(type_named(c->s, parent->name),
                                                                        "isOneOf")) && !is_non_null(var_type)) {
                buf_printf(&c->msg,
                           "Variable \"$%s\" is of type \"%s\" but must be non-nullable to be used for OneOf Input Object \"%.*s\".",
                           def->name, def->type, (int)parent->name.n, parent->name.p);
                add_error(c, locs, 2);
            }
        }
    }
}

static const char *operation_location(GqlOperationType type) {
    return type == GQL_QUERY ? "QUERY" : type == GQL_MUTATION ? "MUTATION" : "SUBSCRIPTION";
}

static void validate_operation(Ctx *c, const Usages *const *fragment_usages, size_t nfragments) {
    const GqlOperation *op = c->op;
    Usages own = {NULL, 0, 0};
    check_unique_directives(c, op->directives, op->ndirectives);
    for (size_t i = 0; i < op->nvariables && validation_goes_on(c); i++) validate_variable_definition(c, &op->variables[i]);
    c->usages = &own;
    check_directives(c, op->directives, op->ndirectives, operation_location(op->type));
    validate_selections(c, (Scope){META_ROOT, c->root}, &op->selections, false, 1);
    c->usages = NULL;
    if (!validation_goes_on(c)) return;
    const Usages **all = arena_alloc(c->arena, (nfragments + 1) * sizeof *all);
    all[0] = &own;
    for (size_t i = 0; i < nfragments; i++) all[i + 1] = fragment_usages[i];
    check_variable_usages(c, all, nfragments + 1);
}

typedef struct Sets {
    const GqlSelectionSet **items;
    size_t count;
    size_t cap;
} Sets;

static void push_set(Ctx *c, Sets *sets, const GqlSelectionSet *set) {
    sets->items = grow_array(c->arena, sets->items, sets->count, &sets->cap, sizeof *sets->items);
    sets->items[sets->count++] = set;
}

// The fragments `op` spreads, directly or not, in graphql-js's order
// (getRecursivelyReferencedFragments: sets visited from a stack).
static const GqlFragment **referenced_fragments(Ctx *c, size_t *n) {
    Map seen = {NULL, 0, 0};
    const GqlFragment **fragments = NULL;
    size_t cap = 0;
    *n = 0;
    Sets to_visit = {NULL, 0, 0};
    push_set(c, &to_visit, &c->op->selections);
    while (to_visit.count && step(c)) {
        const GqlSelectionSet *root = to_visit.items[--to_visit.count];
        Sets inner = {NULL, 0, 0};
        push_set(c, &inner, root);
        while (inner.count && step(c)) {
            const GqlSelectionSet *set = inner.items[--inner.count];
            for (size_t i = 0; i < set->count; i++) {
                const GqlSelection *sel = &set->items[i];
                if (sel->kind != GQL_FRAGMENT_SPREAD) {
                    if (sel->selections.count) push_set(c, &inner, &sel->selections);
                    continue;
                }
                Str name = str(sel->name);
                if (map_get(&seen, name)) continue;
                map_put(c->arena, &seen, name, (void *)sel);
                const GqlFragment *fragment = map_get(&c->fragments, name);
                if (!fragment) continue;
                fragments = grow_array(c->arena, fragments, *n, &cap, sizeof *fragments);
                fragments[(*n)++] = fragment;
                push_set(c, &to_visit, &fragment->selections);
            }
        }
    }
    return fragments;
}

static bool loc_before(GqlLoc a, GqlLoc b) { return a.line < b.line || (a.line == b.line && a.column < b.column); }

static int compare_fragment_places(const void *a, const void *b) {
    const GqlFragment *x = *(const GqlFragment *const *)a, *y = *(const GqlFragment *const *)b;
    return loc_before(x->loc, y->loc) ? -1 : loc_before(y->loc, x->loc);
}

// graphql-js validates definitions in document order; here, the operation and the
// fragments it spreads. The fragments' variable usages are gathered first: the operation's
// variable rules, when it is left, need them.
static void validate(Ctx *c) {
    size_t n;
    const GqlFragment **fragments = referenced_fragments(c, &n);
    const Usages **usages = arena_alloc(c->arena, (n + 1) * sizeof *usages);
    c->quiet = true;
    for (size_t i = 0; i < n; i++) {
        Usages *u = arena_alloc(c->arena, sizeof *u);
        c->usages = u;
        validate_fragment(c, fragments[i]);
        usages[i] = u;
    }
    c->quiet = false;
    c->usages = NULL;
    const GqlFragment **in_order = arena_alloc(c->arena, (n + 1) * sizeof *in_order);
    if (n) memcpy(in_order, fragments, n * sizeof *in_order);
    qsort(in_order, n, sizeof *in_order, compare_fragment_places);
    bool operation_done = false;
    for (size_t i = 0; i <= n && validation_goes_on(c); i++) {
        if (!operation_done && (i == n || loc_before(c->op->loc, in_order[i]->loc))) {
            validate_operation(c, usages, n);
            operation_done = true;
        }
        if (i < n && validation_goes_on(c)) validate_fragment(c, in_order[i]);
    }
    if (c->conflicts_aborted && !c->quiet) append_error(&c->errors, str("Validation aborted."), NULL, 0);
}

// ---- Variables: graphql-js's coerceVariableValues ----

static bool is_integer(double x) {
    if (x - x != 0) return false;  // infinite
    if (x >= 9007199254740992.0 || x <= -9007199254740992.0) return true;
    return x == (double)(long long)x;
}

// Reports that `invalid` does not fit, at the current path, because of c->msg's text.
static void coercion_error(Ctx *c, const Json *invalid) {
    Buf why = c->msg;
    c->msg = (Buf)BUF_INIT;
    buf_printf(&c->msg, "Variable \"$%s\" got invalid value ", c->variable->name);
    inspect_json(&c->msg, invalid, 0);
    if (c->path_len) {
        buf_printf(&c->msg, " at \"%s", c->variable->name);
        for (size_t i = 0; i < c->path_len; i++) {
            const PathStep *p = &c->path[i];
            if (p->key.p) {
                buf_printf(&c->msg, ".%.*s", (int)p->key.n, p->key.p);
            } else {
                buf_printf(&c->msg, "[%zu]", p->index);
            }
        }
        buf_appendc(&c->msg, '"');
    }
    buf_appends(&c->msg, "; ");
    buf_append(&c->msg, why.data ? why.data : "", why.len);
    buf_free(&why);
    add_error_at(c, c->variable->loc);
}

static void coerce_value(Ctx *c, const Json *v, const TypeRef *type, int depth);

static void coerce_field(Ctx *c, const Json *v, Str name, const TypeRef *type, int depth) {
    c->path[c->path_len++] = (PathStep){name, 0};
    coerce_value(c, v, type, depth + 1);
    c->path_len--;
}

static void coerce_input_object(Ctx *c, const Json *v, Str type_name, int depth) {
    if (v->type != JSON_OBJECT) {
        buf_printf(&c->msg, "Expected type \"%.*s\" to be an object.", (int)type_name.n, type_name.p);
        coercion_error(c, v);
        return;
    }
    const Json *object_type = type_named(c->s, type_name);
    const Json *fields = json_get(object_type, "inputFields");
    size_t kept = 0;  // the fields the coerced object has (given, or with a default)
    Str first_key = {NULL, 0};
    bool first_null = false;
    for (size_t i = 0; fields && fields->type == JSON_ARRAY && i < fields->count && !c->errors.stopped; i++) {
        Str name = member_text(fields->items[i], "name");
        const TypeRef *type = known_input_type(c, type_from_json(c->arena, json_get(fields->items[i], "type"), 0));
        if (!name.p || !type) continue;
        const Json *given = json_get(v, name.p);
        if (!given && has_default(fields->items[i])) {
            if (!kept++) first_key = name;
        } else if (!given && is_non_null(type)) {
            buf_printf(&c->msg, "Field \"%.*s\" of required type \"", (int)name.n, name.p);
            print_type(&c->msg, type);
            buf_appends(&c->msg, "\" was not provided.");
            coercion_error(c, v);
        } else if (given) {
            coerce_field(c, given, name, type, depth);
            if (!kept++) {
                first_key = name;
                first_null = given->type == JSON_NULL && !is_non_null(type);
            }
        }
    }
    size_t n;
    Entry *entries = object_entries(v, &n);
    for (size_t i = 0; i < n && !c->errors.stopped && within_limits(c); i++) {
        if (find_named(fields, entries[i].key)) continue;
        size_t nnames;
        Str *names = names_of(c->arena, fields, &nnames);
        buf_appends(&c->msg, "Field \"");
        buf_append(&c->msg, entries[i].key.p, entries[i].key.n);  // a key may hold NUL bytes
        buf_printf(&c->msg, "\" is not defined by type \"%.*s\".", (int)type_name.n, type_name.p);
        suggest(c, NULL, entries[i].key, names, nnames);
        coercion_error(c, v);
    }
    free(entries);
    if (!is_true(json_get(object_type, "isOneOf"))) return;
    if (kept != 1) {
        buf_printf(&c->msg, "Exactly one key must be specified for OneOf type \"%.*s\".", (int)type_name.n, type_name.p);
        coercion_error(c, v);
    }
    if (kept && first_null && c->path_len <= MAX_NESTING) {
        static const Json null_value = {.type = JSON_NULL};
        c->path[c->path_len++] = (PathStep){first_key, 0};
        buf_printf(&c->msg, "Field \"%.*s\" must be non-null.", (int)first_key.n, first_key.p);
        coercion_error(c, &null_value);
        c->path_len--;
    }
}

static void coerce_enum(Ctx *c, const Json *v, Str enum_name) {
    size_t n;
    Str *names = enum_value_names(c, enum_name, &n);
    if (v->type != JSON_STRING) {
        Buf shown = BUF_INIT;
        inspect_json(&shown, v, 0);
        buf_printf(&c->msg, "Enum \"%.*s\" cannot represent non-string value: %.*s.", (int)enum_name.n, enum_name.p,
                   (int)shown.len, shown.data);
        suggest(c, "the enum value", (Str){shown.data, shown.len}, names, n);
        buf_free(&shown);
        coercion_error(c, v);
        return;
    }
    Str text = json_text(v);
    for (size_t i = 0; i < n; i++) {
        if (str_eq(names[i], text)) return;
    }
    buf_appends(&c->msg, "Value \"");
    buf_append(&c->msg, text.p, text.n);
    buf_printf(&c->msg, "\" does not exist in \"%.*s\" enum.", (int)enum_name.n, enum_name.p);
    suggest(c, "the enum value", text, names, n);
    coercion_error(c, v);
}

// A built-in scalar's parseValue: writes the message when `v` does not fit.
static bool scalar_value_fits(Ctx *c, Str scalar, const Json *v) {
    const char *problem = NULL;
    double x = v->type == JSON_NUMBER ? strtod(v->text, NULL) : 0;
    bool boolean = v->type == JSON_TRUE || v->type == JSON_FALSE, number = v->type == JSON_NUMBER;
    if (str_is(scalar, "String") && v->type != JSON_STRING) problem = "String cannot represent a non string value: ";
    if (str_is(scalar, "Boolean") && !boolean) problem = "Boolean cannot represent a non boolean value: ";
    if (str_is(scalar, "Float") && (!number || x - x != 0)) problem = "Float cannot represent non numeric value: ";
    if (str_is(scalar, "ID") && v->type != JSON_STRING && !(number && is_integer(x))) problem = "ID cannot represent value: ";
    if (str_is(scalar, "Int") && (!number || !is_integer(x))) problem = "Int cannot represent non-integer value: ";
    if (problem) {
        buf_appends(&c->msg, problem);
        inspect_json(&c->msg, v, 0);
        return false;
    }
    if (str_is(scalar, "Int") && (x > 2147483647.0 || x < -2147483648.0)) {
        buf_appends(&c->msg, "Int cannot represent non 32-bit signed integer value: ");
        js_number(&c->msg, v->text);
        return false;
    }
    return true;
}

static void coerce_value(Ctx *c, const Json *v, const TypeRef *type, int depth) {
    if (c->errors.stopped || !step(c)) return;
    if (depth > MAX_NESTING) {
        buf_appends(&c->msg, "The value nests more than 64 levels deep.");
        coercion_error(c, v);
    } else if (type->kind == REF_NON_NULL && v->type == JSON_NULL) {
        buf_appends(&c->msg, "Expected non-nullable type \"");
        print_type(&c->msg, type);
        buf_appends(&c->msg, "\" not to be null.");
        coercion_error(c, v);
    } else if (type->kind == REF_NON_NULL) {
        coerce_value(c, v, type->of, depth);
    } else if (v->type == JSON_NULL) {
        return;
    } else if (type->kind == REF_LIST && v->type == JSON_ARRAY) {
        for (size_t i = 0; i < v->count && !c->errors.stopped; i++) {
            c->path[c->path_len++] = (PathStep){{NULL, 0}, i};
            coerce_value(c, v->items[i], type->of, depth + 1);
            c->path_len--;
        }
    } else if (type->kind == REF_LIST) {
        coerce_value(c, v, type->of, depth + 1);  // a single value is a list of one
    } else {
        Kind kind = kind_of(c->s, type->name);
        if (kind == KIND_INPUT_OBJECT) {
            coerce_input_object(c, v, type->name, depth);
        } else if (kind == KIND_ENUM) {
            coerce_enum(c, v, type->name);
        } else if (kind == KIND_SCALAR && !scalar_value_fits(c, type->name, v)) {
            coercion_error(c, v);
        }
    }
}

static void coerce_variables(Ctx *c, const Json *inputs) {
    if (inputs && inputs->type != JSON_OBJECT) inputs = NULL;
    for (size_t i = 0; i < c->op->nvariables && !c->errors.stopped && within_limits(c); i++) {
        const GqlVariable *v = &c->op->variables[i];
        const TypeRef *type = variable_type(c, v);
        if (!type) return;
        c->variable = v;
        c->path_len = 0;
        VariableValue *value = arena_alloc(c->arena, sizeof *value);
        if (!known_input_type(c, type)) {
            buf_printf(&c->msg, "Variable \"$%s\" expected value of type \"%s\" which cannot be used as an input type.", v->name,
                       v->type);
            add_error_at(c, v->loc);
        } else if (!(value->json = json_get(inputs, v->name))) {
            if (v->default_value) {
                value->literal = v->default_value;
                map_put(c->arena, &c->variables, str(v->name), value);
            } else if (is_non_null(type)) {
                buf_printf(&c->msg, "Variable \"$%s\" of required type \"%s\" was not provided.", v->name, v->type);
                add_error_at(c, v->loc);
            }
        } else if (value->json->type == JSON_NULL && is_non_null(type)) {
            buf_printf(&c->msg, "Variable \"$%s\" of non-null type \"%s\" must not be null.", v->name, v->type);
            add_error_at(c, v->loc);
        } else {
            coerce_value(c, value->json, type, 0);
            map_put(c->arena, &c->variables, str(v->name), value);
        }
    }
}

// ---- Execution: a plan of the fields to answer, then the answer ----

typedef struct Plan Plan;

typedef struct PlanField {
    Str key;
    const MetaField *def;
    bool include_deprecated;
    Str type_name;   // __type's name
    bool failed;     // its arguments did not fit (`error`, at `error_loc`)
    Str error;
    GqlLoc error_loc;
    const Plan *sub;  // the selections of its values, when they are objects
} PlanField;

struct Plan {
    PlanField *fields;
    size_t count;
    bool failed;  // a @skip or @include could not be read
    Str error;
    GqlLoc error_loc;
};

typedef struct ExecGroup {
    Str key;
    const GqlSelection **nodes;
    size_t count;
    size_t cap;
} ExecGroup;

typedef struct ExecFields {
    ExecGroup *groups;
    size_t count;
    size_t cap;
    Map by_key;
    Map visited;  // fragments spread already
    bool failed;
    Str error;
    GqlLoc error_loc;
} ExecFields;

typedef struct ArgValue {
    bool is_null;  // also when absent
    bool boolean;
    Str text;
} ArgValue;

static const ArgDef IF_ARGUMENT = {{"if", 2}, &BOOLEAN_NON_NULL, false};

// graphql-js's getArgumentValues for one argument; false with c->msg and *loc set when it
// does not fit.
static bool argument_value(Ctx *c, const GqlArgument *args, size_t nargs, const ArgDef *def, GqlLoc node_loc, ArgValue *out,
                           GqlLoc *loc) {
    *out = (ArgValue){!def->has_default, false, {NULL, 0}};
    const GqlArgument *arg = last_argument(args, nargs, def->name);
    Buf *m = &c->msg;
    if (!arg) {
        if (def->has_default || !is_non_null(def->type)) return true;
        buf_printf(m, "Argument \"%.*s\" of required type \"", (int)def->name.n, def->name.p);
        print_type(m, def->type);
        buf_appends(m, "\" was not provided.");
        *loc = node_loc;
        return false;
    }
    const GqlValue *literal = arg->value;
    const Json *json = NULL;
    *loc = literal->loc;
    if (literal->kind == GQL_VARIABLE) {
        const VariableValue *v = map_get(&c->variables, (Str){literal->text, literal->len});
        if (!v) {
            if (def->has_default || !is_non_null(def->type)) return true;
            buf_printf(m, "Argument \"%.*s\" of required type \"", (int)def->name.n, def->name.p);
            print_type(m, def->type);
            buf_printf(m, "\" was provided the variable \"$%s\" which was not provided a runtime value.", literal->text);
            return false;
        }
        json = v->json;
        literal = v->json ? NULL : v->literal;
    }
    bool is_null = json ? json->type == JSON_NULL : literal->kind == GQL_NULL;
    if (is_null && is_non_null(def->type)) {
        buf_printf(m, "Argument \"%.*s\" of non-null type \"", (int)def->name.n, def->name.p);
        print_type(m, def->type);
        buf_appends(m, "\" must not be null.");
        return false;
    }
    *out = (ArgValue){is_null, false, {NULL, 0}};
    if (is_null) return true;
    bool wants_boolean = str_eq(named_type(def->type)->name, BOOLEAN.name);
    if (wants_boolean && json && (json->type == JSON_TRUE || json->type == JSON_FALSE)) {
        out->boolean = json->type == JSON_TRUE;
    } else if (wants_boolean && literal && literal->kind == GQL_BOOLEAN) {
        out->boolean = strcmp(literal->text, "true") == 0;
    } else if (!wants_boolean && json && json->type == JSON_STRING) {
        out->text = json_text(json);
    } else if (!wants_boolean && literal && literal->kind == GQL_STRING) {
        out->text = (Str){literal->text, literal->len};
    } else {
        buf_printf(m, "Argument \"%.*s\" has invalid value ", (int)def->name.n, def->name.p);
        print_value(m, arg->value);
        buf_appendc(m, '.');
        return false;
    }
    return true;
}

static bool directive_says(Ctx *c, const GqlDirective *ds, size_t n, const char *name, bool *says, ExecFields *out) {
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ds[i].name, name) != 0) continue;
        ArgValue v;
        if (!argument_value(c, ds[i].args, ds[i].nargs, &IF_ARGUMENT, ds[i].loc, &v, &out->error_loc)) {
            out->failed = true;
            out->error = arena_text(c, &c->msg);
            buf_clear(&c->msg);
            return false;
        }
        *says = v.boolean;
        return true;
    }
    *says = false;
    return false;
}

// graphql-js's shouldIncludeNode.
static bool should_include(Ctx *c, const GqlDirective *ds, size_t n, ExecFields *out) {
    bool skip, include;
    if (directive_says(c, ds, n, "skip", &skip, out) && skip) return false;
    if (out->failed) return false;
    if (directive_says(c, ds, n, "include", &include, out) && !include) return false;
    return !out->failed;
}

static Str meta_type_name(const Ctx *c, Meta meta) { return meta == META_ROOT ? c->root : str(META_NAMES[meta]); }

static bool condition_matches(const Ctx *c, const char *condition, Meta meta) {
    return !condition || types_overlap(c, meta_type_name(c, meta), str(condition));
}

static void collect_for_execution(Ctx *c, ExecFields *out, Meta meta, const GqlSelectionSet *set, int depth) {
    if (deeper_than_allowed(c, depth)) return;
    for (size_t i = 0; i < set->count && step(c) && !out->failed; i++) {
        const GqlSelection *sel = &set->items[i];
        if (sel->kind == GQL_FIELD) {
            if (!should_include(c, sel->directives, sel->ndirectives, out)) continue;
            Str key = str(sel->alias ? sel->alias : sel->name);
            size_t index = (size_t)(uintptr_t)map_get(&out->by_key, key);
            if (!index) {
                out->groups = grow_array(c->arena, out->groups, out->count, &out->cap, sizeof *out->groups);
                out->groups[out->count++] = (ExecGroup){key, NULL, 0, 0};
                index = out->count;
                map_put(c->arena, &out->by_key, key, (void *)(uintptr_t)index);
            }
            ExecGroup *g = &out->groups[index - 1];
            g->nodes = grow_array(c->arena, g->nodes, g->count, &g->cap, sizeof *g->nodes);
            g->nodes[g->count++] = sel;
        } else if (sel->kind == GQL_INLINE_FRAGMENT) {
            if (!should_include(c, sel->directives, sel->ndirectives, out) || !condition_matches(c, sel->type_condition,
                                                                                                 meta)) continue;
            collect_for_execution(c, out, meta, &sel->selections, depth + 1);
        } else {
            Str name = str(sel->name);
            if (map_get(&out->visited, name) || !should_include(c, sel->directives, sel->ndirectives, out)) continue;
            map_put(c->arena, &out->visited, name, (void *)sel);
            const GqlFragment *fragment = map_get(&c->fragments, name);
            if (!fragment || !condition_matches(c, fragment->type_condition, meta)) continue;
            collect_for_execution(c, out, meta, &fragment->selections, depth + 1);
        }
    }
}

static bool filters_deprecated(const MetaField *def) {
    return def->args == INCLUDE_DEPRECATED || def->args == INCLUDE_DEPRECATED_NON_NULL;
}

static const Plan *build_plan(Ctx *c, Meta meta, const GqlSelection *const *nodes, const GqlSelectionSet *root, size_t count,
                              int depth);

static void plan_field(Ctx *c, PlanField *pf, Meta meta, const ExecGroup *g, int depth) {
    const GqlSelection *first = g->nodes[0];
    pf->key = g->key;
    pf->def = meta_field(c, meta, str(first->name));
    if (pf->def && pf->def->nargs) {
        ArgValue v;
        if (argument_value(c, first->args, first->nargs, &pf->def->args[0], first->loc, &v, &pf->error_loc)) {
            pf->include_deprecated = !v.is_null && v.boolean;
            pf->type_name = v.text;
        } else {
            pf->failed = true;
            pf->error = arena_text(c, &c->msg);
            buf_clear(&c->msg);
        }
    }
    if (pf->def && pf->def->meta != META_NONE && !pf->failed) pf->sub = build_plan(c, pf->def->meta, g->nodes, NULL, g->count,
                                                                                   depth + 1);
}

// The fields to answer for objects of `meta`, from the selections of `nodes` (or `root`):
// graphql-js's collectFields, merged by response key in the order first seen. Fields
// graphql-js would skip (none in a valid document) are left out.
static const Plan *build_plan(Ctx *c, Meta meta, const GqlSelection *const *nodes, const GqlSelectionSet *root, size_t count,
                              int depth) {
    Plan *plan = arena_alloc(c->arena, sizeof *plan);
    if (deeper_than_allowed(c, depth)) return plan;
    ExecFields fields;
    memset(&fields, 0, sizeof fields);
    for (size_t i = 0; i < count && !fields.failed; i++) {
        collect_for_execution(c, &fields, meta, root ? root : &nodes[i]->selections, depth);
    }
    if (fields.failed) {
        *plan = (Plan){NULL, 0, true, fields.error, fields.error_loc};
        return plan;
    }
    plan->fields = arena_alloc(c->arena, (fields.count + 1) * sizeof *plan->fields);
    for (size_t i = 0; i < fields.count && within_limits(c); i++) {
        PlanField *pf = &plan->fields[plan->count];
        plan_field(c, pf, meta, &fields.groups[i], depth);
        if (pf->def) plan->count++;
    }
    return plan;
}

static void write_json(Buf *out, const Json *v, int depth) {
    if (!v || depth > MAX_NESTING) {
        buf_appends(out, "null");
        return;
    }
    switch (v->type) {
    case JSON_NULL:
        buf_appends(out, "null");
        break;
    case JSON_TRUE:
        buf_appends(out, "true");
        break;
    case JSON_FALSE:
        buf_appends(out, "false");
        break;
    case JSON_NUMBER:
        buf_appends(out, v->text);
        break;
    case JSON_STRING:
        buf_json_string(out, v->text, v->len);
        break;
    case JSON_ARRAY:
    case JSON_OBJECT:
        buf_appendc(out, v->type == JSON_ARRAY ? '[' : '{');
        for (size_t i = 0; i < v->count; i++) {
            if (i) buf_appendc(out, ',');
            if (v->type == JSON_OBJECT) {
                buf_json_string(out, v->keys[i], v->key_lens[i]);
                buf_appendc(out, ':');
            }
            write_json(out, v->items[i], depth + 1);
        }
        buf_appendc(out, v->type == JSON_ARRAY ? ']' : '}');
        break;
    }
}

// A type reference's full type (by its name), or the reference itself when it has no
// name (a list or non-null wrapper); NULL when it is not an object.
static const Json *resolve_type(const Introspection *s, const Json *ref) {
    if (!ref || ref->type != JSON_OBJECT) return NULL;
    const Json *full = type_named(s, member_text(ref, "name"));
    return full ? full : ref;
}

static bool complete_object(Ctx *c, Buf *out, const Plan *plan, Meta meta, const Json *object);

static void add_failure(Ctx *c, Str message, GqlLoc loc) {
    buf_append(&c->msg, message.p, message.n);
    add_error_at(c, loc);
}

// One object, or null when `object` is none.
static bool complete_one(Ctx *c, Buf *out, const PlanField *pf, const Json *object) {
    if (!object) {
        buf_appends(out, "null");
        return true;
    }
    return complete_object(c, out, pf->sub, pf->def->meta, object);
}

static bool complete_list(Ctx *c, Buf *out, const PlanField *pf, const Json *items) {
    if (!items || items->type != JSON_ARRAY) {
        buf_appends(out, "null");
        return true;
    }
    bool filter = filters_deprecated(pf->def) && !pf->include_deprecated;
    bool first = true;
    buf_appendc(out, '[');
    for (size_t i = 0; i < items->count; i++) {
        const Json *item = items->items[i];
        if (filter && is_true(json_get(item, "isDeprecated"))) continue;
        if (!first) buf_appendc(out, ',');
        first = false;
        const Json *object = pf->def->source == FROM_REFERENCES ? resolve_type(c->s, item) : item;
        if (!complete_one(c, out, pf,
                          object && object->type == JSON_OBJECT ? object : NULL)) return false;  // its items are non-null
    }
    buf_appendc(out, ']');
    return true;
}

// Writes one field's value; false when it failed (an error is recorded) and its null
// must go up to the nearest field that may be null.
static bool execute_field(Ctx *c, Buf *out, const PlanField *pf, Meta meta, const Json *object) {
    const MetaField *def = pf->def;
    if (def == &TYPENAME) {
        Str name = meta_type_name(c, meta);
        buf_json_string(out, name.p, name.n);
        return true;
    }
    if (pf->failed) {
        add_failure(c, pf->error, pf->error_loc);
        return false;
    }
    switch (def->source) {
    case FROM_MEMBER:
        write_json(out, json_get(object, def->name), 0);
        return true;
    case FROM_SCHEMA:
        return complete_one(c, out, pf, c->s->schema);
    case FROM_TYPE_NAMED:
        return complete_one(c, out, pf, type_named(c->s, pf->type_name));
    case FROM_REFERENCE:
        return complete_one(c, out, pf, resolve_type(c->s, json_get(object, def->name)));
    case FROM_LIST:
    case FROM_REFERENCES:
        return complete_list(c, out, pf, json_get(object, def->name));
    }
    return false;
}

static bool complete_object(Ctx *c, Buf *out, const Plan *plan, Meta meta, const Json *object) {
    if (plan->failed) {
        add_failure(c, plan->error, plan->error_loc);
        return false;
    }
    if (!step(c)) return false;
    buf_appendc(out, '{');
    for (size_t i = 0; i < plan->count; i++) {
        const PlanField *pf = &plan->fields[i];
        if (i) buf_appendc(out, ',');
        buf_json_string(out, pf->key.p, pf->key.n);
        buf_appendc(out, ':');
        size_t mark = out->len;
        if (!execute_field(c, out, pf, meta, object)) {
            if (!within_limits(c) || type_text_is_non_null(pf->def->type)) return false;
            out->len = mark;
            buf_appends(out, "null");
        }
        if (out->len > MAX_ANSWER_BYTES) c->too_big = true;
        if (!within_limits(c)) return false;
    }
    buf_appendc(out, '}');
    return true;
}

// ---- The answer ----

static void start_errors(Ctx *c, size_t max, const char *too_many, const char *code) {
    buf_clear(&c->errors.json);
    c->errors.count = 0;
    c->errors.max = max;
    c->errors.too_many = too_many;
    c->errors.code = code;
    c->errors.stopped = false;
}

static int answer_errors(Ctx *c, Buf *out, int code) {
    buf_appends(out, "{\"errors\":[");
    buf_append(out, c->errors.json.data, c->errors.json.len);
    buf_appends(out, "]}");
    return code;
}

static int refuse_over_limits(Ctx *c, Buf *out) {
    start_errors(c, 0, NULL, "GRAPHQL_VALIDATION_FAILED");
    append_error(&c->errors, str(c->too_deep ? TOO_DEEP : TOO_BIG), NULL, 0);
    return answer_errors(c, out, 1);
}

static int execute(Ctx *c, Buf *out) {
    start_errors(c, 0, NULL, "BAD_USER_INPUT");
    const Plan *plan = build_plan(c, META_ROOT, NULL, &c->op->selections, 1, 1);
    Buf data = BUF_INIT;
    bool answered = within_limits(c) && complete_object(c, &data, plan, META_ROOT, NULL);
    int code = 0;
    if (!within_limits(c)) {
        code = refuse_over_limits(c, out);
    } else if (c->errors.count) {
        buf_appends(out, "{\"errors\":[");
        buf_append(out, c->errors.json.data, c->errors.json.len);
        buf_appends(out, "],\"data\":");
        buf_appends(out, answered ? data.data : "null");
        buf_appendc(out, '}');
        code = answered ? 0 : 2;
    } else {
        buf_appends(out, "{\"data\":");
        buf_append(out, data.data, data.len);
        buf_appendc(out, '}');
    }
    buf_free(&data);
    return code;
}

static int answer(Ctx *c, const Json *variables, Buf *out) {
    if (!c->root.p) {
        // Only a query is introspection (gql_introspection_only); graphql-js says this of
        // an operation the schema has no root type for.
        start_errors(c, 0, NULL, "BAD_USER_INPUT");
        buf_printf(&c->msg, "Schema is not configured to execute %s operation.",
                   c->op->type == GQL_MUTATION ? "mutation" : "subscription");
        add_error_at(c, c->op->loc);
        buf_appends(out, "{\"errors\":[");
        buf_append(out, c->errors.json.data, c->errors.json.len);
        buf_appends(out, "],\"data\":null}");
        return 2;
    }
    start_errors(c, MAX_VALIDATION_ERRORS, "Too many validation errors, error limit reached. Validation aborted.",
                 "GRAPHQL_VALIDATION_FAILED");
    c->conflict_budget = CONFLICT_BUDGET;
    validate(c);
    if (!within_limits(c)) return refuse_over_limits(c, out);
    if (c->errors.count) return answer_errors(c, out, 1);
    start_errors(c, MAX_VARIABLE_ERRORS, "Too many errors processing variables, error limit reached. Execution aborted.",
                 "BAD_USER_INPUT");
    coerce_variables(c, variables);
    if (!within_limits(c)) return refuse_over_limits(c, out);
    if (c->errors.count) return answer_errors(c, out, 2);
    return execute(c, out);
}

int introspection_execute(const Introspection *schema, const GqlDocument *doc, const GqlOperation *op, const Json *variables,
                          Buf *out) {
    Ctx c;
    memset(&c, 0, sizeof c);
    c.s = schema;
    c.op = op;
    c.arena = arena_new();
    c.root = schema->roots[op->type];
    for (size_t i = 0; i < doc->nfragments; i++) {
        map_put(c.arena, &c.fragments, str(doc->fragments[i].name), (void *)&doc->fragments[i]);
    }
    for (size_t i = 0; i < op->nvariables; i++) {
        map_put(c.arena, &c.variable_definitions, str(op->variables[i].name), (void *)&op->variables[i]);
    }
    int code = answer(&c, variables, out);
    buf_free(&c.msg);
    buf_free(&c.errors.json);
    arena_free(c.arena);
    return code;
}
