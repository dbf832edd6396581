"""What a study was started with: its search space and base config, recorded once.

The worker that creates a study records both with it. Every other worker, whether it started
with that one or later, reads the record (waiting a moment for it when it finds the study new
and not yet recorded) and refuses a study of another space or config, so that no study mixes
trials of two searches. Only the creator writes, and a study has one creator (its name is
unique in the database): two workers started together with different spaces cannot both pass.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..core.exceptions import ConfigError

if TYPE_CHECKING:
    import optuna

    from .space import SearchSpace

__all__ = ["check_same_search"]

_WAIT_SECONDS = 30.0  # for the creator to record; it does so right after creating the study


def check_same_search(
    study: optuna.Study, space: SearchSpace, base: dict[str, Any], *, created: bool
) -> None:
    """Record the space and base config with a study this process ``created``; else check them.

    Raises:
        ConfigError: If the study was started with another space or config.
    """
    wanted = {"space": space.as_dict(), "config": _comparable(base)}
    if created:
        for key, value in wanted.items():
            study.set_user_attr(key, value)
    recorded = _record(study, wanted)
    for key, value in wanted.items():
        if recorded.get(key) != value:
            raise ConfigError(
                f"study {study.study_name!r} was started with another {key}: continue it with "
                f"the same one, or start a new study with --study"
            )


def _record(study: optuna.Study, wanted: dict[str, Any]) -> dict[str, Any]:
    """The study's record, once its creator has written it.

    A study that holds trials and no record was made by other code (or an earlier version):
    it gets this process's record, as does a new one whose creator never wrote it.
    """
    deadline = time.monotonic() + _WAIT_SECONDS
    recorded = study.user_attrs
    while not wanted.keys() <= recorded.keys():
        if study.get_trials(deepcopy=False) or time.monotonic() > deadline:
            for key, value in wanted.items():
                if key not in recorded:
                    study.set_user_attr(key, value)
            return study.user_attrs
        time.sleep(0.1)
        recorded = study.user_attrs
    return recorded


def _comparable(base: dict[str, Any]) -> dict[str, Any]:
    """The config without what may differ between the processes of one study.

    Where runs go, the device and the data loader's workers change where and how fast a trial
    runs, not what it computes.
    """
    comparable = {key: value for key, value in base.items() if key != "run"}
    comparable["train"] = {k: v for k, v in base["train"].items() if k != "device"}
    comparable["data"] = {k: v for k, v in base["data"].items() if k != "num_workers"}
    return comparable
