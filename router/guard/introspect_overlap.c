// OverlappingFieldsCanBeMergedRule for introspection queries, which introspect_validate.c
// runs: the fields of each selection set collected by response key, and compared with each
// other and with those of the fragments spread, as graphql-js 16.15 does, budget and all.
#include "introspect_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// ---- Validation: OverlappingFieldsCanBeMerged (graphql-js 16.15's algorithm, budget and all) ----

typedef struct FieldDetail {
    const char *parent;  // introspect_canonical_type of the type it is selected on (NULL: unknown)
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
    return !c->conflicts_aborted && introspect_within_limits(c);
}

static const MetaField *detail_def(const char *parent, Str name) {
    Meta meta = parent ? introspect_meta_of_name(introspect_str(parent)) : META_NONE;
    if (meta == META_NONE) return NULL;
    for (size_t i = 0; i < INTROSPECT_META_FIELDS[meta].count; i++) {
        if (introspect_str_is(name, INTROSPECT_META_FIELDS[meta].fields[i].name)) return &INTROSPECT_META_FIELDS[meta].fields[i];
    }
    return NULL;
}

static void collect_into(Ctx *c, Collected *out, const char *parent, const GqlSelectionSet *set, int depth) {
    if (introspect_deeper_than_allowed(c, depth)) return;
    for (size_t i = 0; i < set->count && introspect_step(c); i++) {
        const GqlSelection *sel = &set->items[i];
        if (sel->kind == GQL_FIELD) {
            Str key = introspect_str(sel->alias ? sel->alias : sel->name);
            size_t index = (size_t)(uintptr_t)introspect_map_get(&out->by_key, key);
            if (!index) {
                out->groups = introspect_grow_array(c->arena, out->groups, out->ngroups, &out->cap, sizeof *out->groups);
                out->groups[out->ngroups++] = (Group){key, NULL, 0, 0};
                index = out->ngroups;
                introspect_map_put(c->arena, &out->by_key, key, (void *)(uintptr_t)index);
            }
            Group *g = &out->groups[index - 1];
            g->items = introspect_grow_array(c->arena, g->items, g->count, &g->cap, sizeof *g->items);
            g->items[g->count++] = (FieldDetail){parent, sel, detail_def(parent, introspect_str(sel->name)),
                                                 sel->nargs == 0 && sel->selections.count == 0};
        } else if (sel->kind == GQL_FRAGMENT_SPREAD) {
            if (introspect_map_get(&out->fragment_set, introspect_str(sel->name))) continue;
            introspect_map_put(c->arena, &out->fragment_set, introspect_str(sel->name), (void *)sel);
            out->fragments = introspect_grow_array(c->arena, out->fragments, out->nfragments, &out->fragments_cap, sizeof *out->fragments);
            out->fragments[out->nfragments++] = introspect_str(sel->name);
        } else {
            const char *type = sel->type_condition ? introspect_canonical_type(c->s, introspect_str(sel->type_condition)) : parent;
            collect_into(c, out, type, &sel->selections, depth + 1);
        }
    }
}

// The fields of `set` by response key, and the fragments it spreads (inline fragments
// inlined); made once for each selection set and type.
static Collected *collect(Ctx *c, const char *parent, const GqlSelectionSet *set, int depth) {
    const void *identity[2] = {set, parent};
    Collected *collected = introspect_map_get(&c->collected, introspect_pointers_key(identity));
    if (collected) return collected;
    collected = arena_alloc(c->arena, sizeof *collected);
    collect_into(c, collected, parent, set, depth);
    introspect_map_put(c->arena, &c->collected, introspect_stored_key(c->arena, introspect_pointers_key(identity)), collected);
    return collected;
}

static Collected *collect_fragment(Ctx *c, const GqlFragment *fragment, int depth) {
    const char *type = fragment->type_condition ? introspect_canonical_type(c->s, introspect_str(fragment->type_condition)) : NULL;
    return collect(c, type, &fragment->selections, depth);
}

Str introspect_arena_text(Ctx *c, const Buf *b) { return (Str){arena_strndup(c->arena, b->data ? b->data : "", b->len), b->len}; }

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
        size_t *order = introspect_must_malloc((v->count + 1) * sizeof *order);
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
        if (!spend(c, 1) || !introspect_steps(c, b->nargs)) return true;  // (the lookup below)
        const GqlArgument *other = introspect_last_argument(b->args, b->nargs, introspect_str(a->args[i].name));
        if (!other) return false;
        if (introspect_value_too_deep(a->args[i].value, 0) || introspect_value_too_deep(other->value, 0)) {
            c->too_deep = true;
            return true;
        }
        if (!same_value(a->args[i].value, other->value)) return false;
    }
    return true;
}

