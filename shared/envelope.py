"""CloudEvents 1.0 structured JSON envelope for public events (DESIGN.md §3).

The Kafka value is the JSON below, the key is the subject (client or contract id),
and the `traceparent` also travels as a Kafka header for OpenTelemetry."""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from pydantic import ValidationError

from shared.contract import PublicEvent, event_type, lookup

CONTENT_TYPE = "application/cloudevents+json"
SCHEMA_BASE = "https://schemas.jingkang.example/events"
# Event ids are derived from the stored event, so a republished event keeps its id
# and subscribers can deduplicate by it.
_ID_NAMESPACE = uuid.UUID("3d3a1f7e-6a51-4c55-9a0f-7c0d3a5e1b42")
REQUIRED = ("specversion", "id", "source", "type", "subject", "time", "datacontenttype", "data")
MAX_MESSAGE_BYTES = 256 * 1024  # the default size budget (JINGKANG_MAX_EVENT_BYTES): larger is not one of ours


class InvalidMessage(ValueError):
    """A message that can never be processed: it goes to the dead-letter topic."""


class UnknownEventType(InvalidMessage):
    pass


@dataclass(frozen=True)
class CloudEvent:
    attributes: Mapping[str, Any]
    event: PublicEvent

    @property
    def id(self) -> str:
        return self.attributes["id"]

    @property
    def type(self) -> str:
        return self.attributes["type"]

    @property
    def subject(self) -> str:
        return self.attributes["subject"]

    def get(self, name: str, default: Any = None) -> Any:
        return self.attributes.get(name, default)


_ID_PREFIX = _ID_NAMESPACE.bytes
# Compact JSON, UTF-8 as is; one encoder for every message (json.dumps with options builds a new one per call).
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def event_id(service: str, originator_id: Any, originator_version: int, public: PublicEvent) -> str:
    """Stable id of one public form (type and version) of one stored event: uuid.uuid5 of
    that name, computed without building a UUID object (the relay makes one per message)."""
    name = f"{service}/{originator_id}/{originator_version}/{_class_attributes(type(public))[1]}"
    digest = bytearray(hashlib.sha1(_ID_PREFIX + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def schema_url(cls: type[PublicEvent]) -> str:
    return f"{SCHEMA_BASE}/{event_type(cls)}.json"


_ATTRIBUTES: dict[type, tuple[str, str, str]] = {}


def _class_attributes(cls: type[PublicEvent]) -> tuple[str, str, str]:
    """source, type and dataschema of a public event class (the same for all its messages)."""
    found = _ATTRIBUTES.get(cls)
    if found is None:
        found = _ATTRIBUTES[cls] = (f"jingkang/{cls.SERVICE}", event_type(cls), schema_url(cls))
    return found


def _attributes(event: PublicEvent, id: str, time: datetime, sequence: int,
                meta: Mapping[str, Any] | None) -> dict[str, Any]:
    source, ce_type, dataschema = _class_attributes(type(event))
    ce: dict[str, Any] = {
        "specversion": "1.0",
        "id": id,
        "source": source,
        "type": ce_type,
        "subject": event.subject,
        "time": time.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "dataschema": dataschema,
        "sequence": sequence,
    }
    if meta:
        for key in ("traceparent", "correlationid", "causationid", "chainhash"):
            if meta.get(key):
                ce[key] = meta[key]
    return ce


def to_cloudevent(
    event: PublicEvent,
    *,
    id: str,
    time: datetime,
    sequence: int,
    meta: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    ce = _attributes(event, id, time, sequence, meta)
    ce["data"] = event.model_dump(mode="json")
    return ce


def encode(ce: Mapping[str, Any]) -> bytes:
    return _json(ce).encode()


def encode_cloudevent(
    event: PublicEvent,
    *,
    id: str,
    time: datetime,
    sequence: int,
    meta: Mapping[str, Any] | None = None,
) -> bytes:
    """encode(to_cloudevent(...)) in one step, for the relay (one per message): the data is
    serialised by pydantic straight to JSON, not to a dict that is then encoded again."""
    head = _json(_attributes(event, id, time, sequence, meta))
    return f'{head[:-1]},"data":{event.model_dump_json()}}}'.encode()


def attributes(raw: bytes | None, max_bytes: int = MAX_MESSAGE_BYTES) -> dict:
    """A message's CloudEvent as a dict, checked for shape only (within the budget, a JSON
    object, specversion 1.0, every required attribute); InvalidMessage with the reason."""
    if raw is None:
        raise InvalidMessage("empty message")
    if len(raw) > max_bytes:
        raise InvalidMessage(f"message of {len(raw)} bytes exceeds the budget of {max_bytes}")
    try:
        ce = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidMessage(f"not JSON: {e}") from None
    if not isinstance(ce, dict):
        raise InvalidMessage("not a CloudEvent: JSON value is not an object")
    missing = [k for k in REQUIRED if k not in ce]
    if missing:
        raise InvalidMessage(f"not a CloudEvent: missing {', '.join(missing)}")
    if ce["specversion"] != "1.0":
        raise InvalidMessage(f"unsupported specversion {ce['specversion']!r}")
    return ce


def decode(raw: bytes | None, max_bytes: int = MAX_MESSAGE_BYTES) -> CloudEvent:
    """Parse and validate a message; raise InvalidMessage with the reason."""
    ce = attributes(raw, max_bytes)
    cls = lookup(str(ce["type"]))
    if cls is None:
        raise UnknownEventType(f"unknown event type {ce['type']!r}")
    try:
        event = cls.model_validate(ce["data"])
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'data'}: {err['msg']}" for err in e.errors()[:5])
        raise InvalidMessage(f"data does not match {ce['type']}: {problems}") from None
    if event.subject != str(ce["subject"]):
        raise InvalidMessage("subject does not match the event's data")
    return CloudEvent(attributes=ce, event=event)
