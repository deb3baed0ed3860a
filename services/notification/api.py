"""notification's HTTP API (FastAPI). Notifications are caused by events and only read
here; district integrations register, list and deactivate webhook subscriptions and
watch their deliveries (failing and dead letters). A secret goes in, never out.
Who may call each route is the ACCESS table below (shared/auth.py enforces it, deny by
default); every route also checks the district of the client, contract or subscription it
concerns."""
from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, Field

from services.notification.application import Notifications, create_application
from services.notification.domain import SECRET_MAX, URL_MAX, Delivery, Notification, Subscription
from services.notification.contracts import to_public
from shared.audit import install_audit
from shared.api import broker_reachable, create_service_api
from shared.outbox import relay_check
from shared.auth import ANONYMOUS, authority_for, check_district, principal_of
from shared.errors import InvalidInput
from shared.settings import ServiceSettings

# Who may call each route (roles of shared/auth.py). Notifications are read by the stations
# and districts they are sent to and by audit; webhook subscriptions and their deliveries
# belong to the district integrations and the district that oversees them, and audit reads them.
ACCESS: dict[str, tuple[str, ...]] = {
    "GET /v1/notifications": ("station_worker", "district_admin", "auditor"),
    "GET /v1/notifications/{notification_id}": ("station_worker", "district_admin", "auditor"),
    "POST /v1/subscriptions": ("district_admin", "integration"),
    "GET /v1/subscriptions": ("district_admin", "integration", "auditor"),
    "GET /v1/subscriptions/{subscription_id}": ("district_admin", "integration", "auditor"),
    "DELETE /v1/subscriptions/{subscription_id}": ("district_admin", "integration"),
    "GET /v1/subscriptions/{subscription_id}/deliveries": ("district_admin", "integration", "auditor"),
    "GET /v1/deliveries": ("district_admin", "integration", "auditor"),
    "GET /v1/deliveries/{delivery_id}": ("district_admin", "integration", "auditor"),
    "POST /v1/deliveries/{delivery_id}/redrive": ("district_admin", "integration"),
}

Purpose = Literal["district_supervision", "health", "disability_employment"]


class NotificationOut(BaseModel):
    notification_id: UUID
    kind: str
    channel: str
    recipient: str
    status: Literal["scheduled", "sent", "failed", "cancelled"]
    scheduled_at: datetime
    sent_at: datetime | None
    client_id: UUID | None
    contract_id: UUID | None
    send_on: date | None = Field(description="a reminder for a later day; null: sent at once")
    due_on: date | None

    @classmethod
    def of(cls, n: Notification) -> "NotificationOut":
        return cls(notification_id=n.id, kind=n.kind, channel=n.channel, recipient=n.recipient, status=n.status,
                   scheduled_at=n.scheduled_at, sent_at=n.sent_at, client_id=n.client_id, contract_id=n.contract_id,
                   send_on=n.send_on, due_on=n.due_on)


class NotificationList(BaseModel):
    notifications: list[NotificationOut]


class SubscriptionIn(BaseModel):
    district_code: str = Field(max_length=6, examples=["110105"])
    event_types: list[Annotated[str, Field(max_length=100)]] = Field(max_length=64, examples=[["jingkang.intake.ClientRegistered.v1", "jingkang.referral.ClientPlaced.v1"]])
    url: str = Field(max_length=URL_MAX, examples=["https://district-110105.example/jingkang/events"])
    secret: str = Field(max_length=SECRET_MAX, description="at least 16 characters; signs every delivery; never returned")
    purpose: Purpose


class SubscriptionOut(BaseModel):
    subscription_id: UUID
    district_code: str
    event_types: list[str]
    url: str
    purpose: Purpose
    active: bool
    registered_at: datetime
    deactivated_at: datetime | None

    @classmethod
    def of(cls, s: Subscription) -> "SubscriptionOut":
        return cls(subscription_id=s.id, district_code=s.district_code, event_types=s.event_types, url=s.url,
                   purpose=s.purpose, active=s.active, registered_at=s.registered_at, deactivated_at=s.deactivated_at)


