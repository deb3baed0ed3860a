"""assessment's aggregate: the rehabilitation record of one client, keyed by the
client's pseudonymous id. Pure: no I/O, no clock (callers pass today/now).

Classification (DESIGN.md §4): stable or basically stable with risk 0-2 and willing
-> community_rehab; the same but unwilling -> dynamic_care; unstable or risk 3-5
-> dynamic_care with a medical referral. A relapse is detected when the condition
becomes unstable or risk reaches 3+ (or is reported directly), once per episode: the
episode ends when an assessment finds the client stable (or basically stable) with risk
below 3.

Deadlines: the record keeps its own due dates and what it has already reported, so a
deadline that is checked twice (a repeated tick) reports once, and one whose cause
happened in time (a plan agreed, a newer assessment) reports nothing."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate, event

from shared.errors import Conflict, InvalidInput

STABILITIES = ("stable", "basically_stable", "unstable")
KINDS = ("baseline", "process", "discharge")
HIGH_RISK = 3
# Personal and social performance scale (PSP): 0-100, higher is better functioning.
FUNCTIONAL_SCORE_MIN, FUNCTIONAL_SCORE_MAX = 0, 100
# The nine basic services plus case, group, community and home services (DESIGN.md §4).
BASIC_SERVICES = (
    "medication_training", "relapse_prevention", "physical_health", "daily_living_skills", "social_skills",
    "vocational_rehabilitation", "psychological_rehabilitation", "peer_support", "family_support",
    "case_service", "group_service", "community_service", "home_service",
)
AGREED_BY = ("client", "guardian")
SESSION_MODES = ("individual", "group")
# A dynamic-care follow-up: how the worker reached (or tried to reach) the client.
CONTACT_METHODS = ("phone", "home_visit", "outpatient_visit", "video_call")
CONTACT_OUTCOMES = ("reached", "not_reached")
ATTENDANCE = ("attended", "no_show")
MAX_SESSION_MINUTES = 600
MAX_GOALS, MAX_GOAL_LENGTH = 20, 200
# A staff id, not a name: letters, digits and . _ : - (a name in Chinese characters is refused).
STAFF_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"

# Deadline kinds on the agenda (shared.deadlines).
PLAN_OVERDUE = "plan_overdue"
REASSESSMENT_DUE = "reassessment_due"
REASSESSMENT_OVERDUE = "reassessment_overdue"
CONTACT_DUE = "contact_due"


@dataclass(frozen=True)
class Rules:
    """The programme's time limits; configurable per city, these are the defaults."""

    plan_within_days: int = 30          # plan agreed within 30 days of registration
    reassess_every_days: int = 90       # a process assessment at least every 90 days
    reassessment_grace_days: int = 14   # then overdue after this grace period


def classify(stability: str, risk_level: int, willing: bool) -> tuple[str, bool]:
    """-> (service_category, medical_referral_needed)"""
    if stability == "unstable" or risk_level >= HIGH_RISK:
        return "dynamic_care", True
    return ("community_rehab" if willing else "dynamic_care"), False


def in_relapse(stability: str, risk_level: int) -> bool:
    return stability == "unstable" or risk_level >= HIGH_RISK


def contact_cadence_days(stability: str, risk_level: int, willing: bool) -> int | None:
    """Days between follow-up contacts of a dynamic-care client (severe-mental-disorder
    management norm); None for community rehabilitation. The norm names no cadence for a
    stable client at risk 1-2: we use monthly, the stricter of its neighbours."""
    if classify(stability, risk_level, willing)[0] != "dynamic_care":
        return None
    if stability == "unstable" or risk_level >= HIGH_RISK:
        return 14   # within 2 weeks
    if stability == "basically_stable":
        return 30   # monthly
    if risk_level == 0:
        return 90   # stable, risk 0: every 3 months (still at least 4 a year)
    return 30       # stable, risk 1-2: monthly (our choice, see above)


def _staff_id(field: str, value: str) -> None:
    if not isinstance(value, str) or not re.fullmatch(STAFF_ID, value):
        raise InvalidInput(field, "must be a staff id (1-64 letters, digits, . _ : -), not a name")


