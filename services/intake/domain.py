"""intake's aggregates: an Application (申请) that is verified, consented and
registered (or withdrawn, or rejected), the Client it registers under a pseudonymous id,
and the PersonIndex that keeps one person from holding two places at once. Pure: no I/O.

Personal identifiers (the applicant's and the guardian's) are checked here in clear but
stored only as a token sealed under the person's own data key (the application seals them,
services/intake/vault.py), in the `identity` field of Application.Submitted; erasing that
key erases them without touching an event. The rules use the separately stored facts
(adult_on, has_guardian, lookup_hash). Public events (contracts.py) never carry identifiers.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import date
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from services.intake.resident_id import InvalidResidentId, ResidentId, parse_resident_id
from shared.errors import Conflict, InvalidInput

SOURCES = ("self", "guardian", "hospital_discharge", "community")
HARDSHIP = ("disability_subsidy", "extreme_poverty", "minimum_living_allowance", "marginal", "expenditure_hardship")
ADULT_AGE = 18
CONSENT_SCOPES = ("rehabilitation_services", "share_with_health", "share_with_disability_and_employment")
EXIT_REASONS = ("recovered", "moved_away", "transferred", "withdrew", "died")
RELATIONSHIPS = ("parent", "spouse", "child", "sibling", "other_relative", "appointed_guardian")
REJECTION_REASONS = ("documents_mismatch", "not_resident", "registry_conflict", "other")
READ_PURPOSES = ("service_delivery", "guardian_contact", "medical_referral", "legal_request")
REGISTRY_STATUSES = ("listed", "not_listed", "unavailable", "not_configured")
REGISTRATION = "registration"  # the deadline kind: verified and registered within N working days
HANDOVER = "handover"  # and then handed to a provider (placed at a station) within a further N
# Why an identity is erased (a code, never free text: the event must hold no personal data).
ERASURE_REASONS = ("data_subject_request", "retention_expired", "legal_order", "recorded_in_error")


def lookup_hash(key: bytes, id_number: str) -> str:
    """The keyed hash (HMAC-SHA256) of a normalised resident id: finds a person again
    without keeping the number in clear; useless to anyone without the key."""
    return hmac.new(key, id_number.strip().upper().encode("ascii", "replace"), hashlib.sha256).hexdigest()


def adult_on(born: date) -> date:
    """The 18th birthday (a 29 February birthday turns over on 1 March)."""
    try:
        return born.replace(year=born.year + ADULT_AGE)
    except ValueError:
        return date(born.year + ADULT_AGE, 3, 1)


def check_identity(applicant: dict[str, Any], today: date) -> ResidentId:
    """Real-name check: the resident id is well formed and agrees with birth date and sex."""
    try:
        rid = parse_resident_id(applicant["id_number"], today=today)
    except InvalidResidentId as e:
        raise InvalidInput("applicant.id_number", e.reason) from None
    if rid.birth_date != applicant["birth_date"]:
        raise InvalidInput("applicant.birth_date", "does not match the birth date in the resident id")
    if rid.sex != applicant["sex"]:
        raise InvalidInput("applicant.sex", "does not match the sex digit of the resident id")
    return rid


def check_guardian(guardian: dict[str, Any], applicant: ResidentId, today: date) -> None:
    """The guardian passes the same resident-id check, is an adult, and is someone else."""
    try:
        rid = parse_resident_id(guardian["id_number"], today=today)
    except InvalidResidentId as e:
        raise InvalidInput("guardian.id_number", e.reason) from None
    if rid.number == applicant.number:
        raise InvalidInput("guardian.id_number", "the guardian cannot be the applicant")
    if rid.age_on(today) < ADULT_AGE:
        raise InvalidInput("guardian.id_number", "the guardian must be an adult (18 or older)")
    if guardian.get("relationship") not in RELATIONSHIPS:
        raise InvalidInput("guardian.relationship", f"must be one of {', '.join(RELATIONSHIPS)}")


def guardian_required_because(source: str, minor: bool, lacks_capacity: bool) -> str | None:
    if source == "guardian":
        return "a guardian's application must name the guardian"
    if minor:
        return "the applicant is a minor: a guardian is required"
    if lacks_capacity:
        return "the applicant lacks capacity: a guardian is required"
    return None


def check_street(district_code: str, street_code: str) -> None:
    """A street lies in its district: its 9-digit code starts with the district's 6."""
    if not street_code.startswith(district_code):
        raise InvalidInput("street_code", "must lie in the district (start with its code)")


