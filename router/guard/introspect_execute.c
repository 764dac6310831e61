// Introspection answered by the guard itself (introspection_execute): the state of one run,
// which validates the query (introspect_validate.c), coerces its variables as graphql-js's
// coerceVariableValues does, then executes it: the answer copies the result's JSON,
// resolving type references to full types.
//
// Everything is bounded: nesting (selections with fragments inlined, values, variables) by
// MAX_NESTING, work and scratch memory by MAX_STEPS and MAX_SCRATCH_BYTES, the answer by
// MAX_ANSWER_BYTES; over any of them the query is refused with one GRAPHQL_VALIDATION_FAILED
// error.
#include "introspect_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char TOO_DEEP[] =
    "The introspection query nests more than 64 levels deep (fragments and values included): ask for less nesting.";
static const char TOO_BIG[] =
    "The introspection answer would be over 4 MiB or take too long to build: ask for less of the schema.";

// ---- The state of one introspection_execute ----

bool introspect_within_limits(const Ctx *c) { return !c->too_deep && !c->too_big; }

// Counts `n` units of work; false once over a limit.
bool introspect_steps(Ctx *c, size_t n) {
    c->steps += n;
    if (c->steps > MAX_STEPS || arena_size(c->arena) > MAX_SCRATCH_BYTES) c->too_big = true;
    return introspect_within_limits(c);
}

bool introspect_step(Ctx *c) { return introspect_steps(c, 1); }

bool introspect_deeper_than_allowed(Ctx *c, int depth) {
    if (depth > MAX_NESTING) c->too_deep = true;
    return c->too_deep;
}

void introspect_append_error(Errors *e, Str message, const GqlLoc *locs, size_t nlocs) {
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
void introspect_add_error(Ctx *c, const GqlLoc *locs, size_t nlocs) {
    Errors *e = &c->errors;
    if (!c->quiet && !e->stopped) {
        if (e->max && e->count >= e->max) {
            e->stopped = true;
            introspect_append_error(e, introspect_str(e->too_many), NULL, 0);
        } else {
            introspect_append_error(e, (Str){c->msg.data ? c->msg.data : "", c->msg.len}, locs, nlocs);
        }
    }
    if (e->json.len > MAX_ANSWER_BYTES) c->too_big = true;
    buf_clear(&c->msg);
}

void introspect_add_error_at(Ctx *c, GqlLoc loc) { introspect_add_error(c, &loc, 1); }

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
    introspect_inspect_json(&c->msg, invalid, 0);
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
    introspect_add_error_at(c, c->variable->loc);
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
    const Json *object_type = introspect_type_named(c->s, type_name);
    const Json *fields = json_get(object_type, "inputFields");
    size_t kept = 0;  // the fields the coerced object has (given, or with a default)
    Str first_key = {NULL, 0};
    bool first_null = false;
    for (size_t i = 0; fields && fields->type == JSON_ARRAY && i < fields->count && !c->errors.stopped; i++) {
        Str name = introspect_member_text(fields->items[i], "name");
        const TypeRef *type = introspect_known_input_type(c, introspect_type_from_json(c->arena, json_get(fields->items[i], "type"), 0));
        if (!name.p || !type) continue;
        const Json *given = json_get(v, name.p);
        if (!given && introspect_has_default(fields->items[i])) {
            if (!kept++) first_key = name;
        } else if (!given && introspect_is_non_null(type)) {
            buf_printf(&c->msg, "Field \"%.*s\" of required type \"", (int)name.n, name.p);
            introspect_print_type(&c->msg, type);
            buf_appends(&c->msg, "\" was not provided.");
            coercion_error(c, v);
        } else if (given) {
            coerce_field(c, given, name, type, depth);
            if (!kept++) {
                first_key = name;
                first_null = given->type == JSON_NULL && !introspect_is_non_null(type);
            }
        }
    }
    size_t n;
    Entry *entries = introspect_object_entries(v, &n);
    for (size_t i = 0; i < n && !c->errors.stopped && introspect_within_limits(c); i++) {
        if (introspect_find_named(fields, entries[i].key)) continue;
        size_t nnames;
        Str *names = introspect_names_of(c->arena, fields, &nnames);
        buf_appends(&c->msg, "Field \"");
        buf_append(&c->msg, entries[i].key.p, entries[i].key.n);  // a key may hold NUL bytes
        buf_printf(&c->msg, "\" is not defined by type \"%.*s\".", (int)type_name.n, type_name.p);
        introspect_suggest(c, NULL, entries[i].key, names, nnames);
        coercion_error(c, v);
    }
    free(entries);
    if (!introspect_is_true(json_get(object_type, "isOneOf"))) return;
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
    Str *names = introspect_enum_value_names(c, enum_name, &n);
    if (v->type != JSON_STRING) {
        Buf shown = BUF_INIT;
        introspect_inspect_json(&shown, v, 0);
        buf_printf(&c->msg, "Enum \"%.*s\" cannot represent non-string value: %.*s.", (int)enum_name.n, enum_name.p,
                   (int)shown.len, shown.data);
        introspect_suggest(c, "the enum value", (Str){shown.data, shown.len}, names, n);
        buf_free(&shown);
        coercion_error(c, v);
        return;
    }
    Str text = introspect_json_text(v);
    for (size_t i = 0; i < n; i++) {
        if (introspect_str_eq(names[i], text)) return;
    }
    buf_appends(&c->msg, "Value \"");
    buf_append(&c->msg, text.p, text.n);
    buf_printf(&c->msg, "\" does not exist in \"%.*s\" enum.", (int)enum_name.n, enum_name.p);
    introspect_suggest(c, "the enum value", text, names, n);
    coercion_error(c, v);
}

