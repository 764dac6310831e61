// The checks of a parsed GraphQL document (gql_check): Kindred's limits as the Node edge
// measured them (router/edge/document.mjs), and the spec's schema-free validation rules with
// graphql-js's messages, reported in the order graphql-js's single pass over the document
// finds them; then the choice of the operation to run (gql_operation).
//
// Hostile documents are bounded everywhere: the parser refuses nesting past MAX_NESTING, so
// walks over one definition recurse at most that deep; walks that follow fragment spreads
// keep their stacks on the heap and mark what they have seen, so a fragment is walked a
// bounded number of times whatever the spreads; names are looked up in sorted indexes, so
// no choice of names makes a check quadratic.
#include "graphql_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_INTROSPECTION_LISTS_DEPTH = 3 };  // graphql-js's MaxIntrospectionDepthRule, fixed there too

// --- Checks: names -----------------------------------------------------------------------

typedef struct NameRef {
    const char *name;
    size_t index;
} NameRef;

static int compare_name_refs(const void *a, const void *b) {
    const NameRef *x = a;
    const NameRef *y = b;
    int order = strcmp(x->name, y->name);
    if (order) return order;
    return x->index < y->index ? -1 : x->index > y->index;
}

// Equal names among names[0..count): sorting keeps it O(n log n) whatever the names.
typedef struct NameIndex {
    NameRef *sorted;  // by name, then index; NULL names left out
    size_t nsorted;
    size_t *first;    // [count]: the index of the first name equal to names[i] (i itself when first)
    size_t *next;     // [count]: the index of the next equal name, or NO_INDEX
    size_t *last;     // [count]: the index of the last equal name
} NameIndex;

typedef struct Checker {
    const GqlDocument *doc;
    const GqlLimits *limits;
    GqlError *errors;
    size_t max_errors;
    size_t nerrors;
    Arena *scratch;  // what one check needs, freed at its end
    Buf frames;      // the stack of the walk under way
    Buf sets;        // the selection sets collect_spreads has yet to look into
    Buf path;        // the cycle search's path of spreads, or the fragments a walk reached
    Buf usages;      // an operation's variable usages
    NameIndex fragment_names;
    // Per fragment (by its index in doc->fragments), made when first needed.
    const GqlSelection ***spreads;  // graphql-js's getFragmentSpreads, NULL-terminated lists
    const GqlValue ***fragment_usages;
    // The limits' memo: per fragment, measured outside introspection [2i] and inside [2i+1].
    struct Memo *memo;
    uint32_t generation;
    // MaxIntrospectionDepthRule's marks per fragment: entry depths (-1: none).
    int *checked;
    int *exceeded;
    int *visited;
    uint32_t *visited_generation;
    // The cycle search's marks and its path's index per fragment.
    bool *cycle_visited;
    size_t *path_index;
    // NoUnusedFragments's and the variable rules' marks.
    uint32_t *reached_generation;
} Checker;

// NULL for nothing: a document without fragments or variables needs no scratch arena.
static void *scratch_alloc(Checker *c, size_t count, size_t size) {
    if (!count) return NULL;
    if (!c->scratch) c->scratch = arena_new();
    return arena_alloc(c->scratch, count * size);
}

static NameIndex index_names(Checker *c, const char *const *names, size_t count) {
    NameIndex index = {0};
    index.sorted = scratch_alloc(c, count, sizeof *index.sorted);
    index.first = scratch_alloc(c, count, sizeof *index.first);
    index.next = scratch_alloc(c, count, sizeof *index.next);
    index.last = scratch_alloc(c, count, sizeof *index.last);
    for (size_t i = 0; i < count; i++) {
        index.first[i] = index.last[i] = i;
        index.next[i] = NO_INDEX;
        if (names[i]) index.sorted[index.nsorted++] = (NameRef){names[i], i};
    }
    if (index.nsorted > 1) qsort(index.sorted, index.nsorted, sizeof *index.sorted, compare_name_refs);
    for (size_t run = 0; run < index.nsorted;) {
        size_t end = run + 1;
        while (end < index.nsorted && strcmp(index.sorted[end].name, index.sorted[run].name) == 0) end++;
        for (size_t k = run; k < end; k++) {
            index.first[index.sorted[k].index] = index.sorted[run].index;
            index.last[index.sorted[k].index] = index.sorted[end - 1].index;
            if (k + 1 < end) index.next[index.sorted[k].index] = index.sorted[k + 1].index;
        }
        run = end;
    }
    return index;
}

// The index of the first of the names equal to `name`, or NO_INDEX.
static size_t find_name(const NameIndex *index, const char *name) {
    size_t low = 0;
    size_t high = index->nsorted;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (strcmp(index->sorted[middle].name, name) < 0) low = middle + 1;
        else high = middle;
    }
    if (low < index->nsorted && strcmp(index->sorted[low].name, name) == 0) return index->sorted[low].index;
    return NO_INDEX;
}

