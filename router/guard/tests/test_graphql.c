// Tests for graphql_*.c: the table's expectations are what graphql-js 16 (with the Node
// edge's document.mjs) answers for the same documents; the rest covers the tree the parser
// builds, the limits at and over their values, hostile documents (fragment cycles and
// fan-out, deep nesting, odd bytes) and a fuzz loop. `test_graphql bench` prints the cost of
// one parse and check of a typical document.
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "graphql.h"

static const GqlLimits LIMITS = {
    .max_tokens = 4000,
    .max_depth = 12,
    .max_aliases = 30,
    .max_directives = 5,
    .max_introspection_depth = 15,
    .max_introspection_lists = 2,
};

enum { MAX_ERRORS = 20 };

static Buf rendered;

// An error as "line:column ... message (limit, max)".
static void render_error(Buf *out, const GqlError *e) {
    for (int i = 0; i < e->nlocations; i++) buf_printf(out, "%u:%u ", e->locations[i].line, e->locations[i].column);
    buf_appends(out, e->message);
    if (e->limit) buf_printf(out, " (%s, max %ld)", e->limit, e->max);
}

// Whether the error's code is the one its kind calls for.
static bool code_fits(const GqlError *e, bool parsed) {
    bool syntax = strncmp(e->message, "Syntax Error: ", 14) == 0;
    if (syntax) return !parsed && strcmp(e->code, "GRAPHQL_PARSE_FAILED") == 0;
    bool tokens = e->limit && strcmp(e->limit, "tokens") == 0;
    return strcmp(e->code, "GRAPHQL_VALIDATION_FAILED") == 0 && parsed != tokens;
}

// Parses and checks `len` bytes of `text`: the errors rendered one a line, "" when the
// document may run.
static const char *judge_bytes(const char *text, size_t len, const GqlLimits *limits) {
    Arena *arena = arena_new();
    GqlError errors[MAX_ERRORS];
    GqlDocument *doc = gql_parse(arena, text, len, limits, &errors[0]);
    size_t n = doc ? gql_check(doc, limits, errors, MAX_ERRORS) : 1;
    buf_clear(&rendered);
    buf_appends(&rendered, "");  // "" rather than NULL when there is nothing to say
    for (size_t i = 0; i < n; i++) {
        if (i) buf_appendc(&rendered, '\n');
        render_error(&rendered, &errors[i]);
        CHECK(code_fits(&errors[i], doc != NULL));
    }
    arena_free(arena);
    return rendered.data;
}

static const char *judge(const char *text) { return judge_bytes(text, strlen(text), &LIMITS); }

typedef struct Case {
    const char *document;
    const char *errors;  // "" when the document passes
} Case;

