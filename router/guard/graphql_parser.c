// The parser of GraphQL executable documents (gql_parse): graphql-js 16's, with its syntax
// error texts and places and its token count, over graphql_lexer.c's tokens. The document
// is built in one arena, and nesting past MAX_NESTING is refused, so that walks over one
// definition recurse at most that deep.
#include "graphql_internal.h"

#include <setjmp.h>
#include <stdio.h>
#include <string.h>

enum { MAX_NESTING = 256 };  // selection sets, lists, objects and list types, together

// As graphql-js names each kind in its messages: punctuators quoted.
static const char *const TOKEN_KIND_TEXT[] = {
    [TOKEN_SOF] = "<SOF>", [TOKEN_EOF] = "<EOF>", [TOKEN_BANG] = "\"!\"", [TOKEN_DOLLAR] = "\"$\"",
    [TOKEN_AMP] = "\"&\"", [TOKEN_PAREN_L] = "\"(\"", [TOKEN_PAREN_R] = "\")\"", [TOKEN_SPREAD] = "\"...\"",
    [TOKEN_COLON] = "\":\"", [TOKEN_EQUALS] = "\"=\"", [TOKEN_AT] = "\"@\"", [TOKEN_BRACKET_L] = "\"[\"",
    [TOKEN_BRACKET_R] = "\"]\"", [TOKEN_BRACE_L] = "\"{\"", [TOKEN_PIPE] = "\"|\"", [TOKEN_BRACE_R] = "\"}\"",
    [TOKEN_NAME] = "Name", [TOKEN_INT] = "Int", [TOKEN_FLOAT] = "Float", [TOKEN_STRING] = "String",
    [TOKEN_BLOCK_STRING] = "BlockString",
};

// --- Parser: tokens ----------------------------------------------------------------------

// Moves to the next token and counts it, as graphql-js's parse(maxTokens) counts.
static void advance(Parser *p) {
    if (p->has_ahead) {
        p->token = p->ahead;
        p->has_ahead = false;
    } else {
        p->token = gql_read_token(p, p->token.end);
    }
    if (p->token.kind != TOKEN_EOF && ++p->doc->ntokens > p->max_tokens) gql_too_many_tokens(p);
}

static const Token *lookahead(Parser *p) {
    if (!p->has_ahead) {
        p->ahead = gql_read_token(p, p->token.end);
        p->has_ahead = true;
    }
    return &p->ahead;
}

static bool peek(const Parser *p, TokenKind kind) { return p->token.kind == kind; }

static bool value_is(const Token *t, const char *word) {
    return t->value && t->value_len == strlen(word) && memcmp(t->value, word, t->value_len) == 0;
}

static bool is_keyword(const Token *t, const char *word) { return t->kind == TOKEN_NAME && value_is(t, word); }

// graphql-js's getTokenDesc: the kind, and the value when the token has one.
static const char *describe_token(const Token *t, char *out, size_t room) {
    if (!t->value) return TOKEN_KIND_TEXT[t->kind];
    size_t len = (size_t)snprintf(out, room, "%s \"", TOKEN_KIND_TEXT[t->kind]);
    len += gql_copy_showing_nul(out + len, room - len, t->value, t->value_len);
    snprintf(out + len, room - len, "\"");
    return out;
}

static _Noreturn void unexpected(Parser *p, const Token *t) {
    char shown[sizeof p->error->message];
    gql_syntax_error(p, t->start, "Unexpected %s.", describe_token(t, shown, sizeof shown));
}

static Token expect(Parser *p, TokenKind kind) {
    Token t = p->token;
    if (t.kind != kind) {
        char shown[sizeof p->error->message];
        gql_syntax_error(p, t.start, "Expected %s, found %s.", TOKEN_KIND_TEXT[kind], describe_token(&t, shown, sizeof shown));
    }
    advance(p);
    return t;
}

static bool expect_optional(Parser *p, TokenKind kind) {
    if (!peek(p, kind)) return false;
    advance(p);
    return true;
}

static void expect_keyword(Parser *p, const char *word) {
    if (!is_keyword(&p->token, word)) {
        char shown[sizeof p->error->message];
        gql_syntax_error(p, p->token.start, "Expected \"%s\", found %s.", word, describe_token(&p->token, shown, sizeof shown));
    }
    advance(p);
}