// The fragment graphql-js's getFragment finds for `name` (the last defined), or NO_INDEX.
static size_t fragment_named(const Checker *c, const char *name) {
    size_t first = find_name(&c->fragment_names, name);
    return first == NO_INDEX ? NO_INDEX : c->fragment_names.last[first];
}

// --- Checks: reporting -------------------------------------------------------------------

static bool full(const Checker *c) { return c->nerrors >= c->max_errors; }

// The next error to fill, or NULL when there is no room left.
static GqlError *report(Checker *c, const char *limit, long max) {
    if (full(c)) return NULL;
    GqlError *error = &c->errors[c->nerrors++];
    gql_error_start(error, "GRAPHQL_VALIDATION_FAILED", limit, max);
    return error;
}

#define REPORT_AT(c, loc, ...)                      \
    do {                                            \
        GqlError *reported_ = report((c), NULL, 0); \
        if (reported_) {                            \
            gql_error_format(reported_, __VA_ARGS__);   \
            gql_error_locate(reported_, (loc));         \
        }                                           \
    } while (0)

// --- Checks: Kindred's limits (document.mjs measure and limitErrors) ----------------------

typedef struct Figures {
    size_t depth;
    size_t introspection_depth;
    uint64_t aliases;  // saturates: fragments spread twice at each of 64 levels count past 2^64
} Figures;

struct Memo {
    uint32_t generation;  // this operation's when measured or being measured (zero figures)
    Figures figures;
};

typedef enum { BACK_TO_NOBODY, BACK_MERGED, BACK_AS_FRAGMENT, BACK_AS_FIELD } MeasureReturn;

typedef struct MeasureFrame {
    const GqlSelectionSet *set;
    size_t next;
    bool introspection;
    Figures figures;
    MeasureReturn returns;
    const GqlSelection *field;  // BACK_AS_FIELD: the field this set is below
    size_t memo_slot;           // BACK_AS_FRAGMENT
} MeasureFrame;

static uint64_t add_saturating(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }
static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

static void merge_figures(Figures *into, const Figures *inner) {
    into->depth = max_size(into->depth, inner->depth);
    into->introspection_depth = max_size(into->introspection_depth, inner->introspection_depth);
    into->aliases = add_saturating(into->aliases, inner->aliases);
}

static void add_field_figures(Figures *into, const GqlSelection *field, bool introspection, const Figures *below) {
    into->aliases = add_saturating(into->aliases, add_saturating(below->aliases, field->alias != NULL));
    if (introspection) {
        into->introspection_depth = max_size(into->introspection_depth, 1 + below->introspection_depth);
    } else {
        into->depth = max_size(into->depth, 1 + below->depth);
        into->introspection_depth = max_size(into->introspection_depth, below->introspection_depth);
    }
}

static bool is_introspection_root(const char *name) { return strcmp(name, "__schema") == 0 || strcmp(name, "__type") == 0; }

static void push_frame(Buf *frames, const void *frame, size_t size) { buf_append(frames, frame, size); }

// The last frame pushed (the stack is not empty).
static void *top_frame(Buf *frames, size_t size) { return frames->data + frames->len - size; }

static void measure_spread(Checker *c, MeasureFrame *frame, const GqlSelection *spread) {
    size_t fragment = fragment_named(c, spread->name);
    if (fragment == NO_INDEX) return;
    size_t slot = 2 * fragment + frame->introspection;
    struct Memo *memo = &c->memo[slot];
    if (memo->generation == c->generation) {
        merge_figures(&frame->figures, &memo->figures);
        return;
    }
    *memo = (struct Memo){c->generation, {0, 0, 0}};
    MeasureFrame inner = {&c->doc->fragments[fragment].selections, 0, frame->introspection, {0, 0, 0},
                          BACK_AS_FRAGMENT, NULL, slot};
    push_frame(&c->frames, &inner, sizeof inner);
}

static void measure_selection(Checker *c, MeasureFrame *frame, const GqlSelection *s) {
    if (s->kind == GQL_INLINE_FRAGMENT) {
        MeasureFrame inner = {&s->selections, 0, frame->introspection, {0, 0, 0}, BACK_MERGED, NULL, 0};
        push_frame(&c->frames, &inner, sizeof inner);
    } else if (s->kind == GQL_FRAGMENT_SPREAD) {
        measure_spread(c, frame, s);
    } else {
        bool introspection = frame->introspection || is_introspection_root(s->name);
        if (s->selections.count) {
            MeasureFrame inner = {&s->selections, 0, introspection, {0, 0, 0}, BACK_AS_FIELD, s, 0};
            push_frame(&c->frames, &inner, sizeof inner);
        } else {
            Figures none = {0, 0, 0};
            add_field_figures(&frame->figures, s, introspection, &none);
        }
    }
}