class DuplicateAttempts:
    """Attempts from another district to open a case for the person this record holds. The
    other district is told nothing (DESIGN §3: membership is health information); the
    district that holds the record sees each attempt here, and who made it in the event's
    actor and role. Internal: never published. (Each aggregate declares its own event.)"""

    @property
    def duplicate_attempts(self) -> list[dict[str, Any]]:
        return list(getattr(self, "_duplicate_attempts", []))

    def record_duplicate_attempt(self, *, district_code: str, today: date) -> None:
        self._duplicate_attempted(district_code=district_code, attempted_on=today)  # type: ignore[attr-defined]

    def _add_duplicate_attempt(self, district_code: str, attempted_on: date) -> None:
        self._duplicate_attempts = [*self.duplicate_attempts, {"district_code": district_code,
                                                               "attempted_on": attempted_on}]


class Application(DuplicateAttempts, Aggregate):
    class Submitted(Aggregate.Created):
        # v1 carried `applicant` alone; v2 keeps every identifier in `identity` (one field
        # that can be sealed as a whole) and beside it only what the rules need; v3 stores
        # `identity` as a token sealed under the data key `identity_key_id` (v1 and v2 events
        # read back with their plain dict and no key id).
        class_version = 3
        source: str
        identity: str | dict[str, Any]
        identity_key_id: UUID | None
        district_code: str
        street_code: str
        hardship_categories: list[str]
        submitted_on: date
        adult_on: date
        has_guardian: bool
        lacks_capacity: bool
        lookup_hash: str | None
        registration_due_on: date | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            applicant = state.pop("applicant")
            state["identity"] = {"applicant": applicant, "guardian": None}
            state["adult_on"] = adult_on(applicant["birth_date"])
            state["has_guardian"] = False
            state["lacks_capacity"] = False
            state["lookup_hash"] = None  # not in the person index: it predates it
            state["registration_due_on"] = None

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["identity_key_id"] = None  # stored in clear (encrypted only by the store's cipher)

    @event(Submitted)
    def __init__(
        self,
        source: str,
        identity: str | dict[str, Any],
        identity_key_id: UUID | None,
        district_code: str,
        street_code: str,
        hardship_categories: list[str],
        submitted_on: date,
        adult_on: date,
        has_guardian: bool,
        lacks_capacity: bool,
        lookup_hash: str | None,
        registration_due_on: date | None,
    ):
        self.source = source
        self.identity = identity
        self.identity_key_id = identity_key_id
        self.district_code = district_code
        self.street_code = street_code
        self.hardship_categories = hardship_categories
        self.submitted_on = submitted_on
        self.adult_on = adult_on
        self.has_guardian = has_guardian
        self.lacks_capacity = lacks_capacity
        self.lookup_hash = lookup_hash
        self.registration_due_on = registration_due_on
        self.verified_on: date | None = None
        self.registry_check: dict[str, Any] | None = None
        self.consent: dict[str, Any] | None = None
        self.client_id: UUID | None = None
        self.closed: dict[str, Any] | None = None  # withdrawn or rejected
        self.breached: list[str] = []  # deadline kinds already reported

    @event("DuplicateAttempted")
    def _duplicate_attempted(self, district_code: str, attempted_on: date) -> None:
        self._add_duplicate_attempt(district_code, attempted_on)

    @staticmethod
    def check(*, source: str, applicant: dict[str, Any], hardship_categories: list[str], today: date,
              guardian: dict[str, Any] | None = None, lacks_capacity: bool = False) -> ResidentId:
        """Every rule of a submission on the identifiers in clear (InvalidInput otherwise), so
        the application can check before it seals; `submit` checks again."""
        if source not in SOURCES:
            raise InvalidInput("source", f"must be one of {', '.join(SOURCES)}")
        unknown = sorted(set(hardship_categories) - set(HARDSHIP))
        if unknown:
            raise InvalidInput("hardship_categories", f"unknown categories {unknown}")
        rid = check_identity(applicant, today)
        minor = rid.age_on(today) < ADULT_AGE
        required = guardian_required_because(source, minor, lacks_capacity)
        if guardian is None and required:
            raise InvalidInput("guardian", required)
        if guardian is not None:
            check_guardian(guardian, rid, today)
        return rid

    @classmethod
    def submit(cls, *, source: str, applicant: dict[str, Any], district_code: str, street_code: str,
               hardship_categories: list[str], today: date, lookup_hash: str | None,
               registration_due_on: date | None, sealed_identity: str, identity_key_id: UUID,
               guardian: dict[str, Any] | None = None, lacks_capacity: bool = False) -> "Application":
        """Checks `applicant` and `guardian` in clear, stores only `sealed_identity` (the two of
        them sealed under `identity_key_id`, the person's data key)."""
        rid = cls.check(source=source, applicant=applicant, hardship_categories=hardship_categories, today=today,
                        guardian=guardian, lacks_capacity=lacks_capacity)
        if not isinstance(sealed_identity, str) or not sealed_identity:
            raise ValueError("the identity must be sealed before it is stored")
        application = cls(
            source, sealed_identity, identity_key_id, district_code, street_code,
            sorted(set(hardship_categories)), today, adult_on(rid.birth_date), guardian is not None,
            lacks_capacity, lookup_hash, registration_due_on,
        )
        # The real-name check above is the verification; record it as such (DESIGN §4).
        application._identity_verified(verified_on=today, method="resident_id_check")
        return application

    @property
    def sealed(self) -> bool:
        """False for applications stored before the vault (their identity is a plain dict)."""
        return isinstance(self.identity, str)

    @property
    def status(self) -> str:
        if self.closed:
            return self.closed["status"]
        if self.client_id:
            return "registered"
        return "consented" if self.consent else "submitted"

    @event("IdentityVerified")
    def _identity_verified(self, verified_on: date, method: str) -> None:
        self.verified_on = verified_on

    def record_registry_check(self, *, status: str, registry: str, listed_since: date | None, note: str | None,
                              today: date) -> None:
        """The registry's answer, for the worker to weigh; it decides nothing by itself."""
        if status not in REGISTRY_STATUSES:
            raise InvalidInput("registry.status", f"must be one of {', '.join(REGISTRY_STATUSES)}")
        self._registry_checked(status=status, registry=registry, listed_since=listed_since, note=note, checked_on=today)

    @event("RegistryChecked")
    def _registry_checked(self, status: str, registry: str, listed_since: date | None, note: str | None,
                          checked_on: date) -> None:
        self.registry_check = {"status": status, "registry": registry, "listed_since": listed_since, "note": note,
                               "checked_on": checked_on}

    def _open(self) -> None:
        if self.closed:
            raise Conflict(f"the application was {self.closed['status']} on {self.closed['on']}; it is closed")
        if self.client_id:
            raise Conflict(f"application already registered as client {self.client_id}")

    def record_consent(self, *, signed_by: str, scope: dict[str, bool], today: date) -> bool:
        """False (nothing recorded) when this very consent is already on record."""
        if self.client_id:
            raise Conflict("the client is already registered; record a consent change on the client")
        self._open()
        if signed_by == "self" and today < self.adult_on:
            raise Conflict("the applicant is a minor: consent must be signed by the guardian")
        if signed_by == "self" and self.has_guardian:
            raise Conflict("a guardian is on record: consent must be signed by the guardian")
        if signed_by == "guardian" and not self.has_guardian and today >= self.adult_on:
            raise Conflict("no guardian is on record for this application: the applicant signs")
        if self.consent and (self.consent["signed_by"], self.consent["scope"]) == (signed_by, scope):
            return False
        self._consent_recorded(signed_by=signed_by, scope=scope, signed_on=today)
        return True

    @event("ConsentRecorded")
    def _consent_recorded(self, signed_by: str, scope: dict[str, bool], signed_on: date) -> None:
        self.consent = {"signed_by": signed_by, "scope": scope, "signed_on": signed_on}

    def register(self, *, today: date, handover_due_on: date | None = None) -> "Client":
        self._open()
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
            handover_due_on=handover_due_on,
        )
        self._registered(client_id=client.id)
        return client

    @event("Registered")
    def _registered(self, client_id: UUID) -> None:
        self.client_id = client_id

    def withdraw(self, *, today: date) -> None:
        """The applicant (or guardian) no longer wants to go on; the application closes."""
        self._open()
        self._withdrawn(withdrawn_on=today)

    @event("Withdrawn")
    def _withdrawn(self, withdrawn_on: date) -> None:
        self.closed = {"status": "withdrawn", "on": withdrawn_on, "reason": None}

    def reject_identity(self, *, reason: str, today: date) -> None:
        """A worker found the identity wrong (documents, residence, a registry conflict)."""
        if reason not in REJECTION_REASONS:
            raise InvalidInput("reason", f"must be one of {', '.join(REJECTION_REASONS)}")
        self._open()
        self._identity_rejected(reason=reason, rejected_on=today)

    @event("IdentityRejected")
    def _identity_rejected(self, reason: str, rejected_on: date) -> None:
        self.closed = {"status": "rejected", "on": rejected_on, "reason": reason}

    def report_registration_overdue(self, today: date) -> bool:
        """Past the due day and neither registered nor closed: a breach, reported once."""
        due = self.registration_due_on
        if due is None or today <= due or self.client_id or self.closed or REGISTRATION in self.breached:
            return False
        self._deadline_breached(kind=REGISTRATION, due_on=due)
        return True

    @event("DeadlineBreached")
    def _deadline_breached(self, kind: str, due_on: date) -> None:
        self.breached.append(kind)