static const Case CASES[] = {
    // The lexer and parser: graphql-js's texts and places
    {"",
     "1:1 Syntax Error: Unexpected <EOF>."},
    {"  \n   ",
     "2:4 Syntax Error: Unexpected <EOF>."},
    {"#only a comment\n",
     "2:1 Syntax Error: Unexpected <EOF>."},
    {"{ a",
     "1:4 Syntax Error: Expected Name, found <EOF>."},
    {"{ a }}",
     "1:6 Syntax Error: Unexpected \"}\"."},
    {"{ a } garbage",
     "1:7 Syntax Error: Unexpected Name \"garbage\"."},
    {"foo { a }",
     "1:1 Syntax Error: Unexpected Name \"foo\"."},
    {"{ ... }",
     "1:7 Syntax Error: Expected \"{\", found \"}\"."},
    {"{ a(: 1) }",
     "1:5 Syntax Error: Expected Name, found \":\"."},
    {"{ a(x: ) }",
     "1:8 Syntax Error: Unexpected \")\"."},
    {"{ a @ }",
     "1:7 Syntax Error: Expected Name, found \"}\"."},
    {"query { }",
     "1:9 Syntax Error: Expected Name, found \"}\"."},
    {"query Q($a) { a }",
     "1:11 Syntax Error: Expected \":\", found \")\"."},
    {"query Q($a: [Int) { a }",
     "1:17 Syntax Error: Expected \"]\", found \")\"."},
    {"{ a: b: c }",
     "1:7 Syntax Error: Expected Name, found \":\"."},
    {"fragment on on Q { a }",
     "1:10 Syntax Error: Unexpected Name \"on\"."},
    {"fragment F Q { a }",
     "1:12 Syntax Error: Expected \"on\", found Name \"Q\"."},
    {"{ ... on }",
     "1:10 Syntax Error: Expected Name, found \"}\"."},
    {"query query { a }",
     ""},
    {"mutation { a }",
     ""},
    {"subscription S { a }",
     ""},
    {"query Q($a: Int = $b) { a }",
     "1:19 Syntax Error: Unexpected variable \"$b\" in constant value."},
    {"query Q($a: Int = $) { a }",
     "1:19 Syntax Error: Unexpected \"$\"."},
    {"query Q($a: Int @d(x: $b)) { a }",
     "1:23 Syntax Error: Unexpected variable \"$b\" in constant value."},
    {"\"desc\" { a }",
     "1:1 Syntax Error: Unexpected description, descriptions are not supported on shorthand queries."},
    {"\"desc\" extend type T @d",
     "1:1 Syntax Error: Unexpected description, only GraphQL definitions support descriptions."},
    {"\"desc\" foo",
     "1:1 Syntax Error: Unexpected description, only GraphQL definitions support descriptions."},
    {"{ a(x: \"abc) }",
     "1:15 Syntax Error: Unterminated string."},
    {"{ a(x: \"abc\n\") }",
     "1:12 Syntax Error: Unterminated string."},
    {"{ a(x: \"\"\"abc) }",
     "1:17 Syntax Error: Unterminated string."},
    {"{ a(x: \"\"\"\n\n",
     "3:1 Syntax Error: Unterminated string."},
    {"{ a(x: \"\\",
     "1:9 Syntax Error: Invalid character escape sequence: \"\\\"."},
    {"{ a(x: \"a\\qb\") }",
     "1:10 Syntax Error: Invalid character escape sequence: \"\\q\"."},
    {"{ a(x: \"a\\u12G4\") }",
     "1:10 Syntax Error: Invalid Unicode escape sequence: \"\\u12G4\"."},
    {"{ a(x: \"a\\u12\") }",
     "1:10 Syntax Error: Invalid Unicode escape sequence: \"\\u12\")\"."},
    {"{ a(x: \"a\\u{}\") }",
     "1:10 Syntax Error: Invalid Unicode escape sequence: \"\\u{}\"."},
    {"{ a(x: \"a\\u{110000}\") }",
     "1:10 Syntax Error: Invalid Unicode escape sequence: \"\\u{110000}\"."},
    {"{ a(x: \"a\\u{D800}\") }",
     "1:10 Syntax Error: Invalid Unicode escape sequence: \"\\u{D800}\"."},
    {"{ a(x: \"a\\u{FFFFFFFF}\") }",
     "1:10 Syntax Error: Invalid Unicode escape sequence: \"\\u{FFFFFFFF\"."},
    {"{ a(x: \"a\\u{123456789}\") }",
     "1:10 Syntax Error: Invalid Unicode escape sequence: \"\\u{123456789\"."},
    {"{ a(x: \"\\uD83Dx\") }",
     "1:9 Syntax Error: Invalid Unicode escape sequence: \"\\uD83D\"."},
    {"{ a(x: \"\\uDE00\") }",
     "1:9 Syntax Error: Invalid Unicode escape sequence: \"\\uDE00\"."},
    {"{ a(x: \"\\uD83D\\u0041\") }",
     "1:9 Syntax Error: Invalid Unicode escape sequence: \"\\uD83D\"."},
    {"{ a(x: \"\\u{\xC3\xA9}\") }",
     "1:9 Syntax Error: Invalid Unicode escape sequence: \"\\u{\xC3\xA9\"."},
    {"{ a(x: 00) }",
     "1:9 Syntax Error: Invalid number, unexpected digit after 0: \"0\"."},
    {"{ a(x: 01) }",
     "1:9 Syntax Error: Invalid number, unexpected digit after 0: \"1\"."},
    {"{ a(x: 1.) }",
     "1:10 Syntax Error: Invalid number, expected digit but got: \")\"."},
    {"{ a(x: 1e) }",
     "1:10 Syntax Error: Invalid number, expected digit but got: \")\"."},
    {"{ a(x: 1e+) }",
     "1:11 Syntax Error: Invalid number, expected digit but got: \")\"."},
    {"{ a(x: -) }",
     "1:9 Syntax Error: Invalid number, expected digit but got: \")\"."},
    {"{ a(x: 1a) }",
     "1:9 Syntax Error: Invalid number, expected digit but got: \"a\"."},
    {"{ a(x: 1.5a) }",
     "1:11 Syntax Error: Invalid number, expected digit but got: \"a\"."},
    {"{ a(x: 1_) }",
     "1:9 Syntax Error: Invalid number, expected digit but got: \"_\"."},
    {"{ a(x: .5) }",
     "1:8 Syntax Error: Unexpected character: \".\"."},
    {"{ a(x: 1..2) }",
     "1:10 Syntax Error: Invalid number, expected digit but got: \".\"."},
    {"{ a(x: 'x') }",
     "1:8 Syntax Error: Unexpected single quote character ('), did you mean to use a double quote (\")?"},
    {"{ a ? }",
     "1:5 Syntax Error: Unexpected character: \"?\"."},
    {"{ a . }",
     "1:5 Syntax Error: Unexpected character: \".\"."},
    {"{ a .. }",
     "1:5 Syntax Error: Unexpected character: \".\"."},
    {"{ \xC3\xA9 }",
     "1:3 Syntax Error: Unexpected character: U+00E9."},
    {"{ a } \xE2\x98\x83",
     "1:7 Syntax Error: Unexpected character: U+2603."},
    {"\r\n{\r\n a\r\n b(x: \"\r\n",
     "4:8 Syntax Error: Unterminated string."},
    {"{\r a\r b(x: 1) \r c ~ }",
     "4:4 Syntax Error: Unexpected character: \"~\"."},
    {"{ a(x: \"\"\"\r\n  a\r\n  b\r\n\"\"\") } oops",
     "4:8 Syntax Error: Unexpected Name \"oops\"."},
    {"{ a(x: \"\"\"\n x \"\"\") \n oops }",
     ""},
    {"{ a(x: \"\xC3\xA9\xE6\xBC\xA2\xE5\xAD\x97\\q\") }",
     "1:12 Syntax Error: Invalid character escape sequence: \"\\q\"."},
    {"type T { b: }",
     "1:13 Syntax Error: Expected Name, found \"}\"."},
    {"schema { query }",
     "1:16 Syntax Error: Expected \":\", found \"}\"."},
    {"schema { foo: Q }",
     "1:10 Syntax Error: Unexpected Name \"foo\"."},
    {"enum E { true }",
     "1:10 Syntax Error: Name \"true\" is reserved and cannot be used for an enum value."},
    {"enum E { \"d\" null }",
     "1:14 Syntax Error: Name \"null\" is reserved and cannot be used for an enum value."},
    {"directive @d on FIELD | NOPE",
     "1:25 Syntax Error: Unexpected Name \"NOPE\"."},
    {"extend scalar S",
     "1:16 Syntax Error: Unexpected <EOF>."},
    {"extend type T",
     "1:14 Syntax Error: Unexpected <EOF>."},
    {"extend union U",
     "1:15 Syntax Error: Unexpected <EOF>."},
    {"extend enum E",
     "1:14 Syntax Error: Unexpected <EOF>."},
    {"extend input I",
     "1:15 Syntax Error: Unexpected <EOF>."},
    {"extend schema",
     "1:14 Syntax Error: Unexpected <EOF>."},
    {"extend directive @d on FIELD",
     "1:8 Syntax Error: Unexpected Name \"directive\"."},
    {"extend foo",
     "1:8 Syntax Error: Unexpected Name \"foo\"."},
    {"interface I implements { a: Int }",
     "1:24 Syntax Error: Expected Name, found \"{\"."},
    // Documents that pass
    {"query Me { me { displayName queueEntry { age syncedVersion } } }",
     ""},
    {"\xEF\xBB\xBF{ a }",
     ""},
    {"{ a, b,, c }\n# trailing comment",
     ""},
    {"query Q($a: [Int!]! = [1, 2], $b: String = \"x\" @d, $c: I = {p: ENUM, q: [null, true]}) { f(x: $a, y: $b, z: $c) @include(if: true) }",
     ""},
    {"query A { ...F } query B { ...F } fragment F on Q { a ... on Q { b } ... @skip(if: false) { c } }",
     ""},
    {"{ f(x: 1.5e10, y: -3, z: 0, w: 1E-5, v: 2e+3, u: -0.0) }",
     ""},
    {"\"described\" query Q(\"variable\" $a: Int) { f(x: $a) }",
     ""},
    {"{ __typename __schema { queryType { name } } __type(name: \"Q\") { fields { type { name } } } }",
     ""},
    // Type-system definitions parse, and are not executable
    {"type Query { a: Int }",
     "1:1 The \"Query\" definition is not executable."},
    {"{ a } type T { b: Int } { c }",
     "1:7 The \"T\" definition is not executable.\n1:1 This anonymous operation must be the only defined operation.\n1:25 This anonymous operation must be the only defined operation."},
    {"schema { query: T } extend schema @a { mutation: M }",
     "1:1 The schema definition is not executable.\n1:21 The schema definition is not executable."},
    {"\"\"\"\n  desc\n\"\"\" type T implements A & B @d { a(x: Int = 1 @d, \"d\" y: [Int!]! = [1,2]): Int @d }",
     "1:1 The \"T\" definition is not executable."},
    {"scalar S @d\ninterface I implements A { a: Int }\nunion U @d = | A | B\nenum E { A B @d \"x\" C }\ninput I { a: Int = 1, b: [I] }\ndirective @d(a: Int) repeatable on FIELD | QUERY",
     "1:1 The \"S\" definition is not executable.\n2:1 The \"I\" definition is not executable.\n3:1 The \"U\" definition is not executable.\n4:1 The \"E\" definition is not executable.\n5:1 The \"I\" definition is not executable.\n6:1 The \"d\" definition is not executable."},
    {"extend scalar S @d extend type T implements I extend interface I { a: Int } extend union U = A extend enum E { A } extend input I { a: Int }",
     "1:1 The \"S\" definition is not executable.\n1:20 The \"T\" definition is not executable.\n1:47 The \"I\" definition is not executable.\n1:77 The \"U\" definition is not executable.\n1:96 The \"E\" definition is not executable.\n1:116 The \"I\" definition is not executable."},
    // UniqueOperationNames, LoneAnonymousOperation
    {"query A { a } query A { b } query A { c }",
     "1:7 1:21 There can be only one operation named \"A\".\n1:7 1:35 There can be only one operation named \"A\"."},
    {"query A { a } { b }",
     "1:15 This anonymous operation must be the only defined operation."},
    {"{ a } { b }",
     "1:1 This anonymous operation must be the only defined operation.\n1:7 This anonymous operation must be the only defined operation."},
    // UniqueFragmentNames, KnownFragmentNames, NoUnusedFragments
    {"{ ...F } fragment F on Q { a } fragment F on Q { b }",
     "1:19 1:41 There can be only one fragment named \"F\"."},
    {"{ ...Unknown ... on Q { ...Other } }",
     "1:6 Unknown fragment \"Unknown\".\n1:28 Unknown fragment \"Other\"."},
    {"fragment F on Q { a }",
     "1:1 Fragment \"F\" is never used."},
    {"{ a } fragment F on Q { a } fragment G on Q { ...F }",
     "1:7 Fragment \"F\" is never used.\n1:29 Fragment \"G\" is never used."},
    // NoFragmentCycles
    {"{ ...A } fragment A on Q { ...A }",
     "1:28 Cannot spread fragment \"A\" within itself."},
    {"{ ...A } fragment A on Q { ...B } fragment B on Q { ...A }",
     "1:28 1:53 Cannot spread fragment \"A\" within itself via \"B\"."},
    {"{ ...A } fragment A on Q { ...B ...C } fragment B on Q { ...C } fragment C on Q { ...A ...B }",
     "1:28 1:58 1:83 Cannot spread fragment \"A\" within itself via \"B\", \"C\".\n1:58 1:88 Cannot spread fragment \"B\" within itself via \"C\"."},
    {"{ ...A } fragment A on Q { x { ...B } y { ...C } ...D } fragment B on Q { ...A } fragment C on Q { ...A } fragment D on Q { ...A }",
     "1:50 1:125 Cannot spread fragment \"A\" within itself via \"D\".\n1:43 1:100 Cannot spread fragment \"A\" within itself via \"C\".\n1:32 1:75 Cannot spread fragment \"A\" within itself via \"B\"."},
    {"{ ...A } fragment A on Q { ...A ...A }",
     "1:28 Cannot spread fragment \"A\" within itself.\n1:33 Cannot spread fragment \"A\" within itself."},
    {"{ ...F } fragment F on Q { ...F } fragment F on Q { a }",
     "1:28 Cannot spread fragment \"F\" within itself.\n1:19 1:44 There can be only one fragment named \"F\"."},
    {"{ ...A ...C } fragment A on Q { ...B } fragment B on Q { ...A } fragment C on Q { ...A }",
     "1:33 1:58 Cannot spread fragment \"A\" within itself via \"B\"."},
    {"{ ...A ...C } fragment A on Q { ...A } fragment C on Q { ...A }",
     "1:33 Cannot spread fragment \"A\" within itself."},
    {"{ ...A } fragment A on Q { ...B } fragment B on Q { ...C } fragment C on Q { ...D } fragment D on Q { ...E } fragment E on Q { ...A }",
     "1:28 1:53 1:78 1:103 Cannot spread fragment \"A\" within itself via \"B\", \"C\", \"D\", \"E\"."},
    // UniqueVariableNames, NoUndefinedVariables, NoUnusedVariables
    {"query ($a: Int, $a: String, $b: Int, $a: ID) { f(x: $a, y: $b) }",
     "1:9 1:18 1:39 There can be only one variable named \"$a\"."},
    {"query Q($a: Int) { f(x: $b) }",
     "1:25 1:1 Variable \"$b\" is not defined by operation \"Q\".\n1:9 Variable \"$a\" is never used in operation \"Q\"."},
    {"query ($a: Int) { f(x: $b, y: $c, z: $b) }",
     "1:24 1:1 Variable \"$b\" is not defined.\n1:31 1:1 Variable \"$c\" is not defined.\n1:38 1:1 Variable \"$b\" is not defined.\n1:8 Variable \"$a\" is never used."},
    {"query Q($a: Int, $unused: Int) { f(x: $a) }",
     "1:18 Variable \"$unused\" is never used in operation \"Q\"."},
    {"query ($unused: Int) { f }",
     "1:8 Variable \"$unused\" is never used."},
    {"query Q($a: Int) { ...F } fragment F on Q { f(x: $a, y: $z) }",
     "1:57 1:1 Variable \"$z\" is not defined by operation \"Q\"."},
    {"query A($a: Int) { ...F } query B { ...F } fragment F on Q { f(x: $a) }",
     "1:67 1:27 Variable \"$a\" is not defined by operation \"B\"."},
    {"query Q($v: Int) @d(x: $v) { a(x: {b: [$v, $w]}) }",
     "1:44 1:1 Variable \"$w\" is not defined by operation \"Q\"."},
    {"query Q($v: Int) { a @d(x: $v) }",
     ""},
    // UniqueArgumentNames, UniqueInputFieldNames
    {"{ f(a: 1, a: 2, b: 3, b: 4, a: 5) }",
     "1:5 1:11 1:29 There can be only one argument named \"a\".\n1:17 1:23 There can be only one argument named \"b\"."},
    {"{ f @d(a: 1, a: 2) }",
     "1:8 1:14 There can be only one argument named \"a\"."},
    {"{ f(x: {a: 1, a: 2, b: {c: 1, c: 2}, a: 3}) }",
     "1:9 1:15 There can be only one input field named \"a\".\n1:25 1:31 There can be only one input field named \"c\".\n1:9 1:38 There can be only one input field named \"a\"."},
    {"{ f(x: [{a: 1, a: 2}]) }",
     "1:10 1:16 There can be only one input field named \"a\"."},
    {"query ($v: In = {a: 1, a: 2}) { f(x: $v) }",
     "1:18 1:24 There can be only one input field named \"a\"."},
    {"{ f(a: 1, b: 2) g(x: {a: 1, b: {a: 2}}) }",
     ""},
    // Directives per location (Kindred's rule): 5 pass, 6 fail
    {"{ f @a @b @c @d @e }",
     ""},
    {"{ f @a @b @c @d @e @f }",
     "1:3 At most 5 directives may be put in one place; this one has 6. (directives, max 5)"},
    {"{ ...F @a @b @c @d @e @f } fragment F on Q { a }",
     "1:3 At most 5 directives may be put in one place; this one has 6. (directives, max 5)"},
    {"{ ... @a @b @c @d @e @f { a } }",
     "1:3 At most 5 directives may be put in one place; this one has 6. (directives, max 5)"},
    {"fragment F on Q @a @b @c @d @e @f { a } { ...F }",
     "1:1 At most 5 directives may be put in one place; this one has 6. (directives, max 5)"},
    {"query @a @b @c @d @e @f { a }",
     "1:1 At most 5 directives may be put in one place; this one has 6. (directives, max 5)"},
    {"query ($a: Int @a @b @c @d @e @f) { f(x: $a) }",
     "1:8 At most 5 directives may be put in one place; this one has 6. (directives, max 5)"},
    // MaxIntrospectionDepthRule
    {"{ __schema { types { fields { type { fields { name } } } } } }",
     ""},
    {"{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }",
     "1:3 This introspection query nests `fields`, `interfaces`, `possibleTypes` or `inputFields` three deep: ask for less nesting (GraphiQL's introspection query fits). (introspectionLists, max 2)"},
    {"{ __type(name: \"x\") { fields { interfaces { possibleTypes { name } } } } }",
     "1:3 This introspection query nests `fields`, `interfaces`, `possibleTypes` or `inputFields` three deep: ask for less nesting (GraphiQL's introspection query fits). (introspectionLists, max 2)"},
    {"{ __schema { types { ...T } } } fragment T on __Type { fields { type { ...U } } } fragment U on __Type { fields { type { fields { name } } } }",
     "1:3 This introspection query nests `fields`, `interfaces`, `possibleTypes` or `inputFields` three deep: ask for less nesting (GraphiQL's introspection query fits). (introspectionLists, max 2)"},
    {"{ __schema { types { ...T } } } fragment T on __Type { fields { type { ...T } } }",
     "1:3 This introspection query nests `fields`, `interfaces`, `possibleTypes` or `inputFields` three deep: ask for less nesting (GraphiQL's introspection query fits). (introspectionLists, max 2)\n1:72 Cannot spread fragment \"T\" within itself."},
    {"{ __schema { ...A } __type { ...A } } fragment A on S { types { fields { fields { ...A } } } }",
     "1:3 This introspection query nests `fields`, `interfaces`, `possibleTypes` or `inputFields` three deep: ask for less nesting (GraphiQL's introspection query fits). (introspectionLists, max 2)\n1:21 This introspection query nests `fields`, `interfaces`, `possibleTypes` or `inputFields` three deep: ask for less nesting (GraphiQL's introspection query fits). (introspectionLists, max 2)\n1:83 Cannot spread fragment \"A\" within itself."},
    {"{ x { fields { fields { fields { a } } } } }",
     ""},
    {"{ __schema { ...A } __schema { fields { ...B } ...A } }\nfragment A on T { ...B }\nfragment B on T { ...A fields { x { __schema { ...A y } } } }",
     "1:3 This introspection query nests `fields`, `interfaces`, `possibleTypes` or `inputFields` three deep: ask for less nesting (GraphiQL's introspection query fits). (introspectionLists, max 2)\n1:21 This introspection query nests `fields`, `interfaces`, `possibleTypes` or `inputFields` three deep: ask for less nesting (GraphiQL's introspection query fits). (introspectionLists, max 2)\n2:19 3:19 Cannot spread fragment \"A\" within itself via \"B\".\n2:19 3:48 Cannot spread fragment \"A\" within itself via \"B\".\n3:37 This introspection query nests `fields`, `interfaces`, `possibleTypes` or `inputFields` three deep: ask for less nesting (GraphiQL's introspection query fits). (introspectionLists, max 2)"},
    {"{ __schema { __type { fields { fields { fields { x } } } } } }",
     "1:3 This introspection query nests `fields`, `interfaces`, `possibleTypes` or `inputFields` three deep: ask for less nesting (GraphiQL's introspection query fits). (introspectionLists, max 2)"},
    // Limits: depth 12 and 13, aliases 30 and 31, introspection depth 15 and 16; the first operation over stops the check
    {"{ a { b { c { d { e { f { g { h { i { j { k { l { m } } } } } } } } } } } } }",
     ""},
    {"{ a { b { c { d { e { f { g { h { i { j { k { l { m { n } } } } } } } } } } } } } }",
     "1:1 The depth of this operation is 13; at most 12 is allowed. (depth, max 12)"},
    {"{ a { ...F } } fragment F on Q { b { c { d { e { f { g { h { i { j { k { l { m { n } } } } } } } } } } } } }",
     "1:1 The depth of this operation is 13; at most 12 is allowed. (depth, max 12)"},
    {"{ a1: a a2: a a3: a a4: a a5: a a6: a a7: a a8: a a9: a a10: a a11: a a12: a a13: a a14: a a15: a a16: a a17: a a18: a a19: a a20: a a21: a a22: a a23: a a24: a a25: a a26: a a27: a a28: a a29: a a30: a }",
     ""},
    {"{ a1: a a2: a a3: a a4: a a5: a a6: a a7: a a8: a a9: a a10: a a11: a a12: a a13: a a14: a a15: a a16: a a17: a a18: a a19: a a20: a a21: a a22: a a23: a a24: a a25: a a26: a a27: a a28: a a29: a a30: a a31: a }",
     "1:1 The number of aliases is 31; at most 30 is allowed. (aliases, max 30)"},
    {"{ ...F ...F } fragment F on Q { a1: a a2: a a3: a a4: a a5: a a6: a a7: a a8: a a9: a a10: a a11: a a12: a a13: a a14: a a15: a a16: a }",
     "1:1 The number of aliases is 32; at most 30 is allowed. (aliases, max 30)"},
    {"{ __schema { a { b { c { d { e { f { g { h { i { j { k { l { m { n } } } } } } } } } } } } } } }",
     ""},
    {"{ __schema { a { b { c { d { e { f { g { h { i { j { k { l { m { n { o } } } } } } } } } } } } } } } }",
     "1:1 The introspection depth is 16; at most 15 is allowed. (introspectionDepth, max 15)"},
    {"{ x { __type { a { b { c { d { e { f { g { h { i { j { k { l { m { n { o } } } } } } } } } } } } } } } } }",
     "1:1 The introspection depth is 16; at most 15 is allowed. (introspectionDepth, max 15)"},
    {"query A { ok } query B { a { b { c { d { e { f { g { h { i { j { k { l { m { n } } } } } } } } } } } } } } { c }",
     "1:16 The depth of this operation is 13; at most 12 is allowed. (depth, max 12)"},
    {"{ ...A } fragment A on Q { ...A a { b { c { d { e { f { g { h { i { j { k { l { m { n } } } } } } } } } } } } } }",
     "1:1 The depth of this operation is 13; at most 12 is allowed. (depth, max 12)"},
};

