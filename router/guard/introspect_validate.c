// Validation of an introspection query against the schema: the rules that need the schema
// (the schema-free ones are gql_check's), with graphql-js's messages word for word, in the
// order graphql-js reports them (OverlappingFieldsCanBeMerged: introspect_overlap.c).
//
// Where it knowingly differs from graphql-js: only the operation and the fragments it
// spreads are validated (not the document's other operations); selections inside a
// fragment on one of the API's own types (always an error in an introspection scope) are
// not checked further; and an error about a selection set or a type condition is put at
// the nearest node graphql.h records a place for (the field, fragment or variable).
#include "introspect_internal.h"

#include <stdlib.h>
#include <string.h>

// ---- Schema lookups for validation ----

// The name of the type called `name` as one pointer for every mention of it (graphql-js
// compares type objects), or NULL when the schema has no such type.
const char *introspect_canonical_type(const Introspection *s, Str name) {
    const Json *type = introspect_type_named(s, name);
    if (type) return introspect_member_text(type, "name").p;
    Meta meta = introspect_meta_of_name(name);
    return meta != META_NONE ? INTROSPECT_META_NAMES[meta] : NULL;
}

// `ref` when it is an input type the schema knows (graphql-js's typeFromAST and
// isInputType), else NULL.
const TypeRef *introspect_known_input_type(const Ctx *c, const TypeRef *ref) {
    return ref && introspect_is_input(introspect_kind_of(c->s, introspect_named_type(ref)->name)) ? ref : NULL;
}

bool introspect_has_default(const Json *input_value) {
    const Json *d = json_get(input_value, "defaultValue");
    return d && d->type != JSON_NULL;
}

bool introspect_is_true(const Json *v) { return v && v->type == JSON_TRUE; }

const Json *introspect_find_named(const Json *array, Str name) {
    if (!array || array->type != JSON_ARRAY) return NULL;
    for (size_t i = 0; i < array->count; i++) {
        if (introspect_str_eq(introspect_member_text(array->items[i], "name"), name)) return array->items[i];
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
        Str name = introspect_member_text(args->items[i], "name");
        if (!name.p) continue;
        const TypeRef *type = introspect_known_input_type(c, introspect_type_from_json(c->arena, json_get(args->items[i], "type"), 0));
        defs[(*n)++] = (ArgDef){name, type, introspect_has_default(args->items[i])};
    }
    return defs;
}

static const DirectiveDef *directive_def(Ctx *c, Str name) {
    DirectiveDef *def = introspect_map_get(&c->directives, name);
    if (def) return def;
    const Json *json = introspect_map_get(&c->s->directives_by_name, name);
    if (!json) return NULL;
    def = arena_alloc(c->arena, sizeof *def);
    def->args = arg_defs_of(c, json_get(json, "args"), &def->nargs);
    def->repeatable = introspect_is_true(json_get(json, "isRepeatable"));
    def->locations = json_get(json, "locations");
    introspect_map_put(c->arena, &c->directives, name, def);
    return def;
}

static const ArgDef *find_arg(const ArgDef *args, size_t n, Str name) {
    for (size_t i = 0; i < n; i++) {
        if (introspect_str_eq(args[i].name, name)) return &args[i];
    }
    return NULL;
}

static Str *arg_names(Arena *arena, const ArgDef *args, size_t n) {
    Str *names = arena_alloc(arena, (n + 1) * sizeof *names);
    for (size_t i = 0; i < n; i++) names[i] = args[i].name;
    return names;
}

static bool required(const ArgDef *arg) { return introspect_is_non_null(arg->type) && !arg->has_default; }

const GqlArgument *introspect_last_argument(const GqlArgument *args, size_t n, Str name) {
    for (size_t i = n; i-- > 0;) {
        if (introspect_str_is(name, args[i].name)) return &args[i];
    }
    return NULL;
}

// The meta field `name` of `meta` (__typename included); NULL when there is none or
// `meta` is not a meta type. The root offers __schema and __type to queries only.
const MetaField *introspect_meta_field(const Ctx *c, Meta meta, Str name) {
    if (meta == META_NONE) return NULL;
    if (introspect_str_is(name, "__typename")) return &INTROSPECT_TYPENAME;
    if (meta == META_ROOT && c->op->type != GQL_QUERY) return NULL;
    for (size_t i = 0; i < INTROSPECT_META_FIELDS[meta].count; i++) {
        if (introspect_str_is(name, INTROSPECT_META_FIELDS[meta].fields[i].name)) return &INTROSPECT_META_FIELDS[meta].fields[i];
    }
    return NULL;
}

