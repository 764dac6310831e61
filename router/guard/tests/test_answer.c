// The engine's answers made whole (answer.h).
#include "answer.h"
#include "check.h"

static const char *completed(const char *text) {
    static Buf out = BUF_INIT;
    buf_clear(&out);
    if (!complete_answer(text, strlen(text), &out)) return "(as it is)";
    return out.data;
}

int main(void) {
    CHECK_STR(completed("{\"data\":{\"me\":{\"id\":\"1\"}}}"), "(as it is)");
    CHECK_STR(completed("not json"), "(as it is)");
    CHECK_STR(completed("[1,2]"), "(as it is)");
    CHECK_STR(completed("{\"data\":null}"),
              "{\"data\":null,\"errors\":[{\"message\":\"A field that cannot be null had no value (an entity a "
              "subgraph did not find).\",\"extensions\":{\"code\":\"INTERNAL_SERVER_ERROR\"}}]}");
    CHECK_STR(completed("{}"),
              "{\"data\":null,\"errors\":[{\"message\":\"A field that cannot be null had no value (an entity a "
              "subgraph did not find).\",\"extensions\":{\"code\":\"INTERNAL_SERVER_ERROR\"}}]}");
    CHECK_STR(completed("{\"errors\":[{\"message\":\"x\",\"extensions\":{\"code\":\"OPERATION_VALIDATION_ERROR\"}}]}"),
              "{\"errors\":[{\"message\":\"x\",\"extensions\":{\"code\":\"GRAPHQL_VALIDATION_FAILED\"}}]}");
    CHECK_STR(completed("{\"data\":null,\"errors\":[{\"message\":\"x\"},{\"message\":\"y\",\"extensions\":{\"a\":1}}]}"),
              "{\"data\":null,\"errors\":[{\"message\":\"x\",\"extensions\":{\"code\":\"INTERNAL_SERVER_ERROR\"}},"
              "{\"message\":\"y\",\"extensions\":{\"a\":1,\"code\":\"INTERNAL_SERVER_ERROR\"}}]}");
    CHECK_STR(completed("{\"data\":{\"a\":1},\"errors\":[{\"message\":\"x\",\"extensions\":{\"code\":\"FORBIDDEN\"}}]}"),
              "{\"data\":{\"a\":1},\"errors\":[{\"message\":\"x\",\"extensions\":{\"code\":\"FORBIDDEN\"}}]}");
    CHECK_STR(completed("{\"errors\":[{\"message\":\"x\",\"extensions\":{\"code\":\"VARIABLE_ERROR\"}}]}"),
              "{\"errors\":[{\"message\":\"x\",\"extensions\":{\"code\":\"BAD_USER_INPUT\"}}]}");

    Buf body = BUF_INIT;
    error_body(&body, "Say \"hi\"", "BAD_REQUEST");
    CHECK_STR(body.data, "{\"errors\":[{\"message\":\"Say \\\"hi\\\"\",\"extensions\":{\"code\":\"BAD_REQUEST\"}}]}");
    buf_free(&body);
    return check_finish("answer");
}
