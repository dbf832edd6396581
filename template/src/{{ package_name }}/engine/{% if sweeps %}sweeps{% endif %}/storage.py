"""Where a study is kept: a database that several workers open at once, with trial heartbeats.

Two workers started together both find a new database and both create its tables; one of them
loses the race with an integrity or "already exists" error. ``connect`` tries again, and the
second time the tables are there.

While a trial trains, a thread of its process records a heartbeat in the database every
``HEARTBEAT_SECONDS``. A trial still running without a heartbeat for ``GRACE_SECONDS`` lost its
process (``kill -9``, a crash, a machine that went away): the next worker to start a trial or to
open the study marks it failed (Optuna's ``fail_stale_trials``, with the database's clock, so
machines' clocks need not agree) and queues its parameters to run once more. A live worker keeps
beating while it trains, and a heartbeat that cannot be written is tried again at the next one,
so another worker fails its trial only if the process stops for longer than ``GRACE_SECONDS``
(suspended, or cut off from the database).
"""

from __future__ import annotations

import logging
import random
import time
import warnings
from contextlib import contextmanager
from typing import TYPE_CHECKING

import optuna
import sqlalchemy.exc  # Optuna's storage is built on it: it comes with optuna
from sqlalchemy.engine import make_url

from ..core.exceptions import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from optuna.trial import FrozenTrial

__all__ = [
    "GRACE_SECONDS",
    "HEARTBEAT_SECONDS",
    "RERUN_OF",
    "connect",
    "fail_stale_trials",
    "quiet_stale_checks",
    "rerun_lost_trial",
    "shown_url",
]

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30
GRACE_SECONDS = 150  # five missed heartbeats
RERUN_OF = "rerun_of"  # user attribute: the trial whose lost process this one runs again
_ATTEMPTS = 5  # to create the tables, while other workers create them too


class _Storage(optuna.storages.RDBStorage):
    """Optuna's database storage: heartbeats that outlast a busy database; lost trials rerun."""

    def record_heartbeat(self, trial_id: int) -> None:
        """Record a heartbeat; one that cannot be written now is tried again at the next one.

        Optuna's heartbeat thread ends at its first exception, and the live trial would then
        look lost to the other workers.
        """
        try:
            super().record_heartbeat(trial_id)
        except sqlalchemy.exc.SQLAlchemyError as err:
            logger.warning(
                "no heartbeat recorded for the running trial (next in %d s): %s",
                HEARTBEAT_SECONDS,
                _first_line(err),
            )

    def get_heartbeat_stale_trial_callback(
        self,
    ) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        """What happens to a trial whose process was lost (Optuna 4.9 and later)."""
        return rerun_lost_trial

    def get_failed_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        """What happens to a trial whose process was lost (Optuna before 4.9)."""
        return rerun_lost_trial


def connect(url: str) -> optuna.storages.RDBStorage:
    """Open (creating it if need be) the database at ``url``, with trial heartbeats.

    Raises:
        ConfigError: If the database cannot be opened; the message hides the URL's password.
    """
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with warnings.catch_warnings():  # the heartbeat arguments are marked experimental
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return _Storage(
                    url, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS
                )
        except sqlalchemy.exc.ArgumentError as err:
            raise ConfigError(
                f"{shown_url(url)!r} is not a database URL, such as sqlite:///study.db or "
                "postgresql://host/db"
            ) from err
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError) as err:
            # Another worker creating the same tables, or a database that cannot be reached.
            if attempt == _ATTEMPTS:
                raise ConfigError(
                    f"cannot open the sweep's storage {shown_url(url)!r}: {_first_line(err)}"
                ) from err
            time.sleep(random.uniform(0.05, 0.2) * attempt)  # spreads the workers' tries
    raise AssertionError("unreachable")  # pragma: no cover


def fail_stale_trials(study: optuna.Study) -> None:
    """Mark failed the running trials whose process was lost, and queue them to run again.

    Optuna does this before each trial it starts; opening a study for a report does it too.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


@contextmanager
def quiet_stale_checks() -> Iterator[None]:
    """Within the block, Optuna does not warn that its check for lost trials is experimental.

    Optuna before 4.3 says so before every trial it starts.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore",
            message="fail_stale_trials is experimental",
            category=optuna.exceptions.ExperimentalWarning,
        )
        yield


def rerun_lost_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue the parameters of a trial whose process was lost, once.

    A trial that was itself such a rerun is not queued again: its parameters may be what ends
    the process (memory, for one).
    """
    if trial.user_attrs.get(RERUN_OF) is not None:
        logger.warning(
            "trial %d lost its process, as trial %d did with the same parameters: marked "
            "failed, not run again",
            trial.number,
            trial.user_attrs[RERUN_OF],
        )
        return
    logger.warning(
        "trial %d had no heartbeat for %d s (its process ended without a word): marked failed; "
        "its parameters run again",
        trial.number,
        GRACE_SECONDS,
    )
    study.enqueue_trial(trial.params, user_attrs={RERUN_OF: trial.number})


def shown_url(url: str) -> str:
    """``url`` without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return url


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
