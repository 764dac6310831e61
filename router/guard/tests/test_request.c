// GraphQL over HTTP requests (request.h): media negotiation and parameters, every refusal.
#include "check.h"
#include "request.h"

static const char *post_code(const char *content_type, const char *body, GraphqlParams *params) {
    static HttpError error;
    Arena *arena = arena_new();
    bool ok = params_of_post(arena, content_type, body, strlen(body), params, &error);
    static char code[64];
    snprintf(code, sizeof code, "%s", ok ? "ok" : error.code);
    arena_free(arena);
    return code;
}

static int post_status(const char *content_type, const char *body) {
    HttpError error = {0};
    GraphqlParams params;
    Arena *arena = arena_new();
    bool ok = params_of_post(arena, content_type, body, strlen(body), &params, &error);
    arena_free(arena);
    return ok ? 0 : error.status;
}

static void negotiation(void) {
    CHECK(negotiate(NULL) == MEDIA_JSON);
    CHECK(negotiate("") == MEDIA_JSON);
    CHECK(negotiate("application/graphql-response+json") == MEDIA_GRAPHQL_RESPONSE);
    CHECK(negotiate("application/json, application/graphql-response+json") == MEDIA_GRAPHQL_RESPONSE);
    CHECK(negotiate("application/json;q=0.9, application/graphql-response+json;q=0.5") == MEDIA_JSON);
    CHECK(negotiate("*/*") == MEDIA_JSON);
    CHECK(negotiate("application/*") == MEDIA_JSON);
    CHECK(negotiate("text/event-stream") == MEDIA_STREAM);
    CHECK(negotiate("multipart/mixed") == MEDIA_STREAM);
    CHECK(negotiate("text/html") == NULL);
    CHECK(negotiate("application/json;q=0") == NULL);
    CHECK(negotiate("application/json;q=abc") == NULL);
    CHECK(negotiate(" APPLICATION/JSON ") == MEDIA_JSON);
    CHECK(negotiate(",,,;;;") == NULL);
}

static void posts(void) {
    GraphqlParams params;
    const char *json = "application/json";
    CHECK_STR(post_code(json, "{\"query\":\"{ me { id } }\"}", &params), "ok");
    CHECK_STR(post_code("application/json; charset=utf-8", "{\"query\":\"{a}\"}", &params), "ok");
    CHECK_STR(post_code("Application/JSON;charset=\"utf-8\"", "{\"query\":\"{a}\"}", &params), "ok");
    CHECK_STR(post_code(NULL, "{\"query\":\"{a}\"}", &params), "UNSUPPORTED_MEDIA_TYPE");
    CHECK_STR(post_code("text/plain", "{\"query\":\"{a}\"}", &params), "UNSUPPORTED_MEDIA_TYPE");
    CHECK_STR(post_code("application/json; charset=latin1", "{\"query\":\"{a}\"}", &params), "UNSUPPORTED_MEDIA_TYPE");
    CHECK(post_status("text/plain", "{}") == 415);
    CHECK_STR(post_code(json, "", &params), "BAD_REQUEST");
    CHECK_STR(post_code(json, "\xff\xfe", &params), "BAD_REQUEST");
    CHECK_STR(post_code(json, "{\"query\":", &params), "BAD_REQUEST");
    CHECK_STR(post_code(json, "[{\"query\":\"{a}\"}]", &params), "BATCHING_NOT_SUPPORTED");
    CHECK_STR(post_code(json, "\"query\"", &params), "BAD_REQUEST");
    CHECK_STR(post_code(json, "{}", &params), "BAD_REQUEST");
    CHECK_STR(post_code(json, "{\"query\":null}", &params), "BAD_REQUEST");
    CHECK_STR(post_code(json, "{\"extensions\":{\"persistedQuery\":{}}}", &params), "PERSISTED_QUERY_NOT_SUPPORTED");
    CHECK_STR(post_code(json, "{\"query\":1}", &params), "BAD_REQUEST");
    CHECK_STR(post_code(json, "{\"query\":\"{a}\",\"variables\":[]}", &params), "BAD_REQUEST");
    CHECK_STR(post_code(json, "{\"query\":\"{a}\",\"variables\":\"x\"}", &params), "BAD_REQUEST");
    CHECK_STR(post_code(json, "{\"query\":\"{a}\",\"operationName\":3}", &params), "BAD_REQUEST");
    CHECK_STR(post_code(json, "{\"query\":\"{a}\",\"extensions\":7}", &params), "BAD_REQUEST");

    HttpError error;
    Arena *arena = arena_new();
    const char *body = "\xEF\xBB\xBF{\"query\":\"{ a }\",\"variables\":null,\"operationName\":\"A\"}";
    CHECK(params_of_post(arena, "application/json", body, strlen(body), &params, &error));
    CHECK_STR(params.query, "{ a }");
    CHECK_STR(params.operation_name, "A");
    CHECK(params.variables == NULL);
    CHECK(params.has_null);
    Buf normal = BUF_INIT;
    normalised_body(&normal, params.payload);
    CHECK_STR(normal.data, "{\"query\":\"{ a }\",\"operationName\":\"A\"}");
    buf_free(&normal);

    // Deeper than the guard parses: refused, with the depth named.
    char deep[400] = "{\"query\":\"{a}\",\"variables\":{\"v\":";
    for (int i = 0; i < 70; i++) strcat(deep, "[");
    CHECK(!params_of_post(arena, "application/json", deep, strlen(deep), &params, &error));
    CHECK(strstr(error.message, "nests deeper") != NULL);
    arena_free(arena);
}

static void gets(void) {
    Arena *arena = arena_new();
    GraphqlParams params;
    HttpError error;
    size_t len;
    CHECK_STR(query_parameter(arena, "a=1&query=%7B+me+%7D&b", "query", &len), "{ me }");
    CHECK_STR(query_parameter(arena, "query=100%25%zz%4", "query", &len), "100%%zz%4");
    CHECK(query_parameter(arena, "queryx=1", "query", &len) == NULL);
    CHECK_STR(query_parameter(arena, "b&query", "query", &len), "");

    CHECK(params_of_get(arena, "query=%7Ba%7D&operationName=&variables=%7B%22x%22%3A1%7D", 1000, &params, &error));
    CHECK_STR(params.query, "{a}");
    CHECK(params.operation_name == NULL);
    CHECK(params.variables && params.variables->type == JSON_OBJECT);
    CHECK(!params_of_get(arena, "query=%7Ba%7D&variables=%7B", 1000, &params, &error));
    CHECK_STR(error.code, "BAD_REQUEST");
    CHECK(!params_of_get(arena, "operationName=A", 1000, &params, &error));
    CHECK_STR(error.code, "BAD_REQUEST");
    CHECK(!params_of_get(arena, "query=%ff", 1000, &params, &error));
    CHECK(!params_of_get(arena, "query=aaaaaaaaaa", 5, &params, &error));
    CHECK(error.status == 413);
    CHECK(!params_of_get(arena, "query=%7Ba%7D&extensions=5", 1000, &params, &error));
    arena_free(arena);
}

int main(void) {
    negotiation();
    posts();
    gets();
    return check_finish("request");
}
