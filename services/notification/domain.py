"""notification's aggregates. Pure: no I/O.

- `Notification`: one reminder or notice to one recipient: scheduled (now, or for a later
  day), then sent (final), failed, or cancelled because the thing it reminds of happened.
- `ClientNotifications` / `ContractNotifications`: a client's (a contract's) notifications,
  fetched by an id derived from the subject's id; they remember which causes (foreign
  CloudEvent ids and reminder keys) already notified, and which reminders still wait.
- `DirectoryEntry`: where a client, contract, station or application belongs, learned from
  public events: district, station, whether a guardian acts for the client, and the
  client's consent scope. Events about a subject whose district or consent is not yet known
  are held here until it is, so nothing is shared before consent is known.
- `Subscription` / `DistrictSubscriptions`: a district integration's webhook and the
  district's list of them.
- `Delivery`: one public event forwarded to one subscription: attempts, backoff, dead letter.
- `DeliveryBoard`: the deliveries currently failing (being retried) and the dead letters.

A notification carries only pseudonymous data (client or contract id, recipient role and
station or district code, references): a channel never needs a name, phone or diagnosis."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Collection, Iterable
from uuid import NAMESPACE_URL, UUID, uuid5

import ada_url
from eventsourcing.domain import Aggregate, event

from shared.errors import Conflict, InvalidInput

# Namespace of the index ids: uuid5(NAMESPACE, str(client_id)) finds a client's index
# without a read-model database.
NAMESPACE = uuid5(NAMESPACE_URL, "jingkang:notification:client")
CONTRACT_NAMESPACE = uuid5(NAMESPACE_URL, "jingkang:notification:contract")
DIRECTORY_NAMESPACE = uuid5(NAMESPACE_URL, "jingkang:notification:directory")
SUBSCRIPTIONS_NAMESPACE = uuid5(NAMESPACE_URL, "jingkang:notification:district-subscriptions")
DELIVERY_NAMESPACE = uuid5(NAMESPACE_URL, "jingkang:notification:delivery")

# --- reminders: what they are about and who must act (DESIGN.md §4) --------------------------

PLAN_DUE = "plan_due"                          # a plan is due soon (registration + 25 days)
PLAN_OVERDUE = "plan_overdue"                  # assessment's PlanOverdue
REASSESSMENT_DUE = "reassessment_due"          # assessment's ReassessmentDue
REASSESSMENT_OVERDUE = "reassessment_overdue"  # assessment's ReassessmentOverdue
CONTACT_DUE = "contact_due"                    # assessment's DynamicCareContactDue
REFERRAL_OVERDUE = "referral_overdue"          # referral's ReferralOverdue
WAITLIST_EXCEEDED = "waitlist_exceeded"        # referral's WaitlistExceeded
PAYMENT_MADE = "payment_made"                  # funding's PurchaseContractPaid

# Roles, resolved against the subject's directory entry when sent: "station" is the
# station the client is placed at (the contract's station), or the district while there is
# none; "district" the district's supervising office; "guardian" only if one acts for the
# client (intake keeps the contact details: here it is a role, never an address).
RECIPIENT_ROLES: dict[str, tuple[str, ...]] = {
    PLAN_DUE: ("station",),
    PLAN_OVERDUE: ("station", "district"),              # a breach of the 30-day rule: supervision knows
    REASSESSMENT_DUE: ("station",),
    REASSESSMENT_OVERDUE: ("station", "district"),
    CONTACT_DUE: ("station", "guardian"),               # the family expects the follow-up call
    REFERRAL_OVERDUE: ("district",),                    # the receiver was told at the request; now escalate
    WAITLIST_EXCEEDED: ("district",),                   # re-verification before re-referral
    PAYMENT_MADE: ("station", "district"),              # the paid station and the purchaser
}
ROLES = ("station", "district", "guardian")

# Subscription purposes and the consent each needs (DESIGN.md §3, "consent travels with the data").
PURPOSES = {
    "district_supervision": "rehabilitation_services",
    "health": "share_with_health",
    "disability_employment": "share_with_disability_and_employment",
}
CONSENT_FIELDS = tuple(PURPOSES.values())
DISTRICT_CODE = re.compile(r"^[0-9]{6}$")
SECRET_MIN, SECRET_MAX, URL_MAX = 16, 256, 2000


def require_district_code(field: str, district_code: str) -> None:
    if not isinstance(district_code, str) or not DISTRICT_CODE.match(district_code):
        raise InvalidInput(field, "must be a 6-digit district code (GB/T 2260)")


# --- notifications ------------------------------------------------------------------------

class Notification(Aggregate):
    @event("Scheduled")
    def __init__(self, kind: str, client_id: UUID | None, recipient: str, channel: str, cause_event_id: str | None,
                 scheduled_at: datetime, reference_id: UUID | None = None, due_by: datetime | None = None,
                 contract_id: UUID | None = None, send_on: date | None = None, due_on: date | None = None,
                 recipient_role: str | None = None):
        self.kind = kind
        self.client_id = client_id  # None for a contract's notification
        self.contract_id = contract_id
        self.recipient = recipient
        self.recipient_role = recipient_role  # re-resolved when a reminder for a later day is sent
        self.channel = channel
        self.cause_event_id = cause_event_id
        self.scheduled_at = scheduled_at
        self.send_on = send_on  # a reminder for a later day; None: at once
        self.reference_id = reference_id  # what it is about, e.g. the referral or payment id
        self.due_by = due_by  # when the recipient must have acted
        self.due_on = due_on
        self.status = "scheduled"
        self.sent_at: datetime | None = None
        self.failure_reason: str | None = None
        self.cancel_reason: str | None = None

    @classmethod
    def schedule(cls, *, kind: str, client_id: UUID | None, recipient: str, channel: str,
                 cause_event_id: str | None, scheduled_at: datetime, reference_id: UUID | None = None,
                 due_by: datetime | None = None, contract_id: UUID | None = None, send_on: date | None = None,
                 due_on: date | None = None, recipient_role: str | None = None) -> "Notification":
        for field, value in (("kind", kind), ("recipient", recipient), ("channel", channel)):
            if not value or not value.strip():
                raise InvalidInput(field, "must not be empty")
        if (client_id is None) == (contract_id is None):
            raise InvalidInput("client_id", "a notification is about exactly one client or one contract")
        if recipient_role is not None and recipient_role not in ROLES:
            raise InvalidInput("recipient_role", f"must be one of {', '.join(ROLES)}")
        return cls(kind, client_id, recipient, channel, cause_event_id, scheduled_at, reference_id, due_by,
                   contract_id, send_on, due_on, recipient_role)

    def mark_sent(self, *, sent_at: datetime, recipient: str | None = None) -> None:
        if self.status in ("sent", "cancelled"):
            raise Conflict(f"notification {self.id} is already {self.status}; it cannot be sent")
        # A failed notification may still be sent by a later retry; sent is final.
        self._sent(sent_at=sent_at, client_id=self.client_id, kind=self.kind, channel=self.channel,
                   recipient=recipient or self.recipient)

    # client_id, kind, channel and recipient repeat here so the event can be published on its own.
    @event("Sent")
    def _sent(self, sent_at: datetime, client_id: UUID | None, kind: str, channel: str, recipient: str) -> None:
        self.status = "sent"
        self.sent_at = sent_at
        self.recipient = recipient

    def mark_failed(self, *, reason: str, at: datetime) -> None:
        if self.status in ("sent", "cancelled"):
            raise Conflict(f"notification {self.id} is already {self.status}; it cannot fail")
        self._failed(reason=reason, at=at, client_id=self.client_id, kind=self.kind, channel=self.channel)

    # Older stored Failed events lack client_id, kind and channel: they default to None.
    @event("Failed")
    def _failed(self, reason: str, at: datetime, client_id: UUID | None = None, kind: str | None = None,
                channel: str | None = None) -> None:
        self.status = "failed"
        self.failure_reason = reason

    def cancel(self, *, reason: str, at: datetime) -> None:
        """The thing it reminds of happened first (a plan agreed, the client exited)."""
        if self.status != "scheduled":
            raise Conflict(f"notification {self.id} is {self.status}; only a scheduled one can be cancelled")
        self._cancelled(reason=reason, at=at)

    @event("Cancelled")
    def _cancelled(self, reason: str, at: datetime) -> None:
        self.status = "cancelled"
        self.cancel_reason = reason


class ClientNotifications(Aggregate):
    """Index of one client's notifications, fetched by an id derived from the client id;
    also remembers which causes (foreign event ids, reminder keys) already notified, and
    which reminders for a later day still wait (so the thing happening can cancel them)."""

    @staticmethod
    def id_for(client_id: UUID) -> UUID:
        return uuid5(NAMESPACE, str(client_id))

    @staticmethod
    def create_id(client_id: UUID) -> UUID:
        return ClientNotifications.id_for(client_id)

    @event("Started")
    def __init__(self, client_id: UUID):
        self.client_id = client_id
        self.notification_ids: list[UUID] = []
        self.causes: list[str] = []
        self.waiting: dict[str, str] = {}  # notification id -> kind, for reminders of a later day
        self.plan_agreed = False  # RehabPlanAgreed may be processed before ClientRegistered

    def caused_by(self, cause: str | None) -> bool:
        return cause is not None and cause in self.causes

    # key and waiting_kind were added with reminders; older stored events lack them.
    @event("NotificationAdded")
    def add(self, notification_id: UUID, cause_event_id: str | None, key: str | None = None,
            waiting_kind: str | None = None) -> None:
        self.notification_ids.append(notification_id)
        for cause in (cause_event_id, key):
            if cause and cause not in self.causes:
                self.causes.append(cause)
        if waiting_kind:
            self.waiting[str(notification_id)] = waiting_kind

    def waiting_for(self, kinds: Collection[str] | None = None) -> list[UUID]:
        return [UUID(n) for n, kind in self.waiting.items() if kinds is None or kind in kinds]

    def note_plan_agreed(self) -> None:
        """The client has a plan: no "plan due soon" reminder from now on, even for a
        registration learned after it (the two come on different topics)."""
        if not getattr(self, "plan_agreed", False):  # indexes stored before this event lack it
            self._plan_noted()

    @event("PlanNoted")
    def _plan_noted(self) -> None:
        self.plan_agreed = True

    def settle(self, notification_ids: Iterable[UUID]) -> None:
        """These reminders no longer wait (sent, or cancelled now)."""
        ids = [str(n) for n in notification_ids if str(n) in self.waiting]
        if ids:
            self._settled(notification_ids=ids)

    @event("Settled")
    def _settled(self, notification_ids: list[str]) -> None:
        for n in notification_ids:
            self.waiting.pop(n, None)


class ContractNotifications(Aggregate):
    """Index of one purchase contract's notifications (payments made)."""

    @staticmethod
    def id_for(contract_id: UUID) -> UUID:
        return uuid5(CONTRACT_NAMESPACE, str(contract_id))

    @staticmethod
    def create_id(contract_id: UUID) -> UUID:
        return ContractNotifications.id_for(contract_id)

    @event("Started")
    def __init__(self, contract_id: UUID):
        self.contract_id = contract_id
        self.notification_ids: list[UUID] = []
        self.causes: list[str] = []

    def caused_by(self, cause: str | None) -> bool:
        return cause is not None and cause in self.causes

    @event("NotificationAdded")
    def add(self, notification_id: UUID, cause_event_id: str | None, key: str | None = None) -> None:
        self.notification_ids.append(notification_id)
        for cause in (cause_event_id, key):
            if cause and cause not in self.causes:
                self.causes.append(cause)


