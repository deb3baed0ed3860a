"""The PostgreSQL connection budget (README "Connection budget"): one fixed pool per process,
its size from settings, and deploy/run.py's sum of what a system opens per cluster."""
from __future__ import annotations

import dataclasses
import importlib.util

import pytest

from shared.settings import SettingsError, load_settings, pg_connections, pool_sizes, store_env
from tests.conftest import ROOT

PG = "postgresql://jingkang:jingkang@127.0.0.1:5433/jingkang_intake"


def run_py():
    spec = importlib.util.spec_from_file_location("deploy_run", ROOT / "deploy/run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_each_kind_of_process_has_a_fixed_pool_of_its_size():
    settings = load_settings("intake", {"JINGKANG_INTAKE_STORE": PG, "JINGKANG_PG_POOL_API": "6"})
    for process, size in (("api", "6"), ("relay", "2"), ("worker", "2"), ("", "2")):
        env = store_env(dataclasses.replace(settings, process=process))
        assert (env["POSTGRES_POOL_SIZE"], env["POSTGRES_MAX_OVERFLOW"]) == (size, "0"), process


def test_relays_and_workers_leave_creating_the_tables_to_the_api():
    settings = load_settings("intake", {"JINGKANG_INTAKE_STORE": PG})
    assert "CREATE_TABLE" not in store_env(dataclasses.replace(settings, process="api"))
    for process in ("relay", "worker"):
        assert store_env(dataclasses.replace(settings, process=process))["CREATE_TABLE"] == "n"


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_a_pool_size_that_is_not_a_positive_whole_number_is_refused(value):
    with pytest.raises(SettingsError, match="JINGKANG_PG_POOL_WORKER"):
        pool_sizes({"JINGKANG_PG_POOL_WORKER": value})


def test_a_relay_counts_its_two_held_connections_beside_its_pool():
    assert (pg_connections("api"), pg_connections("relay"), pg_connections("worker")) == (4, 4, 2)
    assert pg_connections("relay", {"api": 4, "relay": 3, "worker": 2}) == 5


def test_run_py_adds_up_the_budget_per_cluster_and_scale():
    run = run_py()
    services = run.SERVICES
    env = {f"JINGKANG_{s.upper()}_STORE": f"postgresql://j:j@127.0.0.1:5433/jingkang_{s}" for s in services}
    assert run.connection_budget(env, scale=1) == {"127.0.0.1:5433": 10 * len(services)}
    # two APIs and two workers each: + 4 + 2 per service; the relay stays one
    assert run.connection_budget(env, scale=2) == {"127.0.0.1:5433": 16 * len(services)}
    # a store elsewhere counts there; a SQLite store counts nowhere
    env["JINGKANG_INTAKE_STORE"] = "postgresql://j:j@10.0.0.9:5432/jingkang_intake"
    env["JINGKANG_FUNDING_STORE"] = "sqlite:////tmp/funding.sqlite"
    assert run.connection_budget(env, scale=1) == {"127.0.0.1:5433": 10 * (len(services) - 2), "10.0.0.9:5432": 10}