static void hand_back(Checker *c, MeasureFrame *parent, const MeasureFrame *done) {
    if (done->returns == BACK_AS_FIELD) {
        add_field_figures(&parent->figures, done->field, done->introspection, &done->figures);
        return;
    }
    if (done->returns == BACK_AS_FRAGMENT) c->memo[done->memo_slot].figures = done->figures;
    merge_figures(&parent->figures, &done->figures);
}

// document.mjs's measure, on a stack of its own: each fragment measured once per kind of
// nesting and remembered; a spread back into one being measured, or of an unknown one,
// counts nothing.
static Figures measure_operation(Checker *c, const GqlOperation *op) {
    c->generation++;
    c->frames.len = 0;
    MeasureFrame root = {&op->selections, 0, false, {0, 0, 0}, BACK_TO_NOBODY, NULL, 0};
    push_frame(&c->frames, &root, sizeof root);
    for (;;) {
        MeasureFrame *top = top_frame(&c->frames, sizeof *top);
        if (top->next < top->set->count) {
            const GqlSelection *s = &top->set->items[top->next++];
            measure_selection(c, top, s);
            continue;
        }
        MeasureFrame done = *top;
        c->frames.len -= sizeof done;
        if (done.returns == BACK_TO_NOBODY) return done.figures;
        hand_back(c, top_frame(&c->frames, sizeof done), &done);
    }
}

static void report_limit(Checker *c, const GqlOperation *op, const char *limit, size_t max, const char *what,
                         uint64_t value) {
    GqlError *error = report(c, limit, (long)max);
    if (!error) return;
    gql_error_format(error, "%s is %llu; at most %zu is allowed.", what, (unsigned long long)value, max);
    gql_error_locate(error, op->loc);
}

static void check_limits(Checker *c, const GqlOperation *op) {
    const GqlLimits *limits = c->limits;
    Figures figures = measure_operation(c, op);
    // Depth counts the levels below a root field, as the subgraphs' limiter does.
    size_t depth = figures.depth ? figures.depth - 1 : 0;
    if (depth > limits->max_depth) report_limit(c, op, "depth", limits->max_depth, "The depth of this operation", depth);
    if (figures.aliases > limits->max_aliases) {
        report_limit(c, op, "aliases", limits->max_aliases, "The number of aliases", figures.aliases);
    }
    if (figures.introspection_depth > limits->max_introspection_depth) {
        report_limit(c, op, "introspectionDepth", limits->max_introspection_depth, "The introspection depth",
                     figures.introspection_depth);
    }
}

// --- Checks: fragment spreads ------------------------------------------------------------

// graphql-js's getFragmentSpreads: the spreads in a selection set and those nested in its
// fields and inline fragments, in its order (nested sets taken last in, first out).
static const GqlSelection **collect_spreads(Checker *c, const GqlSelectionSet *set) {
    Buf found = BUF_INIT;
    c->sets.len = 0;
    push_frame(&c->sets, &set, sizeof set);
    while (c->sets.len) {
        const GqlSelectionSet *current = *(const GqlSelectionSet **)top_frame(&c->sets, sizeof set);
        c->sets.len -= sizeof set;
        for (size_t i = 0; i < current->count; i++) {
            const GqlSelection *s = &current->items[i];
            if (s->kind == GQL_FRAGMENT_SPREAD) {
                buf_append(&found, &s, sizeof s);
            } else if (s->selections.count) {
                const GqlSelectionSet *inner = &s->selections;
                push_frame(&c->sets, &inner, sizeof inner);
            }
        }
    }
    size_t count = found.len / sizeof(GqlSelection *);
    const GqlSelection **spreads = scratch_alloc(c, count + 1, sizeof *spreads);
    if (count) memcpy(spreads, found.data, found.len);
    buf_free(&found);
    return spreads;
}

static const GqlSelection **fragment_spreads(Checker *c, size_t fragment) {
    if (!c->spreads[fragment]) c->spreads[fragment] = collect_spreads(c, &c->doc->fragments[fragment].selections);
    return c->spreads[fragment];
}

// graphql-js's getRecursivelyReferencedFragments: fragments reached from `spreads`, each
// once, in the order found (breadth first); marked with this walk's generation. Leaves
// them in c->path.
static void reach_fragments(Checker *c, const GqlSelection **spreads) {
    c->generation++;
    c->path.len = 0;
    for (size_t head = 0;; head++) {
        for (; *spreads; spreads++) {
            size_t fragment = fragment_named(c, (*spreads)->name);
            if (fragment == NO_INDEX || c->reached_generation[fragment] == c->generation) continue;
            c->reached_generation[fragment] = c->generation;
            buf_append(&c->path, &fragment, sizeof fragment);
        }
        if (head >= c->path.len / sizeof(size_t)) return;
        spreads = fragment_spreads(c, ((const size_t *)c->path.data)[head]);
    }
}