static bool expect_optional_keyword(Parser *p, const char *word) {
    if (!is_keyword(&p->token, word)) return false;
    advance(p);
    return true;
}

static const char *copy_name(Parser *p, const Token *t) { return arena_strndup(p->arena, t->value, t->value_len); }

static void enter_nesting(Parser *p) {
    if (++p->nesting > MAX_NESTING) gql_syntax_error(p, p->token.start, "the document nests too deep.");
}

static void leave_nesting(Parser *p) { p->nesting--; }

// A list's items wait on p->items above `mark` until the list closes, then move to the arena.
static void push_item(Parser *p, const void *item, size_t size) { buf_append(&p->items, item, size); }

static void *pop_items(Parser *p, size_t mark, size_t size, size_t *count) {
    size_t bytes = p->items.len - mark;
    *count = bytes / size;
    void *items = NULL;
    if (bytes) {
        items = arena_alloc(p->arena, bytes);
        memcpy(items, p->items.data + mark, bytes);
    }
    p->items.len = mark;
    return items;
}

// --- Parser: values, directives, types ----------------------------------------------------

static GqlValue *parse_value(Parser *p, bool is_const);

static GqlValue *new_value(Parser *p, GqlValueKind kind, const Token *t) {
    GqlValue *v = arena_alloc(p->arena, sizeof *v);
    v->kind = kind;
    v->loc = t->loc;
    return v;
}

static GqlValue *parse_list(Parser *p, bool is_const) {
    GqlValue *list = new_value(p, GQL_LIST, &p->token);
    enter_nesting(p);
    advance(p);
    size_t mark = p->items.len;
    while (!expect_optional(p, TOKEN_BRACKET_R)) {
        GqlValue *item = parse_value(p, is_const);
        push_item(p, &item, sizeof item);
    }
    list->items = pop_items(p, mark, sizeof(GqlValue *), &list->count);
    leave_nesting(p);
    return list;
}

typedef struct ObjectField {
    const char *name;
    GqlLoc name_loc;
    GqlValue *value;
} ObjectField;

static GqlValue *parse_object(Parser *p, bool is_const) {
    GqlValue *object = new_value(p, GQL_OBJECT, &p->token);
    enter_nesting(p);
    advance(p);
    size_t mark = p->items.len;
    while (!expect_optional(p, TOKEN_BRACE_R)) {
        Token name = expect(p, TOKEN_NAME);
        expect(p, TOKEN_COLON);
        ObjectField field = {copy_name(p, &name), name.loc, NULL};
        field.value = parse_value(p, is_const);
        push_item(p, &field, sizeof field);
    }
    size_t count = (p->items.len - mark) / sizeof(ObjectField);
    object->count = count;
    object->items = arena_alloc(p->arena, count * sizeof *object->items);
    object->names = arena_alloc(p->arena, count * sizeof *object->names);
    object->name_locs = arena_alloc(p->arena, count * sizeof *object->name_locs);
    for (size_t i = 0; i < count; i++) {
        ObjectField field;
        memcpy(&field, p->items.data + mark + i * sizeof field, sizeof field);
        object->items[i] = field.value;
        object->names[i] = field.name;
        object->name_locs[i] = field.name_loc;
    }
    p->items.len = mark;
    leave_nesting(p);
    return object;
}

static GqlValue *parse_variable(Parser *p) {
    GqlValue *v = new_value(p, GQL_VARIABLE, &p->token);
    expect(p, TOKEN_DOLLAR);
    Token name = expect(p, TOKEN_NAME);
    v->text = copy_name(p, &name);
    v->len = name.value_len;
    return v;
}

static _Noreturn void variable_in_constant(Parser *p) {
    Token dollar = p->token;
    advance(p);
    if (peek(p, TOKEN_NAME)) {
        gql_syntax_error(p, dollar.start, "Unexpected variable \"$%.*s\" in constant value.", (int)p->token.value_len,
                         p->token.value);
    }
    unexpected(p, &dollar);
}

