"""Every GraphQL error leaves a subgraph with a typed `extensions.code`."""

import psycopg
import pytest
from graphql import GraphQLError
from sqlalchemy.exc import DataError

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


NUL_REFUSALS = {
    # What psycopg raises for a text parameter holding U+0000, wrapped by SQLAlchemy.
    "text": DataError(
        "SELECT 1",
        {},
        psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"),
    ),
    # PostgreSQL's answer to `\u0000` in a jsonb value.
    "jsonb": psycopg.errors.UntranslatableCharacter("unsupported Unicode escape sequence"),
}


@pytest.mark.parametrize("refusal", NUL_REFUSALS.values(), ids=list(NUL_REFUSALS))
def test_text_with_a_nul_character_is_bad_user_input(refusal: Exception) -> None:
    classified = classify(GraphQLError("x", path=["login"], original_error=refusal))
    assert classified.extensions == {"code": "BAD_USER_INPUT"}
    assert "NUL" in classified.message
    assert classified.path == ["login"]


def test_other_data_errors_stay_internal() -> None:
    other = psycopg.DataError("value too long for type character varying(5)")
    assert classify(GraphQLError("x", original_error=other)).extensions == {
        "code": "INTERNAL_SERVER_ERROR"
    }
