// What the files of the GraphQL module share (graphql.h is its API): the lexer's tokens and
// state, which the parser drives, and the helpers that make a GqlError. graphql_lexer.c and
// graphql_parser.c parse a document (gql_parse), graphql_checks.c checks it (gql_check) and
// picks its operation, and graphql_errors.c makes and writes the errors.
#ifndef KINDRED_GUARD_GRAPHQL_INTERNAL_H
#define KINDRED_GUARD_GRAPHQL_INTERNAL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "graphql.h"

static const size_t NO_INDEX = (size_t)-1;

// --- Errors (graphql_errors.c) -----------------------------------------------------------

void gql_error_start(GqlError *error, const char *code, const char *limit, long max);
__attribute__((format(printf, 2, 3))) void gql_error_format(GqlError *error, const char *format, ...);
void gql_error_locate(GqlError *error, GqlLoc loc);

// --- Characters and the lexer (graphql_lexer.c) ------------------------------------------

typedef enum {
    TOKEN_SOF, TOKEN_EOF, TOKEN_BANG, TOKEN_DOLLAR, TOKEN_AMP, TOKEN_PAREN_L, TOKEN_PAREN_R,
    TOKEN_SPREAD, TOKEN_COLON, TOKEN_EQUALS, TOKEN_AT, TOKEN_BRACKET_L, TOKEN_BRACKET_R,
    TOKEN_BRACE_L, TOKEN_PIPE, TOKEN_BRACE_R, TOKEN_NAME, TOKEN_INT, TOKEN_FLOAT, TOKEN_STRING,
    TOKEN_BLOCK_STRING,
} TokenKind;

typedef struct Token {
    TokenKind kind;
    size_t start;
    size_t end;
    GqlLoc loc;
    // Name, Int, Float: the text, in the source (not NUL-terminated). String, BlockString:
    // the decoded value, NUL-terminated, in the arena. NULL for punctuators.
    const char *value;
    size_t value_len;
} Token;

typedef struct Parser {
    Arena *arena;
    const unsigned char *src;
    size_t len;
    size_t max_tokens;
    GqlDocument *doc;
    GqlError *error;
    jmp_buf fail;
    // The lexer's place, as graphql-js keeps it, and a cursor that turns byte offsets on the
    // current line into columns without rescanning the line for each token.
    size_t line;
    size_t line_start;
    size_t column_offset;
    size_t column;
    Token token;
    Token ahead;  // graphql-js's lookahead, lexed but not yet counted
    bool has_ahead;
    unsigned nesting;
    Buf items;       // items of the lists being parsed, innermost list last
    Buf text;        // the string being decoded
    Buf lines;       // the block string being decoded: where each of its lines ends in `text`
    Buf type;        // the variable type being written
    Buf operations;  // the document's definitions so far
    Buf fragments;
    Buf type_system;
} Parser;

size_t gql_copy_showing_nul(char *out, size_t room, const char *bytes, size_t len);
__attribute__((format(printf, 3, 4))) _Noreturn void gql_syntax_error(Parser *p, size_t position,
                                                                      const char *format, ...);
_Noreturn void gql_too_many_tokens(Parser *p);
Token gql_read_token(Parser *p, size_t position);

#endif