// --- Checks: NoFragmentCyclesRule ----------------------------------------------------------

typedef struct CycleFrame {
    size_t fragment;  // whose spreads are being followed
    size_t name;      // the fragment its name finds (differs for a repeated name)
    size_t next;
} CycleFrame;

static void report_cycle(Checker *c, const GqlSelection *const *cycle, size_t length) {
    GqlError *error = report(c, NULL, 0);
    if (!error) return;
    Buf message = BUF_INIT;
    buf_printf(&message, "Cannot spread fragment \"%s\" within itself", cycle[length - 1]->name);
    for (size_t i = 0; i + 1 < length && message.len < sizeof error->message; i++) {
        buf_printf(&message, "%s\"%s\"", i ? ", " : " via ", cycle[i]->name);
    }
    buf_appendc(&message, '.');
    gql_error_format(error, "%s", message.data);
    buf_free(&message);
    for (size_t i = 0; i < length; i++) gql_error_locate(error, cycle[i]->loc);
}

// Follows a spread: a cycle when its fragment is on the path, else into that fragment unless
// already searched (the spread then stays on the path until the fragment is done).
static void follow_spread(Checker *c, const GqlSelection *spread) {
    size_t fragment = fragment_named(c, spread->name);
    buf_append(&c->path, &spread, sizeof spread);
    size_t length = c->path.len / sizeof spread;
    if (fragment != NO_INDEX && c->path_index[fragment] != NO_INDEX) {
        const GqlSelection *const *path = (const GqlSelection *const *)c->path.data;
        report_cycle(c, path + c->path_index[fragment], length - c->path_index[fragment]);
    } else if (fragment != NO_INDEX && !c->cycle_visited[fragment]) {
        c->cycle_visited[fragment] = true;
        if (*fragment_spreads(c, fragment)) {
            c->path_index[fragment] = length;
            CycleFrame frame = {fragment, fragment, 0};
            push_frame(&c->frames, &frame, sizeof frame);
            return;
        }
    }
    c->path.len -= sizeof spread;
}

// graphql-js's detectCycleRecursive from one fragment definition, on a stack of its own;
// fragments already searched are not searched again.
static void detect_cycles(Checker *c, size_t fragment) {
    size_t name = fragment_named(c, c->doc->fragments[fragment].name);
    if (c->cycle_visited[name]) return;
    c->cycle_visited[name] = true;
    if (!*fragment_spreads(c, fragment)) return;
    c->frames.len = 0;
    c->path.len = 0;
    c->path_index[name] = 0;
    CycleFrame root = {fragment, name, 0};
    push_frame(&c->frames, &root, sizeof root);
    while (c->frames.len) {
        CycleFrame *top = top_frame(&c->frames, sizeof *top);
        const GqlSelection *spread = fragment_spreads(c, top->fragment)[top->next];
        if (spread) {
            top->next++;
            follow_spread(c, spread);
            continue;
        }
        c->path_index[top->name] = NO_INDEX;
        c->frames.len -= sizeof *top;
        if (c->frames.len) c->path.len -= sizeof spread;  // the spread that led into it
    }
}

// --- Checks: MaxIntrospectionDepthRule -----------------------------------------------------

typedef struct DepthFrame {
    const GqlSelectionSet *set;
    size_t next;
    int depth;
    size_t fragment;  // NO_INDEX, or the fragment this set is, entered at `depth`
} DepthFrame;

static bool is_introspection_list(const char *name) {
    return strcmp(name, "fields") == 0 || strcmp(name, "interfaces") == 0 || strcmp(name, "possibleTypes") == 0 ||
           strcmp(name, "inputFields") == 0;
}

// Every fragment being walked reaches the limit too, at its entry depth: marked innermost
// first, as graphql-js's recursion unwinds, so a fragment entered twice keeps the outer depth.
static bool reached_limit(Checker *c) {
    for (size_t at = c->frames.len; at > 0; at -= sizeof(DepthFrame)) {
        const DepthFrame *frame = (const DepthFrame *)(c->frames.data + at - sizeof(DepthFrame));
        if (frame->fragment != NO_INDEX) c->exceeded[frame->fragment] = frame->depth;
    }
    return true;
}