def _not_future(field: str, day: date, today: date) -> None:
    if day > today:
        raise InvalidInput(field, "cannot be in the future")


class ClientRecord(Aggregate):
    @staticmethod
    def create_id(client_id: UUID, **_: object) -> UUID:
        return client_id

    @classmethod
    def open(cls, *, client_id: UUID, district_code: str, street_code: str, registered_on: date,
             rules: Rules, consent: dict[str, bool] | None = None) -> "ClientRecord":
        return cls(client_id=client_id, district_code=district_code, street_code=street_code,
                   registered_on=registered_on, plan_due_on=registered_on + timedelta(days=rules.plan_within_days),
                   consent=consent)

    @event("Opened")
    def __init__(self, client_id: UUID, district_code: str, street_code: str, registered_on: date,
                 plan_due_on: date | None = None, consent: dict[str, bool] | None = None):
        # The client's consent scope as intake published it; None for records opened before
        # it was kept here (nothing is shared on their behalf until intake says more).
        self.consent = consent
        self.district_code = district_code
        self.street_code = street_code
        self.registered_on = registered_on
        # Records opened before plan deadlines existed get the default rule.
        self.plan_due_on: date = plan_due_on or registered_on + timedelta(days=Rules().plan_within_days)
        self.plan_overdue_reported = False
        self.assessments: list[dict] = []
        self.service_category: str | None = None
        self.medical_referral_needed = False
        self.relapse_episode_open = False
        self.relapse_detected_at: datetime | None = None
        self.plan: dict | None = None
        self.plan_version = 0
        self.assessments_at_plan = 0  # assessments recorded when the current plan was agreed
        self.reassessment_due_on: date | None = None
        self.reassessment_overdue_on: date | None = None
        self.reassessment_due_reported_for: date | None = None
        self.reassessment_overdue_reported_for: date | None = None
        self.contact_due_on: date | None = None
        self.contact_cadence_days: int | None = None
        self.sessions: list[dict] = []
        self.contacts: list[dict] = []  # dynamic-care follow-ups
        self.closed = False  # by the discharge assessment
        self.exited_on: date | None = None  # learned from intake's ClientExited
        self.exit_reason: str | None = None

    # --- state ------------------------------------------------------------------------------

    @property
    def status(self) -> str:
        """active; exited (intake says the client left; the discharge assessment may follow);
        closed (the discharge assessment was recorded: nothing more)."""
        if self.closed:
            return "closed"
        return "exited" if self.exited_on else "active"

    @property
    def latest(self) -> dict | None:
        return self.assessments[-1] if self.assessments else None

    def next_due(self) -> dict:
        """The dates the record is waiting for (none once the client has left)."""
        active = self.status == "active"
        return {
            "plan_due_on": self.plan_due_on if active and not self.plan_version else None,
            "reassessment_due_on": self.reassessment_due_on if active else None,
            "reassessment_overdue_on": self.reassessment_overdue_on if active else None,
            "contact_due_on": self.contact_due_on if active else None,
            "contact_cadence_days": self.contact_cadence_days if active else None,
        }

    def _refuse_unless_active(self, what: str) -> None:
        if self.closed:
            raise Conflict(f"the record was closed by the discharge assessment; no {what}")
        if self.exited_on:
            raise Conflict(f"the client exited the programme on {self.exited_on}; no {what}")

    # --- assessments --------------------------------------------------------------------------

    def complete_assessment(self, *, kind: str, stability: str, risk_level: int, willing: bool,
                            functional_score: int, assessor: str, assessed_on: date, today: date, now: datetime,
                            rules: Rules) -> UUID:
        if kind not in KINDS:
            raise InvalidInput("kind", f"must be one of {', '.join(KINDS)}")
        if stability not in STABILITIES:
            raise InvalidInput("stability", f"must be one of {', '.join(STABILITIES)}")
        if isinstance(risk_level, bool) or not isinstance(risk_level, int) or not 0 <= risk_level <= 5:
            raise InvalidInput("risk_level", "must be an integer from 0 to 5")
        if (isinstance(functional_score, bool) or not isinstance(functional_score, int)
                or not FUNCTIONAL_SCORE_MIN <= functional_score <= FUNCTIONAL_SCORE_MAX):
            raise InvalidInput("functional_score", "must be an integer from 0 to 100 (PSP scale)")
        _staff_id("assessor", assessor)
        _not_future("assessed_on", assessed_on, today)
        if self.latest and assessed_on < self.latest["assessed_on"]:
            raise InvalidInput("assessed_on", f"cannot be before the previous assessment on {self.latest['assessed_on']}")
        if self.closed:
            raise Conflict("the record was closed by the discharge assessment; no further assessments")
        if self.exited_on and kind != "discharge":
            raise Conflict(f"the client exited the programme on {self.exited_on}; only the discharge assessment remains")
        if kind == "baseline" and self.assessments:
            raise Conflict("the baseline assessment was already completed; record a process assessment")
        if kind != "baseline" and not self.assessments:
            raise Conflict("a baseline assessment must come first")
        category, medical = classify(stability, risk_level, willing)
        due_on = overdue_on = contact_due_on = cadence = None
        if kind != "discharge":  # a discharge ends the record: nothing more falls due
            due_on = assessed_on + timedelta(days=rules.reassess_every_days)
            overdue_on = due_on + timedelta(days=rules.reassessment_grace_days + 1)
            cadence = contact_cadence_days(stability, risk_level, willing)
            contact_due_on = assessed_on + timedelta(days=cadence) if cadence else None
        assessment_id = uuid4()
        self._assessment_completed(
            assessment_id=assessment_id, kind=kind, stability=stability, risk_level=risk_level, willing=willing,
            assessor=assessor, assessed_on=assessed_on, service_category=category, medical_referral_needed=medical,
            functional_score=functional_score, reassessment_due_on=due_on, reassessment_overdue_on=overdue_on,
            contact_due_on=contact_due_on, contact_cadence_days=cadence,
        )
        if category != self.service_category or medical != self.medical_referral_needed:
            self._classified(service_category=category, medical_referral_needed=medical,
                             previous_category=self.service_category)
        if in_relapse(stability, risk_level) and not self.relapse_episode_open:
            self._relapse_detected(detected_at=now, stability=stability, risk_level=risk_level, reported=False,
                                   district_code=self.district_code)
        elif not in_relapse(stability, risk_level) and self.relapse_episode_open:
            self._relapse_resolved(assessment_id=assessment_id)
        return assessment_id

    @event("AssessmentCompleted")
    def _assessment_completed(self, assessment_id: UUID, kind: str, stability: str, risk_level: int, willing: bool,
                              assessor: str, assessed_on: date, service_category: str,
                              medical_referral_needed: bool, functional_score: int | None = None,
                              reassessment_due_on: date | None = None, reassessment_overdue_on: date | None = None,
                              contact_due_on: date | None = None, contact_cadence_days: int | None = None) -> None:
        self.assessments.append({
            "assessment_id": assessment_id, "kind": kind, "stability": stability, "risk_level": risk_level,
            "willing": willing, "functional_score": functional_score, "assessor": assessor,
            "assessed_on": assessed_on,
        })
        self.reassessment_due_on = reassessment_due_on
        self.reassessment_overdue_on = reassessment_overdue_on
        self.contact_due_on = contact_due_on
        self.contact_cadence_days = contact_cadence_days
        if kind == "discharge":
            self.closed = True

    @event("Classified")
    def _classified(self, service_category: str, medical_referral_needed: bool, previous_category: str | None) -> None:
        self.service_category = service_category
        self.medical_referral_needed = medical_referral_needed

    # --- relapse ------------------------------------------------------------------------------

    def report_relapse(self, *, reported_by: str, stability: str | None, risk_level: int | None,
                       now: datetime) -> bool:
        """A relapse reported directly (by a worker, family, a hospital). True if this opened
        an episode; False if one was already open (nothing recorded). Missing details are
        taken as: unstable, at the last assessed risk (or, when only a risk of 3+ is
        given, at the last assessed stability)."""
        _staff_id("reported_by", reported_by)
        if stability is not None and stability not in STABILITIES:
            raise InvalidInput("stability", f"must be one of {', '.join(STABILITIES)}")
        if risk_level is not None and (isinstance(risk_level, bool) or not isinstance(risk_level, int)
                                       or not 0 <= risk_level <= 5):
            raise InvalidInput("risk_level", "must be an integer from 0 to 5")
        latest = self.latest
        if risk_level is None:
            risk_level = latest["risk_level"] if latest else 0
        if stability is None:
            stability = latest["stability"] if latest and risk_level >= HIGH_RISK else "unstable"
        if not in_relapse(stability, risk_level):
            raise InvalidInput("stability", "a relapse is an unstable condition or a risk grade of 3 to 5")
        self._refuse_unless_active("relapse reports")
        if self.relapse_episode_open:
            return False
        self._relapse_detected(detected_at=now, stability=stability, risk_level=risk_level, reported=True,
                               district_code=self.district_code, reported_by=reported_by)
        return True

    @event("RelapseDetected")
    def _relapse_detected(self, detected_at: datetime, stability: str, risk_level: int, reported: bool,
                          district_code: str, reported_by: str | None = None) -> None:
        self.relapse_episode_open = True
        self.relapse_detected_at = detected_at

    @event("RelapseResolved")
    def _relapse_resolved(self, assessment_id: UUID) -> None:
        self.relapse_episode_open = False

    # --- the rehabilitation plan ----------------------------------------------------------------

    def agree_plan(self, *, goals: list[str], services: list[str], agreed_by: str, agreed_on: date,
                   today: date) -> int:
        """Agree plan version 1 (after the baseline) or a revision (after a process
        assessment recorded since the current version). -> the new version."""
        if (not isinstance(goals, list) or not 1 <= len(goals) <= MAX_GOALS
                or not all(isinstance(g, str) and g.strip() and len(g) <= MAX_GOAL_LENGTH for g in goals)):
            raise InvalidInput("goals", f"must be 1 to {MAX_GOALS} goals of 1 to {MAX_GOAL_LENGTH} characters")
        if not isinstance(services, list) or not services:
            raise InvalidInput("services", "must name at least one basic service")
        unknown = [s for s in services if s not in BASIC_SERVICES]
        if unknown:
            raise InvalidInput("services", f"unknown service {unknown[0]!r}; one of {', '.join(BASIC_SERVICES)}")
        if len(set(services)) != len(services):
            raise InvalidInput("services", "names a service twice")
        if agreed_by not in AGREED_BY:
            raise InvalidInput("agreed_by", f"must be one of {', '.join(AGREED_BY)}")
        _not_future("agreed_on", agreed_on, today)
        if self.latest and agreed_on < self.latest["assessed_on"]:
            raise InvalidInput("agreed_on", f"cannot be before the assessment it draws on ({self.latest['assessed_on']})")
        self._refuse_unless_active("plan")
        if not self.assessments:
            raise Conflict("a plan draws on the baseline assessment: record it first")
        if self.plan_version and not any(a["kind"] == "process" for a in self.assessments[self.assessments_at_plan:]):
            raise Conflict(f"plan version {self.plan_version} is current; it is revised after a process assessment")
        self._plan_agreed(plan_version=self.plan_version + 1, goals=list(goals), services=list(services),
                          agreed_by=agreed_by, agreed_on=agreed_on)
        return self.plan_version

    @event("PlanAgreed")
    def _plan_agreed(self, plan_version: int, goals: list[str], services: list[str], agreed_by: str,
                     agreed_on: date) -> None:
        self.plan_version = plan_version
        self.plan = {"version": plan_version, "goals": goals, "services": services, "agreed_by": agreed_by,
                     "agreed_on": agreed_on}
        self.assessments_at_plan = len(self.assessments)

    # --- service sessions -----------------------------------------------------------------------

    def record_session(self, *, service_type: str, station_id: UUID, session_date: date, minutes: int, mode: str,
                       attendance: str, today: date) -> UUID:
        if service_type not in BASIC_SERVICES:
            raise InvalidInput("service_type", f"must be one of {', '.join(BASIC_SERVICES)}")
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_SESSION_MINUTES:
            raise InvalidInput("minutes", f"must be an integer from 1 to {MAX_SESSION_MINUTES}")
        if mode not in SESSION_MODES:
            raise InvalidInput("mode", f"must be one of {', '.join(SESSION_MODES)}")
        if attendance not in ATTENDANCE:
            raise InvalidInput("attendance", f"must be one of {', '.join(ATTENDANCE)}")
        _not_future("session_date", session_date, today)
        if session_date < self.registered_on:
            raise InvalidInput("session_date", f"cannot be before the client's registration on {self.registered_on}")
        self._refuse_unless_active("service sessions")
        session_id = uuid4()
        self._session_delivered(session_id=session_id, service_type=service_type, station_id=station_id,
                                session_date=session_date, minutes=minutes, mode=mode, attendance=attendance)
        return session_id

    @event("SessionDelivered")
    def _session_delivered(self, session_id: UUID, service_type: str, station_id: UUID, session_date: date,
                           minutes: int, mode: str, attendance: str) -> None:
        self.sessions.append({"session_id": session_id, "service_type": service_type, "station_id": station_id,
                              "session_date": session_date, "minutes": minutes, "mode": mode,
                              "attendance": attendance})

    # --- dynamic-care follow-up contacts ---------------------------------------------------------

    def record_contact(self, *, contacted_on: date, method: str, outcome: str, staff: str, today: date) -> UUID:
        """A follow-up contact of a dynamic-care client. A contact that reached the client
        starts the next interval from its day; one that did not leaves the due date where it
        was (the worker must try again, and the reminder still fires)."""
        if method not in CONTACT_METHODS:
            raise InvalidInput("method", f"must be one of {', '.join(CONTACT_METHODS)}")
        if outcome not in CONTACT_OUTCOMES:
            raise InvalidInput("outcome", f"must be one of {', '.join(CONTACT_OUTCOMES)}")
        _staff_id("staff", staff)
        _not_future("contacted_on", contacted_on, today)
        if contacted_on < self.registered_on:
            raise InvalidInput("contacted_on", f"cannot be before the client's registration on {self.registered_on}")
        if self.contacts and contacted_on < self.contacts[-1]["contacted_on"]:
            raise InvalidInput("contacted_on", f"cannot be before the previous contact on {self.contacts[-1]['contacted_on']}")
        self._refuse_unless_active("follow-up contacts")
        cadence = self.contact_cadence_days
        if cadence is None:
            raise Conflict("the client is not in dynamic care: no follow-up contacts are due "
                           f"(category {self.service_category or 'not yet assessed'})")
        next_due = contacted_on + timedelta(days=cadence) if outcome == "reached" else self.contact_due_on
        contact_id = uuid4()
        self._contact_recorded(contact_id=contact_id, contacted_on=contacted_on, method=method, outcome=outcome,
                               staff=staff, next_contact_due_on=next_due)
        return contact_id

    @event("ContactRecorded")
    def _contact_recorded(self, contact_id: UUID, contacted_on: date, method: str, outcome: str, staff: str,
                          next_contact_due_on: date | None) -> None:
        self.contacts.append({"contact_id": contact_id, "contacted_on": contacted_on, "method": method,
                              "outcome": outcome, "staff": staff})
        self.contact_due_on = next_contact_due_on

    @property
    def shares_with_health(self) -> bool:
        return bool(self.consent and self.consent.get("share_with_health"))

    # --- what intake tells us -------------------------------------------------------------------

    def relocate(self, *, district_code: str, street_code: str, relocated_on: date) -> bool:
        if (district_code, street_code) == (self.district_code, self.street_code):
            return False  # a repeated message
        self._relocated(district_code=district_code, street_code=street_code, relocated_on=relocated_on)
        return True

    @event("Relocated")
    def _relocated(self, district_code: str, street_code: str, relocated_on: date) -> None:
        self.district_code = district_code
        self.street_code = street_code

    def change_consent(self, *, consent: dict[str, bool], changed_on: date) -> bool:
        if consent == self.consent:
            return False  # a repeated message
        self._consent_changed(consent=dict(consent), changed_on=changed_on)
        return True

    @event("ConsentChanged")
    def _consent_changed(self, consent: dict[str, bool], changed_on: date) -> None:
        self.consent = consent

    def record_exit(self, *, reason: str, exited_on: date) -> bool:
        if self.exited_on:
            return False  # a repeated message
        self._exited(reason=reason, exited_on=exited_on)
        return True

    @event("Exited")
    def _exited(self, reason: str, exited_on: date) -> None:
        self.exited_on = exited_on
        self.exit_reason = reason

    # --- deadlines: each reports at most once per due date; a no-op otherwise ----------------------

    def report_plan_overdue(self, today: date) -> bool:
        if self.status != "active" or self.plan_version or self.plan_overdue_reported or today <= self.plan_due_on:
            return False
        self._plan_overdue(registered_on=self.registered_on, due_on=self.plan_due_on)
        return True

    @event("PlanOverdue")
    def _plan_overdue(self, registered_on: date, due_on: date) -> None:
        self.plan_overdue_reported = True

    def report_reassessment_due(self, today: date) -> bool:
        due_on = self.reassessment_due_on
        if self.status != "active" or due_on is None or today < due_on or self.reassessment_due_reported_for == due_on:
            return False
        self._reassessment_due(last_assessed_on=self.latest["assessed_on"], due_on=due_on)
        return True

    @event("ReassessmentDue")
    def _reassessment_due(self, last_assessed_on: date, due_on: date) -> None:
        self.reassessment_due_reported_for = due_on

    def report_reassessment_overdue(self, today: date) -> bool:
        due_on, overdue_on = self.reassessment_due_on, self.reassessment_overdue_on
        if (self.status != "active" or due_on is None or overdue_on is None or today < overdue_on
                or self.reassessment_overdue_reported_for == due_on):
            return False
        self.report_reassessment_due(today)  # subscribers see "due" before "overdue"
        self._reassessment_overdue(last_assessed_on=self.latest["assessed_on"], due_on=due_on)
        return True

    @event("ReassessmentOverdue")
    def _reassessment_overdue(self, last_assessed_on: date, due_on: date) -> None:
        self.reassessment_overdue_reported_for = due_on

    def report_contact_due(self, today: date) -> bool:
        """A dynamic-care follow-up contact is due; the next one falls a cadence later,
        counted from today when the reminder comes late (no burst after a long outage)."""
        due_on, cadence = self.contact_due_on, self.contact_cadence_days
        if self.status != "active" or due_on is None or cadence is None or today < due_on:
            return False
        self._contact_due(due_on=due_on, cadence_days=cadence,
                          next_due_on=max(due_on, today) + timedelta(days=cadence))
        return True

    @event("ContactDue")
    def _contact_due(self, due_on: date, cadence_days: int, next_due_on: date) -> None:
        self.contact_due_on = next_due_on


