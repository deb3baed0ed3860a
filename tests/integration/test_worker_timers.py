"""A service's worker on real Kafka runs its deadline timers from the start, also under a
brand-new consumer group. The timers run on the group's leader only, and faust elects the
leader through a one-partition topic (<group>-__assignor-__leader) that it creates as the
worker starts: when the broker's metadata did not show it yet at the first join (the whole
system starting at once), no member was the leader and no deadline fired until a metadata
refresh minutes later. The soak test saw it: ReferralOverdue never came, referral's and
intake's calendars were never started. The runner now creates the topic before faust."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid

import pytest
from kafka import KafkaConsumer

from services.referral.application import create_application
from shared.deadlines import Calendar
from shared.runner import ensure_worker_topics, leader_topic
from shared.settings import load_settings
from tests.conftest import ROOT
from tests.support import wait_until

pytestmark = pytest.mark.integration


def test_the_leader_topic_exists_before_the_worker_starts(kafka_bootstrap):
    settings = load_settings("referral", {"JINGKANG_KAFKA": kafka_bootstrap,
                                          "JINGKANG_REFERRAL_GROUP": f"t-leader-{uuid.uuid4().hex[:8]}"})
    ensure_worker_topics(settings)
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
    try:
        # one partition, as faust declares it (a fresh client may need a metadata refresh to see it)
        wait_until(lambda: consumer.partitions_for_topic(leader_topic(settings)) == {0}, timeout=15,
                   what="the leader topic with one partition")
        assert consumer.partitions_for_topic(settings.dead_letter_topic)
    finally:
        consumer.close()


def test_a_fresh_workers_deadline_timer_runs_within_seconds(kafka_bootstrap, tmp_path):
    group = f"t-timers-{uuid.uuid4().hex[:8]}"
    store = f"sqlite:///{tmp_path}/referral.sqlite"
    env = dict(os.environ, PYTHONPATH=str(ROOT), JINGKANG_KAFKA=kafka_bootstrap, JINGKANG_REFERRAL_STORE=store,
               JINGKANG_REFERRAL_GROUP=group, JINGKANG_TICK_SECONDS="1", JINGKANG_DATA_DIR=str(tmp_path))
    env.pop("JINGKANG_REFERRAL_METRICS_PORT", None)
    log = open(tmp_path / "worker.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "services.referral", "worker"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        referrals = create_application(load_settings("referral", {"JINGKANG_REFERRAL_STORE": store}))
        # The first tick records the calendar (shared.deadlines): the worker is the leader.
        wait_until(lambda: Calendar.ID in referrals.repository, timeout=60, interval=0.5,
                   what="the worker's deadline timer to run (it must be the group's leader)")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