static GqlValue *parse_value(Parser *p, bool is_const) {
    Token t = p->token;
    GqlValue *v;
    switch (t.kind) {
    case TOKEN_BRACKET_L: return parse_list(p, is_const);
    case TOKEN_BRACE_L: return parse_object(p, is_const);
    case TOKEN_DOLLAR:
        if (is_const) variable_in_constant(p);
        return parse_variable(p);
    case TOKEN_INT:
    case TOKEN_FLOAT:
        advance(p);
        v = new_value(p, t.kind == TOKEN_INT ? GQL_INT : GQL_FLOAT, &t);
        v->text = copy_name(p, &t);
        v->len = t.value_len;
        return v;
    case TOKEN_STRING:
    case TOKEN_BLOCK_STRING:
        advance(p);
        v = new_value(p, GQL_STRING, &t);
        v->text = t.value;
        v->len = t.value_len;
        return v;
    case TOKEN_NAME:
        advance(p);
        v = new_value(p, value_is(&t, "true") || value_is(&t, "false") ? GQL_BOOLEAN
                         : value_is(&t, "null")                         ? GQL_NULL
                                                                        : GQL_ENUM,
                      &t);
        v->text = copy_name(p, &t);
        v->len = t.value_len;
        return v;
    default: unexpected(p, &p->token);
    }
}

static void parse_arguments(Parser *p, bool is_const, GqlArgument **args, size_t *count) {
    *args = NULL;
    *count = 0;
    if (!expect_optional(p, TOKEN_PAREN_L)) return;
    size_t mark = p->items.len;
    do {
        Token name = expect(p, TOKEN_NAME);
        expect(p, TOKEN_COLON);
        GqlArgument arg = {copy_name(p, &name), NULL, name.loc};
        arg.value = parse_value(p, is_const);
        push_item(p, &arg, sizeof arg);
    } while (!expect_optional(p, TOKEN_PAREN_R));
    *args = pop_items(p, mark, sizeof(GqlArgument), count);
}

static void parse_directives(Parser *p, bool is_const, GqlDirective **directives, size_t *count) {
    size_t mark = p->items.len;
    while (peek(p, TOKEN_AT)) {
        GqlDirective d = {0};
        d.loc = p->token.loc;
        advance(p);
        Token name = expect(p, TOKEN_NAME);
        d.name = copy_name(p, &name);
        parse_arguments(p, is_const, &d.args, &d.nargs);
        push_item(p, &d, sizeof d);
    }
    *directives = pop_items(p, mark, sizeof(GqlDirective), count);
}

static void skip_const_directives(Parser *p, size_t *count) {
    GqlDirective *directives;
    parse_directives(p, true, &directives, count);
}

// A type reference (`[ID!]!`), written to p->type without its ignored characters.
static void parse_type_reference(Parser *p) {
    if (peek(p, TOKEN_BRACKET_L)) {
        enter_nesting(p);
        advance(p);
        buf_appendc(&p->type, '[');
        parse_type_reference(p);
        expect(p, TOKEN_BRACKET_R);
        buf_appendc(&p->type, ']');
        leave_nesting(p);
    } else {
        Token name = expect(p, TOKEN_NAME);
        buf_append(&p->type, name.value, name.value_len);
    }
    if (expect_optional(p, TOKEN_BANG)) buf_appendc(&p->type, '!');
}

static bool peek_description(const Parser *p) { return peek(p, TOKEN_STRING) || peek(p, TOKEN_BLOCK_STRING); }

static void skip_description(Parser *p) {
    if (peek_description(p)) advance(p);
}

// --- Parser: executable definitions --------------------------------------------------------

static void parse_selection_set(Parser *p, GqlSelectionSet *set);

static const char *parse_fragment_name(Parser *p, GqlLoc *loc) {
    if (value_is(&p->token, "on")) unexpected(p, &p->token);
    Token name = expect(p, TOKEN_NAME);
    *loc = name.loc;
    return copy_name(p, &name);
}

static void parse_field(Parser *p, GqlSelection *s) {
    s->kind = GQL_FIELD;
    Token name = expect(p, TOKEN_NAME);
    if (expect_optional(p, TOKEN_COLON)) {
        s->alias = copy_name(p, &name);
        name = expect(p, TOKEN_NAME);
    }
    s->name = copy_name(p, &name);
    s->name_loc = name.loc;
    parse_arguments(p, false, &s->args, &s->nargs);
    parse_directives(p, false, &s->directives, &s->ndirectives);
    if (peek(p, TOKEN_BRACE_L)) parse_selection_set(p, &s->selections);
}

