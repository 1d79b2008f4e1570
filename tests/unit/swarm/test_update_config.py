"""Update and rollback configs checked as dockerd converts them and swarmkit validates
UpdateConfig, in their words."""

from __future__ import annotations

from typing import Any

import pytest

from pier.errors import InvalidParameter
from pier.swarm import servicespec


def spec(**extra: Any) -> dict[str, Any]:
    return {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}, **extra}


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"UpdateConfig": {"FailureAction": "boom"}}, "unrecognized update failure action boom"),
        ({"RollbackConfig": {"FailureAction": "x"}}, "unrecognized update failure action x"),
        ({"UpdateConfig": {"Order": "any"}}, "unrecognized update order any"),
        ({"UpdateConfig": {"Delay": -1}}, "update-delay cannot be negative"),
        ({"UpdateConfig": {"Monitor": -1}}, "update-monitor cannot be negative"),
        ({"UpdateConfig": {"MaxFailureRatio": 1.5}},
         "update-maxfailureratio cannot be less than 0 or bigger than 1"),
        ({"UpdateConfig": {"MaxFailureRatio": -0.1}},
         "update-maxfailureratio cannot be less than 0 or bigger than 1"),
    ],
)  # fmt: skip
def test_bad_update_configs_are_refused(change: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        servicespec.check(spec(**change))
    assert words in str(refused.value)


def test_good_update_configs_pass() -> None:
    servicespec.check(
        spec(
            UpdateConfig={
                "Parallelism": 2,
                "Delay": 10**9,
                "FailureAction": "rollback",
                "Monitor": 3 * 10**9,
                "MaxFailureRatio": 0.25,
                "Order": "start-first",
            },
            # Only UpdateConfig is validated by swarmkit: a rollback's ratio is taken.
            RollbackConfig={"FailureAction": "pause", "MaxFailureRatio": 2},
        )
    )
