// Tests for introspect_*.c: the answers graphql-js gives to ~100 introspection queries
// (tests/fixtures/introspect_cases.json, which tests/fixtures/introspect_fixtures.mjs builds
// from introspect_schema.graphql), byte for byte, GraphiQL's full introspection query among
// them; refusals of what is not an introspection result; the nesting, work and size limits;
// and a deterministic fuzz loop over mutated queries. Run it from router/guard (where
// `make test` runs it): the fixtures are read from tests/fixtures/.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "introspect.h"

static const char RESULT_FILE[] = "tests/fixtures/introspect_result.json";
static const char CASES_FILE[] = "tests/fixtures/introspect_cases.json";

// Generous limits: what is tested here is introspect_*.c's own bounds, not gql_check's.
static const GqlLimits LIMITS = {
    .max_tokens = 1000000,
    .max_depth = 100000,
    .max_aliases = 100000,
    .max_directives = 100000,
    .max_introspection_depth = 100000,
    .max_introspection_lists = 100000,
};

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot read %s: run the test from router/guard\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = malloc((size_t)size + 1);
    *len = fread(text, 1, (size_t)size, f);
    text[*len] = 0;
    fclose(f);
    return text;
}

static Json *parse_json(Arena *arena, const char *text) {
    JsonError error;
    return json_parse(arena, text, strlen(text), 512, &error);
}

static const char *text_of(const Json *object, const char *key) {
    const Json *v = json_get(object, key);
    return v && v->type == JSON_STRING ? v->text : NULL;
}

// Parses `query`, picks `operation` and answers it into `out` (cleared first); the return
// of introspection_execute, or -1 when the query does not parse, -2 with no such operation.
static int run(const Introspection *schema, const char *query, const Json *variables, const char *operation, Buf *out) {
    buf_clear(out);
    Arena *arena = arena_new();
    GqlError error;
    int code = -1;
    GqlDocument *doc = gql_parse(arena, query, strlen(query), &LIMITS, &error);
    const GqlOperation *op = doc ? gql_operation(doc, operation, &error) : NULL;
    if (doc) code = op ? introspection_execute(schema, doc, op, variables, out) : -2;
    arena_free(arena);
    return code;
}

static char last_answer[1 << 16];

// The code `query` with `variables` (JSON text, or NULL) is answered with; the answer's
// start is left in last_answer.
static int answer_code(const Introspection *schema, const char *query, const char *variables) {
    Arena *arena = arena_new();
    Buf out = BUF_INIT;
    int code = run(schema, query, variables ? parse_json(arena, variables) : NULL, NULL, &out);
    snprintf(last_answer, sizeof last_answer, "%s", out.data ? out.data : "");
    buf_free(&out);
    arena_free(arena);
    return code;
}

// `query` with `variables` (JSON text, or NULL) answers `expected` with `code`.
static void expect_answer(const Introspection *schema, const char *query, const char *variables, int code, const char *expected) {
    Arena *arena = arena_new();
    Buf out = BUF_INIT;
    int got = run(schema, query, variables ? parse_json(arena, variables) : NULL, NULL, &out);
    if (got != code || !out.data || strcmp(out.data, expected) != 0) fprintf(stderr, "query: %s\n", query);
    CHECK(got == code);
    CHECK_STR(out.data, expected);
    buf_free(&out);
    arena_free(arena);
}

static void expect_refusal(const Introspection *schema, const char *query, const char *message) {
    Buf expected = BUF_INIT;
    buf_appends(&expected, "{\"errors\":[{\"message\":");
    buf_json_string(&expected, message, strlen(message));
    buf_appends(&expected, ",\"extensions\":{\"code\":\"GRAPHQL_VALIDATION_FAILED\"}}]}");
    expect_answer(schema, query, NULL, 1, expected.data);
    buf_free(&expected);
}

static const char TOO_DEEP[] =
    "The introspection query nests more than 64 levels deep (fragments and values included): ask for less nesting.";
static const char TOO_BIG[] =
    "The introspection answer would be over 4 MiB or take too long to build: ask for less of the schema.";

// ---- Loading ----