# --- the directory: where subjects belong, and what a client's consent allows ----------------

@dataclass(frozen=True)
class Forward:
    """A public event to pass on to the webhook subscriptions that want it: the CloudEvent
    JSON exactly as the topic carried it, and what it is about (client, contract, station).
    `consent_exempt`: ConsentWithdrawn itself, the notice that sharing stops, goes to the
    district's subscribers whatever the new scope."""

    event_id: str
    event_type: str
    about: str
    subject_id: UUID
    body: str
    consent_exempt: bool = False


class DirectoryEntry(Aggregate):
    """What notification knows of one client, contract, station or application from public
    events. Consent is known only from intake's ClientRegistered (and ConsentWithdrawn);
    until then a client's events are held, not shared."""

    HELD_MAX = 200  # a subject whose registration never arrives must not grow without bound

    @staticmethod
    def id_for(about: str, subject_id: UUID) -> UUID:
        return uuid5(DIRECTORY_NAMESPACE, f"{about}:{subject_id}")

    @staticmethod
    def create_id(about: str, subject_id: UUID) -> UUID:
        return DirectoryEntry.id_for(about, subject_id)

    @event("Opened")
    def __init__(self, about: str, subject_id: UUID):
        self.about = about  # client | contract | station | application
        self.subject_id = subject_id
        self.district_code: str | None = None
        self.station_id: UUID | None = None
        self.consent: dict[str, bool] | None = None
        self.guardian = False
        self.exited = False
        self.signed_by: str | None = None  # an application: who signed the consent
        self.client_id: UUID | None = None  # an application: the client it registered
        self.held: list[dict[str, str]] = []

    @property
    def known(self) -> bool:
        """Enough is known to decide who may receive its events."""
        return self.district_code is not None and (self.about != "client" or self.consent is not None)

    def allows(self, purpose: str) -> bool:
        """May events about this subject be shared for `purpose`? Only a client's events need
        consent; contracts and stations are not persons."""
        if self.about != "client":
            return True
        return bool(self.consent and self.consent.get(PURPOSES[purpose], False))

    def address_of(self, role: str) -> str | None:
        if role == "station" and self.station_id is not None:
            return f"station:{self.station_id}"
        if role in ("station", "district"):
            return f"district:{self.district_code}" if self.district_code else "district"
        if role == "guardian":
            return "guardian" if self.guardian else None
        raise ValueError(f"unknown recipient role {role!r}")

    # -- a client -----------------------------------------------------------------------

    def register(self, *, district_code: str, consent: dict[str, bool], guardian: bool) -> bool:
        consent = {k: bool(consent.get(k, False)) for k in CONSENT_FIELDS}
        guardian = guardian or self.guardian
        if (self.district_code, self.consent, self.guardian) == (district_code, consent, guardian):
            return False
        self._registered(district_code=district_code, consent=consent, guardian=guardian)
        return True

    @event("Registered")
    def _registered(self, district_code: str, consent: dict[str, bool], guardian: bool) -> None:
        self.district_code = district_code
        self.consent = consent
        self.guardian = guardian

    def relocate(self, *, district_code: str) -> bool:
        if self.district_code == district_code:
            return False
        self._relocated(district_code=district_code)
        return True

    @event("Relocated")
    def _relocated(self, district_code: str) -> None:
        self.district_code = district_code

    def change_consent(self, *, consent: dict[str, bool]) -> bool:
        consent = {k: bool(consent.get(k, False)) for k in CONSENT_FIELDS}
        if self.consent == consent:
            return False
        self._consent_changed(consent=consent)
        return True

    @event("ConsentChanged")
    def _consent_changed(self, consent: dict[str, bool]) -> None:
        self.consent = consent

    def place(self, *, station_id: UUID | None, district_code: str) -> bool:
        """Placed at a station (None: waiting on the district's list)."""
        if (self.station_id, self.district_code) == (station_id, district_code):
            return False
        self._placed(station_id=station_id, district_code=district_code)
        return True

    @event("Placed")
    def _placed(self, station_id: UUID | None, district_code: str) -> None:
        self.station_id = station_id
        self.district_code = district_code

    def note_guardian(self) -> bool:
        if self.guardian:
            return False
        self._guardian_noted()
        return True

    @event("GuardianNoted")
    def _guardian_noted(self) -> None:
        self.guardian = True

    def exit(self) -> bool:
        if self.exited:
            return False
        self._exited()
        return True

    @event("Exited")
    def _exited(self) -> None:
        self.exited = True

    # -- a contract or station ------------------------------------------------------------

    def locate(self, *, district_code: str, station_id: UUID | None = None) -> bool:
        if (self.district_code, self.station_id) == (district_code, station_id):
            return False
        self._located(district_code=district_code, station_id=station_id)
        return True

    @event("Located")
    def _located(self, district_code: str, station_id: UUID | None) -> None:
        self.district_code = district_code
        self.station_id = station_id

    # -- an application (who signed its consent, which client it became) ---------------

    def note_signer(self, *, signed_by: str) -> bool:
        if self.signed_by == signed_by:
            return False
        self._signed(signed_by=signed_by)
        return True

    @event("Signed")
    def _signed(self, signed_by: str) -> None:
        self.signed_by = signed_by

    def link_client(self, *, client_id: UUID) -> bool:
        if self.client_id == client_id:
            return False
        self._linked(client_id=client_id)
        return True

    @event("Linked")
    def _linked(self, client_id: UUID) -> None:
        self.client_id = client_id

    # -- events held until the subject is known --------------------------------------

    def hold(self, forward: Forward) -> bool:
        """Keep an event until it is known who may receive it. False if already held or full."""
        if any(h["event_id"] == forward.event_id for h in self.held) or len(self.held) >= self.HELD_MAX:
            return False
        self._held(event_id=forward.event_id, event_type=forward.event_type, body=forward.body,
                   consent_exempt=forward.consent_exempt)
        return True

    @event("Held")
    def _held(self, event_id: str, event_type: str, body: str, consent_exempt: bool) -> None:
        self.held.append({"event_id": event_id, "event_type": event_type, "body": body,
                          "consent_exempt": consent_exempt})

    def held_events(self) -> list[Forward]:
        return [Forward(event_id=h["event_id"], event_type=h["event_type"], about=self.about,
                        subject_id=self.subject_id, body=h["body"], consent_exempt=bool(h["consent_exempt"]))
                for h in self.held]

    def release(self) -> None:
        if self.held:
            self._released(count=len(self.held))

    @event("Released")
    def _released(self, count: int) -> None:
        self.held = self.held[count:]


