"""The request metrics keep their label values few, whatever names clients send."""

from __future__ import annotations

from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from kindred.metrics import MAX_OPERATION_NAME, MAX_OPERATIONS, OTHER, Metrics


def request_series(metrics: Metrics) -> dict[tuple[str, str], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (sample.labels["operation_type"], sample.labels["operation_name"]): sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "kindred_graphql_requests"
        for sample in family.samples
        if sample.name == "kindred_graphql_requests_total"
    }


def test_an_unnamed_operation_counts_as_anonymous() -> None:
    metrics = Metrics("probe")
    metrics.request("query", None, 0.01)
    metrics.request("query", None, 0.02)
    assert request_series(metrics) == {("query", "anonymous"): 2}


def test_a_long_operation_name_is_cut() -> None:
    metrics = Metrics("probe")
    metrics.request("mutation", "x" * 1000, 0.01)
    assert request_series(metrics) == {("mutation", "x" * MAX_OPERATION_NAME): 1}


def test_past_the_cap_new_operation_names_count_as_other() -> None:
    metrics = Metrics("probe")
    for n in range(MAX_OPERATIONS + 50):
        metrics.request("query", f"Op{n}", 0.01)
    metrics.request("query", "Op0", 0.01)  # a name seen before the cap keeps its series

    series = request_series(metrics)
    assert len(series) == MAX_OPERATIONS + 1
    assert series["query", OTHER] == 50
    assert series["query", "Op0"] == 2
