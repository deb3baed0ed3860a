"""Access control of intake, assessment, referral, funding and notification (issue 5), over in-memory stores
with authorisation on (JINGKANG_JWT_KEY set). The matrix is generated from each service's
ACCESS table: every route x every role, with real objects created first — a role the
table names, for the right district, is let through (the route may still answer 404/409/422
for what it is asked); any other role is 403; no token, a bad signature, an expired token
or another issuer is 401; a token for another district is 403 on every district-scoped
route. And the token's holder and role are what the stored events record."""
from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Callable

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from services.assessment import api as assessment_api
from services.intake import api as intake_api
from services.intake.application import create_application as intake_app
from services.funding import api as funding_api
from services.notification import api as notification_api
from services.referral import api as referral_api
from services.assessment.application import create_application as assessment_app
from services.funding.application import create_application as funding_app
from services.notification.application import Notifications
from services.notification.channels import WebhookChannel
from services.notification.contracts import handlers as notification_handlers
from services.notification.domain import RetryPolicy
from services.referral.application import create_application as referral_app
from shared.audit import AUDIT_ACCESS
from shared.auth import OPEN, ROLES, Authority, Principal
from shared.clock import FixedClock
from shared.consumer import EventConsumer
from shared.contract.intake import ClientRegistered, ConsentScope
from shared.envelope import encode, to_cloudevent
from shared.settings import load_settings, store_env
from shared.store import event_meta
from tests.support import applicant, application_body

KEY = "test-key-access-control-0123456789abcdef"  # HS256: at least 32 bytes
HERE, THERE = "110105", "110108"
STREET = "110105001"
EVERYONE_CONSENTS = {"rehabilitation_services": True, "share_with_health": True,
                     "share_with_disability_and_employment": True}

Request = tuple[str, str, dict | None, dict | None]  # method, path, query, json


def settings_for(service: str, **extra: str):
    return load_settings(service, {f"JINGKANG_{service.upper()}_STORE": "memory://", "JINGKANG_JWT_KEY": KEY, **extra})