class PersonIndex(Aggregate):
    """Which application or client one person holds open, found by the keyed hash of their
    resident id (the id of this aggregate derives from it). One open application or one
    active client per person; released when the application closes or the client exits.
    Two concurrent claims for a new person both create version 1: the store keeps one."""

    @staticmethod
    def id_for(lookup_hash: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"jingkang:intake:person:{lookup_hash}")

    @staticmethod
    def create_id(lookup_hash: str) -> UUID:
        return PersonIndex.id_for(lookup_hash)

    @event("Opened")
    def __init__(self, lookup_hash: str):
        self.lookup_hash = lookup_hash
        self.application_id: UUID | None = None
        self.client_id: UUID | None = None

    def claim(self, application_id: UUID) -> None:
        self.check_free()
        self._claimed(application_id=application_id)

    def holder(self) -> tuple[str, UUID] | None:
        """("client", id) or ("application", id) the person holds open, if any."""
        if self.client_id:
            return "client", self.client_id
        if self.application_id:
            return "application", self.application_id
        return None

    def check_free(self) -> None:
        """Conflict if the person holds an open application or is an active client (naming it:
        for the district that holds it; see Intake.submit_application)."""
        if self.client_id:
            raise Conflict(f"this person is already a registered client: client_id={self.client_id}")
        if self.application_id:
            raise Conflict(f"an application for this person is already open: application_id={self.application_id}")

    @event("Claimed")
    def _claimed(self, application_id: UUID) -> None:
        self.application_id = application_id

    def enrol(self, *, application_id: UUID, client_id: UUID) -> None:
        if self.application_id == application_id:
            self._enrolled(client_id=client_id)

    @event("Enrolled")
    def _enrolled(self, client_id: UUID) -> None:
        self.application_id, self.client_id = None, client_id

    def release(self, *, holder: UUID, reason: str) -> None:
        """Free the person again when `holder` (their application or client) closes."""
        if holder in (self.application_id, self.client_id):
            self._released(reason=reason)

    @event("Released")
    def _released(self, reason: str) -> None:
        self.application_id = self.client_id = None