// Every type's name, in the schema's order (graphql-js suggests among them).
static const Str *type_names(Ctx *c, size_t *n) {
    if (!c->type_names) c->type_names = introspect_names_of(c->arena, c->s->types, &c->ntype_names);
    *n = c->ntype_names;
    return c->type_names;
}

// ---- Validation: values (ValuesOfCorrectType, and where variables are used) ----

static void record_usage(Ctx *c, const GqlValue *variable, const TypeRef *type, bool location_default, const TypeRef *parent) {
    Usages *u = c->usages;
    if (!u) return;
    u->items = introspect_grow_array(c->arena, u->items, u->count, &u->cap, sizeof *u->items);
    u->items[u->count++] = (Usage){variable, type, location_default, parent};
}

static void check_value(Ctx *c, const GqlValue *v, const TypeRef *type, bool location_default, const TypeRef *parent,
                        bool checked);

Str *introspect_enum_value_names(Ctx *c, Str enum_name, size_t *n) {
    return introspect_names_of(c->arena, json_get(introspect_type_named(c->s, enum_name), "enumValues"), n);
}

static void check_enum_literal(Ctx *c, const GqlValue *v, Str enum_name) {
    size_t n;
    Str *names = introspect_enum_value_names(c, enum_name, &n);
    Buf printed = BUF_INIT;
    introspect_print_value(&printed, v);
    Str text = {printed.data, printed.len};
    bool exists = false;
    for (size_t i = 0; i < n && !exists; i++) exists = v->kind == GQL_ENUM && introspect_str_eq(names[i], text);
    if (!exists) {
        if (v->kind != GQL_ENUM) {
            buf_printf(&c->msg, "Enum \"%.*s\" cannot represent non-enum value: %.*s.", (int)enum_name.n, enum_name.p,
                       (int)text.n, text.p);
        } else {
            buf_printf(&c->msg, "Value \"%.*s\" does not exist in \"%.*s\" enum.", (int)text.n, text.p, (int)enum_name.n,
                       enum_name.p);
        }
        introspect_suggest(c, "the enum value", text, names, n);
        introspect_add_error_at(c, v->loc);
    }
    buf_free(&printed);
}

static bool int_literal_fits(const GqlValue *v) {
    double x = strtod(v->text, NULL);
    return x <= 2147483647.0 && x >= -2147483648.0;
}

// A built-in scalar's parseLiteral: the message when `v` is not one of its literals.
static const char *scalar_literal_problem(Str scalar, const GqlValue *v) {
    if (introspect_str_is(scalar, "String")) return v->kind == GQL_STRING ? NULL : "String cannot represent a non string value: ";
    if (introspect_str_is(scalar, "Boolean")) return v->kind == GQL_BOOLEAN ? NULL : "Boolean cannot represent a non boolean value: ";
    if (introspect_str_is(scalar, "Int")) return v->kind == GQL_INT ? NULL : "Int cannot represent non-integer value: ";
    if (introspect_str_is(scalar,
                          "Float")) return v->kind == GQL_FLOAT || v->kind == GQL_INT ? NULL : "Float cannot represent non numeric value: ";
    if (introspect_str_is(scalar, "ID")) {
        return v->kind == GQL_STRING || v->kind == GQL_INT ? NULL : "ID cannot represent a non-string and non-integer value: ";
    }
    return NULL;  // a custom scalar takes any literal
}

// graphql-js's isValidValueNode: `v`, a literal that is not a list or input object where
// one is expected, against the leaf type `type`.
static void check_leaf_literal(Ctx *c, const GqlValue *v, const TypeRef *type) {
    if (!type) return;
    Str named = introspect_named_type(type)->name;
    Kind kind = introspect_kind_of(c->s, named);
    const char *problem;
    if (!introspect_is_leaf(kind)) {
        buf_appends(&c->msg, "Expected value of type \"");
        introspect_print_type(&c->msg, type);
        buf_appends(&c->msg, "\", found ");
        introspect_print_value(&c->msg, v);
        buf_appendc(&c->msg, '.');
        introspect_add_error_at(c, v->loc);
    } else if (kind == KIND_ENUM) {
        check_enum_literal(c, v, named);
    } else if ((problem = scalar_literal_problem(named, v))) {
        buf_appends(&c->msg, problem);
        introspect_print_value(&c->msg, v);
        introspect_add_error_at(c, v->loc);
    } else if (introspect_str_is(named, "Int") && !int_literal_fits(v)) {
        buf_printf(&c->msg, "Int cannot represent non 32-bit signed integer value: %s", v->text);
        introspect_add_error_at(c, v->loc);
    }
}