// After `...`: a fragment spread, or an inline fragment with or without a type condition.
static void parse_fragment_selection(Parser *p, GqlSelection *s) {
    advance(p);
    bool has_type_condition = expect_optional_keyword(p, "on");
    if (!has_type_condition && peek(p, TOKEN_NAME)) {
        s->kind = GQL_FRAGMENT_SPREAD;
        s->name = parse_fragment_name(p, &s->name_loc);
        parse_directives(p, false, &s->directives, &s->ndirectives);
        return;
    }
    s->kind = GQL_INLINE_FRAGMENT;
    if (has_type_condition) {
        Token type = expect(p, TOKEN_NAME);
        s->type_condition = copy_name(p, &type);
    }
    parse_directives(p, false, &s->directives, &s->ndirectives);
    parse_selection_set(p, &s->selections);
}

static void parse_selection_set(Parser *p, GqlSelectionSet *set) {
    enter_nesting(p);
    expect(p, TOKEN_BRACE_L);
    size_t mark = p->items.len;
    do {
        GqlSelection s = {0};
        s.loc = p->token.loc;
        if (peek(p, TOKEN_SPREAD)) parse_fragment_selection(p, &s);
        else parse_field(p, &s);
        push_item(p, &s, sizeof s);
    } while (!expect_optional(p, TOKEN_BRACE_R));
    set->items = pop_items(p, mark, sizeof(GqlSelection), &set->count);
    leave_nesting(p);
}

static GqlOperationType parse_operation_type(Parser *p) {
    Token t = expect(p, TOKEN_NAME);
    if (value_is(&t, "query")) return GQL_QUERY;
    if (value_is(&t, "mutation")) return GQL_MUTATION;
    if (value_is(&t, "subscription")) return GQL_SUBSCRIPTION;
    unexpected(p, &t);
}

static void parse_variable_definition(Parser *p, GqlVariable *v) {
    v->loc = p->token.loc;
    skip_description(p);
    expect(p, TOKEN_DOLLAR);
    Token name = expect(p, TOKEN_NAME);
    v->name = copy_name(p, &name);
    v->name_loc = name.loc;
    expect(p, TOKEN_COLON);
    buf_clear(&p->type);
    parse_type_reference(p);
    v->type = arena_strndup(p->arena, p->type.data, p->type.len);
    if (expect_optional(p, TOKEN_EQUALS)) v->default_value = parse_value(p, true);
    parse_directives(p, true, &v->directives, &v->ndirectives);
}

static void parse_variable_definitions(Parser *p, GqlOperation *op) {
    if (!expect_optional(p, TOKEN_PAREN_L)) return;
    size_t mark = p->items.len;
    do {
        GqlVariable v = {0};
        parse_variable_definition(p, &v);
        push_item(p, &v, sizeof v);
    } while (!expect_optional(p, TOKEN_PAREN_R));
    op->variables = pop_items(p, mark, sizeof(GqlVariable), &op->nvariables);
}

static void parse_operation_definition(Parser *p) {
    GqlOperation op = {0};
    op.loc = p->token.loc;
    if (peek(p, TOKEN_BRACE_L)) {
        op.type = GQL_QUERY;
    } else {
        skip_description(p);
        op.type = parse_operation_type(p);
        if (peek(p, TOKEN_NAME)) {
            Token name = expect(p, TOKEN_NAME);
            op.name = copy_name(p, &name);
            op.name_loc = name.loc;
        }
        parse_variable_definitions(p, &op);
        parse_directives(p, false, &op.directives, &op.ndirectives);
    }
    parse_selection_set(p, &op.selections);
    buf_append(&p->operations, &op, sizeof op);
}

static void parse_fragment_definition(Parser *p) {
    GqlFragment f = {0};
    f.loc = p->token.loc;
    skip_description(p);
    expect_keyword(p, "fragment");
    f.name = parse_fragment_name(p, &f.name_loc);
    expect_keyword(p, "on");
    Token type = expect(p, TOKEN_NAME);
    f.type_condition = copy_name(p, &type);
    parse_directives(p, false, &f.directives, &f.ndirectives);
    parse_selection_set(p, &f.selections);
    buf_append(&p->fragments, &f, sizeof f);
}

// --- Parser: type-system definitions (parsed as graphql-js parses them, then dropped) ------