def _upcast_assessment_completed_v1_v2(state: dict) -> None:
    """Assessments stored before functional scores and due dates were recorded (class
    version 1) replay as version 2 with those fields empty."""
    for key in ("functional_score", "reassessment_due_on", "reassessment_overdue_on", "contact_due_on",
                "contact_cadence_days"):
        state.setdefault(key, None)


ClientRecord.AssessmentCompleted.class_version = 2
ClientRecord.AssessmentCompleted.upcast_v1_v2 = staticmethod(_upcast_assessment_completed_v1_v2)


class Caseload(Aggregate):
    """The clients of one district whose records are open here, for working lists (the
    console's "my clients" with what is due next): one aggregate per district, saved in the
    same transaction as the record it follows (opened, relocated in or out, exited), so the
    list and the records never disagree. Two changes to one district at once conflict on its
    version and the loser is retried, as for any aggregate."""

    @staticmethod
    def id_for(district_code: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"jingkang:assessment:caseload:{district_code}")

    @staticmethod
    def create_id(district_code: str) -> UUID:
        return Caseload.id_for(district_code)

    @event("Started")
    def __init__(self, district_code: str):
        self.district_code = district_code
        self.clients: list[UUID] = []  # in the order they arrived

    def join(self, client_id: UUID) -> bool:
        if client_id in self.clients:
            return False
        self._joined(client_id=client_id)
        return True

    @event("Joined")
    def _joined(self, client_id: UUID) -> None:
        self.clients.append(client_id)

    def leave(self, client_id: UUID) -> bool:
        if client_id not in self.clients:
            return False
        self._left(client_id=client_id)
        return True

    @event("Left")
    def _left(self, client_id: UUID) -> None:
        self.clients.remove(client_id)