class World:
    """One service with authorisation on, the objects its routes are about already made
    (all in district HERE), and how to call each route of its ACCESS table."""

    access: dict[str, tuple[str, ...]]
    # Routes whose answer is narrowed to the caller's districts instead of refused.
    filtered: frozenset[str] = frozenset()

    def __init__(self, service: str):
        self.settings = settings_for(service)
        self.clock = FixedClock()
        self.authority = Authority(KEY)

    def token(self, role: str, districts: tuple[str, ...] = (HERE,), sub: str = "staff-1") -> str:
        return self.authority.issue(sub=sub, role=role, districts=list(districts))

    def call(self, key: str, authorization: str | None = None, **headers: str) -> httpx.Response:
        method, path, params, body = self.routes()[key]()
        if authorization is not None:
            headers["Authorization"] = authorization
        return self.http.request(method, path, params=params, json=body, headers=headers)

    def call_as(self, key: str, role: str, districts: tuple[str, ...] = (HERE,), sub: str = "staff-1") -> httpx.Response:
        return self.call(key, "Bearer " + self.token(role, districts, sub))

    def routes(self) -> dict[str, Callable[[], Request]]:
        raise NotImplementedError

    def stored(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    def events_after(self, position: int) -> list[Any]:
        return [self.app.mapper.to_domain_event(n)
                for n in self.app.recorder.select_notifications(start=position, limit=1000, inclusive_of_start=False)]


class IntakeWorld(World):
    access = intake_api.ACCESS

    def __init__(self):
        super().__init__("intake")
        self.app = intake_app(self.settings, clock=self.clock)
        self.http = TestClient(intake_api.create_app(self.settings, self.app))
        self.application = self.new_application(consented=True)  # ready to register
        self.client = self.new_client()

    def new_application(self, district: str = HERE, source: str = "hospital_discharge",
                        consented: bool = False) -> uuid.UUID:
        someone = applicant()
        someone["birth_date"] = date.fromisoformat(someone["birth_date"])  # as the API hands it on
        application = self.app.submit_application(source=source, applicant=someone, district_code=district,
                                                  street_code=district + "001", hardship_categories=[])
        if consented:
            self.app.record_consent(application, signed_by="self", scope=EVERYONE_CONSENTS)
        return application

    def new_client(self, district: str = HERE) -> uuid.UUID:
        return self.app.register_client(self.new_application(district, consented=True))

    def routes(self):
        a, c = self.application, self.client
        return {
            "POST /v1/applications": lambda: ("POST", "/v1/applications", None, application_body()),
            "GET /v1/applications/{application_id}": lambda: ("GET", f"/v1/applications/{a}", None, None),
            "POST /v1/applications/{application_id}/withdrawal": lambda: (
                "POST", f"/v1/applications/{a}/withdrawal", None, None),
            "POST /v1/applications/{application_id}/identity-rejection": lambda: (
                "POST", f"/v1/applications/{a}/identity-rejection", None, {"reason": "documents_mismatch"}),
            "POST /v1/applications/{application_id}/consent": lambda: (
                "POST", f"/v1/applications/{a}/consent", None, {"signed_by": "self"}),
            "POST /v1/applications/{application_id}/register": lambda: (
                "POST", f"/v1/applications/{a}/register", None, None),
            "GET /v1/clients/{client_id}": lambda: ("GET", f"/v1/clients/{c}", None, None),
            "GET /v1/clients/{client_id}/identity": lambda: (
                "GET", f"/v1/clients/{c}/identity", {"purpose": "service_delivery"}, None),
            "POST /v1/clients/{client_id}/consent/withdrawals": lambda: (
                "POST", f"/v1/clients/{c}/consent/withdrawals", None, {"scopes": ["share_with_health"]}),
            "POST /v1/clients/{client_id}/relocation": lambda: (
                "POST", f"/v1/clients/{c}/relocation", None, {"district_code": HERE, "street_code": HERE + "002"}),
            "POST /v1/clients/{client_id}/exit": lambda: ("POST", f"/v1/clients/{c}/exit", None, {"reason": "moved_away"}),
            "POST /v1/clients/{client_id}/identity/erasure": lambda: (
                "POST", f"/v1/clients/{c}/identity/erasure", None, {"reason": "data_subject_request"}),
        }


class AssessmentWorld(World):
    access = assessment_api.ACCESS

    def __init__(self):
        super().__init__("assessment")
        self.app = assessment_app(self.settings, clock=self.clock)
        self.http = TestClient(assessment_api.create_app(self.settings, self.app))
        self.client = self.new_client()

    def new_client(self, district: str = HERE) -> uuid.UUID:
        client = uuid.uuid4()
        self.app.open_record(client_id=client, district_code=district, street_code=district + "001",
                             registered_on=self.clock.today(), consent=EVERYONE_CONSENTS)
        self.app.complete_assessment(client, kind="baseline", stability="stable", risk_level=1, willing=True,
                                     functional_score=60, assessor="staff-1")
        return client

    def routes(self):
        c = self.client
        base = f"/v1/clients/{c}"
        return {
            "POST /v1/clients/{client_id}/assessments": lambda: (
                "POST", base + "/assessments", None,
                {"kind": "process", "stability": "stable", "risk_level": 1, "willing": True, "functional_score": 64,
                 "assessor": "staff-1"}),
            "POST /v1/clients/{client_id}/plan": lambda: (
                "POST", base + "/plan", None, {"goals": ["g-1"], "services": ["social_skills"], "agreed_by": "client"}),
            "POST /v1/clients/{client_id}/sessions": lambda: (
                "POST", base + "/sessions", None,
                {"service_type": "social_skills", "station_id": str(uuid.uuid4()),
                 "session_date": self.clock.today().isoformat(), "minutes": 60, "mode": "group",
                 "attendance": "attended"}),
            "POST /v1/clients/{client_id}/relapses": lambda: ("POST", base + "/relapses", None, {"reported_by": "staff-1"}),
            "POST /v1/clients/{client_id}/contacts": lambda: (
                "POST", base + "/contacts", None, {"method": "phone", "outcome": "reached", "staff": "staff-1"}),
            "GET /v1/clients/{client_id}/record": lambda: ("GET", base + "/record", None, None),
            "GET /v1/records": lambda: ("GET", "/v1/records", {"district": HERE}, None),
        }


class ReferralWorld(World):
    access = referral_api.ACCESS

    def __init__(self):
        super().__init__("referral")
        self.app = referral_app(self.settings, clock=self.clock)
        self.http = TestClient(referral_api.create_app(self.settings, self.app))
        self.station = self.app.register_station(name="宁康驿站", operator="协会", tier="ningkang_post",
                                                 district_code=HERE, streets=[STREET], capacity=5,
                                                 services=["social_skills"])
        self.client = self.new_client()
        self.referral = self.app.request_referral(client_id=self.client, kind="medical", reason="relapse_detected")

    def new_client(self, district: str | None = HERE) -> uuid.UUID:
        """A client placed at the station (district None: referral never learned where they live)."""
        client = uuid.uuid4()
        if district is not None:
            self.app.register_client(client_id=client, district_code=district, street_code=district + "001",
                                     registered_on=self.clock.today(), consent=EVERYONE_CONSENTS)
        self.app.classify_client(client_id=client, service_category="community_rehab", medical_referral_needed=False)
        return client

    def routes(self):
        c, s, r = self.client, self.station, self.referral
        return {
            "POST /v1/stations": lambda: ("POST", "/v1/stations", None, {
                "name": "宁康家园", "operator": "协会", "tier": "ningkang_home", "district_code": HERE,
                "streets": ["110105002"], "capacity": 3, "services": ["peer_support"]}),
            "POST /v1/stations/{station_id}/capacity": lambda: ("POST", f"/v1/stations/{s}/capacity", None, {"capacity": 6}),
            "GET /v1/stations": lambda: ("GET", "/v1/stations", {"district": HERE}, None),
            "GET /v1/stations/{station_id}": lambda: ("GET", f"/v1/stations/{s}", None, None),
            "GET /v1/waitlist": lambda: ("GET", "/v1/waitlist", {"district": HERE}, None),
            "POST /v1/referrals": lambda: ("POST", "/v1/referrals", None,
                                           {"client_id": str(c), "kind": "medical", "reason": "relapse_detected"}),
            "GET /v1/referrals": lambda: ("GET", "/v1/referrals", {"client_id": str(c)}, None),
            "GET /v1/referrals/{referral_id}": lambda: ("GET", f"/v1/referrals/{r}", None, None),
            "POST /v1/referrals/{referral_id}/accept": lambda: ("POST", f"/v1/referrals/{r}/accept", None, None),
            "POST /v1/referrals/{referral_id}/decline": lambda: ("POST", f"/v1/referrals/{r}/decline", None,
                                                                 {"reason": "no_capacity"}),
            "POST /v1/referrals/{referral_id}/complete": lambda: ("POST", f"/v1/referrals/{r}/complete", None, None),
            "POST /v1/referrals/{referral_id}/cancel": lambda: ("POST", f"/v1/referrals/{r}/cancel", None, {}),
            "GET /v1/clients/{client_id}/placement": lambda: ("GET", f"/v1/clients/{c}/placement", None, None),
            "POST /v1/clients/{client_id}/reverification": lambda: ("POST", f"/v1/clients/{c}/reverification", None, None),
        }


class FundingWorld(World):
    access = funding_api.ACCESS

    def __init__(self):
        super().__init__("funding")
        self.app = funding_app(self.settings, clock=self.clock)  # today 2026-01-05: 2025 is over
        self.http = TestClient(funding_api.create_app(self.settings, self.app))
        self.station = uuid.uuid4()
        self.app.learn_station(station_id=self.station, tier="provincial_demo", district_code=HERE)
        self.contract = self.sign(self.station)
        for day in (date(2025, 11, 10), date(2025, 12, 10)):
            self.app.accrue_session(session_id=uuid.uuid4(), station_id=self.station, service_type="social_skills",
                                    session_date=day, attendance="attended")
        # November awaits a second person's approval; December is still to be settled
        self.settlement = self.app.prepare_settlement(self.contract, period="2025-11", performance_score="0.9",
                                                      reasons=["records complete"], prepared_by="officer-a")["settlement_id"]

    def sign(self, station: uuid.UUID, purchaser: str | None = None) -> uuid.UUID:
        return self.app.sign_contract(**self.contract_body(station, purchaser))

    @staticmethod
    def contract_body(station: uuid.UUID, purchaser: str | None = None) -> dict[str, Any]:
        return {"station_id": station, "district_code": HERE, "purchaser_code": purchaser,
                "period_start": date(2025, 1, 1), "period_end": date(2026, 12, 31), "budget": "100000.00",
                "funding_sources": [{"source": "welfare_lottery", "amount": "100000.00"}],
                "unit_prices": {"social_skills": "120.00"}}

    def contract_json(self, station: uuid.UUID, purchaser: str | None = None) -> dict[str, Any]:
        """The same terms as a POST /v1/contracts body."""
        return {k: (str(v) if isinstance(v, (uuid.UUID, date)) else v)
                for k, v in self.contract_body(station, purchaser).items()}

    def routes(self):
        c, st, s = self.contract, self.station, self.settlement
        settlement = f"/v1/contracts/{c}/settlements/{s}"
        return {
            "POST /v1/contracts": lambda: ("POST", "/v1/contracts", None, self.contract_json(uuid.uuid4())),
            "GET /v1/contracts": lambda: ("GET", "/v1/contracts", {"purchaser": HERE}, None),
            "GET /v1/contracts/{contract_id}": lambda: ("GET", f"/v1/contracts/{c}", None, None),
            "POST /v1/contracts/{contract_id}/payments": lambda: (
                "POST", f"/v1/contracts/{c}/payments", None, {"amount": "10.00", "period": "2025-12"}),
            "POST /v1/contracts/{contract_id}/settlements": lambda: (
                "POST", f"/v1/contracts/{c}/settlements", None,
                {"period": "2025-12", "performance_score": "0.95", "reasons": ["supervision visit"]}),
            "POST /v1/contracts/{contract_id}/settlements/{settlement_id}/approval": lambda: (
                "POST", settlement + "/approval", None, None),
            "POST /v1/contracts/{contract_id}/settlements/{settlement_id}/decline": lambda: (
                "POST", settlement + "/decline", None, None),
            "POST /v1/contracts/{contract_id}/settlements/{settlement_id}/payment": lambda: (
                "POST", settlement + "/payment", None, None),
            "GET /v1/stations/{station_id}": lambda: ("GET", f"/v1/stations/{st}", None, None),
            "GET /v1/stations/{station_id}/unfunded-sessions": lambda: (
                "GET", f"/v1/stations/{st}/unfunded-sessions", None, None),
            "POST /v1/stations/{station_id}/subsidies": lambda: (
                "POST", f"/v1/stations/{st}/subsidies", None, {"kind": "construction", "amount": "200000.00"}),
            "GET /v1/purchasers/{purchaser_code}": lambda: ("GET", f"/v1/purchasers/{HERE}", None, None),
        }


class NotificationWorld(World):
    access = notification_api.ACCESS
    filtered = frozenset({"GET /v1/deliveries"})

    def __init__(self):
        super().__init__("notification")
        # Every webhook answers 500: deliveries fail and are listed.
        self.app = Notifications(env=store_env(self.settings), clock=self.clock,
                                 webhook=WebhookChannel(transport=httpx.MockTransport(lambda _: httpx.Response(500))),
                                 policy=RetryPolicy(max_attempts=3, backoff_seconds=60, max_backoff_seconds=600))
        self.http = TestClient(notification_api.create_app(self.settings, self.app))
        self.consumer = EventConsumer(self.app, "notification", notification_handlers(self.app), attempts=1,
                                      sleep=lambda _: None)
        self.offset = 0
        self.subscription = self.app.register_subscription(
            district_code=HERE, event_types=["jingkang.intake.ClientRegistered.v1"], url="https://d.example/hook",
            secret="secret-of-district-110105", purpose="district_supervision").id
        self.client = self.registered_client(HERE)
        self.app.run_deadlines()  # the first attempt fails
        [self.delivery] = [d.id for d in self.app.list_deliveries("failed")]
        [self.notification] = [n.id for n in self.app.list_for_client(self.client)]  # "plan due soon"
        self.contract = uuid.uuid4()
        self.app.locate(about="contract", subject_id=self.contract, district_code=HERE)
        self.app.notify_payment(contract_id=self.contract, payment_id=uuid.uuid4(), cause_event_id="ce-paid")

    def registered_client(self, district: str) -> uuid.UUID:
        """intake's ClientRegistered, through the real consumer machinery."""
        client = uuid.uuid4()
        self.offset += 1
        event = ClientRegistered(client_id=client, application_id=uuid.uuid4(), source="hospital_discharge",
                                 district_code=district, street_code=district + "001", registered_on=self.clock.today(),
                                 free_service_eligible=True, hardship_categories=["minimum_living_allowance"],
                                 consent=ConsentScope(**EVERYONE_CONSENTS))
        raw = encode(to_cloudevent(event, id=str(uuid.uuid4()), time=self.clock.now(), sequence=self.offset))
        assert self.consumer.process("jingkang.intake.v1", 0, self.offset, raw).status == "processed"
        return client

    def routes(self):
        sub, d = self.subscription, self.delivery
        return {
            "GET /v1/notifications": lambda: ("GET", "/v1/notifications", {"client_id": str(self.client)}, None),
            "GET /v1/notifications/{notification_id}": lambda: ("GET", f"/v1/notifications/{self.notification}",
                                                                None, None),
            "POST /v1/subscriptions": lambda: ("POST", "/v1/subscriptions", None, {
                "district_code": HERE, "event_types": ["jingkang.intake.ClientRegistered.v1"],
                "url": "https://d.example/other", "secret": "another-secret-0001", "purpose": "district_supervision"}),
            "GET /v1/subscriptions": lambda: ("GET", "/v1/subscriptions", {"district": HERE}, None),
            "GET /v1/subscriptions/{subscription_id}": lambda: ("GET", f"/v1/subscriptions/{sub}", None, None),
            "DELETE /v1/subscriptions/{subscription_id}": lambda: ("DELETE", f"/v1/subscriptions/{sub}", None, None),
            "GET /v1/subscriptions/{subscription_id}/deliveries": lambda: (
                "GET", f"/v1/subscriptions/{sub}/deliveries", {"status": "failed"}, None),
            "GET /v1/deliveries": lambda: ("GET", "/v1/deliveries", {"status": "failed"}, None),
            "GET /v1/deliveries/{delivery_id}": lambda: ("GET", f"/v1/deliveries/{d}", None, None),
            "POST /v1/deliveries/{delivery_id}/redrive": lambda: ("POST", f"/v1/deliveries/{d}/redrive", None, None),
        }


WORLDS: dict[str, Callable[[], World]] = {
    "intake": IntakeWorld, "assessment": AssessmentWorld, "referral": ReferralWorld, "funding": FundingWorld, "notification": NotificationWorld}
ACCESS = {"intake": intake_api.ACCESS, "assessment": assessment_api.ACCESS, "referral": referral_api.ACCESS, "funding": funding_api.ACCESS,
          "notification": notification_api.ACCESS}
ROUTES = [(service, key) for service, access in ACCESS.items() for key in access]
MATRIX = [(service, key, role) for service, key in ROUTES for role in ROLES]


@pytest.fixture(scope="module")
def worlds() -> dict[str, World]:
    """One world per service for the matrix: a call that changes something (an accepted
    referral, a deactivated subscription) only changes what later calls answer, never
    whether they are let through."""
    class Lazy(dict):
        def __missing__(self, service: str) -> World:
            self[service] = WORLDS[service]()
            return self[service]

    return Lazy()


def let_through(response: httpx.Response) -> bool:
    return response.status_code not in (401, 403)


# --- the tables themselves ----------------------------------------------------------------

@pytest.mark.parametrize("service", ACCESS)
def test_every_route_of_the_service_is_in_its_access_table_and_the_matrix_calls_each(service):
    app = WORLDS[service]().http.app
    # The audit routes every service shares (shared/audit.py) are tested in test_audit.py.
    served = {f"{m} {r.path}" for r in app.routes if isinstance(r, APIRoute) for m in r.methods} - OPEN - set(AUDIT_ACCESS)
    assert served == set(ACCESS[service]), "a route missing from ACCESS is refused to everyone"
    assert set(WORLDS[service]().routes()) == served


@pytest.mark.parametrize("service", ACCESS)
def test_health_readiness_metrics_and_docs_need_no_token(service):
    http = WORLDS[service]().http
    for path in ("/health", "/metrics", "/openapi.json", "/docs"):
        assert http.get(path).status_code == 200, path


# --- role x route -------------------------------------------------------------------------

@pytest.mark.parametrize("service,key,role", MATRIX, ids=[f"{s}:{k}:{r}" for s, k, r in MATRIX])
def test_a_role_is_let_through_exactly_where_the_table_names_it(worlds, service, key, role):
    world = worlds[service]
    r = world.call_as(key, role)
    if role in ACCESS[service][key]:
        assert let_through(r), f"{role} refused on {key}: {r.status_code} {r.text}"
        assert r.status_code < 500, r.text
    else:
        assert r.status_code == 403, f"{role} on {key}: {r.status_code} {r.text}"
        assert role in r.json()["detail"]


@pytest.mark.parametrize("service,key", ROUTES, ids=[f"{s}:{k}" for s, k in ROUTES])
def test_a_token_for_another_district_is_refused_on_every_district_scoped_route(worlds, service, key):
    world = worlds[service]
    for role in ACCESS[service][key]:
        before = world.stored()
        r = world.call_as(key, role, districts=(THERE,))
        if key in world.filtered:
            assert r.status_code == 200 and r.json()["deliveries"] == [], r.text
        else:
            assert r.status_code == 403, f"{role} of {THERE} on {key}: {r.status_code} {r.text}"
        assert world.stored() == before  # refused: nothing stored


@pytest.mark.parametrize("service,key", ROUTES, ids=[f"{s}:{k}" for s, k in ROUTES])
def test_a_city_wide_token_reaches_every_district(worlds, service, key):
    world = worlds[service]
    for role in ACCESS[service][key]:
        assert let_through(world.call_as(key, role, districts=("*",)))


# --- tokens that are not good ---------------------------------------------------------------

def bad_tokens() -> dict[str, str | None]:
    now_issuer = Authority(KEY)
    return {
        "none": None,
        "not bearer": "Basic " + now_issuer.issue(sub="w-1", role="station_worker", districts=[HERE]),
        "not a jwt": "Bearer not-a-token",
        "bad signature": "Bearer " + Authority("another-key-of-32-bytes-or-more-000000").issue(
            sub="w-1", role="station_worker", districts=[HERE]),
        "expired": "Bearer " + now_issuer.issue(sub="w-1", role="station_worker", districts=[HERE], ttl_seconds=-60),
        "wrong issuer": "Bearer " + Authority(KEY, issuer="someone-else").issue(
            sub="w-1", role="station_worker", districts=[HERE]),
        "unknown role": "Bearer " + now_issuer.issue(sub="w-1", role="superuser", districts=["*"]),
    }


@pytest.mark.parametrize("service,key", ROUTES, ids=[f"{s}:{k}" for s, k in ROUTES])
def test_without_a_valid_token_every_route_is_401_and_stores_nothing(worlds, service, key):
    world = worlds[service]
    for what, authorization in bad_tokens().items():
        before = world.stored()
        r = world.call(key, authorization)
        assert r.status_code == 401, f"{what} on {key}: {r.status_code} {r.text}"
        assert world.stored() == before


@pytest.mark.parametrize("world,key", [(AssessmentWorld, "GET /v1/clients/{client_id}/record"),
                                       (IntakeWorld, "GET /v1/clients/{client_id}/identity"),
                                       (IntakeWorld, "POST /v1/applications")])
def test_a_header_naming_oneself_is_no_token(world, key):
    world = world()
    before = world.stored()
    r = world.call(key, **{"X-Jingkang-Actor": "w-1", "X-Jingkang-Role": "station_worker"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert world.stored() == before


# --- who is recorded -------------------------------------------------------------------------

COMMANDS = [
    ("intake", "POST /v1/applications", "hospital"),
    ("intake", "POST /v1/applications/{application_id}/consent", "district_admin"),
    ("intake", "POST /v1/applications/{application_id}/register", "station_worker"),
    ("intake", "GET /v1/clients/{client_id}/identity", "integration"),
    ("intake", "POST /v1/clients/{client_id}/exit", "district_admin"),
    ("intake", "POST /v1/clients/{client_id}/identity/erasure", "district_admin"),
    ("assessment", "POST /v1/clients/{client_id}/assessments", "station_worker"),
    ("assessment", "POST /v1/clients/{client_id}/relapses", "hospital"),
    ("referral", "POST /v1/stations", "district_admin"),
    ("referral", "POST /v1/referrals/{referral_id}/accept", "hospital"),
    ("referral", "POST /v1/clients/{client_id}/reverification", "district_admin"),
    ("funding", "POST /v1/contracts", "funding_officer"),
    ("funding", "POST /v1/contracts/{contract_id}/settlements", "district_admin"),
    ("funding", "POST /v1/contracts/{contract_id}/settlements/{settlement_id}/approval", "funding_officer"),
    ("funding", "POST /v1/stations/{station_id}/subsidies", "funding_officer"),
    ("notification", "POST /v1/subscriptions", "integration"),
    ("notification", "DELETE /v1/subscriptions/{subscription_id}", "district_admin"),
]


@pytest.mark.parametrize("service,key,role", COMMANDS, ids=[f"{s}:{k}" for s, k, _ in COMMANDS])
def test_the_events_a_command_stores_name_the_token_holder_and_role_not_what_headers_claim(service, key, role):
    world = WORLDS[service]()
    if key == "POST /v1/clients/{client_id}/reverification":
        # Given a client who waited more than 90 days: a re-verification is due
        world.app.change_capacity(world.station, 1)  # the placed client fills it
        waiting = world.new_client()
        world.clock.advance(days=91)
        world.app.run_deadlines()
        world.client = waiting
    before = world.stored()

    r = world.call(key, "Bearer " + world.token(role, sub="staff-42"),
                   **{"X-Jingkang-Actor": "mallory", "X-Jingkang-Role": "auditor"})

    assert r.status_code in (200, 201), r.text
    events = world.events_after(before)
    assert events
    assert {(event_meta(e)["actor"], event_meta(e)["role"]) for e in events} == {("staff-42", role)}


# --- district rules that need a closer look -----------------------------------------------------

def test_a_client_of_another_district_is_refused_even_to_a_role_that_may_call_the_route():
    world = AssessmentWorld()
    there = world.new_client(THERE)
    token = "Bearer " + world.token("station_worker")
    before = world.stored()

    r = world.http.post(f"/v1/clients/{there}/relapses", json={"reported_by": "staff-1"},
                        headers={"Authorization": token})

    assert r.status_code == 403 and r.json()["detail"] == "outside your districts"
    assert world.stored() == before
    assert world.http.get(f"/v1/clients/{there}/record", headers={"Authorization": token}).status_code == 403
    both = "Bearer " + world.token("station_worker", districts=(HERE, THERE))
    assert world.http.get(f"/v1/clients/{there}/record", headers={"Authorization": both}).status_code == 200


def test_an_intake_client_or_application_of_another_district_is_refused_to_staff_of_this_one():
    world = IntakeWorld()
    there_client, there_application = world.new_client(THERE), world.new_application(THERE)
    worker = {"Authorization": "Bearer " + world.token("station_worker")}
    before = world.stored()

    assert world.http.post(f"/v1/clients/{there_client}/exit", json={"reason": "moved_away"},
                           headers=worker).status_code == 403
    assert world.http.get(f"/v1/clients/{there_client}/identity", params={"purpose": "service_delivery"},
                          headers=worker).status_code == 403
    assert world.http.post(f"/v1/applications/{there_application}/withdrawal", headers=worker).status_code == 403
    assert world.http.post("/v1/applications", json=application_body(district_code=THERE, street_code=THERE + "001"),
                           headers=worker).status_code == 403
    assert world.stored() == before  # no read recorded, nothing changed
    # A client who moved away is for the staff of the district they live in now
    world.app.relocate_client(world.client, district_code=THERE, street_code=THERE + "001")
    assert world.http.get(f"/v1/clients/{world.client}", headers=worker).status_code == 403
    there = {"Authorization": "Bearer " + world.token("station_worker", districts=(THERE,))}
    assert world.http.get(f"/v1/clients/{world.client}", headers=there).json()["district_code"] == THERE


def test_a_hospital_submits_and_follows_only_discharge_applications():
    world = IntakeWorld()
    hospital = {"Authorization": "Bearer " + world.token("hospital")}
    before = world.stored()

    r = world.http.post("/v1/applications", json=application_body(source="community"), headers=hospital)

    assert r.status_code == 403 and "hospital_discharge" in r.json()["detail"]
    assert world.stored() == before
    community = world.new_application(source="community")
    assert world.http.get(f"/v1/applications/{community}", headers=hospital).status_code == 403
    r = world.http.post("/v1/applications", json=application_body(), headers=hospital)
    assert r.status_code == 201, r.text
    mine = world.http.get(f"/v1/applications/{r.json()['application_id']}", headers=hospital)
    assert mine.status_code == 200 and mine.json()["source"] == "hospital_discharge"


def test_an_unknown_client_is_404_whoever_asks():
    world = AssessmentWorld()
    r = world.http.get(f"/v1/clients/{uuid.uuid4()}/record", headers={"Authorization": "Bearer " + world.token("auditor")})
    assert r.status_code == 404


def test_a_hospital_opens_and_sees_only_medical_and_community_referrals():
    world = ReferralWorld()
    hospital = {"Authorization": "Bearer " + world.token("hospital")}
    worker = {"Authorization": "Bearer " + world.token("station_worker")}
    before = world.stored()

    r = world.http.post("/v1/referrals", headers=hospital, json={
        "client_id": str(world.client), "kind": "employment", "reason": "employment_ready", "wants_work": True})

    assert r.status_code == 403 and "employment" in r.json()["detail"]
    assert world.stored() == before
    # A transfer between stations (opened by the district) is not the hospital's to see or answer
    other = world.app.register_station(name="宁康家园", operator="协会", tier="ningkang_home", district_code=HERE,
                                       streets=[STREET], capacity=5, services=["social_skills"])
    world.app.cancel_referral(world.referral, "duplicate")
    transfer = world.app.request_referral(client_id=world.client, kind="professional", reason="poor_fit",
                                          to_station_id=other)
    assert world.http.get(f"/v1/referrals/{transfer}", headers=hospital).status_code == 403
    assert world.http.post(f"/v1/referrals/{transfer}/accept", headers=hospital).status_code == 403
    listed = world.http.get("/v1/referrals", params={"client_id": str(world.client)}, headers=hospital).json()
    assert [r["kind"] for r in listed["referrals"]] == ["medical"]
    listed = world.http.get("/v1/referrals", params={"client_id": str(world.client)}, headers=worker).json()
    assert [r["kind"] for r in listed["referrals"]] == ["medical", "professional"]


def test_a_client_whose_district_referral_has_not_learned_is_for_city_wide_tokens_only():
    world = ReferralWorld()
    unknown = world.new_client(district=None)  # classified, but ClientRegistered not yet consumed
    referral = world.app.request_referral(client_id=unknown, kind="medical", reason="relapse_detected")

    r = world.http.post(f"/v1/referrals/{referral}/accept", headers={"Authorization": "Bearer " + world.token("hospital")})
    assert r.status_code == 403 and "not known" in r.json()["detail"]
    r = world.http.post(f"/v1/referrals/{referral}/accept",
                        headers={"Authorization": "Bearer " + world.token("hospital", districts=("*",))})
    assert r.status_code == 200, r.text


def test_a_station_is_registered_only_in_the_callers_districts():
    world = ReferralWorld()
    admin = {"Authorization": "Bearer " + world.token("district_admin")}
    body = {"name": "驿站", "operator": "协会", "tier": "ningkang_post", "district_code": THERE,
            "streets": [THERE + "001"], "capacity": 2, "services": ["social_skills"]}
    before = world.stored()
    assert world.http.post("/v1/stations", json=body, headers=admin).status_code == 403
    assert world.stored() == before


def test_a_contracts_notifications_follow_the_contracts_district():
    world = NotificationWorld()
    params = {"contract_id": str(world.contract)}
    here = {"Authorization": "Bearer " + world.token("district_admin")}
    there = {"Authorization": "Bearer " + world.token("district_admin", districts=(THERE,))}

    listed = world.http.get("/v1/notifications", params=params, headers=here)

    assert listed.status_code == 200 and [n["kind"] for n in listed.json()["notifications"]] == ["payment_made"]
    assert world.http.get("/v1/notifications", params=params, headers=there).status_code == 403
    one = listed.json()["notifications"][0]["notification_id"]
    assert world.http.get(f"/v1/notifications/{one}", headers=there).status_code == 403
    # A contract notification learned nothing about: city-wide tokens only
    unknown = {"contract_id": str(uuid.uuid4())}
    assert world.http.get("/v1/notifications", params=unknown, headers=here).status_code == 403
    city = {"Authorization": "Bearer " + world.token("auditor", districts=("*",))}
    assert world.http.get("/v1/notifications", params=unknown, headers=city).json() == {"notifications": []}


def test_failing_deliveries_are_listed_for_the_callers_districts_only():
    world = NotificationWorld()
    world.app.register_subscription(district_code=THERE, event_types=["jingkang.intake.ClientRegistered.v1"],
                                    url="https://there.example/hook", secret="secret-of-district-110108",
                                    purpose="district_supervision")
    world.registered_client(THERE)
    world.app.run_deadlines()

    def listed(districts: tuple[str, ...]) -> set[str]:
        r = world.http.get("/v1/deliveries", params={"status": "failed"},
                           headers={"Authorization": "Bearer " + world.token("integration", districts=districts)})
        assert r.status_code == 200, r.text
        return {d["subscription_id"] for d in r.json()["deliveries"]}

    assert listed((HERE,)) == {str(world.subscription)}
    assert len(listed(("*",))) == 2 and listed((HERE, THERE)) == listed(("*",))
    assert listed(("110101",)) == set()


def test_a_settlement_is_prepared_and_approved_by_two_token_holders_whatever_the_headers_say():
    world = FundingWorld()
    prepare = f"/v1/contracts/{world.contract}/settlements"
    body = {"period": "2025-12", "performance_score": "0.8", "reasons": ["supervision visit"]}

    def as_(role: str, sub: str, claimed: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + world.token(role, sub=sub), "X-Jingkang-Actor": claimed}

    # Given a district admin who enters the supervision score, naming someone else in the header
    r = world.http.post(prepare, json=body, headers=as_("district_admin", "admin-1", claimed="officer-b"))
    assert r.status_code == 201, r.text
    settlement = r.json()
    assert settlement["prepared_by"] == "admin-1"
    approval = f"{prepare}/{settlement['settlement_id']}/approval"
    # When the same person approves as a funding officer, claiming another name: refused, nothing stored
    before = world.stored()
    r = world.http.post(approval, headers=as_("funding_officer", "admin-1", claimed="officer-b"))
    assert r.status_code == 409 and "second person" in r.json()["detail"]
    assert world.stored() == before
    # Then another token holder approves
    r = world.http.post(approval, headers=as_("funding_officer", "officer-b", claimed="admin-1"))
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["prepared_by"], r.json()["approved_by"]) == ("approved", "admin-1", "officer-b")


def test_a_city_purchasers_money_is_for_city_tokens_and_its_contract_is_read_in_the_stations_district():
    world = FundingWorld()
    station = uuid.uuid4()
    world.app.learn_station(station_id=station, tier="ningkang_post", district_code=HERE)
    contract = world.sign(station, purchaser="110000")  # the city buys for a station in district HERE

    def officer(*districts: str) -> dict[str, str]:
        return {"Authorization": "Bearer " + world.token("funding_officer", districts=districts)}

    payment = {"amount": "10.00", "period": "2025-12"}
    pay = f"/v1/contracts/{contract}/payments"
    before = world.stored()
    # A funding officer of the station's district reads the contract but does not pay from the city's budget
    assert world.http.get(f"/v1/contracts/{contract}", headers=officer(HERE)).status_code == 200
    assert world.http.post(pay, json=payment, headers=officer(HERE)).status_code == 403
    assert world.http.get("/v1/purchasers/110000", headers=officer(HERE)).status_code == 403
    signing = world.contract_json(uuid.uuid4(), purchaser="110000")
    assert world.http.post("/v1/contracts", json=signing, headers=officer(HERE)).status_code == 403
    assert world.stored() == before
    # nor does an officer of another district read it
    assert world.http.get(f"/v1/contracts/{contract}", headers=officer(THERE)).status_code == 403
    # A token naming the city, or a city-wide one, acts for the city
    assert world.http.post(pay, json=payment, headers=officer("110000")).status_code == 201
    assert world.http.post(pay, json=payment, headers=officer("*")).status_code == 201
    assert world.http.get("/v1/purchasers/110000", headers=officer("110000")).json()["contracts"] == 1
    # and, the city's code covering its districts, reaches the station's contract bought by the district too
    assert world.http.get(f"/v1/contracts/{world.contract}", headers=officer("110000")).status_code == 200
    # another city's code does not
    assert world.http.get(f"/v1/contracts/{contract}", headers=officer("320100")).status_code == 403


@pytest.mark.parametrize("districts,code,covered", [
    (("110105",), "110105", True), (("110105",), "110108", False), (("110105",), "110000", False),
    (("110000",), "110105", True), (("110000",), "110000", True), (("110000",), "120101", False),
    (("320100",), "320102", True), (("320100",), "320200", False), (("320100",), "320000", False),
    (("*",), "320102", True), (("*",), None, True), (("110000",), None, False), (("", "1101"), "110105", False),
])
def test_a_token_covers_its_counties_and_every_county_under_a_city_it_names(districts, code, covered):
    assert Principal("staff-1", "auditor", districts).covers(code) is covered


def test_a_station_whose_district_funding_has_not_learned_is_for_city_wide_tokens_only():
    world = FundingWorld()
    unknown = uuid.uuid4()  # contracted, but referral's StationRegistered not yet consumed
    world.sign(unknown)

    r = world.http.get(f"/v1/stations/{unknown}", headers={"Authorization": "Bearer " + world.token("auditor")})
    assert r.status_code == 403 and "not known to funding" in r.json()["detail"]
    r = world.http.get(f"/v1/stations/{unknown}",
                       headers={"Authorization": "Bearer " + world.token("auditor", districts=("*",))})
    assert r.status_code == 200 and r.json()["district_code"] is None