class Client(DuplicateAttempts, Aggregate):
    """A registered client, known everywhere else only by this pseudonymous id. Intake keeps
    the handover time limit: referral's ClientPlaced tells it the client reached a provider."""

    class Registered(Aggregate.Created):
        # v2 adds the handover due day; clients registered before have none (no limit runs).
        class_version = 2
        application_id: UUID
        source: str
        district_code: str
        street_code: str
        hardship_categories: list[str]
        consent: dict[str, bool]
        registered_on: date
        handover_due_on: date | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["handover_due_on"] = None

    @event(Registered)
    def __init__(self, application_id: UUID, source: str, district_code: str, street_code: str,
                 hardship_categories: list[str], consent: dict[str, bool], registered_on: date,
                 handover_due_on: date | None = None):
        self.application_id = application_id
        self.source = source
        self.district_code = district_code
        self.street_code = street_code
        self.hardship_categories = hardship_categories
        self.consent = consent
        self.registered_on = registered_on
        self.handover_due_on = handover_due_on
        self.placed: dict[str, Any] | None = None  # the first placement: the handover
        self.waitlisted_since: date | None = None
        self.breached: list[str] = []
        self.exit: dict[str, Any] | None = None
        self.identity_reads = 0
        self.identity_erased: dict[str, Any] | None = None

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

    @event("DuplicateAttempted")
    def _duplicate_attempted(self, district_code: str, attempted_on: date) -> None:
        self._add_duplicate_attempt(district_code, attempted_on)

    def relocate(self, *, district_code: str, street_code: str, today: date) -> None:
        self._active()
        check_street(district_code, street_code)
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

    def record_identity_read(self, *, purpose: str, today: date) -> None:
        """Someone read the client's identity: who (the event's actor and role) and why.
        Allowed after an exit too (a legal request may come later)."""
        if purpose not in READ_PURPOSES:
            raise InvalidInput("purpose", f"must be one of {', '.join(READ_PURPOSES)}")
        self._identity_read(purpose=purpose, read_on=today)

    @event("IdentityRead")
    def _identity_read(self, purpose: str, read_on: date) -> None:
        self.identity_reads += 1

    def erase_identity(self, *, reason: str, key_id: UUID | None, today: date) -> None:
        """The client's identity is to be erased (the application then destroys the person's
        data key). Allowed after an exit too: erasure usually follows one. Once only."""
        if reason not in ERASURE_REASONS:
            raise InvalidInput("reason", f"must be one of {', '.join(ERASURE_REASONS)}")
        if self.identity_erased:
            raise Conflict(f"the identity was already erased on {self.identity_erased['erased_on']}")
        self._identity_erased(reason=reason, key_id=key_id, erased_on=today)

    @event("IdentityErased")
    def _identity_erased(self, reason: str, key_id: UUID | None, erased_on: date) -> None:
        # The event names the key, not the person: it holds no identifier.
        self.identity_erased = {"reason": reason, "key_id": key_id, "erased_on": erased_on}

    # --- the handover (facts learnt from referral; allowed after an exit: they happened) ---

    def record_placement(self, *, station_id: UUID, placed_on: date) -> bool:
        """The first placement is the handover; later ones (transfers, a return from hospital)
        are referral's business. False when there is nothing new (a repeat)."""
        if self.placed:
            return False
        self._placed(station_id=station_id, placed_on=placed_on)
        return True

    @event("Placed")
    def _placed(self, station_id: UUID, placed_on: date) -> None:
        self.placed = {"station_id": station_id, "placed_on": placed_on}

    def record_waitlisting(self, *, waiting_since: date) -> bool:
        """On the district's waitlist: shown with the case, but no provider yet, so the
        handover limit still runs (a full station is a delay the limit must make visible)."""
        if self.placed or self.waitlisted_since:
            return False
        self._waitlisted(waiting_since=waiting_since)
        return True

    @event("Waitlisted")
    def _waitlisted(self, waiting_since: date) -> None:
        self.waitlisted_since = waiting_since

    def report_handover_overdue(self, today: date) -> bool:
        """Past the due day, not placed by it and not exited by it: a breach, reported once.
        Judged by the dates of the facts, so a placement learnt late still counts for its day."""
        due = self.handover_due_on
        if due is None or today <= due or HANDOVER in self.breached:
            return False
        if (self.placed and self.placed["placed_on"] <= due) or (self.exit and self.exit["exited_on"] <= due):
            return False
        self._deadline_breached(kind=HANDOVER, due_on=due, application_id=self.application_id)
        return True

    @event("DeadlineBreached")
    def _deadline_breached(self, kind: str, due_on: date, application_id: UUID) -> None:
        self.breached.append(kind)