static const char *parse_type_system_name(Parser *p) {
    Token name = expect(p, TOKEN_NAME);
    return copy_name(p, &name);
}

// graphql-js's optionalMany: when `open` comes, items up to `close` (at least one).
static bool parse_optional_many(Parser *p, TokenKind open, void (*item)(Parser *), TokenKind close) {
    if (!expect_optional(p, open)) return false;
    do item(p);
    while (!expect_optional(p, close));
    return true;
}

// graphql-js's delimitedMany: named types, an optional leading delimiter.
static void parse_named_types(Parser *p, TokenKind delimiter) {
    expect_optional(p, delimiter);
    do expect(p, TOKEN_NAME);
    while (expect_optional(p, delimiter));
}

static void skip_type_reference(Parser *p) {
    parse_type_reference(p);
    buf_clear(&p->type);
}

static void parse_operation_type_definition(Parser *p) {
    parse_operation_type(p);
    expect(p, TOKEN_COLON);
    expect(p, TOKEN_NAME);
}

static void parse_input_value_definition(Parser *p) {
    size_t ndirectives;
    skip_description(p);
    expect(p, TOKEN_NAME);
    expect(p, TOKEN_COLON);
    skip_type_reference(p);
    if (expect_optional(p, TOKEN_EQUALS)) parse_value(p, true);
    skip_const_directives(p, &ndirectives);
}

static void parse_field_definition(Parser *p) {
    size_t ndirectives;
    skip_description(p);
    expect(p, TOKEN_NAME);
    parse_optional_many(p, TOKEN_PAREN_L, parse_input_value_definition, TOKEN_PAREN_R);
    expect(p, TOKEN_COLON);
    skip_type_reference(p);
    skip_const_directives(p, &ndirectives);
}

static void parse_enum_value_definition(Parser *p) {
    size_t ndirectives;
    skip_description(p);
    if (value_is(&p->token, "true") || value_is(&p->token, "false") || value_is(&p->token, "null")) {
        char shown[sizeof p->error->message];
        gql_syntax_error(p, p->token.start, "%s is reserved and cannot be used for an enum value.",
                         describe_token(&p->token, shown, sizeof shown));
    }
    expect(p, TOKEN_NAME);
    skip_const_directives(p, &ndirectives);
}

static bool parse_implements_interfaces(Parser *p) {
    if (!expect_optional_keyword(p, "implements")) return false;
    parse_named_types(p, TOKEN_AMP);
    return true;
}

static bool parse_union_members(Parser *p) {
    if (!expect_optional(p, TOKEN_EQUALS)) return false;
    parse_named_types(p, TOKEN_PIPE);
    return true;
}

static const char *const DIRECTIVE_LOCATIONS[] = {
    "QUERY", "MUTATION", "SUBSCRIPTION", "FIELD", "FRAGMENT_DEFINITION", "FRAGMENT_SPREAD", "INLINE_FRAGMENT",
    "VARIABLE_DEFINITION", "SCHEMA", "SCALAR", "OBJECT", "FIELD_DEFINITION", "ARGUMENT_DEFINITION", "INTERFACE",
    "UNION", "ENUM", "ENUM_VALUE", "INPUT_OBJECT", "INPUT_FIELD_DEFINITION", "DIRECTIVE_DEFINITION",
};

static void parse_directive_locations(Parser *p) {
    expect_optional(p, TOKEN_PIPE);
    do {
        Token location = expect(p, TOKEN_NAME);
        bool known = false;
        for (size_t i = 0; i < sizeof DIRECTIVE_LOCATIONS / sizeof *DIRECTIVE_LOCATIONS; i++) {
            known = known || value_is(&location, DIRECTIVE_LOCATIONS[i]);
        }
        if (!known) unexpected(p, &location);
    } while (expect_optional(p, TOKEN_PIPE));
}

// Each returns the definition's name (NULL for the schema).
static const char *parse_schema_definition(Parser *p) {
    size_t ndirectives;
    skip_description(p);
    expect_keyword(p, "schema");
    skip_const_directives(p, &ndirectives);
    expect(p, TOKEN_BRACE_L);
    do parse_operation_type_definition(p);
    while (!expect_optional(p, TOKEN_BRACE_R));
    return NULL;
}