static const TypeRef *def_type(Ctx *c, const MetaField *def) { return def ? introspect_type_from_text(c->arena, def->type) : NULL; }

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
    if (introspect_is_leaf(introspect_kind_of(c->s, a->name)) || introspect_is_leaf(introspect_kind_of(c->s, b->name))) {
        return !introspect_str_eq(a->name, b->name);
    }
    return false;
}

static Str abbreviated(Ctx *c, Str text) {
    if (text.n <= MAX_CONFLICT_DETAIL) return text;
    Buf b = BUF_INIT;
    buf_append(&b, text.p, MAX_CONFLICT_DETAIL);
    buf_appends(&b, "...");
    Str s = introspect_arena_text(c, &b);
    buf_free(&b);
    return s;
}

static void push_conflict(Ctx *c, Conflicts *out, Conflict conflict) {
    out->items = introspect_grow_array(c->arena, out->items, out->count, &out->cap, sizeof *out->items);
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
    conflict->reason = abbreviated(c, introspect_arena_text(c, &message));
    conflict->nodes1 = conflict_nodes(c, a, sub, false, &conflict->n1);
    conflict->nodes2 = conflict_nodes(c, b, sub, true, &conflict->n2);
    buf_free(&message);
    return conflict;
}

static Conflicts conflicts_between_sub_selections(Ctx *c, bool exclusive, const char *parent1, const GqlSelectionSet *set1,
                                                  const char *parent2, const GqlSelectionSet *set2, int depth);

static Conflict *find_conflict(Ctx *c, bool parents_exclusive, Str key, const FieldDetail *f1, const FieldDetail *f2, int depth) {
    bool objects = introspect_kind_of(c->s, introspect_str(f1->parent ? f1->parent : "")) == KIND_OBJECT &&
                   introspect_kind_of(c->s, introspect_str(f2->parent ? f2->parent : "")) == KIND_OBJECT;
    bool exclusive = parents_exclusive || (f1->parent != f2->parent && objects);
    if (!spend(c, 2) || introspect_deeper_than_allowed(c, depth)) return NULL;
    const GqlSelection *a = f1->node, *b = f2->node;
    if (f1->simple_leaf && f2->simple_leaf && same_type_object(f1->def, f2->def) && strcmp(a->name, b->name) == 0) return NULL;
    if (!exclusive) {
        Buf reason = BUF_INIT;
        if (strcmp(a->name, b->name) != 0) {
            Str n1 = abbreviated(c, introspect_str(a->name)), n2 = abbreviated(c, introspect_str(b->name));
            buf_printf(&reason, "\"%.*s\" and \"%.*s\" are different fields", (int)n1.n, n1.p, (int)n2.n, n2.p);
        } else if (!same_arguments(c, a, b)) {
            buf_appends(&reason, "they have differing arguments");
        }
        Conflict *conflict = reason.len ? new_conflict(c, key, introspect_arena_text(c, &reason), a, b) : NULL;
        buf_free(&reason);
        if (conflict) return conflict;
    }
    const TypeRef *t1 = def_type(c, f1->def), *t2 = def_type(c, f2->def);
    if (t1 && t2 && types_conflict(c, t1, t2)) {
        Buf reason = BUF_INIT;
        buf_appends(&reason, "they return conflicting types \"");
        introspect_print_type(&reason, t1);
        buf_appends(&reason, "\" and \"");
        introspect_print_type(&reason, t2);
        buf_appendc(&reason, '"');
        Conflict *conflict = new_conflict(c, key, introspect_arena_text(c, &reason), a, b);
        buf_free(&reason);
        return conflict;
    }
    if (a->selections.count && b->selections.count) {
        const char *p1 = f1->def && f1->def->meta != META_NONE ? INTROSPECT_META_NAMES[f1->def->meta] : NULL;
        const char *p2 = f2->def && f2->def->meta != META_NONE ? INTROSPECT_META_NAMES[f2->def->meta] : NULL;
        Conflicts sub = conflicts_between_sub_selections(c, exclusive, introspect_canonical_type(c->s, introspect_str(p1 ? p1 : "")),
                                                         &a->selections, introspect_canonical_type(c->s, introspect_str(p2 ? p2 : "")),
                                                         &b->selections, depth + 1);
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
                if (!introspect_within_limits(c) || c->conflicts_aborted) return;
            }
        }
    }
}

