// The API schema's introspection result, loaded and indexed for lookups (introspection_load),
// and what introspection is made of: strings and hash maps, type references, and the
// introspection meta-schema (__Schema, __Type, ... and their fields).
#include "introspect_internal.h"

#include <stdint.h>
#include <string.h>

// ---- Strings and hash maps ----

Str introspect_str(const char *text) { return (Str){text, strlen(text)}; }

bool introspect_str_eq(Str a, Str b) { return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0); }

bool introspect_str_is(Str a, const char *text) { return introspect_str_eq(a, introspect_str(text)); }

// A JSON string's text, or {NULL, 0} when `value` is not a string.
Str introspect_json_text(const Json *value) {
    return value && value->type == JSON_STRING ? (Str){value->text, value->len} : (Str){NULL, 0};
}

Str introspect_member_text(const Json *object, const char *key) { return introspect_json_text(json_get(object, key)); }

static uint64_t hash_str(Str key) {
    uint64_t hash = 1469598103934665603u;
    for (size_t i = 0; i < key.n; i++) hash = (hash ^ (unsigned char)key.p[i]) * 1099511628211u;
    return hash;
}

static MapSlot *map_find(const Map *m, Str key, uint64_t hash) {
    size_t mask = m->cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        MapSlot *slot = &m->slots[i];
        if (!slot->key.p || (slot->hash == hash && introspect_str_eq(slot->key, key))) return slot;
    }
}