static void test_cases(void) {
    for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) CHECK_STR(judge(CASES[i].document), CASES[i].errors);
}

static bool loc_is(GqlLoc loc, uint32_t line, uint32_t column) { return loc.line == line && loc.column == column; }

static void test_tree(void) {
    const char *text =
        "# a comment\n"
        "query Feed($first: [Int!]! = [1, 2], $after: String = \"x\" @d) @live {\n"
        "  feed(first: $first, filter: {tag: \"a\\u00e9\\n\", near: null, on: true}) @include(if: $on) {\n"
        "    alias: name\n"
        "    ...Card @skip(if: false)\n"
        "    ... on Post { id }\n"
        "    ... { id }\n"
        "  }\n"
        "}\n"
        "fragment Card on Profile { age(unit: YEARS, min: -1.5e3) note(text: \"\"\"\n"
        "    first\n"
        "      second\n"
        "    \"\"\") }\n"
        "type Query { feed: Int }\n";
    Arena *arena = arena_new();
    GqlError error;
    GqlDocument *doc = gql_parse(arena, text, strlen(text), &LIMITS, &error);
    CHECK(doc != NULL);
    if (!doc) return;
    CHECK(doc->ntokens == 109);  // graphql-js's tokenCount for the same text
    CHECK(doc->ndefinitions == 3 && doc->noperations == 1 && doc->nfragments == 1 && doc->ntype_system == 1);
    CHECK_STR(doc->type_system[0].name, "Query");
    CHECK(loc_is(doc->type_system[0].loc, 14, 1));

    const GqlOperation *op = &doc->operations[0];
    CHECK(op->type == GQL_QUERY);
    CHECK_STR(op->name, "Feed");
    CHECK(loc_is(op->loc, 2, 1) && loc_is(op->name_loc, 2, 7));
    CHECK(op->ndirectives == 1);
    CHECK_STR(op->directives[0].name, "live");
    CHECK(op->nvariables == 2);
    const GqlVariable *first = &op->variables[0];
    CHECK_STR(first->name, "first");
    CHECK_STR(first->type, "[Int!]!");
    CHECK(loc_is(first->loc, 2, 12) && loc_is(first->name_loc, 2, 13));
    CHECK(first->default_value && first->default_value->kind == GQL_LIST && first->default_value->count == 2);
    CHECK(loc_is(first->default_value->loc, 2, 30));
    CHECK(first->default_value->items[1]->kind == GQL_INT);
    CHECK_STR(first->default_value->items[1]->text, "2");
    const GqlVariable *after = &op->variables[1];
    CHECK_STR(after->type, "String");
    CHECK(after->default_value->kind == GQL_STRING && after->ndirectives == 1);
    CHECK_STR(after->directives[0].name, "d");

    CHECK(op->selections.count == 1);
    const GqlSelection *feed = &op->selections.items[0];
    CHECK(feed->kind == GQL_FIELD && feed->alias == NULL);
    CHECK_STR(feed->name, "feed");
    CHECK(loc_is(feed->loc, 3, 3) && feed->nargs == 2);
    CHECK(loc_is(feed->args[0].loc, 3, 8) && loc_is(feed->args[0].value->loc, 3, 15));
    CHECK(feed->args[0].value->kind == GQL_VARIABLE);
    CHECK_STR(feed->args[0].value->text, "first");
    const GqlValue *filter = feed->args[1].value;
    CHECK(filter->kind == GQL_OBJECT && filter->count == 3 && loc_is(filter->loc, 3, 31));
    CHECK_STR(filter->names[0], "tag");
    CHECK(loc_is(filter->name_locs[0], 3, 32) && loc_is(filter->name_locs[2], 3, 62));
    CHECK(filter->items[0]->kind == GQL_STRING && filter->items[0]->len == 4);
    CHECK_STR(filter->items[0]->text, "a\xC3\xA9\n");
    CHECK(filter->items[1]->kind == GQL_NULL);
    CHECK(filter->items[2]->kind == GQL_BOOLEAN);
    CHECK_STR(filter->items[2]->text, "true");
    CHECK(feed->ndirectives == 1 && loc_is(feed->directives[0].loc, 3, 73));
    CHECK_STR(feed->directives[0].args[0].name, "if");

    const GqlSelectionSet *inner = &feed->selections;
    CHECK(inner->count == 4);
    CHECK_STR(inner->items[0].alias, "alias");
    CHECK_STR(inner->items[0].name, "name");
    CHECK(loc_is(inner->items[0].loc, 4, 5) && loc_is(inner->items[0].name_loc, 4, 12));
    CHECK(inner->items[0].selections.count == 0);
    CHECK(inner->items[1].kind == GQL_FRAGMENT_SPREAD && loc_is(inner->items[1].name_loc, 5, 8));
    CHECK_STR(inner->items[1].name, "Card");
    CHECK(inner->items[1].ndirectives == 1 && inner->items[1].directives[0].args[0].value->kind == GQL_BOOLEAN);
    CHECK(inner->items[2].kind == GQL_INLINE_FRAGMENT && loc_is(inner->items[2].loc, 6, 5));
    CHECK_STR(inner->items[2].type_condition, "Post");
    CHECK(inner->items[3].kind == GQL_INLINE_FRAGMENT && inner->items[3].type_condition == NULL);
    CHECK(inner->items[3].selections.count == 1);

    const GqlFragment *card = &doc->fragments[0];
    CHECK_STR(card->name, "Card");
    CHECK_STR(card->type_condition, "Profile");
    CHECK(loc_is(card->loc, 10, 1) && loc_is(card->name_loc, 10, 10));
    const GqlSelection *age = &card->selections.items[0];
    CHECK(age->args[0].value->kind == GQL_ENUM && age->args[1].value->kind == GQL_FLOAT);
    CHECK_STR(age->args[1].value->text, "-1.5e3");
    CHECK_STR(card->selections.items[1].args[0].value->text, "first\n  second");

    GqlError errors[MAX_ERRORS];
    CHECK(gql_check(doc, &LIMITS, errors, MAX_ERRORS) == 3);
    CHECK_STR(errors[0].message, "The \"Query\" definition is not executable.");
    CHECK_STR(errors[1].message, "Variable \"$on\" is not defined by operation \"Feed\".");
    CHECK(errors[1].nlocations == 2 && loc_is(errors[1].locations[0], 3, 86) && loc_is(errors[1].locations[1], 2, 1));
    CHECK_STR(errors[2].message, "Variable \"$after\" is never used in operation \"Feed\".");
    arena_free(arena);
}

