"""Schemathesis against the served OpenAPI schema: no 5xx, and every response matches the schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

from tests.api.conftest import Api, serve
from tests.conftest import Server
from tests.hub.feed import GAS

EXAMPLES = 20  # per operation: enough to find the classic mistakes, small enough for the suite's budget


@pytest.fixture(scope="module")
def fuzzed(timescaledb_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with serve(timescaledb_server, tmp_path_factory.mktemp("schema")) as running:
        for _ in range(3):  # something to find: alerts, clues, records
            running.raise_finding(GAS)
        yield running


@pytest.fixture(scope="module")
def api_schema(fuzzed: Api) -> schemathesis.BaseSchema:
    # The live stream never ends by design; its tests are in test_stream.py.
    return schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json").exclude(path="/stream/alerts")


def test_no_input_breaks_the_api(api_schema: schemathesis.BaseSchema, fuzzed: Api) -> None:
    checks = [not_a_server_error, response_schema_conformance, status_code_conformance]
    tried = []
    for result in api_schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid schema raises here, failing the test
        # Valid and invalid requests alike: the invalid ones must get a documented 4xx.
        cases = operation.as_strategy() | operation.as_strategy(GenerationMode.NEGATIVE)

        @given(case=cases)
        @settings(
            max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def call(case: schemathesis.Case[Any]) -> None:
            for who in ("admin", "market"):
                case.call_and_validate(
                    headers={"Authorization": f"Bearer {fuzzed.tokens[who]}"}, checks=checks
                )

        call()
        tried.append(operation.label)
    assert len(tried) >= 15, tried
