"""Generate the published contract from the models: one JSON Schema per public event
type and version (the whole CloudEvent, envelope and data), and an AsyncAPI 3.0
document of the five topics. `python -m shared.contract` writes them; a contract test
fails if the committed files differ from what the models generate."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.contract.base import REGISTRY, PublicEvent, event_type
from shared.envelope import schema_url

HERE = Path(__file__).resolve().parent
SCHEMA_DIR = HERE / "schemas"
ASYNCAPI = HERE / "asyncapi.json"
LOCK = HERE / "compatibility.lock.json"
SERVICES = ("intake", "assessment", "referral", "funding", "notification", "supervision")
TRACEPARENT = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"


def cloudevent_schema(cls: type[PublicEvent]) -> dict[str, Any]:
    data = cls.model_json_schema(mode="serialization")
    defs = data.pop("$defs", {})
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": schema_url(cls),
        "title": event_type(cls),
        "description": (cls.__doc__ or "").strip() or f"{cls.NAME} from {cls.SERVICE}",
        "type": "object",
        "required": ["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "sequence", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "format": "uuid", "description": "unique forever; a republished event keeps its id"},
            "source": {"const": f"jingkang/{cls.SERVICE}"},
            "type": {"const": event_type(cls)},
            "subject": {"type": "string", "description": f"the {cls.SUBJECT} (also the Kafka key)"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "dataschema": {"const": schema_url(cls)},
            "sequence": {"type": "integer", "minimum": 1, "description": "position in the service's event log"},
            "traceparent": {"type": "string", "pattern": TRACEPARENT},
            "correlationid": {"type": "string"},
            "causationid": {"type": "string"},
            "chainhash": {"type": "string", "pattern": "^[0-9a-f]{64}$",
                          "description": "hash chain of the service's event log up to `sequence` (tamper evidence)"},
            "data": data,
        },
        "additionalProperties": False,
    }
    if defs:
        schema["$defs"] = defs
    return schema


def asyncapi() -> dict[str, Any]:
    channels, operations, messages = {}, {}, {}
    for service in SERVICES:
        types = sorted(t for t, cls in REGISTRY.items() if cls.SERVICE == service)
        refs = {}
        for t in types:
            cls = REGISTRY[t]
            name = f"{cls.NAME}V{cls.VERSION}"
            messages[name] = {
                "name": t,
                "contentType": "application/cloudevents+json",
                "summary": (cls.__doc__ or "").strip().split("\n")[0] or cls.NAME,
                "payload": {"$ref": f"schemas/{t}.json"},
                "headers": {"type": "object", "properties": {"traceparent": {"type": "string"}, "ce_type": {"const": t}}},
            }
            refs[name] = {"$ref": f"#/components/messages/{name}"}
        topic = f"jingkang.{service}.v1"
        channels[service] = {"address": topic, "messages": refs,
                             "description": f"Public events of {service}, keyed by subject (client id, or contract id for contract events)."}
        operations[f"receive_{service}"] = {"action": "receive", "channel": {"$ref": f"#/channels/{service}"}}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Jingkang public events", "version": "1",
                 "description": "CloudEvents 1.0 (structured JSON) on Kafka. No personal identifiers."},
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render() -> dict[Path, str]:
    files = {SCHEMA_DIR / f"{t}.json": cloudevent_schema(cls) for t, cls in sorted(REGISTRY.items())}
    files[ASYNCAPI] = asyncapi()
    return {path: json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True) + "\n" for path, doc in files.items()}


def _signature(schema: dict, defs: dict) -> object:
    """A property's schema without prose, with references resolved: what a reader relies on."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _signature(defs[schema["$ref"].split("/")[-1]], defs)
        return {k: _signature(v, defs) for k, v in sorted(schema.items()) if k not in ("title", "description")}
    if isinstance(schema, list):
        return [_signature(v, defs) for v in schema]
    return schema


def shape(cls: type[PublicEvent]) -> dict:
    data = cls.model_json_schema(mode="serialization")
    defs = data.get("$defs", {})
    return {"required": sorted(data.get("required", [])),
            "properties": {name: _signature(prop, defs) for name, prop in sorted(data["properties"].items())}}


def incompatibilities(locked: dict) -> list[str]:
    """What breaks a published version: a removed type or field, a retyped field, a new
    required field. Adding an optional field or a new version is fine."""
    problems = []
    for t, old in sorted(locked.items()):
        cls = REGISTRY.get(t)
        if cls is None:
            problems.append(f"{t}: published type removed")
            continue
        new = shape(cls)
        for name, signature in old["properties"].items():
            if name not in new["properties"]:
                problems.append(f"{t}: field {name} removed")
            elif new["properties"][name] != signature:
                problems.append(f"{t}: field {name} changed type")
        for name in sorted(set(new["required"]) - set(old["required"])):
            problems.append(f"{t}: field {name} is newly required")
    return problems


def update_lock() -> None:
    """Record the shape of every newly published type; never rewrite a recorded one."""
    locked = json.loads(LOCK.read_text()) if LOCK.exists() else {}
    for t, cls in sorted(REGISTRY.items()):
        locked.setdefault(t, shape(cls))
    LOCK.write_text(json.dumps(locked, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def write() -> list[Path]:
    SCHEMA_DIR.mkdir(exist_ok=True)
    rendered = render()
    for stale in set(SCHEMA_DIR.glob("*.json")) - set(rendered):
        stale.unlink()
    for path, text in rendered.items():
        path.write_text(text, encoding="utf-8")
    return sorted(rendered)
