"""The storages of a shared study, with a heartbeat that notices every dead worker's trial.

**A journal file** shared by the search workers of one host.

Optuna's ``JournalStorage`` appends every change of the study to one file under a file lock, and every worker
replays the file: no database server, and no SQLite "database is locked". Optuna implements the heartbeat of
running trials only for its RDB storage, so on a journal a dead worker's trial would stay RUNNING forever.
:class:`HeartbeatJournalStorage` adds the heartbeat through Optuna's own protocol (``BaseHeartbeat``):

    record_heartbeat(trial)   every ``heartbeat`` s: the trial's system attribute ``heartbeat`` = time.time()
    stale trials              RUNNING, with  now - max(last beat, start) > grace  (3 beats)

so ``optuna.storages.fail_stale_trials`` fails a dead worker's trial and ``RetryHeartbeatStaleTrialCallback``
queues it again, exactly as on PostgreSQL. The workers share one clock (one host, one file).

``--storage journal:PATH`` names a journal; ``descent search --workers N`` uses ``OUT/study.journal``.

**An RDB** (SQLite, PostgreSQL): Optuna's ``RDBStorage`` takes as stale only trials that have beaten once, so
a worker killed between creating its trial and its first beat left the trial RUNNING for ever (and every
other worker waiting for it). :class:`HeartbeatRDBStorage` also takes a RUNNING trial without a beat as stale
once ``now - start > grace``.

>>> import tempfile, optuna
>>> optuna.logging.set_verbosity(optuna.logging.WARNING)
>>> storage = HeartbeatJournalStorage(tempfile.mkdtemp() + "/study.journal", heartbeat=10)
>>> optuna.create_study(storage=storage).optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
>>> [sorted(t.system_attrs) for t in optuna.load_study(study_name=None, storage=storage).trials]  # beats
[['heartbeat'], ['heartbeat']]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from optuna.storages import JournalStorage, RDBStorage
from optuna.storages._heartbeat import BaseHeartbeat  # the protocol RDBStorage implements
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

SCHEME = "journal:"
BEAT = "heartbeat"


def journal_path(url: str) -> str | None:
    """The file of a ``journal:PATH`` storage URL (None for any other URL)."""
    return url[len(SCHEME):] if url.startswith(SCHEME) else None


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """``JournalStorage`` on one file whose running trials beat every ``heartbeat`` seconds."""

    def __init__(self, path: str, heartbeat: int, grace: int | None = None,
                 stale_trial_callback: Callable[[Any, Any], None] | None = None) -> None:
        super().__init__(JournalFileBackend(path))
        self.heartbeat, self.grace = heartbeat, grace if grace is not None else 3 * heartbeat
        self.stale_trial_callback = stale_trial_callback

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self.set_trial_system_attr(trial_id, BEAT, time.time())
        except Exception:  # noqa: BLE001 - the trial was failed as stale meanwhile: nothing left to beat for
            pass

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        # the later of the last beat and the start: a retry inherits its dead trial's system attributes
        return [t._trial_id for t in running
                if now - max(float(t.system_attrs.get(BEAT, 0.0)), t.datetime_start.timestamp()) > self.grace]

    def get_heartbeat_interval(self) -> int:
        return self.heartbeat

    def get_heartbeat_stale_trial_callback(self) -> Callable[[Any, Any], None] | None:
        return self.stale_trial_callback


class HeartbeatRDBStorage(RDBStorage):
    """``RDBStorage`` whose trials killed before their first beat also go stale."""

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        stale = super()._get_stale_trial_ids(study_id)
        grace = timedelta(seconds=self.grace_period or 2 * (self.heartbeat_interval or 0))
        now = datetime.now()  # trials' datetime_start is the workers' local time
        beaten = set(self._beaten(study_id))
        return stale + [t._trial_id for t in self.get_all_trials(study_id, deepcopy=False,
                                                                 states=(TrialState.RUNNING,))
                        if t._trial_id not in beaten and t._trial_id not in stale and t.datetime_start is not None
                        and now - t.datetime_start > grace]

    def _beaten(self, study_id: int) -> list[int]:
        """The ids of the study's running trials that have a heartbeat row."""
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session

        with _create_scoped_session(self.scoped_session) as session:
            rows = (session.query(models.TrialHeartbeatModel.trial_id)
                    .join(models.TrialModel, models.TrialModel.trial_id == models.TrialHeartbeatModel.trial_id)
                    .filter(models.TrialModel.study_id == study_id).all())
        return [row[0] for row in rows]