static const char *parse_scalar_definition(Parser *p) {
    size_t ndirectives;
    skip_description(p);
    expect_keyword(p, "scalar");
    const char *name = parse_type_system_name(p);
    skip_const_directives(p, &ndirectives);
    return name;
}

static const char *parse_fields_type_definition(Parser *p, const char *keyword) {
    size_t ndirectives;
    skip_description(p);
    expect_keyword(p, keyword);
    const char *name = parse_type_system_name(p);
    parse_implements_interfaces(p);
    skip_const_directives(p, &ndirectives);
    parse_optional_many(p, TOKEN_BRACE_L, parse_field_definition, TOKEN_BRACE_R);
    return name;
}

static const char *parse_object_definition(Parser *p) { return parse_fields_type_definition(p, "type"); }
static const char *parse_interface_definition(Parser *p) { return parse_fields_type_definition(p, "interface"); }

static const char *parse_union_definition(Parser *p) {
    size_t ndirectives;
    skip_description(p);
    expect_keyword(p, "union");
    const char *name = parse_type_system_name(p);
    skip_const_directives(p, &ndirectives);
    parse_union_members(p);
    return name;
}

static const char *parse_enum_definition(Parser *p) {
    size_t ndirectives;
    skip_description(p);
    expect_keyword(p, "enum");
    const char *name = parse_type_system_name(p);
    skip_const_directives(p, &ndirectives);
    parse_optional_many(p, TOKEN_BRACE_L, parse_enum_value_definition, TOKEN_BRACE_R);
    return name;
}

static const char *parse_input_definition(Parser *p) {
    size_t ndirectives;
    skip_description(p);
    expect_keyword(p, "input");
    const char *name = parse_type_system_name(p);
    skip_const_directives(p, &ndirectives);
    parse_optional_many(p, TOKEN_BRACE_L, parse_input_value_definition, TOKEN_BRACE_R);
    return name;
}

static const char *parse_directive_definition(Parser *p) {
    skip_description(p);
    expect_keyword(p, "directive");
    expect(p, TOKEN_AT);
    const char *name = parse_type_system_name(p);
    parse_optional_many(p, TOKEN_PAREN_L, parse_input_value_definition, TOKEN_PAREN_R);
    expect_optional_keyword(p, "repeatable");
    expect_keyword(p, "on");
    parse_directive_locations(p);
    return name;
}

// `extend schema|scalar|type|interface|union|enum|input`: each must add something.
static const char *parse_type_system_extension(Parser *p) {
    const Token keyword = *lookahead(p);
    size_t ndirectives;
    bool adds = false;
    const char *name = NULL;
    if (keyword.kind != TOKEN_NAME) unexpected(p, &keyword);
    bool is_schema = value_is(&keyword, "schema");
    bool has_fields = value_is(&keyword, "type") || value_is(&keyword, "interface");
    bool is_scalar = value_is(&keyword, "scalar");
    bool is_union = value_is(&keyword, "union");
    bool is_enum = value_is(&keyword, "enum");
    bool is_input = value_is(&keyword, "input");
    if (!(is_schema || has_fields || is_scalar || is_union || is_enum || is_input)) unexpected(p, &keyword);
    advance(p);  // `extend`
    advance(p);  // the kind
    if (!is_schema) name = parse_type_system_name(p);
    if (has_fields) adds = parse_implements_interfaces(p);
    skip_const_directives(p, &ndirectives);
    adds = adds || ndirectives > 0;
    if (is_schema) adds = parse_optional_many(p, TOKEN_BRACE_L, parse_operation_type_definition, TOKEN_BRACE_R) || adds;
    if (has_fields) adds = parse_optional_many(p, TOKEN_BRACE_L, parse_field_definition, TOKEN_BRACE_R) || adds;
    if (is_union) adds = parse_union_members(p) || adds;
    if (is_enum) adds = parse_optional_many(p, TOKEN_BRACE_L, parse_enum_value_definition, TOKEN_BRACE_R) || adds;
    if (is_input) adds = parse_optional_many(p, TOKEN_BRACE_L, parse_input_value_definition, TOKEN_BRACE_R) || adds;
    if (!adds) unexpected(p, &p->token);
    return name;
}

typedef struct TypeSystemParser {
    const char *keyword;
    const char *(*parse)(Parser *p);
} TypeSystemParser;

