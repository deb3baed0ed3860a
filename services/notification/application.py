"""The notification Application: reminders from other services' events and deadlines, their
delivery through a channel, and webhook subscriptions of district integrations with signed,
retried deliveries. Every command is get -> call -> save (one save: in a consumer the Kafka
tracking record is stored with it); no HTTP, no Kafka here.

Deadlines (shared.deadlines) carry two kinds of agenda entry, both run by the worker's timer
through `run_deadlines()`: a reminder for a later day (sent unless the thing happened first)
and a webhook delivery that is due (first attempt or a retry). So neither a slow subscriber
nor a retry ever holds up the consumer, and both survive restarts."""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Mapping
from uuid import UUID


from services.notification.channels import Channel, LogChannel, WebhookChannel, WebhookNetworks
from services.notification.contracts import forwardable_types
from services.notification.domain import (
    PAYMENT_MADE, PLAN_DUE, PLAN_OVERDUE, RECIPIENT_ROLES, ClientNotifications, ContractNotifications, Delivery,
    DeliveryBoard, DirectoryEntry, DistrictSubscriptions, Forward, Notification, RetryPolicy, Subscription,
    WebhookHosts, require_district_code,
)
from services.notification.settings import plan_reminder_days, retry_policy, webhook_hosts, webhook_networks, webhook_timeout
from shared.clock import LOCAL, Clock, SystemClock
from shared.contract import REGISTRY
from shared.deadlines import Deadlines
from shared.errors import Conflict, InvalidInput, NotFound
from shared.settings import ServiceSettings, store_env
from shared.store import ServiceApplication, command_context

__all__ = ["Notifications", "create_application", "LogChannel", "Channel"]

log = logging.getLogger("jingkang.notification")

# Who must act on a transfer request, by referral kind. TransferRequested carries no
# district or station, so recipients are roles until the contract says where.
TRANSFER_RECIPIENTS = {
    "medical": "hospital",
    "community": "community_platform",
    "professional": "receiving_station",
    "employment": "employment_services",
}
# Agenda kinds (shared.deadlines): subject is the notification, or the delivery.
REMINDER = "reminder"
WEBHOOK_DELIVERY = "webhook_delivery"
PLAN_WITHIN_DAYS = 30  # DESIGN.md §4; assessment owns the rule and raises PlanOverdue
# A reminder that arrives makes earlier, softer reminders of the same thing moot.
SUPERSEDES = {PLAN_OVERDUE: (PLAN_DUE,)}
SETTLED_CACHE_MAX = 50_000


def local_day(at: datetime) -> date:
    return at.astimezone(LOCAL).date()


