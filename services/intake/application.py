"""The intake Application: commands and queries over applications, clients and the person
index. Every command is get -> call -> save; no HTTP, no Kafka here. The time limits use
shared.deadlines: submission (registration limit) and registration (handover limit) save an
Agenda entry with the aggregates, and the worker's timer calls `run_deadlines()`. The worker
learns of the handover from referral's ClientPlaced (contracts.handlers).

Identifiers are sealed here, before the domain sees the command, under the person's data key
in the identity vault (vault.py). The key id is the person's PersonIndex id, so one erasure
covers every application of that person, and duplicate detection (the index, by lookup
hash) goes on working after it."""
from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any, Callable
from uuid import UUID

from services.intake.domain import (
    HANDOVER, REGISTRATION, Application, Client, PersonIndex, check_street, lookup_hash,
)
from services.intake.registry import NoRegistry, Registry
from services.intake.settings import (
    DEVELOPMENT_LOOKUP_KEY, handover_working_days, lookup_key, registration_working_days, working_days,
)
from services.intake.settings import registry as configured_registry
from services.intake.vault import IdentityErased, IdentityVault, create_vault
from services.intake.working_days import WorkingDays
from shared.clock import Clock, SystemClock
from shared.deadlines import Deadlines
from shared.errors import Conflict, NotFound
from shared.settings import ServiceSettings, store_env
from shared.store import ServiceApplication, command_context, rerun_on_conflict, sets_state

# The refusal a district gets for a person whose case another district holds: it names no id
# and does not say whether there is an application, a client, or anything at all.
NOT_HERE = ("this application cannot be taken in your district; nothing about the person's records elsewhere is "
            "disclosed. A person who moved is handed over by the district that holds their case (relocation)")

log = logging.getLogger("jingkang.intake")