// A fragment whose walk reached the limit reaches it again from as deep; one visited (in
// this root's walk) or checked (in any) from as deep is not walked again.
static bool enter_spread(Checker *c, const GqlSelection *spread, int depth) {
    size_t fragment = fragment_named(c, spread->name);
    if (fragment == NO_INDEX) return false;
    if (c->exceeded[fragment] >= 0 && c->exceeded[fragment] <= depth) return reached_limit(c);
    bool visited = c->visited_generation[fragment] == c->generation && c->visited[fragment] >= depth;
    if (visited || (c->checked[fragment] >= 0 && c->checked[fragment] >= depth)) return false;
    c->visited_generation[fragment] = c->generation;
    c->visited[fragment] = depth;
    DepthFrame frame = {&c->doc->fragments[fragment].selections, 0, depth, fragment};
    push_frame(&c->frames, &frame, sizeof frame);
    return false;
}

static bool enter_selection(Checker *c, const GqlSelection *s, int depth) {
    if (s->kind == GQL_FRAGMENT_SPREAD) return enter_spread(c, s, depth);
    if (s->kind == GQL_FIELD && is_introspection_list(s->name) && ++depth >= MAX_INTROSPECTION_LISTS_DEPTH) {
        return reached_limit(c);
    }
    if (s->selections.count) {
        DepthFrame frame = {&s->selections, 0, depth, NO_INDEX};
        push_frame(&c->frames, &frame, sizeof frame);
    }
    return false;
}

// graphql-js's checkDepth from a __schema or __type field, on a stack of its own, with its
// marks: per fragment, the entry depths that reached the limit or did not.
static bool introspection_too_deep(Checker *c, const GqlSelection *root) {
    c->generation++;
    c->frames.len = 0;
    DepthFrame start = {&root->selections, 0, 0, NO_INDEX};
    push_frame(&c->frames, &start, sizeof start);
    while (c->frames.len) {
        DepthFrame *top = top_frame(&c->frames, sizeof *top);
        if (top->next < top->set->count) {
            const GqlSelection *s = &top->set->items[top->next++];
            if (enter_selection(c, s, top->depth)) return true;
            continue;
        }
        if (top->fragment != NO_INDEX) c->checked[top->fragment] = top->depth;
        c->frames.len -= sizeof *top;
    }
    return false;
}

// --- Checks: the validation pass -----------------------------------------------------------

static void check_directive_count(Checker *c, size_t count, GqlLoc loc) {
    size_t max = c->limits->max_directives;
    if (count <= max) return;
    GqlError *error = report(c, "directives", (long)max);
    if (!error) return;
    gql_error_format(error, "At most %zu directives may be put in one place; this one has %zu.", max, count);
    gql_error_locate(error, loc);
}

// graphql-js's groupBy rules (UniqueArgumentNames, UniqueVariableNames): one error per
// repeated name, in the order the names first come, with every place it is written.
static void report_repeated_names(Checker *c, const char *const *names, const GqlLoc *locs, size_t count,
                                  const char *format) {
    if (count < 2) return;
    NameIndex index = index_names(c, names, count);
    for (size_t i = 0; i < count && !full(c); i++) {
        if (index.first[i] != i || index.next[i] == NO_INDEX) continue;
        GqlError *error = report(c, NULL, 0);
        gql_error_format(error, format, names[i]);
        for (size_t at = i; at != NO_INDEX && error->nlocations < GQL_MAX_LOCATIONS; at = index.next[at]) {
            gql_error_locate(error, locs[at]);
        }
    }
}

static void check_argument_names(Checker *c, const GqlArgument *args, size_t count) {
    if (count < 2) return;
    const char **names = scratch_alloc(c, count, sizeof *names);
    GqlLoc *locs = scratch_alloc(c, count, sizeof *locs);
    for (size_t i = 0; i < count; i++) names[i] = args[i].name, locs[i] = args[i].loc;
    report_repeated_names(c, names, locs, count, "There can be only one argument named \"%s\".");
}

static void check_variable_names(Checker *c, const GqlOperation *op) {
    if (op->nvariables < 2) return;
    const char **names = scratch_alloc(c, op->nvariables, sizeof *names);
    GqlLoc *locs = scratch_alloc(c, op->nvariables, sizeof *locs);
    for (size_t i = 0; i < op->nvariables; i++) names[i] = op->variables[i].name, locs[i] = op->variables[i].name_loc;
    report_repeated_names(c, names, locs, op->nvariables, "There can be only one variable named \"$%s\".");
}

// UniqueInputFieldNamesRule, each object value on its own.
static void walk_value(Checker *c, const GqlValue *v) {
    if (v->kind != GQL_LIST && v->kind != GQL_OBJECT) return;
    NameIndex index = {0};
    if (v->kind == GQL_OBJECT && v->count > 1) index = index_names(c, v->names, v->count);
    for (size_t i = 0; i < v->count && !full(c); i++) {
        if (index.first && index.first[i] != i) {
            GqlError *error = report(c, NULL, 0);
            gql_error_format(error, "There can be only one input field named \"%s\".", v->names[i]);
            gql_error_locate(error, v->name_locs[index.first[i]]);
            gql_error_locate(error, v->name_locs[i]);
        }
        walk_value(c, v->items[i]);
    }
}

