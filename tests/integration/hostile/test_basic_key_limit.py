"""A pipeline configured for a Basic key (MaxEntitiesPerFile 50): 51 entities are rejected
before any provider call, 50 go through."""

from __future__ import annotations

import pytest
from hostile_corpus import FAST_OPTIONS, HostileCase, drop_and_check, isolated_pipeline, text_feed
from local_pipeline.stack import LocalPipelineOptions

pytestmark = pytest.mark.integration

ROWS = [f"b{i},en-US,Seattle WA" for i in range(51)]


@pytest.fixture(scope="module")
def basic_pipeline():
    with isolated_pipeline(
        LocalPipelineOptions(key="basic-key-0123456789", max_entities=50, **FAST_OPTIONS)
    ) as local:
        yield local


def test_over_the_basic_entity_limit_is_rejected(basic_pipeline):
    case = HostileCase(
        "over-basic-limit",
        "fifty-one.csv",
        text_feed(ROWS).encode(),
        "rejected",
        ("51", "limit is 50"),
        "too-many-entities",
    )
    outcome = drop_and_check(basic_pipeline, case)
    assert outcome.clean, outcome.problems


def test_at_the_basic_entity_limit_completes(basic_pipeline):
    case = HostileCase("at-basic-limit", "fifty.csv", text_feed(ROWS[:50]).encode(), "completed")
    outcome = drop_and_check(basic_pipeline, case)
    assert outcome.clean, outcome.problems