# --- webhook subscriptions and deliveries -------------------------------------------------

@dataclass(frozen=True)
class WebhookHosts:
    """Where webhooks may point. Deliveries are POSTs from inside the platform, so an
    unchecked URL would let a subscriber aim them at internal services: production allows
    only https and only the hosts its operators list (an entry `gov.cn` also allows its
    subdomains). Empty `allowed`: any host (development)."""

    allowed: tuple[str, ...] = ()
    https_only: bool = False
    networks: tuple[str, ...] = ()  # non-public networks allowed (CIDRs); see channels.WebhookNetworks

    def _address_allowed(self, host: str) -> bool:
        """An IP-literal host must be public or in `networks` (names are checked at delivery)."""
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return True
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return (ip.is_global and not ip.is_multicast) or any(ip in ipaddress.ip_network(n) for n in self.networks)

    def check(self, scheme: str, host: str) -> None:
        if self.https_only and scheme != "https":
            raise InvalidInput("url", "must be an https URL")
        host = host.lower().rstrip(".")
        if self.allowed and not any(host == a or host.endswith("." + a) for a in self.allowed):
            raise InvalidInput("url", f"host {host} is not on this deployment's list of webhook hosts")
        if not self._address_allowed(host):
            raise InvalidInput("url", f"host {host} is not a public address: deliveries may not reach internal networks")