static const Overlaps *overlapping(Ctx *c, Collected *first, const Collected *second) {
    const void *identity[2] = {second, NULL};
    Overlaps *o = introspect_map_get(&first->overlapping, introspect_pointers_key(identity));
    if (o) return o;
    o = arena_alloc(c->arena, sizeof *o);
    o->first = arena_alloc(c->arena, (first->ngroups + 1) * sizeof *o->first);
    o->second = arena_alloc(c->arena, (first->ngroups + 1) * sizeof *o->second);
    for (size_t g = 0; g < first->ngroups; g++) {
        if (!spend(c, 1)) break;
        size_t index = (size_t)(uintptr_t)introspect_map_get(&second->by_key, first->groups[g].key);
        if (!index) continue;
        o->first[o->count] = g;
        o->second[o->count++] = index - 1;
    }
    introspect_map_put(c->arena, &first->overlapping, introspect_stored_key(c->arena, introspect_pointers_key(identity)), o);
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
                if (!introspect_within_limits(c) || c->conflicts_aborted) return;
            }
        }
    }
}

static void conflicts_with_fragment(Ctx *c, Conflicts *out, bool exclusive, Collected *collected, Str name, int depth) {
    if (!spend(c, 1) || introspect_deeper_than_allowed(c, depth) || !collected->ngroups) return;
    const char *compared = introspect_map_get(&collected->compared, name);
    if (compared == &NOT_EXCLUSIVE || (exclusive && compared == &EXCLUSIVE)) return;
    introspect_map_put(c->arena, &collected->compared, name, (void *)(exclusive ? &EXCLUSIVE : &NOT_EXCLUSIVE));
    const GqlFragment *fragment = introspect_map_get(&c->fragments, name);
    if (!fragment) return;
    Collected *other = collect_fragment(c, fragment, depth);
    if (other == collected) return;
    conflicts_between(c, out, exclusive, collected, other, depth);
    for (size_t i = 0; i < other->nfragments && introspect_within_limits(c) && !c->conflicts_aborted; i++) {
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
            key = introspect_arena_text(c, &big);
            buf_free(&big);
        }
        const char *mark = introspect_map_get(&c->compared_pairs, key);
        if (mark && (exclusive || mark == &NOT_EXCLUSIVE)) return true;
    }
    return false;
}

static void compare_pair(Ctx *c, Str a, Str b, bool exclusive) {
    Buf key = BUF_INIT;
    buf_append(&key, a.p, a.n);
    buf_appendc(&key, 0);
    buf_append(&key, b.p, b.n);
    introspect_map_put(c->arena, &c->compared_pairs, introspect_arena_text(c, &key), (void *)(exclusive ? &EXCLUSIVE : &NOT_EXCLUSIVE));
    buf_free(&key);
}

static void conflicts_between_fragments(Ctx *c, Conflicts *out, bool exclusive, Str a, Str b, int depth) {
    if (!spend(c, 2) || introspect_deeper_than_allowed(c, depth) || introspect_str_eq(a, b) || pair_compared(c, a, b, exclusive)) return;
    compare_pair(c, a, b, exclusive);
    const GqlFragment *fa = introspect_map_get(&c->fragments, a), *fb = introspect_map_get(&c->fragments, b);
    if (!fa || !fb) return;
    Collected *ca = collect_fragment(c, fa, depth), *cb = collect_fragment(c, fb, depth);
    conflicts_between(c, out, exclusive, ca, cb, depth);
    for (size_t i = 0; i < cb->nfragments && introspect_within_limits(c) && !c->conflicts_aborted; i++) {
        conflicts_between_fragments(c, out, exclusive, a, cb->fragments[i], depth + 1);
    }
    for (size_t i = 0; i < ca->nfragments && introspect_within_limits(c) && !c->conflicts_aborted; i++) {
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

void introspect_report_conflicts(Ctx *c, const char *parent, const GqlSelectionSet *set, int depth) {
    Conflicts conflicts = conflicts_within_set(c, parent, set, depth);
    if (c->conflicts_aborted || !introspect_within_limits(c)) return;
    for (size_t i = 0; i < conflicts.count; i++) {
        const Conflict *k = &conflicts.items[i];
        Str key = abbreviated(c, k->key);
        buf_printf(&c->msg,
                   "Fields \"%.*s\" conflict because %.*s. Use different aliases on the fields to fetch both if this was intentional.",
                   (int)key.n, key.p, (int)k->reason.n, k->reason.p);
        GqlLoc *locs = arena_alloc(c->arena, (k->n1 + k->n2) * sizeof *locs);
        for (size_t n = 0; n < k->n1; n++) locs[n] = k->nodes1[n]->loc;
        for (size_t n = 0; n < k->n2; n++) locs[k->n1 + n] = k->nodes2[n]->loc;
        introspect_add_error(c, locs, k->n1 + k->n2);
    }
}
