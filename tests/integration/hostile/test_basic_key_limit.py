"""A pipeline configured for a Basic key (MaxEntitiesPerFile 50): 50 entities are one job, 51
are two (parts), and past 50 parts (2,501 entities) the file is rejected before any call."""

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


def test_over_the_basic_file_limit_is_rejected(basic_pipeline):
    rows = [f"b{i},en-US,Seattle WA" for i in range(2_501)]
    case = HostileCase(
        "over-basic-file-limit",
        "too-many.csv",
        text_feed(rows).encode(),
        "rejected",
        ("2,501", "limit is 2,500"),
        "too-many-entities",
    )
    outcome = drop_and_check(basic_pipeline, case)
    assert outcome.clean, outcome.problems


def test_over_the_basic_job_limit_runs_as_two_parts(basic_pipeline):
    case = HostileCase("over-basic-limit", "fifty-one.csv", text_feed(ROWS).encode(), "completed")
    outcome = drop_and_check(basic_pipeline, case)
    assert outcome.clean, outcome.problems
    record = basic_pipeline.record(outcome.job_id)
    assert len(record.parts) == 2 and record.succeeded_entities == 51


def test_at_the_basic_entity_limit_completes(basic_pipeline):
    case = HostileCase("at-basic-limit", "fifty.csv", text_feed(ROWS[:50]).encode(), "completed")
    outcome = drop_and_check(basic_pipeline, case)
    assert outcome.clean, outcome.problems
