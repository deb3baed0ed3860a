"""assessment's aggregate: the rehabilitation record of one client, keyed by the
client's pseudonymous id. Pure: no I/O.

Classification (DESIGN.md §4): stable or basically stable with risk 0-2 and willing
-> community_rehab; the same but unwilling -> dynamic_care; unstable or risk 3-5
-> dynamic_care with a medical referral. A relapse is detected when the condition
becomes unstable or risk reaches 3+, once per episode: the episode ends when an
assessment finds the client stable (or basically stable) with risk below 3."""
from __future__ import annotations

from datetime import date, datetime
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from shared.clock import LOCAL
from shared.errors import Conflict, InvalidInput

STABILITIES = ("stable", "basically_stable", "unstable")
KINDS = ("baseline", "process", "discharge")
HIGH_RISK = 3


def classify(stability: str, risk_level: int, willing: bool) -> tuple[str, bool]:
    """-> (service_category, medical_referral_needed)"""
    if stability == "unstable" or risk_level >= HIGH_RISK:
        return "dynamic_care", True
    return ("community_rehab" if willing else "dynamic_care"), False


def in_relapse(stability: str, risk_level: int) -> bool:
    return stability == "unstable" or risk_level >= HIGH_RISK


class ClientRecord(Aggregate):
    @staticmethod
    def create_id(client_id: UUID, **_: object) -> UUID:
        return client_id

    @event("Opened")
    def __init__(self, client_id: UUID, district_code: str, street_code: str, registered_on: date):
        self.district_code = district_code
        self.street_code = street_code
        self.registered_on = registered_on
        self.assessments: list[dict] = []
        self.service_category: str | None = None
        self.medical_referral_needed = False
        self.relapse_episode_open = False
        self.exited = False

    def complete_assessment(self, *, kind: str, stability: str, risk_level: int, willing: bool, assessor: str,
                            assessed_on: date, now: datetime) -> UUID:
        if kind not in KINDS:
            raise InvalidInput("kind", f"must be one of {', '.join(KINDS)}")
        if stability not in STABILITIES:
            raise InvalidInput("stability", f"must be one of {', '.join(STABILITIES)}")
        if not 0 <= risk_level <= 5:
            raise InvalidInput("risk_level", "must be an integer from 0 to 5")
        if assessed_on > now.astimezone(LOCAL).date():  # business dates are local dates
            raise InvalidInput("assessed_on", "cannot be in the future")
        if self.exited:
            raise Conflict("the client has exited; no further assessments")
        if kind == "baseline" and self.assessments:
            raise Conflict("the baseline assessment was already completed; record a process assessment")
        if kind != "baseline" and not self.assessments:
            raise Conflict("a baseline assessment must come first")
        category, medical = classify(stability, risk_level, willing)
        assessment_id = uuid4()
        self._assessment_completed(
            assessment_id=assessment_id, kind=kind, stability=stability, risk_level=risk_level, willing=willing,
            assessor=assessor, assessed_on=assessed_on, service_category=category, medical_referral_needed=medical,
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

    @property
    def latest(self) -> dict | None:
        return self.assessments[-1] if self.assessments else None

    @event("AssessmentCompleted")
    def _assessment_completed(self, assessment_id: UUID, kind: str, stability: str, risk_level: int, willing: bool,
                              assessor: str, assessed_on: date, service_category: str,
                              medical_referral_needed: bool) -> None:
        self.assessments.append({
            "assessment_id": assessment_id, "kind": kind, "stability": stability, "risk_level": risk_level,
            "willing": willing, "assessor": assessor, "assessed_on": assessed_on,
        })
        if kind == "discharge":
            self.exited = True

    @event("Classified")
    def _classified(self, service_category: str, medical_referral_needed: bool, previous_category: str | None) -> None:
        self.service_category = service_category
        self.medical_referral_needed = medical_referral_needed

    @event("RelapseDetected")
    def _relapse_detected(self, detected_at: datetime, stability: str, risk_level: int, reported: bool,
                          district_code: str) -> None:
        self.relapse_episode_open = True

    @event("RelapseResolved")
    def _relapse_resolved(self, assessment_id: UUID) -> None:
        self.relapse_episode_open = False
