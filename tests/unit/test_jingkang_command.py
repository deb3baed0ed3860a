"""The `jingkang` command (cli/main.py) on SQLite stores written by the services' own
applications: what an auditor reads, and that a missing key, store or broker is one line
saying how to give it, exit status 2, never a traceback."""
from __future__ import annotations

import uuid

import jwt
import pytest
from typer.testing import CliRunner

from cli.main import app
from services.referral.application import create_application as create_referrals
from shared.settings import load_settings
from shared.store import command_context


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    for variable in ("JINGKANG_JWT_KEY", "JINGKANG_INTAKE_CIPHER_KEY", "JINGKANG_ENV", "JINGKANG_KAFKA"):
        monkeypatch.delenv(variable, raising=False)
    for service in ("intake", "assessment", "referral", "funding", "notification", "supervision"):
        monkeypatch.delenv(f"JINGKANG_{service.upper()}_STORE", raising=False)
    monkeypatch.setenv("JINGKANG_DATA_DIR", str(tmp_path))
    return tmp_path


def jingkang(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result


def one_line_exit_2(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    for word in words:
        assert word in lines[0], lines[0]


def test_a_missing_store_is_one_line_naming_the_setting(data_dir):
    one_line_exit_2(jingkang("verify"), "no intake store", "JINGKANG_INTAKE_STORE")
    one_line_exit_2(jingkang("log", "--service", "referral"), "no referral store", "JINGKANG_DATA_DIR")


def test_an_unreachable_store_or_broker_is_one_line(data_dir, monkeypatch):
    monkeypatch.setenv("JINGKANG_REFERRAL_STORE", "postgresql://auditor:secret@127.0.0.1:1/referral")
    result = jingkang("log", "--service", "referral")
    one_line_exit_2(result, "cannot reach the referral store", "JINGKANG_REFERRAL_STORE")
    assert "secret" not in result.output
    monkeypatch.setenv("JINGKANG_KAFKA", "127.0.0.1:1")
    one_line_exit_2(jingkang("indicators", "--district", "110105", "--from", "2026-01-01", "--to", "2026-06-30"),
                    "no Kafka broker", "JINGKANG_KAFKA")
    one_line_exit_2(jingkang("rebuild", "supervision"), "JINGKANG_KAFKA")


def test_a_token_needs_a_key_and_is_never_issued_in_production(data_dir, monkeypatch):
    one_line_exit_2(jingkang("token", "--role", "auditor", "--sub", "a-1"), "JINGKANG_JWT_KEY")
    (data_dir / "jwt.key").write_text("k" * 32)  # what `make up` keeps there
    issued = jingkang("token", "--role", "auditor", "--sub", "a-1", "--district", "110105")
    assert issued.exit_code == 0, issued.output
    claims = jwt.decode(issued.output.strip(), "k" * 32, algorithms=["HS256"], issuer="jingkang-dev")
    assert (claims["role"], claims["districts"], claims["sub"]) == ("auditor", ["110105"], "a-1")
    monkeypatch.setenv("JINGKANG_ENV", "production")
    monkeypatch.setenv("JINGKANG_JWT_KEY", "k" * 32)
    one_line_exit_2(jingkang("token", "--role", "auditor", "--sub", "a-1"), "production")


def test_log_verify_and_replay_read_a_service_s_store(data_dir):
    settings = load_settings("referral", {"JINGKANG_DATA_DIR": str(data_dir)})
    referrals = create_referrals(settings)
    client, other = uuid.uuid4(), uuid.uuid4()
    with command_context(actor="doctor-17", role="hospital"):
        referral = referrals.request_referral(client_id=client, kind="medical", reason="relapse_detected")
        referrals.request_referral(client_id=other, kind="medical", reason="relapse_detected")
    referrals.close()

    logged = jingkang("log", "--service", "referral", "--json")
    assert logged.exit_code == 0, logged.output
    assert "doctor-17" in logged.output and "Referral.Requested" in logged.output

    # The other stores do not exist yet: replay says which is missing
    one_line_exit_2(jingkang("replay", "--client", str(client)), "no intake store")
    for service in ("intake", "assessment", "funding", "notification"):
        load_settings(service, {"JINGKANG_DATA_DIR": str(data_dir)})
        from importlib import import_module
        import_module(f"services.{service}.application").create_application(
            load_settings(service, {"JINGKANG_DATA_DIR": str(data_dir), "JINGKANG_INTAKE_LOOKUP_KEY": "l" * 44})).close()
    replayed = jingkang("replay", "--client", str(client), "--json")
    assert replayed.exit_code == 0, replayed.output
    import json
    events = json.loads(replayed.output)["events"]
    mine = [e for e in events if e["aggregate_id"] == str(referral)]
    assert [(e["service"], e["type"], e["public_type"]) for e in mine] == [
        ("referral", "Referral.Requested", "jingkang.referral.TransferRequested.v1")]
    assert str(other) not in replayed.output

    # The chain: nothing sealed yet (no relay ran), so nothing to contradict
    verified = jingkang("verify", "--service", "referral")
    assert verified.exit_code == 0 and "referral: 0 records verified; chain intact" in verified.output
    agg = jingkang("aggregate", "--service", "referral", "--id", str(referral))
    assert agg.exit_code == 0 and '"status": "requested"' in agg.output
    one_line_exit_2(jingkang("aggregate", "--service", "referral", "--id", str(uuid.uuid4())), "no aggregate")


def test_bad_arguments_are_usage_errors_not_tracebacks(data_dir):
    for args in (("log", "--service", "nothing"), ("replay", "--client", "x"),
                 ("indicators", "--district", "110105", "--from", "2026-06-30", "--to", "2026-01-01"),
                 ("rebuild", "intake")):
        result = jingkang(*args)
        assert result.exit_code == 2 and "Traceback" not in result.output, (args, result.output)


def test_an_encrypted_intake_store_without_its_key_is_one_line_naming_the_key(data_dir):
    import base64
    import os
    from datetime import date

    from services.intake.application import create_application as create_intake
    from tests.support import applicant

    key = base64.b64encode(os.urandom(32)).decode()
    settings = load_settings("intake", {"JINGKANG_DATA_DIR": str(data_dir), "JINGKANG_INTAKE_CIPHER_KEY": key,
                                        "JINGKANG_INTAKE_LOOKUP_KEY": "l" * 44})
    intake = create_intake(settings)
    person = applicant()
    person["birth_date"] = date.fromisoformat(person["birth_date"])
    intake.submit_application(source="self", applicant=person, district_code="110105", street_code="110105001",
                              hardship_categories=[])
    intake.close()

    one_line_exit_2(jingkang("log", "--service", "intake"), "JINGKANG_INTAKE_CIPHER_KEY")
    # With the development key where `make up` keeps it, the log reads (and shows no identity)
    (data_dir / "intake.key").write_text(key)
    logged = jingkang("log", "--service", "intake", "--json")
    assert logged.exit_code == 0, logged.output
    assert "Application" in logged.output and person["id_number"] not in logged.output
