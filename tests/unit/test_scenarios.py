"""Scenarios of intake and assessment that run on every event-store backend (DESIGN.md §6:
"the same scenario class runs in memory and on PostgreSQL").

`IntakeScenario` and `AssessmentScenario` build their Application from `self.store_url`;
here they run in memory, and tests/integration/test_scenarios_postgres.py subclasses them
with a fresh PostgreSQL schema. Each story is told at the Application's command level:
given these commands, when this one, then these stored events (or this error, and nothing
stored). Time comes from a FixedClock."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.assessment.application import Assessments
from services.assessment.application import create_application as create_assessments
from services.assessment.contracts import to_public as assessment_public
from services.intake.application import Intake
from services.intake.application import create_application as create_intake
from services.intake.contracts import to_public as intake_public
from shared.clock import FixedClock
from shared.contract.assessment import AssessmentCompleted, AssessmentCompletedV2, ClientClassified, RelapseDetected
from shared.contract.intake import (
    ApplicationSubmitted, ClientRegistered, ConsentRecorded, IdentityVerified, RegistryChecked,
)
from shared.errors import Conflict, InvalidInput
from shared.deadlines import Agenda
from shared.settings import load_settings
from shared.contract.intake import DeadlineBreached
from tests.support import guardian, resident_id

CONSENT = {"rehabilitation_services": True, "share_with_health": True, "share_with_disability_and_employment": False}


class StoreScenario:
    """Builds applications on `self.store_url` and closes them after the test."""

    store_url = "memory://"

    @pytest.fixture(autouse=True)
    def _close_applications(self):
        self._applications: list[Any] = []
        yield
        for application in self._applications:
            application.close()

    def _opened(self, application):
        self._applications.append(application)
        return application

    @staticmethod
    def stored_events(application) -> list[str]:
        """The notification log as 'Aggregate.Event' names, in order."""
        return [f"{type(e).__qualname__}" for e in map(application.mapper.to_domain_event,
                                                         application.recorder.select_notifications(start=1, limit=100))]

    @staticmethod
    def stored(application) -> int:
        return application.recorder.max_notification_id() or 0


class IntakeScenario(StoreScenario):
    def intake(self, start: datetime | None = None, **settings: str) -> Intake:
        self.clock = FixedClock(start)
        return self._opened(create_intake(load_settings("intake", {"JINGKANG_INTAKE_STORE": self.store_url, **settings}),
                                          clock=self.clock))

    @staticmethod
    def guardian() -> dict[str, Any]:
        return guardian(born=date(1980, 5, 5))

    def intake_events(self, intake: Intake) -> list[str]:
        """The stored Application and Client events (the Agenda's and the index's bookkeeping left out)."""
        return [e for e in self.stored_events(intake) if e.startswith(("Application.", "Client."))]

    @staticmethod
    def applicant(born: date = date(1984, 11, 2), sex: str = "male") -> dict[str, Any]:
        return {"name": "李四", "id_number": resident_id(born, sex), "birth_date": born, "sex": sex,
                "phone": "13900000000", "address": "海淀区某街道2号"}

    def submit(self, intake: Intake, applicant: dict[str, Any] | None = None, **overrides: Any) -> UUID:
        args = dict(source="community", applicant=applicant or self.applicant(), district_code="110108",
                    street_code="110108012", hardship_categories=["extreme_poverty"])
        args.update(overrides)
        return intake.submit_application(**args)

    def test_a_clients_registration_story(self):
        intake = self.intake()
        # Given a community worker submitted an application for a minor, and the guardian consented
        minor = self.applicant(born=date(2014, 3, 1), sex="female")
        application_id = self.submit(intake, minor, source="guardian", guardian=self.guardian())
        intake.record_consent(application_id, signed_by="guardian", scope=CONSENT)

        # When staff register the client
        client_id = intake.register_client(application_id)

        # Then the application (verified, cross-checked), the person's place in the index, the
        # registration deadline, the consent, the registration, the new client and its handover
        # deadline are stored, in order. Both deadlines fall on the same day (submitted and
        # registered today), so they share that day's agenda when the two ids land in one shard.
        same_agenda = Agenda.shard_of(application_id) == Agenda.shard_of(client_id)
        assert self.stored_events(intake) == [
            "Application.Submitted", "Application.IdentityVerified", "Application.RegistryChecked",
            "PersonIndex.Opened", "PersonIndex.Claimed", "Agenda.Opened", "Agenda.Scheduled",
            "Application.ConsentRecorded", "Application.Registered", "Client.Registered", "PersonIndex.Enrolled",
            *([] if same_agenda else ["Agenda.Opened"]), "Agenda.Scheduled"]
        # And both aggregates read back from the store as they were left
        application = intake.get_application(application_id)
        assert (application.status, application.client_id) == ("registered", client_id)
        assert intake.identity_of(application)["applicant"]["birth_date"] == "2014-03-01"  # sealed as JSON
        client = intake.get_client(client_id)
        assert (client.district_code, client.street_code, client.registered_on, client.free_service_eligible) == (
            "110108", "110108012", self.clock.today(), True)
        assert client.consent == CONSENT
        # And what the relay publishes names the client only by its pseudonymous id
        public = [p for n in intake.recorder.select_notifications(start=1, limit=100)
                  for p in intake_public(intake.mapper.to_domain_event(n))]
        assert [type(p) for p in public] == [ApplicationSubmitted, IdentityVerified, RegistryChecked, ConsentRecorded,
                                             ClientRegistered]
        assert public[-1].client_id == client_id
        assert not any(secret in p.model_dump_json() for p in public
                       for secret in (minor["name"], minor["id_number"], minor["phone"], minor["address"]))

    def test_a_refused_command_changes_nothing(self):
        intake = self.intake()
        # Given a submitted application for a ten-year-old
        child = self.applicant(born=date(2016, 1, 5))
        application_id = self.submit(intake, child, source="guardian", guardian=self.guardian())
        before = self.stored(intake)

        # When the child signs their own consent, then it is refused
        with pytest.raises(Conflict):
            intake.record_consent(application_id, signed_by="self", scope=CONSENT)
        # When staff register without consent, then it is refused
        with pytest.raises(Conflict):
            intake.register_client(application_id)
        # When another application arrives with a wrong check digit, then it is refused
        bad = self.applicant()
        bad["id_number"] = bad["id_number"][:17] + ("0" if bad["id_number"][17] != "0" else "1")
        with pytest.raises(InvalidInput) as refused:
            self.submit(intake, bad)
        assert refused.value.field == "applicant.id_number"

        # Then nothing was stored by any of them, and the application is as it was
        # When the same child is submitted again while the application is open, then it is refused
        with pytest.raises(Conflict) as duplicate:
            self.submit(intake, child, source="guardian", guardian=self.guardian())
        assert f"application_id={application_id}" in str(duplicate.value)
        # When a minor is submitted without a guardian, then it is refused
        with pytest.raises(InvalidInput) as refused:
            self.submit(intake, self.applicant(born=date(2015, 7, 7)))
        assert refused.value.field == "guardian"

        # Then nothing was stored by any of them, and the application is as it was
        assert self.stored(intake) == before
        assert self.intake_events(intake) == ["Application.Submitted", "Application.IdentityVerified",
                                              "Application.RegistryChecked"]
        assert intake.get_application(application_id).status == "submitted"

    def test_one_person_holds_one_place_until_it_closes(self):
        intake = self.intake()
        person = self.applicant()
        # Given an open application for a person
        first = self.submit(intake, person)
        # When a second arrives for the same person (the same resident id in lower case), then it is refused
        with pytest.raises(Conflict) as refused:
            self.submit(intake, {**person, "id_number": person["id_number"].lower(), "name": "另一个名字"})
        assert f"application_id={first}" in str(refused.value)
        # When the first is withdrawn, then the person may apply again
        intake.withdraw_application(first)
        second = self.submit(intake, person)
        # ...and once registered, a third is refused naming the client
        intake.record_consent(second, signed_by="self", scope=CONSENT)
        client_id = intake.register_client(second)
        with pytest.raises(Conflict) as refused:
            self.submit(intake, person)
        assert f"client_id={client_id}" in str(refused.value)
        # When the client exits, then the person may apply again
        intake.exit_client(client_id, reason="moved_away")
        third = self.submit(intake, person)
        # ...and an identity rejection releases the person as well
        intake.reject_identity(third, reason="documents_mismatch")
        assert intake.get_application(self.submit(intake, person)).status == "submitted"
        # The index never holds the resident id in clear
        assert not any(person["id_number"] in str(vars(intake.mapper.to_domain_event(n))) and
                       "PersonIndex" in n.topic for n in intake.recorder.select_notifications(start=1, limit=200))

    def test_a_registration_past_five_working_days_is_a_breach_reported_once(self):
        # Given an application submitted on Friday 9 January 2026, with Wednesday 14th a holiday
        intake = self.intake(start=datetime(2026, 1, 9, 2, 0, tzinfo=timezone.utc),
                             JINGKANG_INTAKE_HOLIDAYS="2026-01-14")
        late = self.submit(intake)
        on_time = self.submit(intake)
        withdrawn = self.submit(intake)
        # Then it is due on the fifth working day: Mon 12, Tue 13, Thu 15, Fri 16, Mon 19
        assert intake.get_application(late).registration_due_on == date(2026, 1, 19)
        intake.withdraw_application(withdrawn)
        # When the clock reaches the due day, nothing is breached yet
        self.clock.advance(days=10)
        assert self.clock.today() == date(2026, 1, 19)
        intake.run_deadlines()
        intake.record_consent(on_time, signed_by="self", scope=CONSENT)
        intake.register_client(on_time)
        assert not self.breaches(intake)
        # When the next day comes and the worker ticks twice
        self.clock.advance(days=1)
        intake.run_deadlines()
        intake.run_deadlines()
        # Then only the unregistered, open application is reported, once, with its due day
        (breach,) = self.breaches(intake)
        assert (breach.application_id, breach.deadline, breach.due_on) == (late, "registration", date(2026, 1, 19))

    @staticmethod
    def breaches(intake: Intake) -> list[DeadlineBreached]:
        return [p for n in intake.recorder.select_notifications(start=1, limit=500)
                for p in intake_public(intake.mapper.to_domain_event(n)) if isinstance(p, DeadlineBreached)]


class AssessmentScenario(StoreScenario):
    def assessments(self) -> Assessments:
        self.clock = FixedClock()
        settings = load_settings("assessment", {"JINGKANG_ASSESSMENT_STORE": self.store_url})
        return self._opened(create_assessments(settings, clock=self.clock))

    def opened_record(self, assessments: Assessments) -> UUID:
        client_id = uuid4()
        assert assessments.open_record(client_id=client_id, district_code="110105", street_code="110105001",
                                       registered_on=self.clock.today())
        return client_id

    def assess(self, assessments: Assessments, client_id: UUID, kind: str, stability: str, risk_level: int,
               willing: bool = True):
        return assessments.complete_assessment(client_id, kind=kind, stability=stability, risk_level=risk_level,
                                               willing=willing, functional_score=60, assessor="staff-17")

    def record_events(self, assessments: Assessments) -> list[str]:
        """The stored ClientRecord events (the deadline Agenda's bookkeeping left out)."""
        return [name for name in self.stored_events(assessments) if name.startswith("ClientRecord.")]

    def test_a_registered_client_is_classified_at_baseline(self):
        assessments = self.assessments()
        # Given the record opened when intake registered the client
        client_id = self.opened_record(assessments)
        # When the same registration is learned again, then the record is not opened twice
        before = self.stored(assessments)
        assert assessments.open_record(client_id=client_id, district_code="110105", street_code="110105001",
                                       registered_on=self.clock.today()) is False
        assert self.stored(assessments) == before

        # When the baseline finds the client basically stable, risk 2, willing
        self.assess(assessments, client_id, "baseline", "basically_stable", 2)

        # Then the client is in community rehabilitation, as read back from the store
        record = assessments.get_record(client_id)
        assert (record.service_category, record.medical_referral_needed, record.relapse_episode_open) == (
            "community_rehab", False, False)
        assert self.record_events(assessments) == [
            "ClientRecord.Opened", "ClientRecord.AssessmentCompleted", "ClientRecord.Classified"]

    def test_a_relapse_is_detected_once_per_episode(self):
        assessments = self.assessments()
        client_id = self.opened_record(assessments)
        # Given a stable baseline
        self.assess(assessments, client_id, "baseline", "stable", 1)
        # When two process assessments a quarter apart find the client unstable, then risk 4
        self.clock.advance(days=90)
        self.assess(assessments, client_id, "process", "unstable", 1)
        self.clock.advance(days=90)
        self.assess(assessments, client_id, "process", "unstable", 4)
        # Then one relapse was detected, and the record is in an open episode
        assert self.record_events(assessments)[3:] == [
            "ClientRecord.AssessmentCompleted", "ClientRecord.Classified", "ClientRecord.RelapseDetected",
            "ClientRecord.AssessmentCompleted"]
        assert assessments.get_record(client_id).relapse_episode_open

        # When the client recovers and later reaches risk 3, then the episode closes and a new one opens
        self.clock.advance(days=90)
        self.assess(assessments, client_id, "process", "stable", 1)
        self.clock.advance(days=90)
        self.assess(assessments, client_id, "process", "stable", 3)
        assert self.record_events(assessments)[7:] == [
            "ClientRecord.AssessmentCompleted", "ClientRecord.Classified", "ClientRecord.RelapseResolved",
            "ClientRecord.AssessmentCompleted", "ClientRecord.Classified", "ClientRecord.RelapseDetected"]
        # And the published relapses carry when they were detected
        public = [p for n in assessments.recorder.select_notifications(start=1, limit=100)
                  for p in assessment_public(assessments.mapper.to_domain_event(n))]
        relapses = [p for p in public if isinstance(p, RelapseDetected)]
        assert [(r.stability, r.risk_level, r.detected_at) for r in relapses] == [
            ("unstable", 1, FixedClock().advance(days=90)), ("stable", 3, self.clock.now())]
        assert sum(type(p) is AssessmentCompleted for p in public) == 5  # v1, and v2 beside it
        assert sum(type(p) is AssessmentCompletedV2 for p in public) == 5
        assert sum(isinstance(p, ClientClassified) for p in public) == 4

    def test_a_process_assessment_before_the_baseline_changes_nothing(self):
        assessments = self.assessments()
        client_id = self.opened_record(assessments)
        before = self.stored(assessments)
        with pytest.raises(Conflict):
            self.assess(assessments, client_id, "process", "stable", 0)
        assert self.stored(assessments) == before
        assert assessments.get_record(client_id).assessments == []


class TestIntakeScenarioInMemory(IntakeScenario):
    pass


class TestAssessmentScenarioInMemory(AssessmentScenario):
    pass