class SubscriptionList(BaseModel):
    subscriptions: list[SubscriptionOut]


class AttemptOut(BaseModel):
    number: int
    at: datetime
    status_code: int | None
    outcome: str


class DeliveryOut(BaseModel):
    delivery_id: UUID
    subscription_id: UUID
    event_id: str
    event_type: str
    subject: UUID
    status: Literal["pending", "failed", "delivered", "dead", "cancelled"]
    attempts: list[AttemptOut]
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    reason: str | None

    @classmethod
    def of(cls, d: Delivery) -> "DeliveryOut":
        return cls(delivery_id=d.id, subscription_id=d.subscription_id, event_id=d.event_id, event_type=d.event_type,
                   subject=d.subject_id, status=d.status, attempts=[AttemptOut(**a) for a in d.attempts],
                   next_attempt_at=d.next_attempt_at, delivered_at=d.delivered_at, reason=d.reason)


class DeliveryList(BaseModel):
    deliveries: list[DeliveryOut]


def create_app(settings: ServiceSettings, notifications: Notifications | None = None) -> FastAPI:
    notifications = notifications or create_application(settings)
    api = create_service_api(
        "Jingkang notification",
        "Reminders and their delivery through channels; webhook subscriptions of district integrations.",
        checks={"event_store": notifications.ping, "kafka": lambda: broker_reachable(settings.kafka_bootstrap),
                "relay": relay_check(notifications)},
        authority=authority_for(settings), access=ACCESS, max_request_bytes=settings.max_request_bytes,
    )
    install_audit(api, settings, notifications, to_public)

    def get_notifications() -> Notifications:
        return notifications

    def in_district(request: Request, about: str, subject_id: UUID) -> None:
        """403 unless the client's (contract's) district is one of the caller's. Notification
        learns it from intake's (funding's) events; until then only a city-wide token may read."""
        check_district(principal_of(request), notifications.district_of(about, subject_id),
                       unknown=f"the {about}'s district is not known to notification yet")

    def subscription_in_district(request: Request, subscription_id: UUID) -> Subscription:
        subscription = notifications.get_subscription(subscription_id)
        check_district(principal_of(request), subscription.district_code)
        return subscription

    @api.get("/v1/notifications", response_model=NotificationList, tags=["notifications"])
    def list_notifications(request: Request, client_id: UUID | None = None, contract_id: UUID | None = None,
                           notifications: Notifications = Depends(get_notifications)):
        """A client's (or a purchase contract's) notifications, oldest first."""
        if (client_id is None) == (contract_id is None):
            raise InvalidInput("client_id", "give exactly one of client_id or contract_id")
        in_district(request, *(("client", client_id) if client_id else ("contract", contract_id)))
        found = notifications.list_for_client(client_id) if client_id else notifications.list_for_contract(contract_id)
        return NotificationList(notifications=[NotificationOut.of(n) for n in found])

    @api.get("/v1/notifications/{notification_id}", response_model=NotificationOut, tags=["notifications"])
    def get_notification(notification_id: UUID, request: Request,
                         notifications: Notifications = Depends(get_notifications)):
        n = notifications.get_notification(notification_id)
        in_district(request, *(("client", n.client_id) if n.client_id else ("contract", n.contract_id)))
        return NotificationOut.of(n)

    @api.post("/v1/subscriptions", response_model=SubscriptionOut, status_code=201, tags=["subscriptions"])
    def register_subscription(body: SubscriptionIn, request: Request,
                              notifications: Notifications = Depends(get_notifications)):
        """Webhook deliveries of these public event types about this district's clients
        (contracts, stations), as far as each client's consent allows the purpose."""
        check_district(principal_of(request), body.district_code)
        return SubscriptionOut.of(notifications.register_subscription(
            district_code=body.district_code, event_types=body.event_types, url=body.url, secret=body.secret,
            purpose=body.purpose))

    @api.get("/v1/subscriptions", response_model=SubscriptionList, tags=["subscriptions"])
    def list_subscriptions(district: str, request: Request, notifications: Notifications = Depends(get_notifications)):
        check_district(principal_of(request), district)
        return SubscriptionList(subscriptions=[SubscriptionOut.of(s) for s in notifications.list_subscriptions(district)])

    @api.get("/v1/subscriptions/{subscription_id}", response_model=SubscriptionOut, tags=["subscriptions"])
    def get_subscription(subscription_id: UUID, request: Request,
                         notifications: Notifications = Depends(get_notifications)):
        return SubscriptionOut.of(subscription_in_district(request, subscription_id))

    @api.delete("/v1/subscriptions/{subscription_id}", response_model=SubscriptionOut, tags=["subscriptions"])
    def deactivate_subscription(subscription_id: UUID, request: Request,
                                notifications: Notifications = Depends(get_notifications)):
        """Deactivates (history stays): no new deliveries; pending ones are cancelled. 409 if already inactive."""
        subscription_in_district(request, subscription_id)
        return SubscriptionOut.of(notifications.deactivate_subscription(subscription_id))

    @api.get("/v1/subscriptions/{subscription_id}/deliveries", response_model=DeliveryList, tags=["subscriptions"])
    def subscription_deliveries(subscription_id: UUID, status: Literal["failed", "dead"], request: Request,
                                notifications: Notifications = Depends(get_notifications)):
        """This subscription's deliveries that are failing (a retry is scheduled) or dead letters."""
        subscription_in_district(request, subscription_id)
        return DeliveryList(deliveries=[DeliveryOut.of(d) for d in notifications.list_deliveries(status, subscription_id)])

    @api.get("/v1/deliveries", response_model=DeliveryList, tags=["subscriptions"])
    def list_deliveries(status: Literal["failed", "dead"], request: Request, subscription_id: UUID | None = None,
                        notifications: Notifications = Depends(get_notifications)):
        """Deliveries failing now (a retry is scheduled) or given up (dead letters), oldest first;
        without a subscription, those of the subscriptions in the caller's districts."""
        principal = principal_of(request)
        if subscription_id is not None:
            subscription_in_district(request, subscription_id)
        found = notifications.list_deliveries(status, subscription_id)
        if subscription_id is None and principal is not ANONYMOUS and not principal.covers(None):
            districts = {}  # subscription id -> its district, each loaded once
            for d in found:
                if d.subscription_id not in districts:
                    districts[d.subscription_id] = notifications.get_subscription(d.subscription_id).district_code
            found = [d for d in found if principal.covers(districts[d.subscription_id])]
        return DeliveryList(deliveries=[DeliveryOut.of(d) for d in found])

    @api.get("/v1/deliveries/{delivery_id}", response_model=DeliveryOut, tags=["subscriptions"])
    def get_delivery(delivery_id: UUID, request: Request, notifications: Notifications = Depends(get_notifications)):
        """One delivery with every attempt."""
        delivery = notifications.get_delivery(delivery_id)
        subscription_in_district(request, delivery.subscription_id)
        return DeliveryOut.of(delivery)

    @api.post("/v1/deliveries/{delivery_id}/redrive", response_model=DeliveryOut, tags=["subscriptions"])
    def redrive_delivery(delivery_id: UUID, request: Request, notifications: Notifications = Depends(get_notifications)):
        """Send a dead letter again (after the subscriber fixed its end): pending, attempted at
        the worker's next tick with a fresh round of retries. 409 unless it is dead or while
        its subscription is inactive."""
        subscription_in_district(request, notifications.get_delivery(delivery_id).subscription_id)
        return DeliveryOut.of(notifications.redrive_delivery(delivery_id))

    return api