def webhook_url(url: Any) -> tuple[str, str, str]:
    """The URL as a WHATWG parser (ada) reads it, normalised: the form stored and POSTed to, so
    what was checked is what is used (no parser disagreement over `\\`, `@` or numeric hosts),
    with its scheme and host.
    Refused (422 naming `url`): anything but an absolute http(s) URL, control characters or
    spaces (a parser would silently drop a CR LF), credentials (the secret signs deliveries)."""
    if not isinstance(url, str) or not url:
        raise InvalidInput("url", "must be an absolute http or https URL")
    if len(url) > URL_MAX:
        raise InvalidInput("url", f"at most {URL_MAX} characters")
    if any(ord(c) <= 0x20 or 0x7F <= ord(c) <= 0x9F for c in url):
        raise InvalidInput("url", "must not contain spaces or control characters")
    if not re.match(r"(?i)https?://[^/\\?#]", url):  # WHATWG would also take https:/h or https:///h
        raise InvalidInput("url", "must be an absolute http or https URL")
    try:
        parts = ada_url.parse_url(url)
    except ValueError:
        raise InvalidInput("url", "must be an absolute http or https URL") from None
    if parts["protocol"] not in ("http:", "https:") or not parts["hostname"]:
        raise InvalidInput("url", "must be an absolute http or https URL")
    if parts["username"] or parts["password"]:
        raise InvalidInput("url", "must not carry credentials: the secret signs the deliveries")
    if len(parts["href"]) > URL_MAX:
        raise InvalidInput("url", f"at most {URL_MAX} characters")
    return parts["href"], parts["protocol"][:-1], parts["hostname"].strip("[]")