static void walk_directives(Checker *c, const GqlDirective *directives, size_t count) {
    for (size_t i = 0; i < count && !full(c); i++) {
        check_argument_names(c, directives[i].args, directives[i].nargs);
        for (size_t a = 0; a < directives[i].nargs; a++) walk_value(c, directives[i].args[a].value);
    }
}

static void walk_selections(Checker *c, const GqlSelectionSet *set, bool introspection_checked);

static void walk_field(Checker *c, const GqlSelection *field, bool introspection_checked) {
    check_argument_names(c, field->args, field->nargs);
    // graphql-js's rule skips what is under a root it refused.
    if (!introspection_checked && is_introspection_root(field->name) && introspection_too_deep(c, field)) {
        GqlError *error = report(c, "introspectionLists", (long)c->limits->max_introspection_lists);
        if (error) {
            gql_error_format(error, "This introspection query nests `fields`, `interfaces`, `possibleTypes` or "
                                    "`inputFields` three deep: ask for less nesting (GraphiQL's introspection query fits).");
            gql_error_locate(error, field->loc);
        }
        introspection_checked = true;
    }
    check_directive_count(c, field->ndirectives, field->loc);
    for (size_t a = 0; a < field->nargs; a++) walk_value(c, field->args[a].value);
    walk_directives(c, field->directives, field->ndirectives);
    walk_selections(c, &field->selections, introspection_checked);
}

static void walk_selections(Checker *c, const GqlSelectionSet *set, bool introspection_checked) {
    for (size_t i = 0; i < set->count && !full(c); i++) {
        const GqlSelection *s = &set->items[i];
        if (s->kind == GQL_FIELD) {
            walk_field(c, s, introspection_checked);
            continue;
        }
        if (s->kind == GQL_FRAGMENT_SPREAD && fragment_named(c, s->name) == NO_INDEX) {
            REPORT_AT(c, s->name_loc, "Unknown fragment \"%s\".", s->name);
        }
        check_directive_count(c, s->ndirectives, s->loc);
        walk_directives(c, s->directives, s->ndirectives);
        if (s->kind == GQL_INLINE_FRAGMENT) walk_selections(c, &s->selections, introspection_checked);
    }
}

// graphql-js's getVariableUsages: the variables in values, in document order.
static void collect_value_usages(Buf *out, const GqlValue *v) {
    if (v->kind == GQL_VARIABLE) buf_append(out, &v, sizeof v);
    if (v->kind == GQL_LIST || v->kind == GQL_OBJECT) {
        for (size_t i = 0; i < v->count; i++) collect_value_usages(out, v->items[i]);
    }
}

static void collect_directive_usages(Buf *out, const GqlDirective *directives, size_t count) {
    for (size_t i = 0; i < count; i++) {
        for (size_t a = 0; a < directives[i].nargs; a++) collect_value_usages(out, directives[i].args[a].value);
    }
}

static void collect_selection_usages(Buf *out, const GqlSelectionSet *set) {
    for (size_t i = 0; i < set->count; i++) {
        const GqlSelection *s = &set->items[i];
        for (size_t a = 0; a < s->nargs; a++) collect_value_usages(out, s->args[a].value);
        collect_directive_usages(out, s->directives, s->ndirectives);
        collect_selection_usages(out, &s->selections);
    }
}

// A fragment's usages, collected once and NULL-terminated.
static const GqlValue **fragment_usages(Checker *c, size_t fragment) {
    if (c->fragment_usages[fragment]) return c->fragment_usages[fragment];
    const GqlFragment *f = &c->doc->fragments[fragment];
    Buf found = BUF_INIT;
    collect_directive_usages(&found, f->directives, f->ndirectives);
    collect_selection_usages(&found, &f->selections);
    size_t count = found.len / sizeof(GqlValue *);
    const GqlValue **usages = scratch_alloc(c, count + 1, sizeof *usages);
    if (count) memcpy(usages, found.data, found.len);
    buf_free(&found);
    return c->fragment_usages[fragment] = usages;
}

// graphql-js's getRecursiveVariableUsages: the operation's own, then each fragment it
// reaches, in c->usages.
static void collect_operation_usages(Checker *c, const GqlOperation *op) {
    c->usages.len = 0;
    collect_directive_usages(&c->usages, op->directives, op->ndirectives);
    collect_selection_usages(&c->usages, &op->selections);
    if (!c->doc->nfragments) return;
    reach_fragments(c, collect_spreads(c, &op->selections));
    for (size_t at = 0; at < c->path.len; at += sizeof(size_t)) {
        size_t fragment = *(const size_t *)(c->path.data + at);
        for (const GqlValue **u = fragment_usages(c, fragment); *u; u++) buf_append(&c->usages, u, sizeof *u);
    }
}