// The decoded value of the string in `{ f(x: <literal>) }`.
static const char *string_value(Arena *arena, const char *literal, size_t *len) {
    char text[256];
    snprintf(text, sizeof text, "{ f(x: %s) }", literal);
    static GqlError error;
    GqlDocument *doc = gql_parse(arena, text, strlen(text), &LIMITS, &error);
    if (!doc) return error.message;
    const GqlValue *v = doc->operations[0].selections.items[0].args[0].value;
    *len = v->len;
    return v->text;
}

static void test_strings(void) {
    Arena *arena = arena_new();
    size_t len = 0;
    CHECK_STR(string_value(arena, "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"", &len), "\" \\ / \b \f \n \r \t");
    CHECK_STR(string_value(arena, "\"\\u0041\\u{42}\\u{0000043}\"", &len), "ABC");
    CHECK_STR(string_value(arena, "\"\\u{1F600}\"", &len), "\xF0\x9F\x98\x80");
    CHECK_STR(string_value(arena, "\"\\uD83D\\uDE00\"", &len), "\xF0\x9F\x98\x80");
    CHECK_STR(string_value(arena, "\"\\u00e9\\u20AC\"", &len), "\xC3\xA9\xE2\x82\xAC");
    CHECK(string_value(arena, "\"a\\u0000b\"", &len) && len == 3);
    CHECK_STR(string_value(arena, "\"\"", &len), "");
    // Block strings: the spec's examples of the common indentation and blank lines.
    CHECK_STR(string_value(arena, "\"\"\"\n    Hello,\n      World!\n\n    Yours,\n      GraphQL.\n  \"\"\"", &len),
              "Hello,\n  World!\n\nYours,\n  GraphQL.");
    CHECK_STR(string_value(arena, "\"\"\"  first\n  second\n\"\"\"", &len), "  first\nsecond");
    CHECK_STR(string_value(arena, "\"\"\"\n\n   \n\"\"\"", &len), "");
    CHECK_STR(string_value(arena, "\"\"\"a\\\"\"\"b\\c\"\"\"", &len), "a\"\"\"b\\c");
    CHECK_STR(string_value(arena, "\"\"\"\r\n\t a\r\n\t  b\r \"\"\"", &len), "a\n b");
    CHECK_STR(string_value(arena, "\"\"\"\"\"\"", &len), "");
    arena_free(arena);
}

// Bytes a JSON body cannot bring, and characters graphql-js counts differently.
static void test_odd_bytes(void) {
    CHECK_STR(judge_bytes("{ a }\0", 6, &LIMITS), "1:6 Syntax Error: Unexpected character: U+0000.");
    CHECK_STR(judge_bytes("{ a(x: \"a\0b\") }", 15, &LIMITS), "");
    CHECK_STR(judge_bytes("{ \"a\0b\" }", 9, &LIMITS), "1:3 Syntax Error: Expected Name, found String \"a\xEF\xBF\xBD" "b\".");
    CHECK_STR(judge_bytes("{ a(x: \"\\u{4\0}\") }", 18, &LIMITS),
              "1:9 Syntax Error: Invalid Unicode escape sequence: \"\\u{4\xEF\xBF\xBD\".");
    CHECK_STR(judge("{ a } \xFF"), "1:7 Syntax Error: Invalid character: U+FFFD.");
    CHECK_STR(judge("{ a(x: \"\xC3\") }"), "1:9 Syntax Error: Invalid character within String: U+FFFD.");
    CHECK_STR(judge("{ a(x: \"\"\"\xED\xA0\x80\"\"\") }"), "1:11 Syntax Error: Invalid character within String: U+FFFD.");
    CHECK_STR(judge("{ a(x: \"\xC0\xAF\") }"), "1:9 Syntax Error: Invalid character within String: U+FFFD.");
    CHECK_STR(judge("# \xF4\x90\x80\x80\n{ a }"), "1:3 Syntax Error: Invalid character: U+FFFD.");
    CHECK_STR(judge("{ a(x: \"\xE2\x82\") }"), "1:9 Syntax Error: Invalid character within String: U+FFFD.");
    // Columns count code points (graphql-js counts UTF-16 units: 16 here).
    CHECK_STR(judge("{ a(x: \"\xF0\x9F\x98\x80\") } ?"), "1:15 Syntax Error: Unexpected character: \"?\".");
    CHECK_STR(judge("{ a(x: \"\xE6\xBC\xA2\xE5\xAD\x97\") } ?"), "1:16 Syntax Error: Unexpected character: \"?\".");
    CHECK_STR(judge("{ \xF0\x9F\x98\x80 }"), "1:3 Syntax Error: Unexpected character: U+1F600.");
    CHECK_STR(judge("{ a }\xEF\xBB\xBF\xEF\xBB\xBF"), "");                     // byte order marks are ignored anywhere
    CHECK_STR(judge("{ a }\xEF\xBB"), "1:6 Syntax Error: Invalid character: U+FFFD.");
    CHECK_STR(judge("{ a \x7F }"), "1:5 Syntax Error: Unexpected character: U+007F.");
    CHECK_STR(judge("{ a(x: \"\x01\x7F\xE2\x80\xA8\") }"), "");  // control characters and U+2028 may be in strings
    CHECK_STR(judge("{\r\r\n\n a ?"), "4:4 Syntax Error: Unexpected character: \"?\".");
}

static char *repeat(const char *prefix, const char *unit, size_t times, const char *suffix) {
    Buf b = BUF_INIT;
    buf_appends(&b, prefix);
    for (size_t i = 0; i < times; i++) buf_appends(&b, unit);
    buf_appends(&b, suffix);
    return b.data;
}

static char *nested(const char *open, const char *inside, const char *close, size_t levels) {
    Buf b = BUF_INIT;
    for (size_t i = 0; i < levels; i++) buf_appends(&b, open);
    buf_appends(&b, inside);
    for (size_t i = 0; i < levels; i++) buf_appends(&b, close);
    return b.data;
}

static void check_judged(char *text, const GqlLimits *limits, const char *expected) {
    CHECK_STR(judge_bytes(text, strlen(text), limits), expected);
    free(text);
}

static void test_token_limit(void) {
    GqlLimits limits = LIMITS;
    check_judged(repeat("{ ", "a ", 3998, "}"), &LIMITS, "");  // 4000 tokens
    const char *over = "The document has more than 4000 tokens: ask for fewer fields, or split the operation into "
                       "several requests. (tokens, max 4000)";
    check_judged(repeat("{ ", "a ", 3999, "}"), &LIMITS, over);
    check_judged(repeat("{ ", "a ", 100000, "}"), &LIMITS, over);
    // Comments, commas and white space are not tokens; strings are one each.
    check_judged(repeat("{ a(x: \"s\") ", "# comment\n,,\t ", 5000, "}"), &LIMITS, "");
    limits.max_tokens = 3;
    CHECK_STR(judge_bytes("{ a }", 5, &limits), "");
    CHECK_STR(judge_bytes("{ a b }", 7, &limits),
              "The document has more than 3 tokens: ask for fewer fields, or split the operation into several "
              "requests. (tokens, max 3)");
    // As graphql-js: a token is counted once lexed, so a lexer error in it comes first.
    CHECK_STR(judge_bytes("{ a b ?", 7, &limits), "1:7 Syntax Error: Unexpected character: \"?\".");
    CHECK_STR(judge_bytes("{ a b \"", 7, &limits), "1:8 Syntax Error: Unterminated string.");
    CHECK(strstr(judge_bytes("{ a b c ?", 9, &limits), "more than 3 tokens") != NULL);
    limits.max_tokens = 0;
    CHECK(strstr(judge_bytes("{ a }", 5, &limits), "more than 0 tokens") != NULL);
    CHECK_STR(judge_bytes("", 0, &limits), "1:1 Syntax Error: Unexpected <EOF>.");

    // Tokens looked ahead at (after a description, after `extend`) count once.
    static const struct {
        const char *text;
        size_t tokens;  // graphql-js's tokenCount
    } counted[] = {{"{ a(x: [1, 2]) }", 11}, {"\"d\" query { a } extend type T @d", 10}, {"\"\"\"d\"\"\" type T { a: Int }", 8}};
    Arena *arena = arena_new();
    for (size_t i = 0; i < sizeof counted / sizeof *counted; i++) {
        GqlError error;
        GqlDocument *doc = gql_parse(arena, counted[i].text, strlen(counted[i].text), &LIMITS, &error);
        CHECK(doc && doc->ntokens == counted[i].tokens);
    }
    arena_free(arena);
}

static void test_other_limits(void) {
    GqlLimits limits = LIMITS;
    limits.max_depth = 0;
    limits.max_aliases = 0;
    limits.max_directives = 0;
    limits.max_introspection_depth = 1;
    CHECK_STR(judge_bytes("{ a }", 5, &limits), "");
    CHECK_STR(judge_bytes("{ a { b } }", 11, &limits), "1:1 The depth of this operation is 1; at most 0 is allowed. (depth, max 0)");
    CHECK_STR(judge_bytes("{ x: a }", 8, &limits), "1:1 The number of aliases is 1; at most 0 is allowed. (aliases, max 0)");
    CHECK_STR(judge_bytes("{ a @d }", 8, &limits),
              "1:3 At most 0 directives may be put in one place; this one has 1. (directives, max 0)");
    CHECK_STR(judge_bytes("{ __schema { a } }", 18, &limits),
              "1:1 The introspection depth is 2; at most 1 is allowed. (introspectionDepth, max 1)");
    CHECK_STR(judge_bytes("{ x: a { b } __type { c } }", 27, &limits),
              "1:1 The depth of this operation is 1; at most 0 is allowed. (depth, max 0)\n"
              "1:1 The number of aliases is 1; at most 0 is allowed. (aliases, max 0)\n"
              "1:1 The introspection depth is 2; at most 1 is allowed. (introspectionDepth, max 1)");
    // The introspection lists' nesting is graphql-js's fixed three; the limit is what errors name.
    limits = LIMITS;
    limits.max_introspection_lists = 7;
    CHECK(strstr(judge_bytes("{ __schema { fields { fields { fields { a } } } } }", 51, &limits), "(introspectionLists, max 7)"));
    // Depth counts the levels below a root field, whatever lies between (fragments, inline or not).
    check_judged(nested("{ ... on Q { a ", "{ b }", " } }", 12), &LIMITS, "");
    check_judged(nested("{ ... on Q { a ", "{ b }", " } }", 13), &LIMITS,
                 "1:1 The depth of this operation is 13; at most 12 is allowed. (depth, max 12)");
}

// `operation`, then a chain of `count` fragments F0, F1...: each spreads the next, then has
// `extra`; the last has only `last`.
static char *fragment_chain(const char *operation, size_t count, const char *extra, const char *last) {
    Buf b = BUF_INIT;
    buf_printf(&b, "%s\n", operation);
    for (size_t i = 0; i < count; i++) {
        buf_printf(&b, "fragment F%zu on Q { ", i);
        if (i + 1 < count) buf_printf(&b, "...F%zu %s}\n", i + 1, extra);
        else buf_printf(&b, "%s}\n", last);
    }
    return b.data;
}

static bool starts_with(const char *text, const char *prefix) { return strncmp(text, prefix, strlen(prefix)) == 0; }

static double seconds_since(const struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void test_fragment_cycles(void) {
    GqlLimits limits = LIMITS;
    limits.max_tokens = 1000000;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);

    char *chain = fragment_chain("{ ...F0 }", 2000, "", "a");
    CHECK_STR(judge_bytes(chain, strlen(chain), &limits), "");
    free(chain);

    // 2000 fragments in one cycle: one error, its message cut, its first four places.
    char *cycle = fragment_chain("{ ...F0 }", 2000, "", "...F0");
    const char *verdict = judge_bytes(cycle, strlen(cycle), &limits);
    CHECK(starts_with(verdict, "2:20 3:20 4:20 5:20 Cannot spread fragment \"F0\" within itself via \"F1\", \"F2\", \"F3\""));
    CHECK(strlen(verdict) < 450 && strcmp(verdict + strlen(verdict) - 3, "\xE2\x80\xA6") == 0);
    CHECK(strchr(verdict, '\n') == NULL);
    free(cycle);

    // Each fragment also spreads the first: 2000 cycles, the longest found first (the search
    // goes deep before it comes back), reported up to the room for errors.
    char *loops = fragment_chain("{ ...F0 }", 2000, "...F0 ", "...F0");
    verdict = judge_bytes(loops, strlen(loops), &limits);
    size_t lines = 0;
    for (const char *line = verdict; line; line = strchr(line, '\n')) {
        line += *line == '\n';
        CHECK(starts_with(line, "2:20 3:20 4:20 5:20 Cannot spread fragment \"F0\" within itself via \"F1\", \"F2\""));
        lines++;
    }
    CHECK(lines == MAX_ERRORS);
    free(loops);

    // Spreads of the fragments into each other, every which way: each searched once.
    Buf mesh = BUF_INIT;
    buf_appends(&mesh, "{ ...M0 }\n");
    for (int i = 0; i < 300; i++) {
        buf_printf(&mesh, "fragment M%d on Q { a ", i);
        for (int j = 0; j < 300; j += 7) buf_printf(&mesh, "...M%d ", (i * 31 + j) % 300);
        buf_appends(&mesh, "}\n");
    }
    verdict = judge_bytes(mesh.data, mesh.len, &limits);
    CHECK(strstr(verdict, "Cannot spread fragment") != NULL);
    buf_free(&mesh);
    CHECK(seconds_since(&start) < 2.0);
}

// Fragments spreading the next one twice, 50 deep: 2^50 paths, measured and checked once
// each. Walked path by path, this test would never end.
static void test_fragment_fan_out(void) {
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    Buf b = BUF_INIT;
    buf_appends(&b, "query Q($v: Int) { ...F0 __schema { ...F0 } }\n");
    for (int i = 0; i < 50; i++) buf_printf(&b, "fragment F%d on Q { a: name ...F%d ...F%d }\n", i, i + 1, i + 1);
    buf_appends(&b, "fragment F50 on Q { a: name(x: $v) }\n");
    CHECK_STR(judge_bytes(b.data, b.len, &LIMITS),
              "1:1 The number of aliases is 4503599627370494; at most 30 is allowed. (aliases, max 30)");
    GqlLimits limits = LIMITS;
    limits.max_aliases = (size_t)-1;
    CHECK_STR(judge_bytes(b.data, b.len, &limits), "");
    buf_clear(&b);
    // 64 levels: the count saturates instead of wrapping around.
    buf_appends(&b, "{ ...F0 }\n");
    for (int i = 0; i < 64; i++) buf_printf(&b, "fragment F%d on Q { ...F%d ...F%d }\n", i, i + 1, i + 1);
    buf_appends(&b, "fragment F64 on Q { a: name b: name }\n");
    CHECK_STR(judge_bytes(b.data, b.len, &LIMITS),
              "1:1 The number of aliases is 18446744073709551615; at most 30 is allowed. (aliases, max 30)");
    buf_clear(&b);
    // And under introspection, where the lists' rule follows every spread: two lists deep
    // at the end of every path pass, three fail.
    buf_appends(&b, "{ __schema { types { ...F0 } } }\n");
    for (int i = 0; i < 50; i++) buf_printf(&b, "fragment F%d on Q { name ...F%d ...F%d }\n", i, i + 1, i + 1);
    size_t chain = b.len;
    buf_appends(&b, "fragment F50 on Q { fields { fields { name } } }\n");
    CHECK_STR(judge_bytes(b.data, b.len, &LIMITS), "");
    b.len = chain;
    buf_appends(&b, "fragment F50 on Q { fields { fields { fields { name } } } }\n");
    CHECK_STR(judge_bytes(b.data, b.len, &LIMITS),
              "1:3 This introspection query nests `fields`, `interfaces`, `possibleTypes` or `inputFields` three "
              "deep: ask for less nesting (GraphiQL's introspection query fits). (introspectionLists, max 2)");
    buf_free(&b);
    CHECK(seconds_since(&start) < 1.0);
}

static void test_nesting(void) {
    GqlLimits limits = LIMITS;
    limits.max_tokens = 10000000;
    limits.max_depth = 1000;
    check_judged(nested("{a", "", "}", 256), &limits, "");
    check_judged(nested("{a", "", "}", 257), &limits, "1:513 Syntax Error: the document nests too deep.");
    // Lists, objects and list types count with the selection sets around them.
    check_judged(nested("[", "", "]", 255), &limits, "1:1 Syntax Error: Unexpected \"[\".");
    char *lists = nested("[", "1", "]", 255);
    Buf b = BUF_INIT;
    buf_printf(&b, "{ f(x: %s) }", lists);
    CHECK_STR(judge_bytes(b.data, b.len, &limits), "");
    buf_clear(&b);
    buf_printf(&b, "{ f(x: [%s]) }", lists);
    CHECK_STR(judge_bytes(b.data, b.len, &limits), "1:263 Syntax Error: the document nests too deep.");
    free(lists);
    buf_free(&b);
    char *objects = nested("{a: ", "1", "}", 256);
    buf_printf(&b, "{ f(x: %s) }", objects);
    CHECK_STR(judge_bytes(b.data, b.len, &limits), "1:1028 Syntax Error: the document nests too deep.");
    free(objects);
    buf_clear(&b);
    char *types = nested("[", "Int", "]", 257);
    buf_printf(&b, "query ($a: %s) { f(x: $a) }", types);
    CHECK_STR(judge_bytes(b.data, b.len, &limits), "1:268 Syntax Error: the document nests too deep.");
    free(types);
    buf_free(&b);
    // A million opening braces: refused at the bound, the C stack untouched past it.
    check_judged(repeat("", "{a", 1000000, ""), &limits, "1:513 Syntax Error: the document nests too deep.");
    check_judged(repeat("{ f(x: ", "[", 1000000, ""), &limits, "1:263 Syntax Error: the document nests too deep.");
}

// GraphiQL's introspection query (graphql-js's getIntrospectionQuery, every option on): what
// the introspection limits are set to let through.
static const char INTROSPECTION_QUERY[] =
    "query IntrospectionQuery {\n"
    "__schema {\n"
    "description\n"
    "queryType { name kind }\n"
    "mutationType { name kind }\n"
    "subscriptionType { name kind }\n"
    "types {\n"
    "...FullType\n"
    "}\n"
    "directives {\n"
    "name\n"
    "description\n"
    "isRepeatable\n"
    "locations\n"
    "args(includeDeprecated: true) {\n"
    "...InputValue\n"
    "}\n"
    "}\n"
    "}\n"
    "}\n"
    "fragment FullType on __Type {\n"
    "kind\n"
    "name\n"
    "description\n"
    "specifiedByURL\n"
    "isOneOf\n"
    "fields(includeDeprecated: true) {\n"
    "name\n"
    "description\n"
    "args(includeDeprecated: true) {\n"
    "...InputValue\n"
    "}\n"
    "type {\n"
    "...TypeRef\n"
    "}\n"
    "isDeprecated\n"
    "deprecationReason\n"
    "}\n"
    "inputFields(includeDeprecated: true) {\n"
    "...InputValue\n"
    "}\n"
    "interfaces {\n"
    "...TypeRef\n"
    "}\n"
    "enumValues(includeDeprecated: true) {\n"
    "name\n"
    "description\n"
    "isDeprecated\n"
    "deprecationReason\n"
    "}\n"
    "possibleTypes {\n"
    "...TypeRef\n"
    "}\n"
    "}\n"
    "fragment InputValue on __InputValue {\n"
    "name\n"
    "description\n"
    "type { ...TypeRef }\n"
    "defaultValue\n"
    "isDeprecated\n"
    "deprecationReason\n"
    "}\n"
    "fragment TypeRef on __Type {\n"
    "kind\n"
    "name\n"
    "ofType {\n"
    "name\n"
    "kind\n"
    "ofType {\n"
    "name\n"
    "kind\n"
    "ofType {\n"
    "name\n"
    "kind\n"
    "ofType {\n"
    "name\n"
    "kind\n"
    "ofType {\n"
    "name\n"
    "kind\n"
    "ofType {\n"
    "name\n"
    "kind\n"
    "ofType {\n"
    "name\n"
    "kind\n"
    "ofType {\n"
    "name\n"
    "kind\n"
    "ofType {\n"
    "name\n"
    "kind\n"
    "}\n"
    "}\n"
    "}\n"
    "}\n"
    "}\n"
    "}\n"
    "}\n"
    "}\n"
    "}\n"
    "}\n";

static void test_graphiql_introspection_query(void) {
    Arena *arena = arena_new();
    GqlError errors[MAX_ERRORS];
    GqlDocument *doc = gql_parse(arena, INTROSPECTION_QUERY, strlen(INTROSPECTION_QUERY), &LIMITS, errors);
    CHECK(doc && doc->ntokens == 184 && doc->noperations == 1 && doc->nfragments == 3);
    CHECK(doc && gql_check(doc, &LIMITS, errors, MAX_ERRORS) == 0);
    CHECK(doc && gql_introspection_only(gql_operation(doc, NULL, errors)));
    arena_free(arena);
}

static void test_operation_choice(void) {
    Arena *arena = arena_new();
    GqlError error;
    const char *two = "query A { a } mutation B { b }";
    GqlDocument *doc = gql_parse(arena, two, strlen(two), &LIMITS, &error);
    CHECK(doc && gql_check(doc, &LIMITS, &error, 1) == 0);
    const GqlOperation *op = gql_operation(doc, "B", &error);
    CHECK(op && op->type == GQL_MUTATION);
    CHECK(gql_operation(doc, "C", &error) == NULL);
    CHECK_STR(error.message, "The document has no operation named \"C\".");
    CHECK_STR(error.code, "OPERATION_RESOLUTION_FAILURE");
    CHECK(error.nlocations == 0 && error.limit == NULL);
    CHECK(gql_operation(doc, NULL, &error) == NULL);
    CHECK_STR(error.message, "The document has several operations: say which one to run in `operationName`.");
    CHECK(gql_operation(doc, "", &error) == NULL);
    CHECK_STR(error.message, "The document has several operations: say which one to run in `operationName`.");

    const char *one = "{ a } fragment F on Q { b }";
    doc = gql_parse(arena, one, strlen(one), &LIMITS, &error);
    CHECK(doc && gql_operation(doc, NULL, &error) == &doc->operations[0]);
    CHECK(gql_operation(doc, "", &error) == &doc->operations[0]);
    CHECK(gql_operation(doc, "a", &error) == NULL);  // an anonymous operation has no name to match
    arena_free(arena);
}

static bool introspection_only(const char *text) {
    Arena *arena = arena_new();
    GqlError error;
    GqlDocument *doc = gql_parse(arena, text, strlen(text), &LIMITS, &error);
    bool only = doc && gql_introspection_only(&doc->operations[0]);
    arena_free(arena);
    return only;
}

static void test_introspection_only(void) {
    CHECK(introspection_only("{ __schema { types { name } } __type(name: \"Q\") { name } __typename }"));
    CHECK(introspection_only("query IntrospectionQuery { __schema { queryType { name } } }"));
    CHECK(introspection_only("{ s: __schema { types { name } } }"));
    CHECK(!introspection_only("{ __schema { types { name } } me { id } }"));
    CHECK(!introspection_only("{ ... on Query { __schema { types { name } } } }"));
    CHECK(!introspection_only("{ ...F } fragment F on Query { __typename }"));
    CHECK(!introspection_only("mutation { __typename }"));
    CHECK(!introspection_only("subscription { __typename }"));
}

static void test_error_json(void) {
    Buf out = BUF_INIT;
    GqlError error = {.code = "GRAPHQL_VALIDATION_FAILED", .limit = "depth", .max = 12, .nlocations = 2};
    snprintf(error.message, sizeof error.message, "Say \"hi\"\n\xC3\xA9");
    error.locations[0] = (GqlLoc){1, 2};
    error.locations[1] = (GqlLoc){30, 400};
    gql_error_json(&out, &error);
    CHECK_STR(out.data, "{\"message\":\"Say \\\"hi\\\"\\n\xC3\xA9\",\"locations\":[{\"line\":1,\"column\":2},"
                        "{\"line\":30,\"column\":400}],\"extensions\":{\"code\":\"GRAPHQL_VALIDATION_FAILED\","
                        "\"limit\":\"depth\",\"max\":12}}");
    buf_clear(&out);
    GqlError plain = {.code = "OPERATION_RESOLUTION_FAILURE"};
    snprintf(plain.message, sizeof plain.message, "No.");
    gql_error_json(&out, &plain);
    CHECK_STR(out.data, "{\"message\":\"No.\",\"extensions\":{\"code\":\"OPERATION_RESOLUTION_FAILURE\"}}");
    buf_clear(&out);
    // What the parser writes, whole.
    Arena *arena = arena_new();
    CHECK(gql_parse(arena, "{ a(x: 1", 8, &LIMITS, &error) == NULL);
    gql_error_json(&out, &error);
    CHECK_STR(out.data, "{\"message\":\"Syntax Error: Expected Name, found <EOF>.\",\"locations\":[{\"line\":1,"
                        "\"column\":9}],\"extensions\":{\"code\":\"GRAPHQL_PARSE_FAILED\"}}");
    arena_free(arena);
    buf_free(&out);
}

// Room for fewer errors than the document has: the first ones, in graphql-js's order.
static void test_error_room(void) {
    const char *text = "{ ...A ...B ...C } fragment X on Q { a }";
    Arena *arena = arena_new();
    GqlError errors[2];
    GqlDocument *doc = gql_parse(arena, text, strlen(text), &LIMITS, &errors[0]);
    CHECK(doc && gql_check(doc, &LIMITS, errors, 2) == 2);
    CHECK_STR(errors[0].message, "Unknown fragment \"A\".");
    CHECK_STR(errors[1].message, "Unknown fragment \"B\".");
    CHECK(gql_check(doc, &LIMITS, errors, 1) == 1);
    arena_free(arena);
    // Messages are cut at a character boundary.
    Buf long_name = BUF_INIT;
    buf_appends(&long_name, "{ \"");
    for (int i = 0; i < 300; i++) buf_appends(&long_name, "\xC3\xA9");
    buf_appends(&long_name, "\" }");
    const char *verdict = judge_bytes(long_name.data, long_name.len, &LIMITS);
    size_t len = strlen(verdict);
    CHECK(len < sizeof errors[0].message + 8 && strcmp(verdict + len - 3, "\xE2\x80\xA6") == 0);
    CHECK(starts_with(verdict, "1:3 Syntax Error: Expected Name, found String \"\xC3\xA9\xC3\xA9"));
    buf_free(&long_name);
}

// --- Fuzzing -----------------------------------------------------------------------------

static const char *const PIECES[] = {
    "{", "}", "(", ")", "[", "]", "...", ".", ":", "$", "@", "!", "=", "|", "&", ",", " ", "\n", "\r", "\"", "\"\"\"",
    "\\", "\\u", "\\u{", "#", "on ", "fragment ", "query ", "type ", "extend ", "F", "a", "__schema", "fields", "1",
    "-", "1.5e3", "true", "\xC3\xA9", "\xF0\x9F\x98\x80", "\xFF", "\xED\xA0\x80", "\xEF\xBB\xBF", "...F", "$a", "@d",
    "fragment F on Q { ...F }", "query Q($a: Int) ", "{ a: b }", "'",
};

static void mutate(Buf *doc) {
    size_t at = check_below(doc->len + 1);
    size_t kind = check_below(5);
    if (kind == 0) {
        const char *piece = PIECES[check_below(sizeof PIECES / sizeof *PIECES)];
        Buf next = BUF_INIT;
        buf_append(&next, doc->data, at);
        buf_appends(&next, piece);
        buf_append(&next, doc->data + at, doc->len - at);
        buf_free(doc);
        *doc = next;
    } else if (kind == 1 && doc->len) {
        size_t n = check_below(4) + 1;
        if (at + n > doc->len) n = doc->len - at;
        memmove(doc->data + at, doc->data + at + n, doc->len - at - n);
        doc->len -= n;
    } else if (kind == 2 && doc->len) {
        size_t from = check_below(doc->len);
        size_t n = check_below(24);
        if (from + n > doc->len) n = doc->len - from;
        Buf next = BUF_INIT;
        buf_append(&next, doc->data, at);
        buf_append(&next, doc->data + from, n);
        buf_append(&next, doc->data + at, doc->len - at);
        buf_free(doc);
        *doc = next;
    } else if (doc->len) {
        doc->data[check_below(doc->len)] = (char)check_below(256);
    }
}

static void fuzz_one(const Buf *doc, const GqlLimits *limits) {
    Arena *arena = arena_new();
    GqlError errors[4];
    GqlDocument *parsed = gql_parse(arena, doc->data ? doc->data : "", doc->len, limits, &errors[0]);
    size_t n = 1;
    if (parsed) {
        n = gql_check(parsed, limits, errors, 4);
        CHECK(parsed->ntokens <= limits->max_tokens && n <= 4);
        GqlError problem;
        const GqlOperation *op = gql_operation(parsed, NULL, &problem);
        if (op) gql_introspection_only(op);
    }
    Buf json = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        CHECK(errors[i].message[0] && errors[i].code && errors[i].nlocations <= GQL_MAX_LOCATIONS);
        CHECK(code_fits(&errors[i], parsed != NULL));
        gql_error_json(&json, &errors[i]);
    }
    buf_free(&json);
    arena_free(arena);
}

