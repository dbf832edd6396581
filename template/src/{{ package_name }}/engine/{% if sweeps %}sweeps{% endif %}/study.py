"""Run a sweep: one Optuna study, one normal training run per trial, pruned by epoch.

The study is created the first time and loaded every time after, from SQLite under
``<run.output_dir>/sweeps/<study>/study.db`` or from the database ``storage`` names; several
workers may start on one new study at once (``storage.py``). It records its search space and
base config, so a sweep started again continues the same search, and refuses to mix trials of
another space or config into it. ``trials`` is the number of finished (complete or pruned)
trials the study should hold: a sweep stopped after 3 of 6 runs 3 more when started again.
Several workers on one study share the count: each starts a trial only while the study holds
fewer than ``trials`` finished ones, and lets its running trial finish when another worker's
reaches the count, so a study of W workers ends with at most ``trials + W - 1`` finished trials.
Each trial's parameters are drawn from the config's seed and the trial's number, so two workers
never draw the same ones, and one worker draws the same ones every time.

Each trial trains ``train()`` on the base config with the sampled values, reports the task's
monitored validation metric after every epoch and is pruned when the pruner says so. Its value is
the best monitored value of its run. A trial stopped by Ctrl-C or SIGTERM is marked failed, its
values are queued to run first next time, and the sweep stops. A trial whose process was
killed outright is marked failed, and its values queued, by the next worker that finds it without
a heartbeat (``storage.py``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import optuna

from ..core.exceptions import ConfigError, RetryableError, TrainingError
from ..core.signals import StopSignal
from ..seam.task import project_task
from ..settings.loading import load_config
from .record import check_same_search
from .space import overrides
from .storage import GRACE_SECONDS, connect, fail_stale_trials, quiet_stale_checks, shown_url

if TYPE_CHECKING:
    from pathlib import Path

    from ..seam.task import Monitor, Task
    from ..settings.loading import Config
    from ..trainer.results import EpochResult
    from .space import SearchSpace

__all__ = ["FINISHED", "SweepResult", "SweepSettings", "open_study", "run_sweep", "sweep_dir"]

logger = logging.getLogger(__name__)

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
_STARTUP_TRIALS = 3  # trials that run to the end before the median pruner judges any


@dataclass(frozen=True)
class SweepSettings:
    """Which study, where it is kept, and the budget."""

    study: str
    storage: str | None = None
    trials: int = 20
    timeout: float | None = None
    pruner: Literal["median", "none"] = "median"


@dataclass(frozen=True)
class SweepResult:
    """What a call of ``run_sweep`` did, and where the study stands."""

    study: optuna.Study
    folder: Path
    ran: int
    signal_number: int | None = None


class _Lost(Exception):  # noqa: N818 (not an error of this process: another worker's verdict)
    """Another worker marked this process's trial failed while it ran."""


class _Interrupted(Exception):  # noqa: N818 (not an error: a stop asked for)
    """A signal stopped the trial's run."""

    def __init__(self, signal_number: int, params: dict[str, Any]) -> None:
        super().__init__(f"stopped by signal {signal_number}")
        self.signal_number = signal_number
        self.params = params  # as the trial holds them, to queue them again


def sweep_dir(output_dir: Path, study: str) -> Path:
    """The folder of a study's local files: its SQLite database, table and plots."""
    return output_dir / "sweeps" / study


def open_study(
    settings: SweepSettings, *, output_dir: Path, monitor: Monitor, create: bool = True
) -> optuna.Study:
    """Create or load the study ``settings.study``, optimising in ``monitor``'s direction.

    Trials whose process was lost are marked failed and queued again (``storage.py``).

    Raises:
        ConfigError: If ``create`` is false and there is no such study, or the storage cannot
            be opened.
    """
    return _open(settings, output_dir=output_dir, monitor=monitor, create=create)[0]


def _open(
    settings: SweepSettings, *, output_dir: Path, monitor: Monitor, create: bool
) -> tuple[optuna.Study, bool]:
    """The study, and whether this call created it (see ``open_study``)."""
    _route_optuna_logs()
    url = settings.storage
    if url is None:
        folder = sweep_dir(output_dir, settings.study)
        if not create and not (folder / "study.db").is_file():
            raise ConfigError(
                f"no study {settings.study!r}: {str(folder / 'study.db')!r} is missing"
            )
        folder.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{(folder / 'study.db').resolve().as_posix()}"
    storage = connect(url)
    direction: Literal["minimize", "maximize"] = "minimize" if monitor.mode == "min" else "maximize"
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.MedianPruner(n_startup_trials=_STARTUP_TRIALS, n_warmup_steps=1)
        if settings.pruner == "median"
        else optuna.pruners.NopPruner()
    )
    created = False
    if create:
        try:  # not load_if_exists: only the creator records the search (``record.py``)
            study = optuna.create_study(
                study_name=settings.study, storage=storage, direction=direction, pruner=pruner
            )
            created = True
        except optuna.exceptions.DuplicatedStudyError:  # made before, or by a worker just now
            pass
    if not created:
        try:
            study = optuna.load_study(study_name=settings.study, storage=storage, pruner=pruner)
        except KeyError as err:
            raise ConfigError(f"no study {settings.study!r} in {shown_url(url)!r}") from err
    fail_stale_trials(study)
    return study, created