// NoUndefinedVariablesRule, then NoUnusedVariablesRule.
static void check_variable_usages(Checker *c, const GqlOperation *op) {
    collect_operation_usages(c, op);
    const GqlValue *const *usages = (const GqlValue *const *)c->usages.data;
    size_t nusages = c->usages.len / sizeof *usages;
    const char **names = scratch_alloc(c, op->nvariables, sizeof *names);
    bool *used = scratch_alloc(c, op->nvariables, sizeof *used);
    for (size_t i = 0; i < op->nvariables; i++) names[i] = op->variables[i].name;
    NameIndex defined = index_names(c, names, op->nvariables);
    for (size_t i = 0; i < nusages && !full(c); i++) {
        size_t definition = find_name(&defined, usages[i]->text);
        if (definition != NO_INDEX) {
            used[definition] = true;
            continue;
        }
        GqlError *error = report(c, NULL, 0);
        if (op->name) gql_error_format(error, "Variable \"$%s\" is not defined by operation \"%s\".", usages[i]->text, op->name);
        else gql_error_format(error, "Variable \"$%s\" is not defined.", usages[i]->text);
        gql_error_locate(error, usages[i]->loc);
        gql_error_locate(error, op->loc);
    }
    for (size_t i = 0; i < op->nvariables && !full(c); i++) {
        if (used[defined.first[i]]) continue;
        const char *name = op->variables[i].name;
        if (op->name) REPORT_AT(c, op->variables[i].loc, "Variable \"$%s\" is never used in operation \"%s\".", name, op->name);
        else REPORT_AT(c, op->variables[i].loc, "Variable \"$%s\" is never used.", name);
    }
}

static void walk_operation(Checker *c, const NameIndex *operation_names, size_t index) {
    const GqlOperation *op = &c->doc->operations[index];
    if (op->name && operation_names->first && operation_names->first[index] != index) {
        GqlError *error = report(c, NULL, 0);
        if (error) {
            gql_error_format(error, "There can be only one operation named \"%s\".", op->name);
            gql_error_locate(error, c->doc->operations[operation_names->first[index]].name_loc);
            gql_error_locate(error, op->name_loc);
        }
    }
    if (!op->name && c->doc->noperations > 1) {
        REPORT_AT(c, op->loc, "This anonymous operation must be the only defined operation.");
    }
    check_variable_names(c, op);
    check_directive_count(c, op->ndirectives, op->loc);
    for (size_t i = 0; i < op->nvariables && !full(c); i++) {
        const GqlVariable *v = &op->variables[i];
        check_directive_count(c, v->ndirectives, v->loc);
        if (v->default_value) walk_value(c, v->default_value);
        walk_directives(c, v->directives, v->ndirectives);
    }
    walk_directives(c, op->directives, op->ndirectives);
    walk_selections(c, &op->selections, false);
    if (!full(c)) check_variable_usages(c, op);
}

static void walk_fragment(Checker *c, size_t index) {
    const GqlFragment *f = &c->doc->fragments[index];
    size_t first = c->fragment_names.first[index];
    if (first != index) {
        GqlError *error = report(c, NULL, 0);
        if (error) {
            gql_error_format(error, "There can be only one fragment named \"%s\".", f->name);
            gql_error_locate(error, c->doc->fragments[first].name_loc);
            gql_error_locate(error, f->name_loc);
        }
    }
    detect_cycles(c, index);
    check_directive_count(c, f->ndirectives, f->loc);
    walk_directives(c, f->directives, f->ndirectives);
    walk_selections(c, &f->selections, false);
}

static void check_executable_definitions(Checker *c) {
    for (size_t i = 0; i < c->doc->ntype_system; i++) {
        const GqlTypeSystemDefinition *d = &c->doc->type_system[i];
        if (d->name) REPORT_AT(c, d->loc, "The \"%s\" definition is not executable.", d->name);
        else REPORT_AT(c, d->loc, "The schema definition is not executable.");
    }
}

static void check_unused_fragments(Checker *c) {
    if (!c->doc->nfragments) return;
    Buf all = BUF_INIT;
    for (size_t i = 0; i < c->doc->noperations; i++) {
        for (const GqlSelection **s = collect_spreads(c, &c->doc->operations[i].selections); *s; s++) {
            buf_append(&all, s, sizeof *s);
        }
    }
    const GqlSelection *end = NULL;
    buf_append(&all, &end, sizeof end);
    reach_fragments(c, (const GqlSelection **)all.data);
    buf_free(&all);
    for (size_t i = 0; i < c->doc->nfragments && !full(c); i++) {
        const GqlFragment *f = &c->doc->fragments[i];
        if (c->reached_generation[c->fragment_names.last[i]] != c->generation) {
            REPORT_AT(c, f->loc, "Fragment \"%s\" is never used.", f->name);
        }
    }
}