class Notifications(Deadlines, ServiceApplication):
    name = "notification"
    # The board changes at every failure; snapshots keep reading it cheap.
    snapshotting_intervals = {DeliveryBoard: 50}

    def __init__(self, env: Mapping[str, str] | None = None, clock: Clock | None = None,
                 channel: Channel | None = None, webhook: WebhookChannel | None = None,
                 policy: RetryPolicy | None = None, plan_reminder_days: int = 25,
                 event_types: Mapping[str, str] | None = None, webhook_hosts: WebhookHosts = WebhookHosts()):
        self.channel: Channel = channel or LogChannel()
        self.webhook = webhook or WebhookChannel()
        self.policy = policy or RetryPolicy()
        self.plan_reminder_days = plan_reminder_days
        self.webhook_hosts = webhook_hosts
        self.event_types = dict(event_types if event_types is not None else forwardable_types())
        # Deliveries known to be final (delivered or cancelled), so a tick re-reading today's agenda skips them
        # without loading them (final is final: the cache can only be stale by omission).
        self._settled: set[UUID] = set()
        super().__init__(env=env, clock=clock)

    # --- learning where subjects belong (the directory) -------------------------------------

    def register_client(self, *, client_id: UUID, application_id: UUID, district_code: str,
                        consent: Mapping[str, bool], guardian: bool, registered_on: date,
                        forward: Forward | None = None) -> None:
        """intake's ClientRegistered: the client's district and consent are known now, so
        events held for them are forwarded as consent allows; a "plan due soon" reminder is
        scheduled for registration + N days (cancelled if the plan is agreed first)."""
        entry = self._entry("client", client_id)
        application = self._entry("application", application_id)
        guardian = guardian or application.signed_by == "guardian"
        entry.register(district_code=district_code, consent=dict(consent), guardian=guardian)
        application.link_client(client_id=client_id)
        deliveries = self._release_held(entry) + self._forwarding(forward, entry)
        index = self._index(client_id)
        reminders: list[Notification] = []
        due_on = registered_on + timedelta(days=PLAN_WITHIN_DAYS)
        # Learned after the plan's deadline (a replay, a long outage): PlanOverdue speaks for it.
        # Learned after the plan itself (it comes on assessment's topic): nothing to remind of.
        if not entry.exited and not getattr(index, "plan_agreed", False) and self.clock.today() <= due_on:
            reminders = self._notifications(kind=PLAN_DUE, entry=entry, index=index, occurrence=due_on.isoformat(),
                                            cause_event_id=None, due_on=due_on,
                                            send_on=registered_on + timedelta(days=self.plan_reminder_days))
        self._save([entry, application, index, *reminders, *deliveries],
                   [(REMINDER, n.id, n.send_on) for n in reminders] + self._due(deliveries))

    def note_consent_signer(self, *, application_id: UUID, signed_by: str) -> None:
        """intake's ConsentRecorded (keyed by application): a guardian who signed acts for the
        client. It may arrive before or after the registration it belongs to."""
        application = self._entry("application", application_id)
        application.note_signer(signed_by=signed_by)
        changed: list[Any] = [application]
        if signed_by == "guardian" and application.client_id is not None:
            entry = self._entry("client", application.client_id)
            entry.note_guardian()
            changed.append(entry)
        self._save(changed)

    def relocate_client(self, *, client_id: UUID, district_code: str, forward: Forward | None = None) -> None:
        """intake's ClientRelocated: from now on the new district's subscribers; the event
        itself goes to both, so the old district learns the client left."""
        entry = self._entry("client", client_id)
        old = entry.district_code
        entry.relocate(district_code=district_code)
        districts = {d for d in (old, district_code) if d}
        self._save_forwarded(entry, self._forwarding(forward, entry, districts))

    def change_consent(self, *, client_id: UUID, consent: Mapping[str, bool], forward: Forward | None = None) -> None:
        """intake's ConsentWithdrawn: later deliveries follow the new scope (pending ones are
        checked again before each attempt); what was delivered stays delivered."""
        entry = self._entry("client", client_id)
        entry.change_consent(consent=dict(consent))
        self._save_forwarded(entry, self._forwarding(forward, entry))

    def client_exited(self, *, client_id: UUID, forward: Forward | None = None) -> None:
        """intake's ClientExited: reminders still waiting are cancelled."""
        entry = self._entry("client", client_id)
        entry.exit()
        index = self._index(client_id)
        cancelled = self._cancel_waiting(index, kinds=None, reason="client exited")
        deliveries = self._forwarding(forward, entry)
        self._save([entry, index, *cancelled, *deliveries], self._due(deliveries))

    def place_client(self, *, client_id: UUID, station_id: UUID | None, district_code: str,
                     forward: Forward | None = None) -> None:
        """referral's ClientPlaced (station) or ClientWaitlisted (None): the responsible station."""
        entry = self._entry("client", client_id)
        entry.place(station_id=station_id, district_code=district_code)
        self._save_forwarded(entry, self._forwarding(forward, entry))

    def locate(self, *, about: str, subject_id: UUID, district_code: str, station_id: UUID | None = None,
               forward: Forward | None = None) -> None:
        """A station (StationRegistered) or purchase contract (PurchaseContractSigned) and its
        district: its events go to that district's subscribers."""
        entry = self._entry(about, subject_id)
        entry.locate(district_code=district_code, station_id=station_id)
        self._save_forwarded(entry, self._release_held(entry) + self._forwarding(forward, entry))

    def forward_event(self, forward: Forward | None) -> None:
        """Any other public event: only to the subscriptions that want it."""
        if forward is None:
            return
        entry = self._entry(forward.about, forward.subject_id)
        self._save_forwarded(entry, self._forwarding(forward, entry))

    # --- reminders ----------------------------------------------------------------------------

    def remind_client(self, *, kind: str, client_id: UUID, occurrence: str, due_on: date | None,
                      cause_event_id: str | None, reference_id: UUID | None = None,
                      forward: Forward | None = None) -> list[UUID]:
        """A reminder caused by an event (PlanOverdue, ReassessmentDue, ...), sent now to each
        recipient the rule names. Once per cause: the event id and the key kind + client +
        occurrence (due date, referral) both guard it. -> the new notification ids."""
        entry = self._entry("client", client_id)
        index = self._index(client_id)
        cancelled = self._cancel_waiting(index, kinds=SUPERSEDES[kind], reason=f"superseded by {kind}") \
            if kind in SUPERSEDES else []
        reminders = self._notifications(kind=kind, entry=entry, index=index, occurrence=occurrence,
                                        cause_event_id=cause_event_id, due_on=due_on, reference_id=reference_id)
        for n in reminders:
            self._deliver(n)
        deliveries = self._forwarding(forward, entry)
        self._save([entry, index, *cancelled, *reminders, *deliveries], self._due(deliveries))
        return [n.id for n in reminders]

    def plan_agreed(self, *, client_id: UUID, forward: Forward | None = None) -> None:
        """assessment's RehabPlanAgreed: the "plan due soon" reminder is moot."""
        entry = self._entry("client", client_id)
        index = self._index(client_id)
        cancelled = self._cancel_waiting(index, kinds=(PLAN_DUE,), reason="plan agreed")
        index.note_plan_agreed()
        deliveries = self._forwarding(forward, entry)
        self._save([entry, index, *cancelled, *deliveries], self._due(deliveries))

    def notify_transfer_requested(self, *, client_id: UUID, referral_id: UUID, kind: str, reason: str,
                                  due_by: datetime, cause_event_id: str | None,
                                  forward: Forward | None = None) -> UUID | None:
        """Tell whoever must answer a referral. None if this cause already notified: the
        tracking record stops redeliveries, this stops republished copies of the event.
        `reason` is deliberately not kept: a notification holds no clinical detail."""
        index = self._index(client_id)
        entry = self._entry("client", client_id)
        deliveries = self._forwarding(forward, entry)
        if index.caused_by(cause_event_id):
            self._save([entry, *deliveries], self._due(deliveries))
            return None
        notification = Notification.schedule(
            kind="transfer_requested", client_id=client_id, recipient=TRANSFER_RECIPIENTS.get(kind, "district"),
            channel=self.channel.name, cause_event_id=cause_event_id, scheduled_at=self.clock.now(),
            reference_id=referral_id, due_by=due_by,
        )
        self._deliver(notification)
        index.add(notification.id, cause_event_id)
        # One save: notification, index, deliveries and (in a consumer) the tracking record.
        self._save([notification, index, entry, *deliveries], self._due(deliveries))
        return notification.id

    def notify_payment(self, *, contract_id: UUID, payment_id: UUID, cause_event_id: str | None,
                       forward: Forward | None = None) -> list[UUID]:
        """funding's PurchaseContractPaid: the paid station and the purchasing district are told."""
        entry = self._entry("contract", contract_id)
        index = self._contract_index(contract_id)
        notices = self._notifications(kind=PAYMENT_MADE, entry=entry, index=index, occurrence=str(payment_id),
                                      cause_event_id=cause_event_id, reference_id=payment_id)
        for n in notices:
            self._deliver(n)
        deliveries = self._forwarding(forward, entry)
        self._save([entry, index, *notices, *deliveries], self._due(deliveries))
        return [n.id for n in notices]

    def _notifications(self, *, kind: str, entry: DirectoryEntry, index: Any, occurrence: str,
                       cause_event_id: str | None, due_on: date | None = None, send_on: date | None = None,
                       reference_id: UUID | None = None) -> list[Notification]:
        """One notification per recipient the rule names (a station falling back to the
        district that is already named is one), none for a cause already notified."""
        if index.caused_by(cause_event_id):
            return []
        made: list[Notification] = []
        addresses: set[str] = set()
        for role in RECIPIENT_ROLES[kind]:
            key = f"{kind}:{entry.subject_id}:{occurrence}:{role}"
            address = entry.address_of(role)
            if address is None or address in addresses or index.caused_by(key):
                continue
            addresses.add(address)
            subject = {"client_id": entry.subject_id} if entry.about == "client" else \
                {"client_id": None, "contract_id": entry.subject_id}
            n = Notification.schedule(kind=kind, recipient=address, channel=self.channel.name,
                                      cause_event_id=cause_event_id, scheduled_at=self.clock.now(),
                                      reference_id=reference_id, send_on=send_on, due_on=due_on,
                                      recipient_role=role, **subject)
            # The cause event id goes in once; the key per recipient.
            extra = {"waiting_kind": kind} if send_on is not None else {}
            index.add(n.id, None if made else cause_event_id, key=key, **extra)
            made.append(n)
        return made

    def _cancel_waiting(self, index: ClientNotifications, kinds: Iterable[str] | None, reason: str) -> list[Notification]:
        waiting = index.waiting_for(tuple(kinds) if kinds is not None else None)
        cancelled = []
        for notification_id in waiting:
            n = self.get_notification(notification_id)
            if n.status == "scheduled":
                n.cancel(reason=reason, at=self.clock.now())
                cancelled.append(n)
        index.settle(waiting)  # sent ones are pruned here too
        return cancelled

    def _deliver(self, notification: Notification, recipient: str | None = None) -> None:
        # Delivery happens before the save, so a crash in between repeats it on the
        # redelivered message (or the next tick): at least once, never lost.
        try:
            self.channel.deliver(notification)
        except Exception as e:  # any channel error is a failed delivery, recorded, not raised
            notification.mark_failed(reason=f"{type(e).__name__}: {e}"[:200], at=self.clock.now())
        else:
            notification.mark_sent(sent_at=self.clock.now(), recipient=recipient)

    # --- webhook subscriptions (HTTP) ---------------------------------------------------------

    def register_subscription(self, *, district_code: str, event_types: list[str], url: str, secret: str,
                              purpose: str) -> Subscription:
        subscription = Subscription.register(
            district_code=district_code, event_types=event_types, url=url, secret=secret, purpose=purpose,
            known_types=self._known_types(), forwardable_types=self.event_types, registered_at=self.clock.now(),
            hosts=self.webhook_hosts)
        district = self._district_subscriptions(district_code)
        district.add(subscription.id)
        self.save(subscription, district)
        return subscription

    def deactivate_subscription(self, subscription_id: UUID) -> Subscription:
        """Stops deliveries: pending and failing ones are cancelled at their next attempt."""
        subscription = self.get_subscription(subscription_id)
        subscription.deactivate(at=self.clock.now())
        self.save(subscription)
        return subscription

    def get_subscription(self, subscription_id: UUID) -> Subscription:
        return self.get_aggregate(subscription_id, Subscription, "subscription")

    def list_subscriptions(self, district_code: str) -> list[Subscription]:
        require_district_code("district", district_code)
        index_id = DistrictSubscriptions.id_for(district_code)
        if index_id not in self.repository:
            return []
        return [self.get_subscription(s) for s in self.repository.get(index_id).subscription_ids]

    def get_delivery(self, delivery_id: UUID) -> Delivery:
        return self.get_aggregate(delivery_id, Delivery, "delivery")

    def list_deliveries(self, status: str, subscription_id: UUID | None = None) -> list[Delivery]:
        """Deliveries failing now (a retry is scheduled) or dead letters, oldest first."""
        if status not in ("failed", "dead"):
            raise InvalidInput("status", "must be failed or dead")
        if subscription_id is not None:
            self.get_subscription(subscription_id)  # 404 for an unknown one
        if DeliveryBoard.ID not in self.repository:
            return []
        listed = [self.get_delivery(d) for d in self.repository.get(DeliveryBoard.ID).listed(status, subscription_id)]
        return [d for d in listed if d.status == status]  # a re-driven one leaves the board at its next attempt

    def redrive_delivery(self, delivery_id: UUID) -> Delivery:
        """A dead letter goes out again at the worker's next tick. The board (written only by
        the worker) learns of it when the worker attempts the delivery."""
        delivery = self.get_delivery(delivery_id)
        if not self.get_subscription(delivery.subscription_id).active:
            raise Conflict(f"subscription {delivery.subscription_id} is inactive: nothing is delivered to it")
        delivery.redrive(at=self.clock.now())
        self._save([delivery], self._due([delivery]))
        return delivery

    # --- forwarding to subscriptions --------------------------------------------------------

    def _forwarding(self, forward: Forward | None, entry: DirectoryEntry,
                    districts: set[str] | None = None) -> list[Delivery]:
        """Deliveries of one public event about `entry`'s subject. While its district (and a
        client's consent) is unknown the event is held: nothing is shared before consent is known."""
        if forward is None:
            return []
        if not entry.known:
            if not entry.hold(forward) and len(entry.held) >= entry.HELD_MAX:
                log.warning("not holding %s for %s %s: %d events already held", forward.event_type, entry.about,
                            entry.subject_id, len(entry.held))
            return []
        return self._deliveries(forward, entry, districts or {entry.district_code})

    def _release_held(self, entry: DirectoryEntry) -> list[Delivery]:
        if not entry.known or not entry.held:
            return []
        deliveries = [d for forward in entry.held_events() for d in self._deliveries(forward, entry, {entry.district_code})]
        entry.release()
        return deliveries

    def _deliveries(self, forward: Forward, entry: DirectoryEntry, districts: set[str]) -> list[Delivery]:
        deliveries: list[Delivery] = []
        for district in sorted(districts):
            for subscription in self._active_subscriptions(district):
                if not subscription.wants(forward.event_type):
                    continue
                if not forward.consent_exempt and not entry.allows(subscription.purpose):
                    continue
                if Delivery.id_for(subscription.id, forward.event_id) in self.repository:
                    continue  # a republished copy of an event already forwarded
                deliveries.append(Delivery(
                    subscription_id=subscription.id, event_id=forward.event_id, event_type=forward.event_type,
                    subject_id=forward.subject_id,
                    client_id=forward.subject_id if forward.about == "client" and not forward.consent_exempt else None,
                    body=forward.body, due_at=self.clock.now()))
        return deliveries

    def _active_subscriptions(self, district_code: str) -> list[Subscription]:
        index_id = DistrictSubscriptions.id_for(district_code)
        if index_id not in self.repository:
            return []
        subscriptions = [self.repository.get(s) for s in self.repository.get(index_id).subscription_ids]
        return [s for s in subscriptions if s.active]

    # --- the worker's timer -------------------------------------------------------------------

    def run_deadlines(self) -> int:
        """Called by the worker on a timer: send reminders whose day came, attempt webhook
        deliveries that are due. Safe to repeat."""
        with command_context(actor="notification-deadlines", role="system"):
            return self.run_due(self.on_due)

    def on_due(self, kind: str, subject_id: UUID, day: date) -> list[Any]:
        """One agenda entry. Idempotent: the notification or delivery knows its state.
        Today's agenda is read at every tick, so a retry due later today waits its turn."""
        if kind == REMINDER:
            return self._send_reminder(subject_id)
        if kind == WEBHOOK_DELIVERY:
            return self._attempt_delivery(subject_id)
        log.warning("unknown deadline kind %r on the agenda of %s", kind, day)
        return []

    def _send_reminder(self, notification_id: UUID) -> list[Any]:
        try:
            n = self.get_notification(notification_id)
        except NotFound:
            return []
        if n.status != "scheduled":
            return []
        entry = self._entry("client", n.client_id) if n.client_id is not None else self._entry("contract", n.contract_id)
        if entry.exited:
            n.cancel(reason="client exited", at=self.clock.now())
            return [n]
        # Sent to whoever is responsible today (the client may have been placed since).
        recipient = entry.address_of(n.recipient_role) if n.recipient_role else n.recipient
        if recipient is None:
            n.cancel(reason=f"no {n.recipient_role} to tell", at=self.clock.now())
            return [n]
        self._deliver(n, recipient)
        return [n]

    def _attempt_delivery(self, delivery_id: UUID) -> list[Any]:
        if delivery_id in self._settled:
            return []
        try:
            delivery = self.get_delivery(delivery_id)
        except NotFound:
            return []
        if delivery.final:
            if delivery.status != "dead":  # a dead letter may be re-driven: never settled for good
                if len(self._settled) >= SETTLED_CACHE_MAX:
                    self._settled.clear()
                self._settled.add(delivery_id)
            return []
        now = self.clock.now()
        if not delivery.due(now):
            return []
        subscription = self.get_subscription(delivery.subscription_id)
        if not subscription.active:
            delivery.cancel(reason="subscription deactivated", at=now)
        elif delivery.client_id is not None and not self._entry("client", delivery.client_id).allows(subscription.purpose):
            # Consent is checked again at every attempt: a withdrawal stops what is still pending.
            delivery.cancel(reason=f"consent for {subscription.purpose} withdrawn", at=now)
        else:
            response = self.webhook.post(url=subscription.url, secret=subscription.secret, body=delivery.body,
                                         at=now, delivery_id=delivery.id)
            delivery.record_attempt(at=now, status_code=response.status_code, error=response.error,
                                    retry_after=response.retry_after, policy=self.policy)
            if delivery.status in ("failed", "dead"):
                log.info("webhook delivery %s of %s to subscription %s: %s (attempt %d)", delivery.id,
                         delivery.event_type, subscription.id, delivery.attempts[-1]["outcome"], len(delivery.attempts))
        changed: list[Any] = [delivery]
        board = self.repository.get(DeliveryBoard.ID) if DeliveryBoard.ID in self.repository else DeliveryBoard()
        if board.note(delivery):
            changed.append(board)
        if delivery.status == "failed":
            changed += self.schedule_all([(WEBHOOK_DELIVERY, delivery.id, local_day(delivery.next_attempt_at))])
        return changed

    # --- queries --------------------------------------------------------------------------------

    def get_notification(self, notification_id: UUID) -> Notification:
        return self.get_aggregate(notification_id, Notification, "notification")

    def district_of(self, about: str, subject_id: UUID) -> str | None:
        """The district of a client (contract, station) as notification learned it from the
        events; None before it has."""
        return self._entry(about, subject_id).district_code

    def list_for_client(self, client_id: UUID) -> list[Notification]:
        """A client's notifications, oldest first (empty for an unknown client)."""
        index_id = ClientNotifications.id_for(client_id)
        if index_id not in self.repository:
            return []
        return [self.get_notification(n) for n in self.repository.get(index_id).notification_ids]

    def list_for_contract(self, contract_id: UUID) -> list[Notification]:
        index_id = ContractNotifications.id_for(contract_id)
        if index_id not in self.repository:
            return []
        return [self.get_notification(n) for n in self.repository.get(index_id).notification_ids]

    # --- helpers ----------------------------------------------------------------------------

    def _save(self, changed: list[Any], due: list[tuple[str, UUID, date]] = ()) -> None:
        """The command's one save: its aggregates with the agenda entries it starts."""
        self.save(*changed, *self.schedule_all(list(due)))

    def _save_forwarded(self, entry: DirectoryEntry, deliveries: list[Delivery]) -> None:
        self._save([entry, *deliveries], self._due(deliveries))

    @staticmethod
    def _due(deliveries: list[Delivery]) -> list[tuple[str, UUID, date]]:
        return [(WEBHOOK_DELIVERY, d.id, local_day(d.next_attempt_at)) for d in deliveries]

    @staticmethod
    def _known_types() -> set[str]:
        return set(REGISTRY)

    def _entry(self, about: str, subject_id: UUID) -> DirectoryEntry:
        entry_id = DirectoryEntry.id_for(about, subject_id)
        if entry_id in self.repository:
            return self.repository.get(entry_id)
        return DirectoryEntry(about=about, subject_id=subject_id)

    def _index(self, client_id: UUID) -> ClientNotifications:
        index_id = ClientNotifications.id_for(client_id)
        if index_id in self.repository:
            return self.repository.get(index_id)
        return ClientNotifications(client_id=client_id)

    def _contract_index(self, contract_id: UUID) -> ContractNotifications:
        index_id = ContractNotifications.id_for(contract_id)
        if index_id in self.repository:
            return self.repository.get(index_id)
        return ContractNotifications(contract_id=contract_id)

    def _district_subscriptions(self, district_code: str) -> DistrictSubscriptions:
        index_id = DistrictSubscriptions.id_for(district_code)
        if index_id in self.repository:
            return self.repository.get(index_id)
        return DistrictSubscriptions(district_code=district_code)


def create_application(settings: ServiceSettings, clock: Clock | None = None, channel: Channel | None = None,
                       webhook: WebhookChannel | None = None) -> Notifications:
    return Notifications(env=store_env(settings), clock=clock or SystemClock(settings.clock_file), channel=channel,
                         webhook=webhook or WebhookChannel(timeout_seconds=webhook_timeout(settings),
                                                           networks=WebhookNetworks(webhook_networks(settings))),
                         policy=retry_policy(settings), plan_reminder_days=plan_reminder_days(settings),
                         webhook_hosts=webhook_hosts(settings))