def run_sweep(
    config: Config,
    space: SearchSpace,
    settings: SweepSettings,
    *,
    task: type[Task[Any, Any]] | None = None,
    argv: list[str] | None = None,
) -> SweepResult:
    """Run trials until the study holds ``settings.trials`` finished ones, or time runs out.

    Raises:
        ConfigError: If the space does not fit the config, the study was started with another
            space or config, or the config asks for a group of seeds.
    """
    task_type = task or project_task()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("a sweep trains its trials in one process: start it without torchrun")
    if config.train.seeds:
        raise ConfigError("a sweep trains one run per trial: leave train.seeds unset")
    base = config.model_dump(mode="json")
    space.check(base, task=task_type)
    study, created = _open(
        settings, output_dir=config.run.output_dir, monitor=task_type.monitor, create=True
    )
    check_same_search(study, space, base, created=created)
    folder = sweep_dir(config.run.output_dir, settings.study)
    finished = len(study.get_trials(deepcopy=False, states=FINISHED))
    if finished >= settings.trials:
        logger.info("study %s already holds %d finished trials", settings.study, finished)
        return SweepResult(study=study, folder=folder, ran=0)
    objective = _Objective(base, space, study=study, task=task_type, argv=argv)
    # The logger that reports failed trials (a logger's filters miss its children's records).
    optuna_logger = logging.getLogger("optuna.study._optimize")
    hide_interrupts = _HideInterrupts()
    optuna_logger.addFilter(hide_interrupts)
    with StopSignal() as between_trials, quiet_stale_checks():
        try:
            study.optimize(
                objective,
                timeout=settings.timeout,
                catch=(TrainingError,),  # a diverging trial fails alone
                callbacks=[
                    optuna.study.MaxTrialsCallback(settings.trials, states=FINISHED),
                    lambda study, _: study.stop() if between_trials.requested else None,
                ],
            )
        except _Interrupted as stop:
            _run_again(study, stop.params)
            logger.warning("sweep stopped; its last trial runs again first when it continues")
            return SweepResult(study, folder, objective.ran, signal_number=stop.signal_number)
        except (ValueError, RuntimeError) as err:  # Optuna cannot end a trial already failed
            if objective.lost is None:
                raise
            raise RetryableError(
                f"trial {objective.lost} was marked failed by another worker: this process "
                f"recorded no heartbeat for {GRACE_SECONDS} s (was it suspended?); start the "
                "sweep again to go on"
            ) from err
        finally:
            optuna_logger.removeFilter(hide_interrupts)
    return SweepResult(study, folder, objective.ran, signal_number=between_trials.received)


def _run_again(study: optuna.Study, params: dict[str, Any]) -> None:
    """Queue ``params`` to run first when the sweep continues, unless they are already queued.

    Not ``enqueue_trial(skip_if_exists=True)``: that skips any trial with these parameters,
    the stopped one included, so the stopped trial would never run again.
    """
    waiting = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))
    if all(trial.system_attrs.get("fixed_params") != params for trial in waiting):
        study.enqueue_trial(params)


class _HideInterrupts(logging.Filter):
    """Drop Optuna's report of a trial that a signal stopped, or another worker failed.

    The sweep reports those itself, in one line.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Whether to keep ``record``: all but a failure caused by ``_Interrupted`` or ``_Lost``."""
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, (_Interrupted, _Lost))


class _Objective:
    """Trains one run per trial and returns its best monitored validation value."""

    def __init__(
        self,
        base: dict[str, Any],
        space: SearchSpace,
        *,
        study: optuna.Study,
        task: type[Task[Any, Any]],
        argv: list[str] | None,
    ) -> None:
        self.base, self.space, self.study, self.task, self.argv = base, space, study, task, argv
        self.ran = 0
        self.lost: int | None = None  # the trial another worker marked failed, if one did

    def __call__(self, trial: optuna.Trial) -> float:
        from ..trainer.run import train  # noqa: PLC0415 (imports torch)

        # Seeded by the trial's number, which no other worker has: workers started together
        # would otherwise draw the same values. The sampler keeps no other state.
        seed = (self.base["train"]["seed"] + trial.number) % 2**32  # NumPy's seeds are 32-bit
        self.study.sampler = optuna.samplers.TPESampler(seed=seed)
        values = self.space.suggest(trial)
        config = load_config(base=self.base, overrides=overrides(values), task=self.task)
        config.run.name = f"{self.study.study_name}-t{trial.number:04d}"
        config.run.group = self.study.study_name
        monitor = self.task.monitor

        def report(epoch: EpochResult) -> bool:
            try:
                trial.report(epoch.val.values[monitor.metric], step=epoch.epoch)
            except RuntimeError:  # the trial is finished (newer Optuna: UpdateFinishedTrialError)
                self.lost = trial.number
                return True  # another worker failed the trial: stop the run
            return trial.should_prune()

        self.ran += 1
        result = train(config, task=self.task, argv=self.argv, on_epoch=report)
        try:
            trial.set_user_attr("run_dir", str(result.run_dir))
            trial.set_user_attr("stop_reason", result.stop_reason)
        except RuntimeError:  # finished: another worker failed it
            self.lost = trial.number
        if self.lost is not None:
            raise _Lost
        if result.signal_number is not None:
            raise _Interrupted(result.signal_number, dict(trial.params))
        if result.stop_reason == "pruned":
            raise optuna.TrialPruned
        scores = [epoch.val.values[monitor.metric] for epoch in result.history]
        if not scores:
            raise TrainingError(f"trial {trial.number} finished no epoch")
        return min(scores) if monitor.mode == "min" else max(scores)


def _route_optuna_logs() -> None:
    """Send Optuna's messages through the project's logging instead of its own handler."""
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