static bool comes_before(GqlLoc a, GqlLoc b) { return a.line < b.line || (a.line == b.line && a.column < b.column); }

// The rules run as graphql-js's validate runs them: one pass over the document, each node
// handed to every rule in turn, so their errors come in the same order.
static void validate(Checker *c) {
    const GqlDocument *doc = c->doc;
    NameIndex operation_names = {0};
    if (doc->noperations > 1) {
        const char **names = scratch_alloc(c, doc->noperations, sizeof *names);
        for (size_t i = 0; i < doc->noperations; i++) names[i] = doc->operations[i].name;
        operation_names = index_names(c, names, doc->noperations);
    }
    check_executable_definitions(c);
    size_t op = 0;
    size_t fragment = 0;
    while ((op < doc->noperations || fragment < doc->nfragments) && !full(c)) {
        bool operation_first = fragment == doc->nfragments ||
                               (op < doc->noperations && comes_before(doc->operations[op].loc, doc->fragments[fragment].loc));
        if (operation_first) walk_operation(c, &operation_names, op++);
        else walk_fragment(c, fragment++);
    }
    check_unused_fragments(c);
}

static void prepare_fragments(Checker *c) {
    size_t n = c->doc->nfragments;
    const char **names = scratch_alloc(c, n, sizeof *names);
    for (size_t i = 0; i < n; i++) names[i] = c->doc->fragments[i].name;
    c->fragment_names = index_names(c, names, n);
    c->spreads = scratch_alloc(c, n, sizeof *c->spreads);
    c->fragment_usages = scratch_alloc(c, n, sizeof *c->fragment_usages);
    c->memo = scratch_alloc(c, 2 * n, sizeof *c->memo);
    c->checked = scratch_alloc(c, n, sizeof *c->checked);
    c->exceeded = scratch_alloc(c, n, sizeof *c->exceeded);
    c->visited = scratch_alloc(c, n, sizeof *c->visited);
    c->visited_generation = scratch_alloc(c, n, sizeof *c->visited_generation);
    c->cycle_visited = scratch_alloc(c, n, sizeof *c->cycle_visited);
    c->path_index = scratch_alloc(c, n, sizeof *c->path_index);
    c->reached_generation = scratch_alloc(c, n, sizeof *c->reached_generation);
    for (size_t i = 0; i < n; i++) {
        c->checked[i] = c->exceeded[i] = -1;
        c->path_index[i] = NO_INDEX;
    }
}

size_t gql_check(const GqlDocument *doc, const GqlLimits *limits, GqlError *errors, size_t max_errors) {
    Checker c = {.doc = doc, .limits = limits, .errors = errors, .max_errors = max_errors};
    if (doc->nfragments) prepare_fragments(&c);
    // The limits first, one operation at a time: they are cheap, and they spare the rules
    // a document too big to be worth their time.
    for (size_t i = 0; i < doc->noperations && !c.nerrors; i++) check_limits(&c, &doc->operations[i]);
    if (!c.nerrors) validate(&c);
    arena_free(c.scratch);
    buf_free(&c.frames);
    buf_free(&c.sets);
    buf_free(&c.path);
    buf_free(&c.usages);
    return c.nerrors;
}

// --- Operations --------------------------------------------------------------------------

const GqlOperation *gql_operation(const GqlDocument *doc, const char *name, GqlError *error) {
    bool named = name && *name;
    for (size_t i = 0; named && i < doc->noperations; i++) {
        if (doc->operations[i].name && strcmp(doc->operations[i].name, name) == 0) return &doc->operations[i];
    }
    if (!named && doc->noperations == 1) return &doc->operations[0];
    gql_error_start(error, "OPERATION_RESOLUTION_FAILURE", NULL, 0);
    if (named) gql_error_format(error, "The document has no operation named \"%s\".", name);
    else gql_error_format(error, "The document has several operations: say which one to run in `operationName`.");
    return NULL;
}

bool gql_introspection_only(const GqlOperation *op) {
    if (op->type != GQL_QUERY) return false;
    for (size_t i = 0; i < op->selections.count; i++) {
        const GqlSelection *s = &op->selections.items[i];
        if (s->kind != GQL_FIELD) return false;
        if (!is_introspection_root(s->name) && strcmp(s->name, "__typename") != 0) return false;
    }
    return true;
}