// A built-in scalar's parseValue: writes the message when `v` does not fit.
static bool scalar_value_fits(Ctx *c, Str scalar, const Json *v) {
    const char *problem = NULL;
    double x = v->type == JSON_NUMBER ? strtod(v->text, NULL) : 0;
    bool boolean = v->type == JSON_TRUE || v->type == JSON_FALSE, number = v->type == JSON_NUMBER;
    if (introspect_str_is(scalar, "String") && v->type != JSON_STRING) problem = "String cannot represent a non string value: ";
    if (introspect_str_is(scalar, "Boolean") && !boolean) problem = "Boolean cannot represent a non boolean value: ";
    if (introspect_str_is(scalar, "Float") && (!number || x - x != 0)) problem = "Float cannot represent non numeric value: ";
    if (introspect_str_is(scalar, "ID") && v->type != JSON_STRING && !(number && is_integer(x))) problem = "ID cannot represent value: ";
    if (introspect_str_is(scalar, "Int") && (!number || !is_integer(x))) problem = "Int cannot represent non-integer value: ";
    if (problem) {
        buf_appends(&c->msg, problem);
        introspect_inspect_json(&c->msg, v, 0);
        return false;
    }
    if (introspect_str_is(scalar, "Int") && (x > 2147483647.0 || x < -2147483648.0)) {
        buf_appends(&c->msg, "Int cannot represent non 32-bit signed integer value: ");
        introspect_js_number(&c->msg, v->text);
        return false;
    }
    return true;
}