static void check_list(Ctx *c, const GqlValue *v, const TypeRef *type, bool checked) {
    const TypeRef *list = introspect_nullable(type);
    const TypeRef *item = list && list->kind == REF_LIST ? list->of : list;
    if (checked && list && list->kind != REF_LIST) {
        check_leaf_literal(c, v, item);
        checked = false;
    }
    for (size_t i = 0; i < v->count; i++) check_value(c, v->items[i], item, false, type, checked);
}

static bool literal_has_field(Ctx *c, const GqlValue *v, Str name) {
    for (size_t i = 0; i < v->count && introspect_step(c); i++) {
        if (introspect_str_is(name, v->names[i])) return true;
    }
    return false;
}

static void check_required_input_fields(Ctx *c, const GqlValue *v, Str type_name, const Json *fields) {
    for (size_t i = 0; fields && fields->type == JSON_ARRAY && i < fields->count; i++) {
        const Json *field = fields->items[i];
        Str name = introspect_member_text(field, "name");
        const TypeRef *type = introspect_type_from_json(c->arena, json_get(field, "type"), 0);
        if (!name.p || !introspect_is_non_null(type) || introspect_has_default(field) || literal_has_field(c, v, name)) continue;
        buf_printf(&c->msg, "Field \"%.*s.%.*s\" of required type \"", (int)type_name.n, type_name.p, (int)name.n, name.p);
        introspect_print_type(&c->msg, type);
        buf_appends(&c->msg, "\" was not provided.");
        introspect_add_error_at(c, v->loc);
    }
}

static void check_one_of_literal(Ctx *c, const GqlValue *v, Str type_name) {
    bool one_key = v->count > 0;
    for (size_t i = 1; i < v->count && one_key; i++) one_key = strcmp(v->names[i], v->names[0]) == 0;
    if (!one_key) {
        buf_printf(&c->msg, "OneOf Input Object \"%.*s\" must specify exactly one key.", (int)type_name.n, type_name.p);
        introspect_add_error_at(c, v->loc);
    } else if (v->items[v->count - 1]->kind == GQL_NULL) {
        buf_printf(&c->msg, "Field \"%.*s.%s\" must be non-null.", (int)type_name.n, type_name.p, v->names[0]);
        introspect_add_error_at(c, v->loc);
    }
}

static void check_object(Ctx *c, const GqlValue *v, const TypeRef *type, bool checked) {
    const TypeRef *named = type ? introspect_named_type(type) : NULL;
    const Json *object_type =
        named && introspect_kind_of(c->s, named->name) == KIND_INPUT_OBJECT ? introspect_type_named(c->s, named->name) : NULL;
    const Json *fields = json_get(object_type, "inputFields");
    if (checked && !object_type) {
        check_leaf_literal(c, v, type);
        checked = false;
    } else if (checked) {
        check_required_input_fields(c, v, named->name, fields);
        if (introspect_is_true(json_get(object_type, "isOneOf"))) check_one_of_literal(c, v, named->name);
    }
    for (size_t i = 0; i < v->count; i++) {
        const Json *field = introspect_find_named(fields, introspect_str(v->names[i]));
        if (checked && !field) {
            size_t n;
            Str *names = introspect_names_of(c->arena, fields, &n);
            buf_printf(&c->msg, "Field \"%s\" is not defined by type \"%.*s\".", v->names[i], (int)named->name.n, named->name.p);
            introspect_suggest(c, NULL, introspect_str(v->names[i]), names, n);
            introspect_add_error_at(c, v->name_locs[i]);
        }
        const TypeRef *field_type =
            field ? introspect_known_input_type(c, introspect_type_from_json(c->arena, json_get(field, "type"), 0)) : NULL;
        check_value(c, v->items[i], field_type, field && introspect_has_default(field), type, checked);
    }
}

