"""Every GraphQL error leaves a subgraph with a typed `extensions.code`."""

from graphql import GraphQLError

from kindred.errors import Conflict, NotFound
from kindred.graphql import classify


def test_domain_errors_keep_their_code_and_details() -> None:
    error = GraphQLError("x", original_error=Conflict("stale", currentVersion=4))
    classified = classify(error)
    assert classified.message == "stale"
    assert classified.extensions == {"code": "CONFLICT", "currentVersion": 4}


def test_unexpected_errors_are_masked() -> None:
    classified = classify(GraphQLError("boom", original_error=RuntimeError("db password is x")))
    assert classified.message == "Internal server error."
    assert classified.extensions == {"code": "INTERNAL_SERVER_ERROR"}


def test_syntax_and_validation_errors_are_told_apart() -> None:
    assert classify(GraphQLError("Syntax Error: Expected Name")).extensions == {
        "code": "GRAPHQL_PARSE_FAILED"
    }
    assert classify(GraphQLError("Cannot query field 'x' on type 'User'.")).extensions == {
        "code": "GRAPHQL_VALIDATION_FAILED"
    }


def test_a_variable_of_the_wrong_type_is_bad_user_input() -> None:
    error = GraphQLError("Variable '$v' got invalid value 'a'; Int cannot represent non-integer")
    assert classify(error).extensions == {"code": "BAD_USER_INPUT"}


def test_a_code_already_set_is_kept() -> None:
    error = GraphQLError("x", original_error=NotFound("gone"), extensions={"code": "NOT_FOUND"})
    assert classify(error).extensions == {"code": "NOT_FOUND"}