void *introspect_map_get(const Map *m, Str key) {
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

void introspect_map_put(Arena *arena, Map *m, Str key, void *value) {
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
// long as the lookup; introspect_stored_key copies it for the map to keep.
Str introspect_pointers_key(const void *const pair[2]) { return (Str){(const char *)pair, 2 * sizeof *pair}; }

Str introspect_stored_key(Arena *arena, Str key) {
    char *copy = arena_alloc(arena, key.n);
    memcpy(copy, key.p, key.n);
    return (Str){copy, key.n};
}

// A growable array in the arena: `items` of `size` bytes each.
void *introspect_grow_array(Arena *arena, void *items, size_t count, size_t *cap, size_t size) {
    if (count < *cap) return items;
    size_t new_cap = *cap ? *cap * 2 : 8;
    void *bigger = arena_alloc(arena, new_cap * size);
    if (count) memcpy(bigger, items, count * size);
    *cap = new_cap;
    return bigger;
}

// ---- The schema ----

const Json *introspect_type_named(const Introspection *s, Str name) { return introspect_map_get(&s->types_by_name, name); }

static Kind kind_from_text(Str kind) {
    static const char *const names[] = {"SCALAR", "OBJECT", "INTERFACE", "UNION", "ENUM", "INPUT_OBJECT"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (introspect_str_is(kind, names[i])) return (Kind)(i + 1);
    }
    return KIND_NONE;
}

bool introspect_is_composite(Kind kind) { return kind == KIND_OBJECT || kind == KIND_INTERFACE || kind == KIND_UNION; }

bool introspect_is_leaf(Kind kind) { return kind == KIND_SCALAR || kind == KIND_ENUM; }

bool introspect_is_input(Kind kind) { return kind == KIND_SCALAR || kind == KIND_ENUM || kind == KIND_INPUT_OBJECT; }

// ---- Type references ----

const TypeRef INTROSPECT_BOOLEAN = {REF_NAMED, NULL, {"Boolean", 7}};
const TypeRef INTROSPECT_BOOLEAN_NON_NULL = {REF_NON_NULL, &INTROSPECT_BOOLEAN, {NULL, 0}};
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

const TypeRef *introspect_type_from_text(Arena *arena, const char *text) {
    const char *p = text;
    const TypeRef *ref = parse_type(arena, &p, 0);
    return ref && !*p ? ref : NULL;
}

// The type a {kind, name, ofType} reference of the introspection result stands for, or
// NULL when it is not one.
const TypeRef *introspect_type_from_json(Arena *arena, const Json *ref, int depth) {
    if (!ref || ref->type != JSON_OBJECT || depth > MAX_NESTING) return NULL;
    Str kind = introspect_member_text(ref, "kind");
    if (introspect_str_is(kind, "NON_NULL") || introspect_str_is(kind, "LIST")) {
        const TypeRef *of = introspect_type_from_json(arena, json_get(ref, "ofType"), depth + 1);
        return of ? new_ref(arena, introspect_str_is(kind, "LIST") ? REF_LIST : REF_NON_NULL, of, (Str){NULL, 0}) : NULL;
    }
    Str name = introspect_member_text(ref, "name");
    return name.p ? new_ref(arena, REF_NAMED, NULL, name) : NULL;
}

const TypeRef *introspect_named_type(const TypeRef *ref) {
    while (ref->kind != REF_NAMED) ref = ref->of;
    return ref;
}

const TypeRef *introspect_nullable(const TypeRef *ref) { return ref && ref->kind == REF_NON_NULL ? ref->of : ref; }

bool introspect_is_non_null(const TypeRef *ref) { return ref && ref->kind == REF_NON_NULL; }

void introspect_print_type(Buf *b, const TypeRef *ref) {
    switch (ref->kind) {
    case REF_NAMED:
        buf_append(b, ref->name.p, ref->name.n);
        break;
    case REF_LIST:
        buf_appendc(b, '[');
        introspect_print_type(b, ref->of);
        buf_appendc(b, ']');
        break;
    case REF_NON_NULL:
        introspect_print_type(b, ref->of);
        buf_appendc(b, '!');
        break;
    }
}

// ---- The introspection meta-schema ----

const char *const INTROSPECT_META_NAMES[] = {NULL, "__Schema", "__Type", "__Field", "__InputValue", "__EnumValue", "__Directive"};

const ArgDef INTROSPECT_INCLUDE_DEPRECATED[] = {{{"includeDeprecated", 17}, &INTROSPECT_BOOLEAN, true}};
const ArgDef INTROSPECT_INCLUDE_DEPRECATED_NON_NULL[] = {{{"includeDeprecated", 17}, &INTROSPECT_BOOLEAN_NON_NULL, true}};
static const ArgDef TYPE_NAME[] = {{{"name", 4}, &STRING_NON_NULL, false}};

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
    {"directives", "[__Directive!]!", META_DIRECTIVE, FROM_LIST, ARGS(INTROSPECT_INCLUDE_DEPRECATED_NON_NULL)},
};
static const MetaField TYPE_FIELDS[] = {
    {"kind", "__TypeKind!", META_NONE, FROM_MEMBER, NO_ARGS},
    {"name", "String", META_NONE, FROM_MEMBER, NO_ARGS},
    {"description", "String", META_NONE, FROM_MEMBER, NO_ARGS},
    {"specifiedByURL", "String", META_NONE, FROM_MEMBER, NO_ARGS},
    {"fields", "[__Field!]", META_FIELD, FROM_LIST, ARGS(INTROSPECT_INCLUDE_DEPRECATED)},
    {"interfaces", "[__Type!]", META_TYPE, FROM_REFERENCES, NO_ARGS},
    {"possibleTypes", "[__Type!]", META_TYPE, FROM_REFERENCES, NO_ARGS},
    {"enumValues", "[__EnumValue!]", META_ENUM_VALUE, FROM_LIST, ARGS(INTROSPECT_INCLUDE_DEPRECATED)},
    {"inputFields", "[__InputValue!]", META_INPUT_VALUE, FROM_LIST, ARGS(INTROSPECT_INCLUDE_DEPRECATED)},
    {"ofType", "__Type", META_TYPE, FROM_REFERENCE, NO_ARGS},
    {"isOneOf", "Boolean", META_NONE, FROM_MEMBER, NO_ARGS},
};
static const MetaField FIELD_FIELDS[] = {
    {"name", "String!", META_NONE, FROM_MEMBER, NO_ARGS},
    {"description", "String", META_NONE, FROM_MEMBER, NO_ARGS},
    {"args", "[__InputValue!]!", META_INPUT_VALUE, FROM_LIST, ARGS(INTROSPECT_INCLUDE_DEPRECATED)},
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
    {"args", "[__InputValue!]!", META_INPUT_VALUE, FROM_LIST, ARGS(INTROSPECT_INCLUDE_DEPRECATED)},
    {"isDeprecated", "Boolean!", META_NONE, FROM_MEMBER, NO_ARGS},
    {"deprecationReason", "String", META_NONE, FROM_MEMBER, NO_ARGS},
};
// __typename, which every type has (graphql-js keeps it out of each type's fields).
const MetaField INTROSPECT_TYPENAME = {"__typename", "String!", META_NONE, FROM_MEMBER, NO_ARGS};

#define TABLE(fields) {fields, sizeof fields / sizeof *fields}
const MetaFields INTROSPECT_META_FIELDS[] = {
    TABLE(ROOT_FIELDS),       TABLE(SCHEMA_FIELDS),     TABLE(TYPE_FIELDS),      TABLE(FIELD_FIELDS),
    TABLE(INPUT_VALUE_FIELDS), TABLE(ENUM_VALUE_FIELDS), TABLE(DIRECTIVE_FIELDS),
};

Meta introspect_meta_of_name(Str name) {
    for (int m = META_SCHEMA; m < META_NONE; m++) {
        if (introspect_str_is(name, INTROSPECT_META_NAMES[m])) return (Meta)m;
    }
    return META_NONE;
}

// The kind of the type called `name`: the meta types, and the scalars they use, are known
// even to a result that does not list them (every graphql-js schema has them).
Kind introspect_kind_of(const Introspection *s, Str name) {
    Kind kind = kind_from_text(introspect_member_text(introspect_type_named(s, name), "kind"));
    if (kind != KIND_NONE) return kind;
    if (introspect_meta_of_name(name) != META_NONE) return KIND_OBJECT;
    if (introspect_str_is(name, "__TypeKind") || introspect_str_is(name, "__DirectiveLocation")) return KIND_ENUM;
    return introspect_str_is(name, "String") || introspect_str_is(name, "Boolean") ? KIND_SCALAR : KIND_NONE;
}

bool introspect_type_text_is_non_null(const char *type) { return type[strlen(type) - 1] == '!'; }

// ---- Loading ----

static Introspection *refuse_schema(const char **error, const char *why) {
    *error = why;
    return NULL;
}

// Indexes each member of `array` (objects with a string "name") by that name; false when
// one has none.
static bool index_by_name(Arena *arena, Map *map, const Json *array) {
    for (size_t i = 0; i < array->count; i++) {
        Str name = introspect_member_text(array->items[i], "name");
        if (!name.p) return false;
        if (!introspect_map_get(map, name)) introspect_map_put(arena, map, name, array->items[i]);
    }
    return true;
}

static Str root_name(const Json *schema, const char *key) { return introspect_member_text(json_get(schema, key), "name"); }

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
        Kind kind = kind_from_text(introspect_member_text(types->items[i], "kind"));
        if (kind == KIND_NONE) return refuse_schema(error, "a type has no known kind");
    }
    s->roots[GQL_QUERY] = root_name(schema, "queryType");
    s->roots[GQL_MUTATION] = root_name(schema, "mutationType");
    s->roots[GQL_SUBSCRIPTION] = root_name(schema, "subscriptionType");
    for (int i = 0; i < 3; i++) {
        if (s->roots[i].p && introspect_kind_of(s, s->roots[i]) != KIND_OBJECT) {
            return refuse_schema(error, "a root type is not among the object types");
        }
    }
    if (!s->roots[GQL_QUERY].p) return refuse_schema(error, "it has no query type");
    return s;
}