// `v` where a value of `type` is expected (NULL: not known there); `checked`: whether
// ValuesOfCorrectType still looks (it stops below a value it refused).
static void check_value(Ctx *c, const GqlValue *v, const TypeRef *type, bool location_default, const TypeRef *parent,
                        bool checked) {
    if (!introspect_step(c)) return;
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
        if (checked && introspect_is_non_null(type)) {
            buf_appends(&c->msg, "Expected value of type \"");
            introspect_print_type(&c->msg, type);
            buf_appends(&c->msg, "\", found null.");
            introspect_add_error_at(c, v->loc);
        }
        break;
    default:
        if (checked) check_leaf_literal(c, v, type);
        break;
    }
}

// An argument's value: refused when it nests too deep, else checked against `def`.
static void check_argument_value(Ctx *c, const GqlArgument *arg, const ArgDef *def) {
    if (introspect_value_too_deep(arg->value, 0)) {
        c->too_deep = true;
        return;
    }
    check_value(c, arg->value, def ? def->type : NULL, def && def->has_default, NULL, true);
}

// ---- Validation: directives ----

static void check_unique_directives(Ctx *c, const GqlDirective *ds, size_t n) {
    Map seen = {NULL, 0, 0};  // name -> its first directive here
    for (size_t i = 0; i < n && introspect_step(c); i++) {
        const DirectiveDef *def = directive_def(c, introspect_str(ds[i].name));
        if (!def || def->repeatable) continue;
        const GqlDirective *first = introspect_map_get(&seen, introspect_str(ds[i].name));
        if (!first) {
            introspect_map_put(c->arena, &seen, introspect_str(ds[i].name), (void *)&ds[i]);
            continue;
        }
        buf_printf(&c->msg, "The directive \"@%s\" can only be used once at this location.", ds[i].name);
        introspect_add_error(c, (GqlLoc[]){first->loc, ds[i].loc}, 2);
    }
}

static bool has_location(const DirectiveDef *def, const char *location) {
    for (size_t i = 0; def->locations && def->locations->type == JSON_ARRAY && i < def->locations->count; i++) {
        if (introspect_str_is(introspect_json_text(def->locations->items[i]), location)) return true;
    }
    return false;
}

static void check_directive(Ctx *c, const GqlDirective *d, const char *location) {
    const DirectiveDef *def = directive_def(c, introspect_str(d->name));
    if (!def) {
        buf_printf(&c->msg, "Unknown directive \"@%s\".", d->name);
        introspect_add_error_at(c, d->loc);
    } else if (!has_location(def, location)) {
        buf_printf(&c->msg, "Directive \"@%s\" may not be used on %s.", d->name, location);
        introspect_add_error_at(c, d->loc);
    }
    for (size_t i = 0; def && i < d->nargs; i++) {
        if (find_arg(def->args, def->nargs, introspect_str(d->args[i].name))) continue;
        buf_printf(&c->msg, "Unknown argument \"%s\" on directive \"@%s\".", d->args[i].name, d->name);
        introspect_suggest(c, NULL, introspect_str(d->args[i].name), arg_names(c->arena, def->args, def->nargs), def->nargs);
        introspect_add_error_at(c, d->args[i].loc);
    }
    for (size_t i = 0; i < d->nargs; i++) {
        check_argument_value(c, &d->args[i], def ? find_arg(def->args, def->nargs, introspect_str(d->args[i].name)) : NULL);
    }
    for (size_t i = 0; def && i < def->nargs; i++) {
        if (!required(&def->args[i]) || introspect_last_argument(d->args, d->nargs, def->args[i].name)) continue;
        buf_printf(&c->msg, "Directive \"@%s\" argument \"%.*s\" of type \"", d->name, (int)def->args[i].name.n,
                   def->args[i].name.p);
        introspect_print_type(&c->msg, def->args[i].type);
        buf_appends(&c->msg, "\" is required, but it was not provided.");
        introspect_add_error_at(c, d->loc);
    }
}

static void check_directives(Ctx *c, const GqlDirective *ds, size_t n, const char *location) {
    for (size_t i = 0; i < n; i++) check_directive(c, &ds[i], location);
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
    Meta meta = introspect_meta_of_name(name);
    return meta == META_NONE ? UNCHECKED : (Scope){meta, introspect_str(INTROSPECT_META_NAMES[meta])};
}

