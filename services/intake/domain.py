"""intake's aggregates: an Application (申请) that is verified, consented and
registered, and the Client it registers under a pseudonymous id. Pure: no I/O.

Personal identifiers live only in these internal events, which intake's store
encrypts at rest; public events (contracts.py) never carry them."""
from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from services.intake.resident_id import InvalidResidentId, parse_resident_id
from shared.errors import Conflict, InvalidInput

SOURCES = ("self", "guardian", "hospital_discharge", "community")
HARDSHIP = ("disability_subsidy", "extreme_poverty", "minimum_living_allowance", "marginal", "expenditure_hardship")
ADULT_AGE = 18
CONSENT_SCOPES = ("rehabilitation_services", "share_with_health", "share_with_disability_and_employment")
EXIT_REASONS = ("recovered", "moved_away", "transferred", "withdrew", "died")


def check_identity(applicant: dict[str, Any], today: date) -> None:
    """Real-name check: the resident id is well formed and agrees with birth date and sex."""
    try:
        rid = parse_resident_id(applicant["id_number"], today=today)
    except InvalidResidentId as e:
        raise InvalidInput("applicant.id_number", e.reason) from None
    if rid.birth_date != applicant["birth_date"]:
        raise InvalidInput("applicant.birth_date", "does not match the birth date in the resident id")
    if rid.sex != applicant["sex"]:
        raise InvalidInput("applicant.sex", "does not match the sex digit of the resident id")


class Application(Aggregate):
    @event("Submitted")
    def __init__(
        self,
        source: str,
        applicant: dict[str, Any],
        district_code: str,
        street_code: str,
        hardship_categories: list[str],
        submitted_on: date,
    ):
        self.source = source
        self.applicant = applicant
        self.district_code = district_code
        self.street_code = street_code
        self.hardship_categories = hardship_categories
        self.submitted_on = submitted_on
        self.is_minor = False
        self.consent: dict[str, Any] | None = None
        self.client_id: UUID | None = None

    @classmethod
    def submit(cls, *, source: str, applicant: dict[str, Any], district_code: str, street_code: str,
               hardship_categories: list[str], today: date) -> "Application":
        if source not in SOURCES:
            raise InvalidInput("source", f"must be one of {', '.join(SOURCES)}")
        unknown = sorted(set(hardship_categories) - set(HARDSHIP))
        if unknown:
            raise InvalidInput("hardship_categories", f"unknown categories {unknown}")
        check_identity(applicant, today)
        return cls(source, applicant, district_code, street_code, sorted(set(hardship_categories)), today)

    @property
    def status(self) -> str:
        if self.client_id:
            return "registered"
        return "consented" if self.consent else "submitted"

    def age_on(self, day: date) -> int:
        born: date = self.applicant["birth_date"]
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))

    def record_consent(self, *, signed_by: str, scope: dict[str, bool], today: date) -> None:
        if self.client_id:
            raise Conflict("the client is already registered; record a consent change on the client")
        if signed_by == "self" and self.age_on(today) < ADULT_AGE:
            raise Conflict("the applicant is a minor: consent must be signed by the guardian")
        self._consent_recorded(signed_by=signed_by, scope=scope, signed_on=today)

    @event("ConsentRecorded")
    def _consent_recorded(self, signed_by: str, scope: dict[str, bool], signed_on: date) -> None:
        self.consent = {"signed_by": signed_by, "scope": scope, "signed_on": signed_on}

    def register(self, *, today: date) -> "Client":
        if self.client_id:
            raise Conflict(f"application already registered as client {self.client_id}")
        if not self.consent:
            raise Conflict("informed consent must be recorded before registration")
        if not self.consent["scope"].get("rehabilitation_services"):
            raise Conflict("consent to rehabilitation services is required for registration")
        client = Client(
            application_id=self.id,
            source=self.source,
            district_code=self.district_code,
            street_code=self.street_code,
            hardship_categories=self.hardship_categories,
            consent=self.consent["scope"],
            registered_on=today,
        )
        self._registered(client_id=client.id)
        return client

    @event("Registered")
    def _registered(self, client_id: UUID) -> None:
        self.client_id = client_id


class Client(Aggregate):
    """A registered client, known everywhere else only by this pseudonymous id."""

    @event("Registered")
    def __init__(self, application_id: UUID, source: str, district_code: str, street_code: str,
                 hardship_categories: list[str], consent: dict[str, bool], registered_on: date):
        self.application_id = application_id
        self.source = source
        self.district_code = district_code
        self.street_code = street_code
        self.hardship_categories = hardship_categories
        self.consent = consent
        self.registered_on = registered_on
        self.exit: dict[str, Any] | None = None

    @property
    def free_service_eligible(self) -> bool:
        # Hardship categories of the policy qualify for free service.
        return bool(self.hardship_categories)

    def _active(self) -> None:
        if self.exit:
            raise Conflict(f"the client exited on {self.exit['exited_on']} ({self.exit['reason']}); no further changes")

    def withdraw_consent(self, *, scopes: list[str], today: date) -> None:
        """Later sharing stops; what was shared and recorded stays (the history is not rewritten)."""
        self._active()
        unknown = sorted(set(scopes) - set(CONSENT_SCOPES))
        if not scopes or unknown:
            raise InvalidInput("scopes", f"name one or more of {', '.join(CONSENT_SCOPES)}")
        if not any(self.consent.get(scope) for scope in scopes):
            raise Conflict("that consent is not currently given")
        self._consent_withdrawn(consent={k: v and k not in scopes for k, v in self.consent.items()}, withdrawn_on=today)

    @event("ConsentWithdrawn")
    def _consent_withdrawn(self, consent: dict[str, bool], withdrawn_on: date) -> None:
        self.consent = consent

    def relocate(self, *, district_code: str, street_code: str, today: date) -> None:
        self._active()
        if not street_code.startswith(district_code):
            raise InvalidInput("street_code", "must lie in the district (start with its code)")
        if (district_code, street_code) == (self.district_code, self.street_code):
            raise Conflict("the client already lives there")
        self._relocated(district_code=district_code, street_code=street_code, relocated_on=today)

    @event("Relocated")
    def _relocated(self, district_code: str, street_code: str, relocated_on: date) -> None:
        self.district_code = district_code
        self.street_code = street_code

    def leave(self, *, reason: str, today: date) -> None:
        """Exit from the programme (转出)."""
        self._active()
        if reason not in EXIT_REASONS:
            raise InvalidInput("reason", f"must be one of {', '.join(EXIT_REASONS)}")
        self._exited(reason=reason, exited_on=today)

    @event("Exited")
    def _exited(self, reason: str, exited_on: date) -> None:
        self.exit = {"reason": reason, "exited_on": exited_on}
