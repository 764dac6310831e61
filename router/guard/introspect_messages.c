// The text of the introspection module's messages: "Did you mean ...?" suggestions as
// graphql-js's suggestionList makes them, GraphQL literals as graphql-js prints them, and
// JSON values as graphql-js inspects them.
#include "introspect_internal.h"

#include <float.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (introspect_str_eq(input, option)) return 0;
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
        for (size_t k = 0; k < count && !seen; k++) seen = introspect_str_eq(out[k].name, options[i]);
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
void introspect_suggest(Ctx *c, const char *sub, Str input, const Str *options, size_t noptions) {
    if (c->quiet) return;
    Suggestion s[MAX_SUGGESTIONS];
    did_you_mean(&c->msg, sub, s, suggestion_list(input, options, noptions, s));
}

// The names of the members of `array` (objects with a "name").
Str *introspect_names_of(Arena *arena, const Json *array, size_t *n) {
    *n = 0;
    if (!array || array->type != JSON_ARRAY) return NULL;
    Str *names = arena_alloc(arena, (array->count + 1) * sizeof *names);
    for (size_t i = 0; i < array->count; i++) {
        Str name = introspect_member_text(array->items[i], "name");
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
void introspect_print_value(Buf *b, const GqlValue *v) {
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
            introspect_print_value(b, v->items[i]);
        }
        buf_appendc(b, v->kind == GQL_LIST ? ']' : '}');
        break;
    default:  // numbers, enum values and booleans print as written
        buf_append(b, v->text, v->len);
        break;
    }
}

bool introspect_value_too_deep(const GqlValue *v, int depth) {
    if (depth > MAX_NESTING) return true;
    if (v->kind == GQL_LIST || v->kind == GQL_OBJECT) {
        for (size_t i = 0; i < v->count; i++) {
            if (introspect_value_too_deep(v->items[i], depth + 1)) return true;
        }
    }
    return false;
}

// JavaScript's String(number) for the JSON number `text`: the shortest digits that read
// back as the same double, in fixed notation from 1e-7 up to 1e21.
void introspect_js_number(Buf *b, const char *text) {
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

void *introspect_must_malloc(size_t size) {
    void *p = malloc(size);
    if (!p) abort();
    return p;
}

// The members of a JSON object as JavaScript's Object.entries sees what JSON.parse made of
// it: each key once (its last value, at its first place), array indexes first. Malloc'ed:
// messages inspect the same big object again and again, and must not pile up memory.
Entry *introspect_object_entries(const Json *object, size_t *n) {
    size_t count = object->count;
    size_t *order = introspect_must_malloc((count + 1) * sizeof *order);
    for (size_t i = 0; i < count; i++) order[i] = i;
    qsort_r(order, count, sizeof *order, compare_keys, (void *)object);
    Entry *entries = introspect_must_malloc((count + 1) * sizeof *entries);
    *n = 0;
    for (size_t i = 0; i < count; i++) {
        Str key = {object->keys[order[i]], object->key_lens[order[i]]};
        if (*n && introspect_str_eq(entries[*n - 1].key, key)) {
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
void introspect_inspect_json(Buf *b, const Json *v, int seen) {
    switch (v->type) {
    case JSON_NULL:
        buf_appends(b, "null");
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        buf_appends(b, v->type == JSON_TRUE ? "true" : "false");
        break;
    case JSON_NUMBER:
        introspect_js_number(b, v->text);
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
                introspect_inspect_json(b, v->items[i], seen + 1);
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
            Entry *entries = introspect_object_entries(v, &n);
            buf_appends(b, "{ ");
            for (size_t i = 0; i < n; i++) {
                if (i) buf_appends(b, ", ");
                buf_append(b, entries[i].key.p, entries[i].key.n);
                buf_appends(b, ": ");
                introspect_inspect_json(b, v->items[entries[i].last], seen + 1);
            }
            buf_appends(b, " }");
            free(entries);
        }
        break;
    }
    }
}