static Scope scope_of_field(const MetaField *def) {
    return def && def->meta != META_NONE ? (Scope){def->meta, introspect_str(INTROSPECT_META_NAMES[def->meta])} : UNCHECKED;
}

static bool possible_type_of(const Ctx *c, Str abstract, Str object) {
    return introspect_find_named(json_get(introspect_type_named(c->s, abstract), "possibleTypes"), object) != NULL;
}

// graphql-js's doTypesOverlap, for a parent that is an object type.
bool introspect_types_overlap(const Ctx *c, Str parent, Str fragment) {
    if (introspect_str_eq(parent, fragment)) return true;
    Kind kind = introspect_kind_of(c->s, fragment);
    return (kind == KIND_INTERFACE || kind == KIND_UNION) && possible_type_of(c, fragment, parent);
}

static void unknown_type(Ctx *c, Str name, GqlLoc loc) {
    size_t n;
    const Str *names = type_names(c, &n);
    buf_printf(&c->msg, "Unknown type \"%.*s\".", (int)name.n, name.p);
    introspect_suggest(c, NULL, name, names, n);
    introspect_add_error_at(c, loc);
}

static void validate_selections(Ctx *c, Scope scope, const GqlSelectionSet *set, bool of_inline_fragment, int depth);

static Str *field_names(Ctx *c, Meta meta, size_t *n) {
    *n = meta == META_ROOT && c->op->type != GQL_QUERY ? 0 : INTROSPECT_META_FIELDS[meta].count;
    Str *names = arena_alloc(c->arena, (*n + 1) * sizeof *names);
    for (size_t i = 0; i < *n; i++) names[i] = introspect_str(INTROSPECT_META_FIELDS[meta].fields[i].name);
    return names;
}

// ScalarLeafsRule.
static void check_leaf_or_object(Ctx *c, const GqlSelection *f, const MetaField *def) {
    if (def->meta == META_NONE && f->selections.count) {
        buf_printf(&c->msg, "Field \"%s\" must not have a selection since type \"%s\" has no subfields.", f->name, def->type);
        introspect_add_error_at(c, f->loc);
    } else if (def->meta != META_NONE && !f->selections.count) {
        buf_printf(&c->msg, "Field \"%s\" of type \"%s\" must have a selection of subfields. Did you mean \"%s { ... }\"?",
                   f->name, def->type, f->name);
        introspect_add_error_at(c, f->loc);
    }
}

static void unknown_field(Ctx *c, Scope scope, const GqlSelection *f) {
    size_t n;
    Str *names = field_names(c, scope.meta, &n);
    buf_printf(&c->msg, "Cannot query field \"%s\" on type \"%.*s\".", f->name, (int)scope.name.n, scope.name.p);
    introspect_suggest(c, NULL, introspect_str(f->name), names, n);
    introspect_add_error_at(c, f->loc);
}

static void check_field_arguments(Ctx *c, Scope scope, const GqlSelection *f, const MetaField *def) {
    for (size_t i = 0; i < f->nargs; i++) {
        const ArgDef *arg = def ? find_arg(def->args, def->nargs, introspect_str(f->args[i].name)) : NULL;
        if (def && !arg) {
            buf_printf(&c->msg, "Unknown argument \"%s\" on field \"%.*s.%s\".", f->args[i].name, (int)scope.name.n,
                       scope.name.p, def->name);
            introspect_suggest(c, NULL, introspect_str(f->args[i].name), arg_names(c->arena, def->args, def->nargs), def->nargs);
            introspect_add_error_at(c, f->args[i].loc);
        }
        check_argument_value(c, &f->args[i], arg);
    }
}

static void check_required_arguments(Ctx *c, const GqlSelection *f, const MetaField *def) {
    for (size_t i = 0; i < def->nargs; i++) {
        if (!required(&def->args[i]) || introspect_last_argument(f->args, f->nargs, def->args[i].name)) continue;
        buf_printf(&c->msg, "Field \"%s\" argument \"%.*s\" of type \"", def->name, (int)def->args[i].name.n,
                   def->args[i].name.p);
        introspect_print_type(&c->msg, def->args[i].type);
        buf_appends(&c->msg, "\" is required, but it was not provided.");
        introspect_add_error_at(c, f->loc);
    }
}