class Subscription(Aggregate):
    """A district integration that cannot use Kafka: these event types, about this
    district's clients (contracts, stations), to this URL, signed with this secret, for
    this purpose (which decides the consent a client's events need). The secret stays in
    this service's store; it is never returned."""

    @classmethod
    def register(cls, *, district_code: str, event_types: list[str], url: str, secret: str, purpose: str,
                 known_types: Collection[str], forwardable_types: Collection[str],
                 registered_at: datetime, hosts: WebhookHosts = WebhookHosts()) -> "Subscription":
        require_district_code("district_code", district_code)
        if not isinstance(event_types, list) or not event_types:
            raise InvalidInput("event_types", "name at least one event type")
        types: list[str] = []
        for t in event_types:
            if t not in known_types:
                raise InvalidInput("event_types", f"unknown event type {t!r}: use a CloudEvents type such as "
                                                  "jingkang.intake.ClientRegistered.v1")
            if t not in forwardable_types:
                raise InvalidInput("event_types", f"{t} is about an application: no consent is known before "
                                                  "registration, so it is not forwarded")
            if t not in types:
                types.append(t)
        url, scheme, host = webhook_url(url)
        hosts.check(scheme, host)
        if not isinstance(secret, str) or len(secret) < SECRET_MIN:
            raise InvalidInput("secret", f"at least {SECRET_MIN} characters")
        if len(secret) > SECRET_MAX:
            raise InvalidInput("secret", f"at most {SECRET_MAX} characters")
        if purpose not in PURPOSES:
            raise InvalidInput("purpose", f"must be one of {', '.join(PURPOSES)}")
        return cls(district_code, types, url, secret, purpose, registered_at)

    @event("Registered")
    def __init__(self, district_code: str, event_types: list[str], url: str, secret: str, purpose: str,
                 registered_at: datetime):
        self.district_code = district_code
        self.event_types = event_types
        self.url = url
        self.secret = secret
        self.purpose = purpose
        self.registered_at = registered_at
        self.active = True
        self.deactivated_at: datetime | None = None

    def wants(self, event_type: str) -> bool:
        return self.active and event_type in self.event_types

    def __repr__(self) -> str:  # never the secret, should an aggregate end up in a log line
        return (f"Subscription(id={self.id!r}, district_code={self.district_code!r}, purpose={self.purpose!r}, "
                f"active={self.active!r})")

    def deactivate(self, *, at: datetime) -> None:
        if not self.active:
            raise Conflict(f"subscription {self.id} was already deactivated at {self.deactivated_at}")
        self._deactivated(at=at)

    @event("Deactivated")
    def _deactivated(self, at: datetime) -> None:
        self.active = False
        self.deactivated_at = at