static void coerce_value(Ctx *c, const Json *v, const TypeRef *type, int depth) {
    if (c->errors.stopped || !introspect_step(c)) return;
    if (depth > MAX_NESTING) {
        buf_appends(&c->msg, "The value nests more than 64 levels deep.");
        coercion_error(c, v);
    } else if (type->kind == REF_NON_NULL && v->type == JSON_NULL) {
        buf_appends(&c->msg, "Expected non-nullable type \"");
        introspect_print_type(&c->msg, type);
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
        Kind kind = introspect_kind_of(c->s, type->name);
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
    for (size_t i = 0; i < c->op->nvariables && !c->errors.stopped && introspect_within_limits(c); i++) {
        const GqlVariable *v = &c->op->variables[i];
        const TypeRef *type = introspect_variable_type(c, v);
        if (!type) return;
        c->variable = v;
        c->path_len = 0;
        VariableValue *value = arena_alloc(c->arena, sizeof *value);
        if (!introspect_known_input_type(c, type)) {
            buf_printf(&c->msg, "Variable \"$%s\" expected value of type \"%s\" which cannot be used as an input type.", v->name,
                       v->type);
            introspect_add_error_at(c, v->loc);
        } else if (!(value->json = json_get(inputs, v->name))) {
            if (v->default_value) {
                value->literal = v->default_value;
                introspect_map_put(c->arena, &c->variables, introspect_str(v->name), value);
            } else if (introspect_is_non_null(type)) {
                buf_printf(&c->msg, "Variable \"$%s\" of required type \"%s\" was not provided.", v->name, v->type);
                introspect_add_error_at(c, v->loc);
            }
        } else if (value->json->type == JSON_NULL && introspect_is_non_null(type)) {
            buf_printf(&c->msg, "Variable \"$%s\" of non-null type \"%s\" must not be null.", v->name, v->type);
            introspect_add_error_at(c, v->loc);
        } else {
            coerce_value(c, value->json, type, 0);
            introspect_map_put(c->arena, &c->variables, introspect_str(v->name), value);
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

static const ArgDef IF_ARGUMENT = {{"if", 2}, &INTROSPECT_BOOLEAN_NON_NULL, false};

// graphql-js's getArgumentValues for one argument; false with c->msg and *loc set when it
// does not fit.
static bool argument_value(Ctx *c, const GqlArgument *args, size_t nargs, const ArgDef *def, GqlLoc node_loc, ArgValue *out,
                           GqlLoc *loc) {
    *out = (ArgValue){!def->has_default, false, {NULL, 0}};
    const GqlArgument *arg = introspect_last_argument(args, nargs, def->name);
    Buf *m = &c->msg;
    if (!arg) {
        if (def->has_default || !introspect_is_non_null(def->type)) return true;
        buf_printf(m, "Argument \"%.*s\" of required type \"", (int)def->name.n, def->name.p);
        introspect_print_type(m, def->type);
        buf_appends(m, "\" was not provided.");
        *loc = node_loc;
        return false;
    }
    const GqlValue *literal = arg->value;
    const Json *json = NULL;
    *loc = literal->loc;
    if (literal->kind == GQL_VARIABLE) {
        const VariableValue *v = introspect_map_get(&c->variables, (Str){literal->text, literal->len});
        if (!v) {
            if (def->has_default || !introspect_is_non_null(def->type)) return true;
            buf_printf(m, "Argument \"%.*s\" of required type \"", (int)def->name.n, def->name.p);
            introspect_print_type(m, def->type);
            buf_printf(m, "\" was provided the variable \"$%s\" which was not provided a runtime value.", literal->text);
            return false;
        }
        json = v->json;
        literal = v->json ? NULL : v->literal;
    }
    bool is_null = json ? json->type == JSON_NULL : literal->kind == GQL_NULL;
    if (is_null && introspect_is_non_null(def->type)) {
        buf_printf(m, "Argument \"%.*s\" of non-null type \"", (int)def->name.n, def->name.p);
        introspect_print_type(m, def->type);
        buf_appends(m, "\" must not be null.");
        return false;
    }
    *out = (ArgValue){is_null, false, {NULL, 0}};
    if (is_null) return true;
    bool wants_boolean = introspect_str_eq(introspect_named_type(def->type)->name, INTROSPECT_BOOLEAN.name);
    if (wants_boolean && json && (json->type == JSON_TRUE || json->type == JSON_FALSE)) {
        out->boolean = json->type == JSON_TRUE;
    } else if (wants_boolean && literal && literal->kind == GQL_BOOLEAN) {
        out->boolean = strcmp(literal->text, "true") == 0;
    } else if (!wants_boolean && json && json->type == JSON_STRING) {
        out->text = introspect_json_text(json);
    } else if (!wants_boolean && literal && literal->kind == GQL_STRING) {
        out->text = (Str){literal->text, literal->len};
    } else {
        buf_printf(m, "Argument \"%.*s\" has invalid value ", (int)def->name.n, def->name.p);
        introspect_print_value(m, arg->value);
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
            out->error = introspect_arena_text(c, &c->msg);
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

static Str meta_type_name(const Ctx *c, Meta meta) { return meta == META_ROOT ? c->root : introspect_str(INTROSPECT_META_NAMES[meta]); }

static bool condition_matches(const Ctx *c, const char *condition, Meta meta) {
    return !condition || introspect_types_overlap(c, meta_type_name(c, meta), introspect_str(condition));
}

static void collect_for_execution(Ctx *c, ExecFields *out, Meta meta, const GqlSelectionSet *set, int depth) {
    if (introspect_deeper_than_allowed(c, depth)) return;
    for (size_t i = 0; i < set->count && introspect_step(c) && !out->failed; i++) {
        const GqlSelection *sel = &set->items[i];
        if (sel->kind == GQL_FIELD) {
            if (!should_include(c, sel->directives, sel->ndirectives, out)) continue;
            Str key = introspect_str(sel->alias ? sel->alias : sel->name);
            size_t index = (size_t)(uintptr_t)introspect_map_get(&out->by_key, key);
            if (!index) {
                out->groups = introspect_grow_array(c->arena, out->groups, out->count, &out->cap, sizeof *out->groups);
                out->groups[out->count++] = (ExecGroup){key, NULL, 0, 0};
                index = out->count;
                introspect_map_put(c->arena, &out->by_key, key, (void *)(uintptr_t)index);
            }
            ExecGroup *g = &out->groups[index - 1];
            g->nodes = introspect_grow_array(c->arena, g->nodes, g->count, &g->cap, sizeof *g->nodes);
            g->nodes[g->count++] = sel;
        } else if (sel->kind == GQL_INLINE_FRAGMENT) {
            if (!should_include(c, sel->directives, sel->ndirectives, out) || !condition_matches(c, sel->type_condition,
                                                                                                 meta)) continue;
            collect_for_execution(c, out, meta, &sel->selections, depth + 1);
        } else {
            Str name = introspect_str(sel->name);
            if (introspect_map_get(&out->visited, name) || !should_include(c, sel->directives, sel->ndirectives, out)) continue;
            introspect_map_put(c->arena, &out->visited, name, (void *)sel);
            const GqlFragment *fragment = introspect_map_get(&c->fragments, name);
            if (!fragment || !condition_matches(c, fragment->type_condition, meta)) continue;
            collect_for_execution(c, out, meta, &fragment->selections, depth + 1);
        }
    }
}

static bool filters_deprecated(const MetaField *def) {
    return def->args == INTROSPECT_INCLUDE_DEPRECATED || def->args == INTROSPECT_INCLUDE_DEPRECATED_NON_NULL;
}

static const Plan *build_plan(Ctx *c, Meta meta, const GqlSelection *const *nodes, const GqlSelectionSet *root, size_t count,
                              int depth);

static void plan_field(Ctx *c, PlanField *pf, Meta meta, const ExecGroup *g, int depth) {
    const GqlSelection *first = g->nodes[0];
    pf->key = g->key;
    pf->def = introspect_meta_field(c, meta, introspect_str(first->name));
    if (pf->def && pf->def->nargs) {
        ArgValue v;
        if (argument_value(c, first->args, first->nargs, &pf->def->args[0], first->loc, &v, &pf->error_loc)) {
            pf->include_deprecated = !v.is_null && v.boolean;
            pf->type_name = v.text;
        } else {
            pf->failed = true;
            pf->error = introspect_arena_text(c, &c->msg);
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
    if (introspect_deeper_than_allowed(c, depth)) return plan;
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
    for (size_t i = 0; i < fields.count && introspect_within_limits(c); i++) {
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
    const Json *full = introspect_type_named(s, introspect_member_text(ref, "name"));
    return full ? full : ref;
}

static bool complete_object(Ctx *c, Buf *out, const Plan *plan, Meta meta, const Json *object);

static void add_failure(Ctx *c, Str message, GqlLoc loc) {
    buf_append(&c->msg, message.p, message.n);
    introspect_add_error_at(c, loc);
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
        if (filter && introspect_is_true(json_get(item, "isDeprecated"))) continue;
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
    if (def == &INTROSPECT_TYPENAME) {
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
        return complete_one(c, out, pf, introspect_type_named(c->s, pf->type_name));
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
    if (!introspect_step(c)) return false;
    buf_appendc(out, '{');
    for (size_t i = 0; i < plan->count; i++) {
        const PlanField *pf = &plan->fields[i];
        if (i) buf_appendc(out, ',');
        buf_json_string(out, pf->key.p, pf->key.n);
        buf_appendc(out, ':');
        size_t mark = out->len;
        if (!execute_field(c, out, pf, meta, object)) {
            if (!introspect_within_limits(c) || introspect_type_text_is_non_null(pf->def->type)) return false;
            out->len = mark;
            buf_appends(out, "null");
        }
        if (out->len > MAX_ANSWER_BYTES) c->too_big = true;
        if (!introspect_within_limits(c)) return false;
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
    introspect_append_error(&c->errors, introspect_str(c->too_deep ? TOO_DEEP : TOO_BIG), NULL, 0);
    return answer_errors(c, out, 1);
}

static int execute(Ctx *c, Buf *out) {
    start_errors(c, 0, NULL, "BAD_USER_INPUT");
    const Plan *plan = build_plan(c, META_ROOT, NULL, &c->op->selections, 1, 1);
    Buf data = BUF_INIT;
    bool answered = introspect_within_limits(c) && complete_object(c, &data, plan, META_ROOT, NULL);
    int code = 0;
    if (!introspect_within_limits(c)) {
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
        introspect_add_error_at(c, c->op->loc);
        buf_appends(out, "{\"errors\":[");
        buf_append(out, c->errors.json.data, c->errors.json.len);
        buf_appends(out, "],\"data\":null}");
        return 2;
    }
    start_errors(c, MAX_VALIDATION_ERRORS, "Too many validation errors, error limit reached. Validation aborted.",
                 "GRAPHQL_VALIDATION_FAILED");
    c->conflict_budget = CONFLICT_BUDGET;
    introspect_validate(c);
    if (!introspect_within_limits(c)) return refuse_over_limits(c, out);
    if (c->errors.count) return answer_errors(c, out, 1);
    start_errors(c, MAX_VARIABLE_ERRORS, "Too many errors processing variables, error limit reached. Execution aborted.",
                 "BAD_USER_INPUT");
    coerce_variables(c, variables);
    if (!introspect_within_limits(c)) return refuse_over_limits(c, out);
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
        introspect_map_put(c.arena, &c.fragments, introspect_str(doc->fragments[i].name), (void *)&doc->fragments[i]);
    }
    for (size_t i = 0; i < op->nvariables; i++) {
        introspect_map_put(c.arena, &c.variable_definitions, introspect_str(op->variables[i].name), (void *)&op->variables[i]);
    }
    int code = answer(&c, variables, out);
    buf_free(&c.msg);
    buf_free(&c.errors.json);
    arena_free(c.arena);
    return code;
}