static void test_load_refusals(void) {
    static const struct {
        const char *json;
        const char *error;
    } cases[] = {
        {"[]", "it has no \"__schema\" object"},
        {"{\"data\":{}}", "it has no \"__schema\" object"},
        {"{\"__schema\":1}", "it has no \"__schema\" object"},
        {"{\"__schema\":{\"directives\":[]}}", "\"__schema.types\" is not an array"},
        {"{\"__schema\":{\"types\":[]}}", "\"__schema.directives\" is not an array"},
        {"{\"__schema\":{\"types\":[{\"kind\":\"OBJECT\"}],\"directives\":[]}}", "a type has no name"},
        {"{\"__schema\":{\"types\":[1],\"directives\":[]}}", "a type has no name"},
        {"{\"__schema\":{\"types\":[],\"directives\":[{}]}}", "a directive has no name"},
        {"{\"__schema\":{\"types\":[{\"name\":\"Q\",\"kind\":\"THING\"}],\"directives\":[]}}", "a type has no known kind"},
        {"{\"__schema\":{\"types\":[{\"name\":\"Q\",\"kind\":\"OBJECT\"}],\"directives\":[]}}", "it has no query type"},
        {"{\"__schema\":{\"queryType\":{\"name\":\"Nope\"},\"types\":[{\"name\":\"Q\",\"kind\":\"OBJECT\"}],\"directives\":[]}}",
         "a root type is not among the object types"},
        {"{\"__schema\":{\"queryType\":{\"name\":\"Q\"},\"mutationType\":{\"name\":\"E\"},\"types\":[{\"name\":\"Q\",\"kind\":\"OBJECT\"},"
         "{\"name\":\"E\",\"kind\":\"ENUM\"}],\"directives\":[]}}",
         "a root type is not among the object types"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Arena *arena = arena_new();
        const char *error = NULL;
        Introspection *s = introspection_load(arena, parse_json(arena, cases[i].json), &error);
        CHECK(s == NULL);
        CHECK_STR(error, cases[i].error);
        arena_free(arena);
    }
    Arena *arena = arena_new();
    const char *error = NULL;
    CHECK(introspection_load(arena, NULL, &error) == NULL);
    CHECK_STR(error, "it has no \"__schema\" object");
    arena_free(arena);
}

// A schema with one type: the meta types are still known (a result need not list them).
static void test_minimal_schema(void) {
    Arena *arena = arena_new();
    const char *error = NULL;
    Introspection *s = introspection_load(
        arena, parse_json(arena,
                          "{\"__schema\":{\"queryType\":{\"name\":\"Q\"},\"types\":[{\"name\":\"Q\",\"kind\":\"OBJECT\"}],\"directives\":[]}}"),
        &error);
    CHECK(s != NULL);
    expect_answer(s, "{ __typename __schema { types { name } directives { name } mutationType { name } } }", NULL, 0,
                  "{\"data\":{\"__typename\":\"Q\",\"__schema\":{\"types\":[{\"name\":\"Q\"}],\"directives\":[],\"mutationType\":null}}}");
    expect_answer(s, "{ __type(name: \"Q\") { ... on __Type { kind fields { name } } } }", NULL, 0,
                  "{\"data\":{\"__type\":{\"kind\":\"OBJECT\",\"fields\":null}}}");
    expect_answer(s, "{ __typename @skip(if: true) }", NULL, 1,
                  "{\"errors\":[{\"message\":\"Unknown directive \\\"@skip\\\".\",\"locations\":[{\"line\":1,\"column\":14}],"
                  "\"extensions\":{\"code\":\"GRAPHQL_VALIDATION_FAILED\"}}]}");
    arena_free(arena);
}

// ---- graphql-js's answers ----

static void test_graphql_js_answers(const Introspection *schema) {
    size_t len;
    char *text = read_file(CASES_FILE, &len);
    Arena *arena = arena_new();
    JsonError error;
    Json *cases = json_parse(arena, text, len, 64, &error);
    CHECK(cases && cases->type == JSON_ARRAY && cases->count >= 90);
    size_t graphiql = 0;
    for (size_t i = 0; cases && i < cases->count; i++) {
        const Json *c = cases->items[i];
        const char *name = text_of(c, "name"), *query = text_of(c, "query"), *expected = text_of(c, "answer");
        const Json *variables = json_get(c, "variables");
        if (text_of(c, "variablesText")) variables = parse_json(arena, text_of(c, "variablesText"));
        const Json *code = json_get(c, "code");
        Buf out = BUF_INIT;
        int got = run(schema, query, variables, text_of(c, "operationName"), &out);
        bool same = code && got == atoi(code->text) && expected && out.data && strcmp(out.data, expected) == 0;
        if (!same) fprintf(stderr, "case \"%s\" (code %d):\n  expected %s\n  got      %s\n", name, got, expected, out.data);
        CHECK(same);
        if (name && strncmp(name, "graphiql", 8) == 0 && same && out.len > 20000) graphiql++;
        buf_free(&out);
    }
    CHECK(graphiql == 2);  // GraphiQL's full query, with and without every option
    arena_free(arena);
    free(text);
}

// ---- Operations, the answer buffer, variables that are not an object ----

static void test_calling(const Introspection *schema) {
    // The answer is appended to what `out` holds.
    Arena *arena = arena_new();
    GqlError error;
    const char *query = "query A { __typename } query B { b: __typename }";
    GqlDocument *doc = gql_parse(arena, query, strlen(query), &LIMITS, &error);
    Buf out = BUF_INIT;
    buf_appends(&out, "prefix:");
    CHECK(introspection_execute(schema, doc, gql_operation(doc, "B", &error), NULL, &out) == 0);
    CHECK_STR(out.data, "prefix:{\"data\":{\"b\":\"Query\"}}");
    // `variables` that are not an object count as none.
    buf_clear(&out);
    const char *needs = "query($n: String = \"Mood\") { __type(name: $n) { name } }";
    doc = gql_parse(arena, needs, strlen(needs), &LIMITS, &error);
    CHECK(introspection_execute(schema, doc, &doc->operations[0], parse_json(arena, "[1]"), &out) == 0);
    CHECK_STR(out.data, "{\"data\":{\"__type\":{\"name\":\"Mood\"}}}");
    buf_free(&out);
    arena_free(arena);
}

// ---- Limits ----

static char *repeated(const char *prefix, const char *unit, int times, const char *middle, const char *closing,
                      const char *suffix) {
    Buf b = BUF_INIT;
    buf_appends(&b, prefix);
    for (int i = 0; i < times; i++) buf_appends(&b, unit);
    buf_appends(&b, middle);
    for (int i = 0; i < times; i++) buf_appends(&b, closing);
    buf_appends(&b, suffix);
    return b.data;
}

static void test_nesting_limits(const Introspection *schema) {
    // 62 levels of ofType below __type and its field: at the limit; one more is over it.
    char *at = repeated("{ __type(name: \"Member\") { ", "ofType { ", 62, "name", " }", " } }");
    expect_answer(schema, at, NULL, 0, "{\"data\":{\"__type\":{\"ofType\":null}}}");
    char *over = repeated("{ __type(name: \"Member\") { ", "ofType { ", 63, "name", " }", " } }");
    expect_refusal(schema, over, TOO_DEEP);
    free(at);
    free(over);
    // Inline fragments count as levels too.
    char *inline_fragments = repeated("{ __schema { ", "... { ", 100, "description", " }", " } }");
    expect_refusal(schema, inline_fragments, TOO_DEEP);
    free(inline_fragments);
    // A fragment spread in itself (gql_check refuses the cycle; this must not loop).
    expect_refusal(schema, "{ __type(name: \"Member\") { ...A } } fragment A on __Type { name ofType { ...A } }", TOO_DEEP);
    // Fragments spreading each other at one level stop at the first repeat.
    expect_answer(schema,
                  "{ __type(name: \"Mood\") { ...A } } fragment A on __Type { name ...B } fragment B on __Type { kind ...A }", NULL, 0,
                  "{\"data\":{\"__type\":{\"name\":\"Mood\",\"kind\":\"ENUM\"}}}");
    // Values and variable types nest at most 64 deep: at the limit they are checked as usual.
    char *list = repeated("{ __schema { directives(includeDeprecated: ", "[", 64, "true", "]", ") { name } } }");
    CHECK(answer_code(schema, list, NULL) == 1 && strstr(last_answer, "Boolean cannot represent a non boolean value: [[[") != NULL);
    free(list);
    list = repeated("{ __schema { directives(includeDeprecated: ", "[", 65, "true", "]", ") { name } } }");
    expect_refusal(schema, list, TOO_DEEP);
    free(list);
    char *type = repeated("query($v: ", "[", 64, "Boolean", "]", ") { __typename @skip(if: $v) }");
    CHECK(answer_code(schema, type, NULL) == 1 && strstr(last_answer, "used in position expecting type \\\"Boolean!\\\"") != NULL);
    free(type);
    type = repeated("query($v: ", "[", 65, "Boolean", "]", ") { __typename @skip(if: $v) }");
    expect_refusal(schema, type, TOO_DEEP);
    free(type);
    // Variable values too: each {"and": [...]} of a SearchFilter is two levels.
    char *value = repeated("{\"f\": ", "{\"text\": \"x\", \"and\": [", 31, "{\"text\": \"y\"}", "]}", "}");
    const char *query = "query($f: SearchFilter) { __typename @cached(filter: $f) }";
    expect_answer(schema, query, value, 0, "{\"data\":{\"__typename\":\"Query\"}}");
    free(value);
    value = repeated("{\"f\": ", "{\"text\": \"x\", \"and\": [", 32, "{\"text\": \"y\"}", "]}", "}");
    CHECK(answer_code(schema, query, value) == 2 && strstr(last_answer, "The value nests more than 64 levels deep.") != NULL);
    free(value);
}

static void test_size_limits(const Introspection *schema) {
    // Fragments that each spread the next twice under two aliases: 2^24 fields to plan.
    Buf q = BUF_INIT;
    buf_appends(&q, "{ __type(name: \"Member\") { ...F0 } }");
    for (int i = 0; i < 24; i++) buf_printf(&q, " fragment F%d on __Type { a: ofType { ...F%d } b: ofType { ...F%d } }", i,
                                            i + 1, i + 1);
    buf_appends(&q, " fragment F24 on __Type { name }");
    expect_refusal(schema, q.data, TOO_BIG);
    // Aliases of every type with every field: far over 4 MiB.
    buf_clear(&q);
    buf_appends(&q, "query { __schema { ");
    for (int i = 0; i < 400; i++) {
        buf_printf(&q,
                   "t%d: types { name description fields(includeDeprecated: true) { name description args { name description } "
                       "type { name kind ofType { name kind ofType { name kind } } } } enumValues { name description } } ", i);
    }
    buf_appends(&q, "} }");
    expect_refusal(schema, q.data, TOO_BIG);
    buf_free(&q);
}

static size_t count_errors(const char *answer) {
    size_t n = 0;
    for (const char *p = answer; (p = strstr(p, "\"message\"")); p++) n++;
    return n;
}

static void test_error_limits(const Introspection *schema) {
    // Validation reports 20 errors, then says it stopped.
    Buf q = BUF_INIT;
    for (int n = 20; n <= 21; n++) {
        buf_clear(&q);
        buf_appends(&q, "{ __schema {");
        for (int i = 0; i < n; i++) buf_printf(&q, " f%d", i);
        buf_appends(&q, " } }");
        CHECK(answer_code(schema, q.data, NULL) == 1);
        CHECK(count_errors(last_answer) == (size_t)n);
        bool stopped = strstr(last_answer, "{\"message\":\"Too many validation errors, error limit reached. Validation aborted.\","
                                           "\"extensions\":{\"code\":\"GRAPHQL_VALIDATION_FAILED\"}}]}") != NULL;
        CHECK(stopped == (n == 21));
    }
    // Variables: 50 errors, then the same.
    for (int n = 50; n <= 51; n++) {
        buf_clear(&q);
        buf_appends(&q, "query(");
        for (int i = 0; i < n; i++) buf_printf(&q, "%s$v%d: String!", i ? ", " : "", i);
        buf_appends(&q, ") {");
        for (int i = 0; i < n; i++) buf_printf(&q, " t%d: __type(name: $v%d) { name }", i, i);
        buf_appends(&q, " }");
        CHECK(answer_code(schema, q.data, "{}") == 2);
        CHECK(count_errors(last_answer) == (size_t)n);
        bool stopped = strstr(last_answer, "{\"message\":\"Too many errors processing variables, error limit reached. Execution "
                                           "aborted.\",\"extensions\":{\"code\":\"BAD_USER_INPUT\"}}]}") != NULL;
        CHECK(stopped == (n == 51));
    }
    buf_free(&q);
}

// ---- Hostile input ----

static void test_hostile_values(const Introspection *schema) {
    // A long string where an enum is wanted: the suggestion search gives up at once.
    Buf v = BUF_INIT;
    buf_appends(&v, "{\"m\": \"");
    for (int i = 0; i < 100000; i++) buf_appendc(&v, 'H');
    buf_appends(&v, "\"}");
    Arena *arena = arena_new();
    Buf out = BUF_INIT;
    CHECK(run(schema, "query($m: Mood) { __typename @cached(mood: $m) }", parse_json(arena, v.data), NULL, &out) == 2);
    CHECK(out.data && strstr(out.data, "does not exist in \\\"Mood\\\" enum.\"") != NULL);
    // A variable object with many repeated keys is inspected in linear-logarithmic time.
    buf_clear(&v);
    buf_appends(&v, "{\"n\": {");
    for (int i = 0; i < 20000; i++) buf_printf(&v, "%s\"k%d\": %d", i ? ", " : "", i % 7, i);
    buf_appends(&v, "}}");
    CHECK(run(schema, "query($n: String!) { __type(name: $n) { name } }", parse_json(arena, v.data), NULL, &out) == 2);
    CHECK(out.data && strstr(out.data, "got invalid value { k0: 19999, k1: 19993, k2: 19994,") != NULL);
    // Every error about an object inspects all of it: the answer's bound stops them.
    buf_clear(&v);
    buf_appends(&v, "{\"f\": {\"text\": \"x\"");
    for (int i = 0; i < 30000; i++) buf_printf(&v, ", \"unknown%d\": %d", i, i);
    buf_appends(&v, "}}");
    expect_answer(schema, "query($f: SearchFilter) { __typename @cached(filter: $f) }", v.data, 1,
                  "{\"errors\":[{\"message\":\"The introspection answer would be over 4 MiB or take too long to build: ask for less "
                  "of the schema.\",\"extensions\":{\"code\":\"GRAPHQL_VALIDATION_FAILED\"}}]}");
    buf_free(&out);
    buf_free(&v);
    arena_free(arena);
}

// ---- Fuzzing ----

static const char *const SEEDS[] = {
    "{ __typename }",
    "query Q($n: String!) { __type(name: $n) { name kind fields { name args { name type { name ofType { name } } } } } }",
    "{ __schema { queryType { name } types { name kind enumValues(includeDeprecated: true) { name isDeprecated } } } }",
    "query($d: Boolean = false) { __type(name: \"Member\") { ...F fields(includeDeprecated: $d) @skip(if: $d) { name } } } "
    "fragment F on __Type { name interfaces { name } possibleTypes { name } ... on __Type { inputFields { name defaultValue } } }",
    "{ __schema { directives { name locations args(includeDeprecated: true) { name type { kind ofType { kind name } } } } } }",
    "query($k: [MemberKey!], $m: Mood) { a: __typename @cached(keys: $k, mood: $m, filter: {text: \"x\", moods: [HAPPY]}) }",
    "{ __type(name: \"SearchResult\") { possibleTypes { name fields { name type { name } } } } t: __type(name: \"Nope\") { name } }",
};

// Mostly pieces that keep a document well formed (so that it reaches introspect_*.c), some
// that do not.
static const char *const WORDS[] = {
    "name", "kind", "__typename", "a: __typename", "a: name", "ofType { name kind }", "fields { name }",
    "fields(includeDeprecated: $d) { a: name }", "... on __Type { name }", "... on __Field { name }", "... on Member { id }",
    "... { kind }", "...G", "...Nope", "@skip(if: true)", "@include(if: $d)", "@skip(if: $n)", "@cached", "@cached(keys: $k)",
    "@deprecated", "@nope", "__type(name: \"Mood\") { name }", "__type(name: $n) { name }", "__type { name }", "__schema { types { name } }",
    "types", "interfaces { name }", "enumValues(includeDeprecated: true) { name }", "args { type { name } }", "nope",
    "fragment G on __Type { name }", "fragment G on __Field { type { name } }", "{", "}", "(", ")", ":", "$", "\"", "\\u0000",
};

static const char *const VARIABLES[] = {
    NULL,
    "{}",
    "{\"n\": \"Member\", \"d\": true, \"k\": [{\"id\": 1}], \"m\": \"HAPPY\"}",
    "{\"n\": 7, \"d\": \"x\", \"k\": {\"name\": null}, \"m\": [1, {\"a\": [2]}]}",
    "{\"n\": null, \"d\": null, \"k\": [], \"m\": null}",
};

// One random change to `b`: mostly whole words inserted between tokens, so that many
// mutants still parse and reach introspect_*.c; sometimes a byte changed or a span removed.
static void mutate(Buf *b) {
    size_t at = b->len ? check_random() % b->len : 0;
    switch (check_random() % 6) {
    case 0:  // a byte changed
        if (b->len) b->data[at] = (char)(check_random() % 96 + 32);
        break;
    case 1:  // a span removed
        if (b->len) {
            size_t n = check_random() % 8 + 1;
            if (n > b->len - at) n = b->len - at;
            memmove(b->data + at, b->data + at + n, b->len - at - n + 1);
            b->len -= n;
        }
        break;
    default: {  // a word inserted where a selection may start
        while (at < b->len && b->data[at] != '{') at++;
        if (at + 1 < b->len) at += 2;
        const char *word = WORDS[check_random() % (sizeof WORDS / sizeof *WORDS)];
        size_t n = strlen(word) + 1;
        buf_reserve(b, n);
        memmove(b->data + at + n, b->data + at, b->len - at + 1);
        memcpy(b->data + at, word, n - 1);
        b->data[at + n - 1] = ' ';
        b->len += n;
        break;
    }
    }
}

static void test_fuzz(const Introspection *schema) {
    enum { ITERATIONS = 60000 };
    Arena *variables_arena = arena_new();
    const Json *variables[sizeof VARIABLES / sizeof *VARIABLES];
    for (size_t i = 0; i < sizeof VARIABLES / sizeof *VARIABLES; i++) {
        variables[i] = VARIABLES[i] ? parse_json(variables_arena, VARIABLES[i]) : NULL;
    }
    size_t executed = 0, answered = 0, bad_answers = 0;
    Buf query = BUF_INIT, out = BUF_INIT;
    for (int i = 0; i < ITERATIONS; i++) {
        buf_clear(&query);
        buf_appends(&query, SEEDS[check_random() % (sizeof SEEDS / sizeof *SEEDS)]);
        uint64_t dice = check_random() % 20;
        int mutations = dice < 12 ? 1 : dice < 17 ? 2 : 3;
        for (int m = 0; m < mutations; m++) mutate(&query);
        Arena *arena = arena_new();
        GqlError error;
        GqlDocument *doc = gql_parse(arena, query.data, query.len, &LIMITS, &error);
        for (size_t k = 0; doc && k < doc->noperations; k++) {
            if (!gql_introspection_only(&doc->operations[k])) continue;
            buf_clear(&out);
            int code = introspection_execute(schema, doc, &doc->operations[k],
                                             variables[check_random() % (sizeof variables / sizeof *variables)], &out);
            executed++;
            answered += code == 0;
            Arena *check = arena_new();
            JsonError json_error;
            const Json *answer = out.data ? json_parse(check, out.data, out.len, 200, &json_error) : NULL;
            const char *expected_member = code == 0 ? "data" : "errors";
            bool well_formed = answer && json_get(answer, expected_member) != NULL && code >= 0 && code <= 2;
            if (!well_formed) {
                bad_answers++;
                fprintf(stderr, "fuzz: %s\n  -> %d %s\n", query.data, code, out.data);
            }
            arena_free(check);
        }
        arena_free(arena);
    }
    fprintf(stderr, "fuzz: %zu of %d mutated queries ran, %zu answered\n", executed, ITERATIONS, answered);
    CHECK(bad_answers == 0);
    CHECK(executed > ITERATIONS / 4);  // the mutations leave many queries to run...
    CHECK(answered > executed / 10);   // ...and many of them valid
    buf_free(&query);
    buf_free(&out);
    arena_free(variables_arena);
}

int main(void) {
    size_t len;
    char *text = read_file(RESULT_FILE, &len);
    Arena *arena = arena_new();
    JsonError json_error;
    Json *result = json_parse(arena, text, len, 512, &json_error);
    const char *error = NULL;
    Introspection *schema = introspection_load(arena, result, &error);
    CHECK(schema != NULL);
    if (!schema) return check_finish("introspect");
    test_load_refusals();
    test_minimal_schema();
    test_graphql_js_answers(schema);
    test_calling(schema);
    test_nesting_limits(schema);
    test_size_limits(schema);
    test_error_limits(schema);
    test_hostile_values(schema);
    test_fuzz(schema);
    arena_free(arena);
    free(text);
    return check_finish("introspect");
}