static void test_fuzz(void) {
    GqlLimits small = LIMITS;
    small.max_tokens = 40;
    small.max_depth = 3;
    small.max_aliases = 2;
    int failures_before = check_failures;
    for (int i = 0; i < 60000 && check_failures == failures_before; i++) {
        Buf doc = BUF_INIT;
        buf_appends(&doc, CASES[check_below(sizeof CASES / sizeof *CASES)].document);
        for (size_t m = check_below(4) + 1; m > 0; m--) mutate(&doc);
        fuzz_one(&doc, i % 4 ? &LIMITS : &small);
        buf_free(&doc);
    }
}

static void bench(void) {
    const char *text = "query Me { me { displayName queueEntry { age syncedVersion } } }";
    size_t len = strlen(text);
    enum { ROUNDS = 1000000 };
    GqlError errors[MAX_ERRORS];
    size_t refused = 0;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < ROUNDS; i++) {
        Arena *arena = arena_new();
        GqlDocument *doc = gql_parse(arena, text, len, &LIMITS, errors);
        refused += !doc || gql_check(doc, &LIMITS, errors, MAX_ERRORS);
        arena_free(arena);
    }
    double seconds = seconds_since(&start);
    printf("parse+check of %s: %.0f ns (%zu refused)\n", text, seconds * 1e9 / ROUNDS, refused);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "bench") == 0) {
        bench();
        return 0;
    }
    test_cases();
    test_tree();
    test_strings();
    test_odd_bytes();
    test_token_limit();
    test_other_limits();
    test_fragment_cycles();
    test_fragment_fan_out();
    test_nesting();
    test_graphiql_introspection_query();
    test_operation_choice();
    test_introspection_only();
    test_error_json();
    test_error_room();
    test_fuzz();
    buf_free(&rendered);
    return check_finish("graphql");
}