static const TypeSystemParser TYPE_SYSTEM_PARSERS[] = {
    {"schema", parse_schema_definition},     {"scalar", parse_scalar_definition}, {"type", parse_object_definition},
    {"interface", parse_interface_definition}, {"union", parse_union_definition},  {"enum", parse_enum_definition},
    {"input", parse_input_definition},       {"directive", parse_directive_definition},
};

static void parse_type_system_definition(Parser *p, const char *(*parse)(Parser *p)) {
    GqlTypeSystemDefinition definition = {NULL, p->token.loc};
    definition.name = parse(p);
    buf_append(&p->type_system, &definition, sizeof definition);
}

static const TypeSystemParser *type_system_parser(const Token *keyword) {
    for (size_t i = 0; i < sizeof TYPE_SYSTEM_PARSERS / sizeof *TYPE_SYSTEM_PARSERS; i++) {
        if (value_is(keyword, TYPE_SYSTEM_PARSERS[i].keyword)) return &TYPE_SYSTEM_PARSERS[i];
    }
    return NULL;
}

// graphql-js's parseDefinition: what the first keyword (after a description) announces.
static void parse_definition(Parser *p) {
    p->doc->ndefinitions++;
    if (peek(p, TOKEN_BRACE_L)) {
        parse_operation_definition(p);
        return;
    }
    bool has_description = peek_description(p);
    const Token keyword = has_description ? *lookahead(p) : p->token;
    if (has_description && keyword.kind == TOKEN_BRACE_L) {
        gql_syntax_error(p, p->token.start, "Unexpected description, descriptions are not supported on shorthand queries.");
    }
    if (keyword.kind == TOKEN_NAME) {
        const TypeSystemParser *type_system = type_system_parser(&keyword);
        if (type_system) {
            parse_type_system_definition(p, type_system->parse);
            return;
        }
        if (value_is(&keyword, "query") || value_is(&keyword, "mutation") || value_is(&keyword, "subscription")) {
            parse_operation_definition(p);
            return;
        }
        if (value_is(&keyword, "fragment")) {
            parse_fragment_definition(p);
            return;
        }
        if (has_description) {
            gql_syntax_error(p, p->token.start, "Unexpected description, only GraphQL definitions support descriptions.");
        }
        if (value_is(&keyword, "extend")) {
            parse_type_system_definition(p, parse_type_system_extension);
            return;
        }
    }
    unexpected(p, &keyword);
}

static void parse_document(Parser *p) {
    advance(p);  // past <SOF>
    do parse_definition(p);
    while (!peek(p, TOKEN_EOF));
}

// The one place a syntax error lands (longjmp), away from any local that changes.
static bool parse_guarded(Parser *p) {
    if (setjmp(p->fail)) return false;
    parse_document(p);
    return true;
}

static void *move_to_arena(Arena *arena, const Buf *b, size_t size, size_t *count) {
    *count = b->len / size;
    if (!b->len) return NULL;
    void *items = arena_alloc(arena, b->len);
    memcpy(items, b->data, b->len);
    return items;
}

GqlDocument *gql_parse(Arena *arena, const char *text, size_t len, const GqlLimits *limits, GqlError *error) {
    Parser p = {
        .arena = arena,
        .src = (const unsigned char *)text,
        .len = len,
        .max_tokens = limits->max_tokens,
        .doc = arena_alloc(arena, sizeof(GqlDocument)),
        .error = error,
        .line = 1,
        .column = 1,
        .token = {.kind = TOKEN_SOF},
    };
    bool parsed = parse_guarded(&p);
    GqlDocument *doc = parsed ? p.doc : NULL;
    if (parsed) {
        doc->operations = move_to_arena(arena, &p.operations, sizeof(GqlOperation), &doc->noperations);
        doc->fragments = move_to_arena(arena, &p.fragments, sizeof(GqlFragment), &doc->nfragments);
        doc->type_system = move_to_arena(arena, &p.type_system, sizeof(GqlTypeSystemDefinition), &doc->ntype_system);
    }
    Buf *scratch[] = {&p.items, &p.text, &p.lines, &p.type, &p.operations, &p.fragments, &p.type_system};
    for (size_t i = 0; i < sizeof scratch / sizeof *scratch; i++) buf_free(scratch[i]);
    return doc;
}