// The rules in graphql-js's order: the field's own (ScalarLeafs, FieldsOnCorrectType,
// UniqueDirectivesPerLocation), its arguments, its directives, its selections, then
// ProvidedRequiredArguments as it is left.
static void validate_field(Ctx *c, Scope scope, const GqlSelection *f, int depth) {
    const MetaField *def = introspect_meta_field(c, scope.meta, introspect_str(f->name));
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
        Str type = introspect_str(sel->type_condition);
        Kind kind = introspect_kind_of(c->s, type);
        if (kind != KIND_NONE && !introspect_is_composite(kind)) {
            buf_printf(&c->msg, "Fragment cannot condition on non composite type \"%s\".", sel->type_condition);
            introspect_add_error_at(c, sel->loc);
        } else if (introspect_is_composite(kind) && scope.name.p && !introspect_types_overlap(c, scope.name, type)) {
            buf_printf(&c->msg, "Fragment cannot be spread here as objects of type \"%.*s\" can never be of type \"%s\".",
                       (int)scope.name.n,
                       scope.name.p, sel->type_condition);
            introspect_add_error_at(c, sel->loc);
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
    const GqlFragment *fragment = introspect_map_get(&c->fragments, introspect_str(sel->name));
    if (!fragment) {
        buf_printf(&c->msg, "Unknown fragment \"%s\".", sel->name);
        introspect_add_error_at(c, sel->name_loc);
    } else if (fragment->type_condition && introspect_is_composite(introspect_kind_of(c->s, introspect_str(fragment->type_condition))) &&
               scope.name.p && !introspect_types_overlap(c, scope.name, introspect_str(fragment->type_condition))) {
        buf_printf(&c->msg, "Fragment \"%s\" cannot be spread here as objects of type \"%.*s\" can never be of type \"%s\".",
                   sel->name,
                   (int)scope.name.n, scope.name.p, fragment->type_condition);
        introspect_add_error_at(c, sel->loc);
    }
    check_unique_directives(c, sel->directives, sel->ndirectives);
    check_directives(c, sel->directives, sel->ndirectives, "FRAGMENT_SPREAD");
}

static bool validation_goes_on(const Ctx *c) { return introspect_within_limits(c) && !c->errors.stopped && !c->conflicts_aborted; }

static void validate_selections(Ctx *c, Scope scope, const GqlSelectionSet *set, bool of_inline_fragment, int depth) {
    if (introspect_deeper_than_allowed(c, depth)) return;
    bool several = set->count > 1 || (set->count == 1 && set->items[0].kind == GQL_INLINE_FRAGMENT);
    if (!c->quiet && !of_inline_fragment && several) {
        introspect_report_conflicts(c, scope.name.p ? introspect_canonical_type(c->s, scope.name) : NULL, set, depth);
    }
    for (size_t i = 0; i < set->count && introspect_step(c) && validation_goes_on(c); i++) {
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
    Str type = introspect_str(f->type_condition ? f->type_condition : "");
    Kind kind = introspect_kind_of(c->s, type);
    if (kind != KIND_NONE && !introspect_is_composite(kind)) {
        buf_printf(&c->msg, "Fragment \"%s\" cannot condition on non composite type \"%.*s\".", f->name, (int)type.n, type.p);
        introspect_add_error_at(c, f->loc);
    }
    check_unique_directives(c, f->directives, f->ndirectives);
    if (kind == KIND_NONE) unknown_type(c, type, f->loc);
    check_directives(c, f->directives, f->ndirectives, "FRAGMENT_DEFINITION");
    validate_selections(c, scope_of_type(type), &f->selections, false, 1);
}

// The type a variable is declared with; NULL (and too deep) when its lists nest too deep.
const TypeRef *introspect_variable_type(Ctx *c, const GqlVariable *v) {
    const TypeRef *type = introspect_type_from_text(c->arena, v->type);
    if (!type) c->too_deep = true;
    return type;
}

static void validate_variable_definition(Ctx *c, const GqlVariable *v) {
    const TypeRef *type = introspect_variable_type(c, v);
    if (!type) return;
    Str named = introspect_named_type(type)->name;
    Kind kind = introspect_kind_of(c->s, named);
    if (kind != KIND_NONE && !introspect_is_input(kind)) {
        buf_printf(&c->msg, "Variable \"$%s\" cannot be non-input type \"%s\".", v->name, v->type);
        introspect_add_error_at(c, v->loc);
    }
    check_unique_directives(c, v->directives, v->ndirectives);
    if (kind == KIND_NONE) unknown_type(c, named, v->loc);
    if (v->default_value && introspect_value_too_deep(v->default_value, 0)) {
        c->too_deep = true;
    } else if (v->default_value) {
        check_value(c, v->default_value, introspect_is_input(kind) ? type : NULL, false, NULL, true);
    }
    check_directives(c, v->directives, v->ndirectives, "VARIABLE_DEFINITION");
}

static const GqlVariable *variable_definition(const Ctx *c, Str name) { return introspect_map_get(&c->variable_definitions, name); }

static bool is_subtype(const TypeRef *sub, const TypeRef *super) {
    if (super->kind == REF_NON_NULL) return sub->kind == REF_NON_NULL && is_subtype(sub->of, super->of);
    if (sub->kind == REF_NON_NULL) return is_subtype(sub->of, super);
    if (super->kind == REF_LIST) return sub->kind == REF_LIST && is_subtype(sub->of, super->of);
    return sub->kind == REF_NAMED && introspect_str_eq(sub->name, super->name);
}

static bool allowed_usage(const TypeRef *var_type, const GqlValue *var_default, const Usage *u) {
    if (introspect_is_non_null(u->type) && !introspect_is_non_null(var_type)) {
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
            introspect_add_error(c, (GqlLoc[]){v->loc, op->loc}, 2);
        }
    }
    for (size_t k = 0; k < nall; k++) {
        for (size_t i = 0; i < all[k]->count; i++) {
            const Usage *u = &all[k]->items[i];
            const GqlVariable *def = variable_definition(c, (Str){u->variable->text, u->variable->len});
            const TypeRef *var_type = def ? introspect_type_from_text(c->arena, def->type) : NULL;
            if (var_type && introspect_kind_of(c->s, introspect_named_type(var_type)->name) == KIND_NONE) var_type = NULL;
            if (!def || !u->type || !var_type) continue;
            GqlLoc locs[2] = {def->loc, u->variable->loc};
            if (!allowed_usage(var_type, def->default_value, u)) {
                buf_printf(&c->msg, "Variable \"$%s\" of type \"%s\" used in position expecting type \"", def->name, def->type);
                introspect_print_type(&c->msg, u->type);
                buf_appends(&c->msg, "\".");
                introspect_add_error(c, locs, 2);
            }
            const TypeRef *parent = u->parent;
            if (parent && parent->kind == REF_NAMED && introspect_is_true(json_get(introspect_type_named(c->s, parent->name),
                                                                                   "isOneOf")) && !introspect_is_non_null(var_type)) {
                buf_printf(&c->msg,
                           "Variable \"$%s\" is of type \"%s\" but must be non-nullable to be used for OneOf Input Object \"%.*s\".",
                           def->name, def->type, (int)parent->name.n, parent->name.p);
                introspect_add_error(c, locs, 2);
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
    sets->items = introspect_grow_array(c->arena, sets->items, sets->count, &sets->cap, sizeof *sets->items);
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
    while (to_visit.count && introspect_step(c)) {
        const GqlSelectionSet *root = to_visit.items[--to_visit.count];
        Sets inner = {NULL, 0, 0};
        push_set(c, &inner, root);
        while (inner.count && introspect_step(c)) {
            const GqlSelectionSet *set = inner.items[--inner.count];
            for (size_t i = 0; i < set->count; i++) {
                const GqlSelection *sel = &set->items[i];
                if (sel->kind != GQL_FRAGMENT_SPREAD) {
                    if (sel->selections.count) push_set(c, &inner, &sel->selections);
                    continue;
                }
                Str name = introspect_str(sel->name);
                if (introspect_map_get(&seen, name)) continue;
                introspect_map_put(c->arena, &seen, name, (void *)sel);
                const GqlFragment *fragment = introspect_map_get(&c->fragments, name);
                if (!fragment) continue;
                fragments = introspect_grow_array(c->arena, fragments, *n, &cap, sizeof *fragments);
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
void introspect_validate(Ctx *c) {
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
    if (c->conflicts_aborted && !c->quiet) introspect_append_error(&c->errors, introspect_str("Validation aborted."), NULL, 0);
}