class DistrictSubscriptions(Aggregate):
    """The subscriptions registered for one district, in order."""

    @staticmethod
    def id_for(district_code: str) -> UUID:
        return uuid5(SUBSCRIPTIONS_NAMESPACE, district_code)

    @staticmethod
    def create_id(district_code: str) -> UUID:
        return DistrictSubscriptions.id_for(district_code)

    @event("Started")
    def __init__(self, district_code: str):
        self.district_code = district_code
        self.subscription_ids: list[UUID] = []

    @event("SubscriptionAdded")
    def add(self, subscription_id: UUID) -> None:
        self.subscription_ids.append(subscription_id)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a webhook delivery is tried: attempt n+1 waits
    backoff * 2**(n-1) seconds after attempt n (at most max_backoff; longer if a 429 says
    Retry-After), and after max_attempts attempts the delivery is a dead letter."""

    max_attempts: int = 6
    backoff_seconds: float = 30.0
    max_backoff_seconds: float = 3600.0

    def delay(self, attempts_made: int, retry_after: float | None = None) -> timedelta:
        seconds = min(self.backoff_seconds * 2 ** (attempts_made - 1), self.max_backoff_seconds)
        if retry_after is not None:
            seconds = max(seconds, min(retry_after, self.max_backoff_seconds))
        return timedelta(seconds=seconds)


def retryable(status_code: int | None) -> bool:
    """Worth trying again: no answer (timeout, connection error), a server error, or 429.
    Any other 4xx (or 3xx) says the request itself is refused: retrying cannot help."""
    return status_code is None or status_code >= 500 or status_code == 429


class Delivery(Aggregate):
    """One public event to one subscription: pending, failed (a retry is due at
    next_attempt_at), then delivered, dead (given up) or cancelled (subscription
    deactivated, consent withdrawn). The body is the CloudEvent JSON as the topic carried it."""

    FINAL = ("delivered", "dead", "cancelled")

    @staticmethod
    def id_for(subscription_id: UUID, event_id: str) -> UUID:
        # Deterministic: a republished copy of an event (same CloudEvent id) is the same delivery.
        return uuid5(DELIVERY_NAMESPACE, f"{subscription_id}/{event_id}")

    @staticmethod
    def create_id(subscription_id: UUID, event_id: str) -> UUID:
        return Delivery.id_for(subscription_id, event_id)

    @event("Scheduled")
    def __init__(self, subscription_id: UUID, event_id: str, event_type: str, subject_id: UUID,
                 client_id: UUID | None, body: str, due_at: datetime):
        self.subscription_id = subscription_id
        self.event_id = event_id
        self.event_type = event_type
        self.subject_id = subject_id
        self.client_id = client_id  # whose consent is checked again at every attempt (None: not needed)
        self.body = body
        self.scheduled_at = due_at
        self.next_attempt_at: datetime | None = due_at
        self.status = "pending"
        self.attempts: list[dict[str, Any]] = []
        self.delivered_at: datetime | None = None
        self.reason: str | None = None
        self.attempts_before_redrive = 0  # a re-driven dead letter gets a fresh round of attempts

    @property
    def final(self) -> bool:
        return self.status in self.FINAL

    def due(self, now: datetime) -> bool:
        return not self.final and self.next_attempt_at is not None and self.next_attempt_at <= now

    def record_attempt(self, *, at: datetime, status_code: int | None, error: str | None,
                       policy: RetryPolicy, retry_after: float | None = None) -> str:
        """Record what one POST got; decide delivered, retry later, or dead letter. -> new status."""
        if self.final:
            raise Conflict(f"delivery {self.id} is {self.status}")
        number = len(self.attempts) + 1
        in_round = number - self.attempts_before_redrive  # backoff and bound count this round only
        if status_code is not None and 200 <= status_code < 300:
            self._delivered(at=at, number=number, status_code=status_code)
        else:
            outcome = f"HTTP {status_code}" if status_code is not None else (error or "no answer")
            if not retryable(status_code):
                self._dead_lettered(at=at, number=number, status_code=status_code, outcome=outcome,
                                    reason=f"refused by the subscriber ({outcome}); not retried")
            elif in_round >= policy.max_attempts:
                self._dead_lettered(at=at, number=number, status_code=status_code, outcome=outcome,
                                    reason=f"gave up after {number} attempts; last: {outcome}")
            else:
                self._attempt_failed(at=at, number=number, status_code=status_code, outcome=outcome,
                                     next_attempt_at=at + policy.delay(in_round, retry_after))
        return self.status

    @event("Delivered")
    def _delivered(self, at: datetime, number: int, status_code: int) -> None:
        self.attempts.append({"number": number, "at": at, "status_code": status_code, "outcome": f"HTTP {status_code}"})
        self.status = "delivered"
        self.delivered_at = at
        self.next_attempt_at = None

    @event("AttemptFailed")
    def _attempt_failed(self, at: datetime, number: int, status_code: int | None, outcome: str,
                        next_attempt_at: datetime) -> None:
        self.attempts.append({"number": number, "at": at, "status_code": status_code, "outcome": outcome})
        self.status = "failed"
        self.next_attempt_at = next_attempt_at

    @event("DeadLettered")
    def _dead_lettered(self, at: datetime, number: int, status_code: int | None, outcome: str, reason: str) -> None:
        self.attempts.append({"number": number, "at": at, "status_code": status_code, "outcome": outcome})
        self.status = "dead"
        self.reason = reason
        self.next_attempt_at = None

    def redrive(self, *, at: datetime) -> None:
        """Send a dead letter again (the subscriber fixed its end): a new round of attempts
        starts now, under the same policy; the attempts so far stay on record."""
        if self.status != "dead":
            raise Conflict(f"delivery {self.id} is {self.status}: only a dead letter is re-driven")
        self._redriven(at=at, attempts_before=len(self.attempts))

    @event("Redriven")
    def _redriven(self, at: datetime, attempts_before: int) -> None:
        self.status = "pending"
        self.reason = None
        self.next_attempt_at = at
        self.attempts_before_redrive = attempts_before

    def cancel(self, *, reason: str, at: datetime) -> None:
        if self.final:
            raise Conflict(f"delivery {self.id} is {self.status}")
        self._cancelled(reason=reason, at=at)

    @event("Cancelled")
    def _cancelled(self, reason: str, at: datetime) -> None:
        self.status = "cancelled"
        self.reason = reason
        self.next_attempt_at = None


class DeliveryBoard(Aggregate):
    """The deliveries failing now (a retry is scheduled) and the dead letters. Only the
    worker's delivery timer changes it, so it sees no concurrent writers."""

    ID = uuid5(NAMESPACE_URL, "jingkang:notification:delivery-board")

    @staticmethod
    def create_id() -> UUID:
        return DeliveryBoard.ID

    @event("Started")
    def __init__(self):
        self.failing: dict[str, str] = {}  # delivery id -> subscription id
        self.dead: dict[str, str] = {}

    def note(self, delivery: Delivery) -> bool:
        """Bring the board in line with the delivery's status. -> whether it changed."""
        key = str(delivery.id)
        if key in self.dead and delivery.status != "dead":  # a re-driven dead letter
            self._revived(delivery_id=key)
            self.note(delivery)
            return True
        if delivery.status == "failed" and key not in self.failing:
            self._failing(delivery_id=key, subscription_id=str(delivery.subscription_id))
        elif delivery.status == "dead" and key not in self.dead:
            self._dead_lettered(delivery_id=key, subscription_id=str(delivery.subscription_id))
        elif delivery.status in ("delivered", "cancelled") and key in self.failing:
            self._cleared(delivery_id=key)
        else:
            return False
        return True

    @event("Failing")
    def _failing(self, delivery_id: str, subscription_id: str) -> None:
        self.failing[delivery_id] = subscription_id

    @event("DeadLettered")
    def _dead_lettered(self, delivery_id: str, subscription_id: str) -> None:
        self.failing.pop(delivery_id, None)
        self.dead[delivery_id] = subscription_id

    @event("Cleared")
    def _cleared(self, delivery_id: str) -> None:
        self.failing.pop(delivery_id, None)

    @event("Revived")
    def _revived(self, delivery_id: str) -> None:
        self.dead.pop(delivery_id, None)

    def listed(self, status: str, subscription_id: UUID | None = None) -> list[UUID]:
        entries = self.failing if status == "failed" else self.dead
        return [UUID(d) for d, s in entries.items() if subscription_id is None or s == str(subscription_id)]
