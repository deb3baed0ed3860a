"""The supervision service's HTTP API over its read model (in-memory SQLite, fed the
hand-checked population of test_indicators.py): the contract the console reads, its
errors (422 naming the parameter, 403 outside the token's districts) and roles."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from services.supervision.api import create_app
from services.supervision.settings import load_settings
from shared.auth import Authority
from tests.unit.test_indicators import D, OTHER, supervision_of, twenty_clients

KEY = "k" * 32
YEAR = {"district": D, "from": "2026-01-01", "to": "2026-06-30"}


def http_of(jwt_key: str | None = None) -> TestClient:
    settings = load_settings({"JINGKANG_SUPERVISION_STORE": "memory://", **({"JINGKANG_JWT_KEY": jwt_key} if jwt_key else {})})
    return TestClient(create_app(settings, supervision_of(twenty_clients().events, main_districts=[D])))


@pytest.fixture(scope="module")
def http() -> TestClient:
    return http_of()


def token(role: str, *districts: str) -> dict:
    return {"authorization": "Bearer " + Authority(KEY).issue(sub="u-1", role=role, districts=list(districts))}


def test_the_indicators_of_a_district_are_the_hand_checked_figures_with_decimals_as_strings(http):
    body = http.get("/v1/indicators", params=YEAR).json()
    assert (body["district"], body["from"], body["to"]) == (D, "2026-01-01", "2026-06-30")
    figures = {f["name"]: f for f in body["indicators"]}
    assert list(figures) == ["standardised_service", "plan_within_30_days", "reassessment_on_time", "street_coverage",
                             "referral_closure", "median_time_to_accept", "waiting_over_90_days",
                             "funds_paid_against_budget", "welfare_lottery_share"]
    assert figures["standardised_service"] == {"name": "standardised_service", "value": "0.3000", "numerator": 6,
                                               "denominator": 20, "target": "0.45", "met": False, "unit": "ratio"}
    assert figures["street_coverage"]["target"] == "0.50"  # 110105 is a main district here
    assert figures["funds_paid_against_budget"]["numerator"] == "60000.00"
    assert figures["median_time_to_accept"]["unit"] == "hours"


def test_the_evidence_of_a_figure_is_its_cloudevents_paged(http):
    first = http.get("/v1/indicators/waiting_over_90_days/evidence", params=YEAR | {"size": 2}).json()
    second = http.get("/v1/indicators/waiting_over_90_days/evidence", params=YEAR | {"size": 2, "page": 2}).json()
    assert (first["total"], first["page"], first["size"], len(first["items"]), len(second["items"])) == (3, 1, 2, 2, 1)
    item = first["items"][0]
    assert set(item) == {"id", "type", "time", "subject"}
    assert item["type"] == "jingkang.referral.WaitlistExceeded.v1"
    ids = {i["id"] for i in first["items"] + second["items"]}
    assert len(ids) == 3


def test_trends_give_one_point_a_month_equal_to_that_month_s_figure(http):
    body = http.get("/v1/trends", params=YEAR | {"indicator": "waiting_over_90_days", "by": "month"}).json()
    assert [p["period"] for p in body["points"]] == ["2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06"]
    april = http.get("/v1/indicators", params={"district": D, "from": "2026-04-01", "to": "2026-04-30"}).json()
    april_figure = {f["name"]: f for f in april["indicators"]}["waiting_over_90_days"]
    assert body["points"][3] == {"period": "2026-04"} | {k: v for k, v in april_figure.items() if k not in ("name", "unit")}
    assert (body["district"], body["indicator"]) == (D, "waiting_over_90_days")


def test_the_district_tree_shows_counties_under_their_city_and_province_and_what_the_token_sees():
    http = http_of(KEY)
    nodes = {n["code"]: n for n in http.get("/v1/districts", headers=token("district_admin", D)).json()["districts"]}
    assert nodes[D] == {"code": D, "name": "朝阳区", "parent": "110100", "visible": True}
    assert nodes["110100"]["parent"] == "110000" and nodes["110000"]["parent"] is None
    assert nodes[OTHER]["visible"] is False
    city = {n["code"]: n["visible"] for n in http.get("/v1/districts", headers=token("auditor", "110100")).json()["districts"]}
    assert city[D] and city[OTHER] and city["110100"]


def test_a_city_token_reads_the_city_s_figures_as_its_counties_together():
    http = http_of(KEY)
    city = http.get("/v1/indicators", params=YEAR | {"district": "110100"}, headers=token("auditor", "110100"))
    county = http.get("/v1/indicators", params=YEAR, headers=token("auditor", "110100"))
    assert city.status_code == county.status_code == 200
    by_name = lambda r: {f["name"]: f for f in r.json()["indicators"]}  # noqa: E731
    # 110106's one client (registered elsewhere) adds to the city's plan denominator
    assert by_name(city)["plan_within_30_days"]["denominator"] >= by_name(county)["plan_within_30_days"]["denominator"]


@pytest.mark.parametrize("params, field", [
    ({"district": "999999"}, "district"),
    ({"district": "1101"}, "district"),
    ({"from": "2026-06-30", "to": "2026-01-01"}, "to"),
    ({"from": "2026-13-01"}, "from"),
    ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),
])
def test_bad_parameters_are_422_naming_the_parameter(http, params, field):
    for path in ("/v1/indicators", "/v1/indicators/referral_closure/evidence", "/v1/trends"):
        answer = http.get(path, params=YEAR | {"indicator": "referral_closure"} | params)
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["errors"][0]["field"] == field, (path, answer.text)


def test_an_unknown_indicator_is_422(http):
    assert http.get("/v1/indicators/nonsense/evidence", params=YEAR).json()["errors"][0]["field"] == "name"
    assert http.get("/v1/trends", params=YEAR | {"indicator": "nonsense"}).json()["errors"][0]["field"] == "indicator"


def test_supervising_roles_of_the_district_only():
    http = http_of(KEY)
    assert http.get("/v1/indicators", params=YEAR).status_code == 401
    assert http.get("/v1/indicators", params=YEAR, headers=token("station_worker", D)).status_code == 403
    assert http.get("/v1/indicators", params=YEAR, headers=token("auditor", OTHER)).status_code == 403
    assert http.get("/v1/trends", params=YEAR | {"indicator": "referral_closure"},
                    headers=token("funding_officer", OTHER)).status_code == 403
    for role in ("district_admin", "funding_officer", "auditor", "integration"):
        assert http.get("/v1/indicators", params=YEAR, headers=token(role, D)).status_code == 200, role
    assert http.get("/v1/indicators", params=YEAR, headers=token("integration", "*")).status_code == 200