class Intake(Deadlines, ServiceApplication):
    name = "intake"

    def __init__(self, env=None, clock: Clock | None = None, *, vault: IdentityVault,
                 lookup_key: bytes = DEVELOPMENT_LOOKUP_KEY.encode(), registry: Registry | None = None,
                 calendar: WorkingDays | None = None, registration_working_days: int = 5,
                 handover_working_days: int = 5):
        # The vault is required: without one identifiers would have to be stored in clear.
        self.vault = vault
        self.lookup_key = lookup_key
        self.registry: Registry = registry or NoRegistry()
        self.calendar = calendar or WorkingDays()
        self.registration_working_days = registration_working_days
        self.handover_working_days = handover_working_days
        super().__init__(env=env, clock=clock)
        self.vault.share_pool(self.store_pool())  # one pool per process (README "Connection budget")

    def close(self) -> None:
        self.vault.close()
        super().close()

    # --- applications ---------------------------------------------------------------------------

    @rerun_on_conflict  # the day's agenda is shared with every other application
    def submit_application(self, *, source: str, applicant: dict[str, Any], district_code: str, street_code: str,
                           hardship_categories: list[str], guardian: dict[str, Any] | None = None,
                           lacks_capacity: bool = False, covers: Callable[[str], bool] | None = None) -> UUID:
        """`covers` says which districts the caller acts for (None: all): a duplicate held in a
        district it does not cover is refused without a word about it (see _refuse_duplicate)."""
        today = self.clock.today()
        # Check in clear first: an invalid or duplicate application creates no data key.
        Application.check(source=source, applicant=applicant, hardship_categories=hardship_categories, today=today,
                          guardian=guardian, lacks_capacity=lacks_capacity)
        check_street(district_code, street_code)
        person = lookup_hash(self.lookup_key, applicant["id_number"])
        index = self._person_index(person)
        self._refuse_duplicate(index, district_code, covers, today)
        try:
            sealed = self.vault.seal(index.id, {"applicant": applicant, "guardian": guardian})
        except IdentityErased:
            raise Conflict("this person's identity was erased on request; intake cannot take a new application "
                           "under it") from None
        due_on = self.calendar.add(today, self.registration_working_days)
        application = Application.submit(
            source=source, applicant=applicant, guardian=guardian, lacks_capacity=lacks_capacity,
            district_code=district_code, street_code=street_code, hardship_categories=hardship_categories,
            today=today, lookup_hash=person, registration_due_on=due_on, sealed_identity=sealed,
            identity_key_id=index.id,
        )
        index.claim(application.id)
        # Only a valid, non-duplicate application reaches the registry.
        check = self.registry.lookup(applicant["id_number"])
        application.record_registry_check(status=check.status, registry=check.registry,
                                          listed_since=check.listed_since, note=check.note, today=today)
        # The breach is reported the day after the last day in time.
        agenda = self.schedule(REGISTRATION, application.id, due_on + timedelta(days=1))
        self.save(application, index, agenda)
        return application.id

    @sets_state
    def record_consent(self, application_id: UUID, *, signed_by: str, scope: dict[str, bool]) -> bool:
        """False when the same consent was already recorded: nothing new is stored."""
        application = self.get_application(application_id)
        if not application.record_consent(signed_by=signed_by, scope=scope, today=self.clock.today()):
            return False
        self.save(application)
        return True

    @rerun_on_conflict  # the day's agenda is shared with every other registration
    def register_client(self, application_id: UUID) -> UUID:
        application = self.get_application(application_id)
        today = self.clock.today()
        due_on = self.calendar.add(today, self.handover_working_days)
        client = application.register(today=today, handover_due_on=due_on)
        index = self._index_of(application)
        if index is not None:
            index.enrol(application_id=application.id, client_id=client.id)
        agenda = self.schedule(HANDOVER, client.id, due_on + timedelta(days=1))  # the day after the last in time
        self.save(application, client, *([index] if index else []), agenda)
        return client.id

    def withdraw_application(self, application_id: UUID) -> Application:
        application = self.get_application(application_id)
        application.withdraw(today=self.clock.today())
        self._save_releasing(application, application.id, "application_withdrawn")
        return application

    def reject_identity(self, application_id: UUID, *, reason: str) -> Application:
        application = self.get_application(application_id)
        application.reject_identity(reason=reason, today=self.clock.today())
        self._save_releasing(application, application.id, "identity_rejected")
        return application

    # --- clients --------------------------------------------------------------------------------

    @rerun_on_conflict  # intake's worker writes the client too (its placement, from referral)
    def withdraw_consent(self, client_id: UUID, *, scopes: list[str]) -> Client:
        client = self.get_client(client_id)
        client.withdraw_consent(scopes=scopes, today=self.clock.today())
        self.save(client)
        return client

    @rerun_on_conflict  # intake's worker writes the client too (its placement, from referral)
    def relocate_client(self, client_id: UUID, *, district_code: str, street_code: str) -> Client:
        client = self.get_client(client_id)
        client.relocate(district_code=district_code, street_code=street_code, today=self.clock.today())
        self.save(client)
        return client

    @rerun_on_conflict  # intake's worker writes the client too (its placement, from referral)
    def exit_client(self, client_id: UUID, *, reason: str) -> Client:
        client = self.get_client(client_id)
        client.leave(reason=reason, today=self.clock.today())
        self._save_releasing(client, client.id, "client_exited", self.get_application(client.application_id))
        return client

    @rerun_on_conflict  # intake's worker writes the client too (its placement, from referral)
    def read_identity(self, client_id: UUID, *, purpose: str) -> dict[str, Any]:
        """The client's identity (applicant and guardian), recorded as read: by whom (the
        event's actor and role) and for what purpose. IdentityErased once it was erased (and
        then nothing is recorded)."""
        client = self.get_client(client_id)
        client.record_identity_read(purpose=purpose, today=self.clock.today())  # 422 before anything is opened
        if client.identity_erased:
            raise IdentityErased(client.identity_erased["key_id"])
        identity = self.identity_of(self.get_application(client.application_id))
        self.save(client)
        return identity

    def erase_identity(self, client_id: UUID, *, reason: str) -> Client:
        """Crypto-erasure: record IdentityErased (reason, key id; no identifier) and destroy the
        person's data key, so every token sealed under it, in every application of the person,
        can no longer be opened. No event changes; the case replays and the chain verifies.
        The event is saved first: a key is never destroyed without the record of why."""
        client = self.get_client(client_id)
        application = self.get_application(client.application_id)
        key_id = self._key_id_of(application)
        if client.identity_erased and key_id is not None:
            self.vault.erase(key_id)  # a repeat finishes an erasure whose key deletion failed
        client.erase_identity(reason=reason, key_id=key_id, today=self.clock.today())
        self.save(client)
        if key_id is not None:
            self.vault.erase(key_id)
        log.info("identity erased for client %s (reason %s)", client_id, reason)
        return client

    def record_placement(self, client_id: UUID, *, station_id: UUID, placed_on: date) -> None:
        """referral placed the client (ClientPlaced): the first placement is the handover."""
        client = self.get_client(client_id)
        if client.record_placement(station_id=station_id, placed_on=placed_on):
            self.save(client)

    def record_waitlisting(self, client_id: UUID, *, waiting_since: date) -> None:
        """referral put the client on the waitlist (ClientWaitlisted): the limit still runs."""
        client = self.get_client(client_id)
        if client.record_waitlisting(waiting_since=waiting_since):
            self.save(client)

    def identity_of(self, application: Application) -> dict[str, Any]:
        """The application's identity in clear: opened from its token, or as stored before the
        vault (a plain dict). IdentityErased if the person's key was erased."""
        if not application.sealed:
            return application.identity
        return self.vault.open(application.identity_key_id, application.identity)

    # --- queries --------------------------------------------------------------------------------

    def get_application(self, application_id: UUID) -> Application:
        return self.get_aggregate(application_id, Application, "application")

    def get_client(self, client_id: UUID) -> Client:
        return self.get_aggregate(client_id, Client, "client")

    # --- deadlines ------------------------------------------------------------------------------

    def run_deadlines(self) -> int:
        """The worker's timer: report every registration and handover past its time limit
        (shared.deadlines)."""
        with command_context(actor="intake-deadlines", role="system"):
            return self.run_due(self.on_due)

    def on_due(self, kind: str, subject_id: UUID, day: date) -> list[Any]:
        """Idempotent: the application (the client) knows whether it is registered (placed),
        closed or already reported."""
        try:
            if kind == REGISTRATION:
                application = self.get_application(subject_id)
                return [application] if application.report_registration_overdue(self.clock.today()) else []
            if kind == HANDOVER:
                client = self.get_client(subject_id)
                return [client] if client.report_handover_overdue(self.clock.today()) else []
        except NotFound:
            return []
        log.warning("unknown deadline kind %r on the agenda of %s", kind, day)
        return []

    # --- the person index -------------------------------------------------------------------------

    def _refuse_duplicate(self, index: PersonIndex, district_code: str, covers: Callable[[str], bool] | None,
                          today: date) -> None:
        """The person already holds an open application or is a client. Their district is
        told which (409 naming it); any other district gets a refusal that names nothing and
        confirms nothing (being in the programme is health information it may not see), and
        the attempt is kept on the record held, where its district sees it."""
        held = index.holder()
        if held is None:
            return
        kind, holder_id = held
        holder = self.get_client(holder_id) if kind == "client" else self.get_application(holder_id)
        if covers is None or covers(holder.district_code):
            index.check_free()
        holder.record_duplicate_attempt(district_code=district_code, today=today)
        self.save(holder)
        raise Conflict(NOT_HERE)

    def _person_index(self, person: str) -> PersonIndex:
        index_id = PersonIndex.id_for(person)
        if index_id in self.repository:
            return self.repository.get(index_id)
        return PersonIndex(lookup_hash=person)

    @staticmethod
    def _key_id_of(application: Application) -> UUID | None:
        """The person's data key: the one it was sealed under, or for an application stored
        before the vault, the one its person's later applications are sealed under."""
        if application.identity_key_id is not None:
            return application.identity_key_id
        return PersonIndex.id_for(application.lookup_hash) if application.lookup_hash else None

    def _index_of(self, application: Application) -> PersonIndex | None:
        if application.lookup_hash is None:  # submitted before the index existed
            return None
        return self._person_index(application.lookup_hash)

    def _save_releasing(self, changed: Any, holder: UUID, reason: str, application: Application | None = None) -> None:
        """Save `changed` with the person's index released by `holder` (one transaction)."""
        index = self._index_of(application or changed)
        if index is not None:
            index.release(holder=holder, reason=reason)
        self.save(changed, *([index] if index else []))


def create_application(settings: ServiceSettings, clock: Clock | None = None, registry_adapter: Registry | None = None) -> Intake:
    """The composition root of intake's Application: its store, vault (keys beside the store,
    wrapped under the cipher key), registry and calendar, all from settings."""
    return Intake(env=store_env(settings), clock=clock or SystemClock(settings.clock_file), vault=create_vault(settings),
                  lookup_key=lookup_key(settings), registry=registry_adapter or configured_registry(settings),
                  calendar=working_days(settings), registration_working_days=registration_working_days(settings),
                  handover_working_days=handover_working_days(settings))
