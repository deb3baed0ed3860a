from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema

REGISTRY: dict[str, type["PublicEvent"]] = {}

# Money on the wire is a string with two decimals: JSON numbers are floats to most readers.
Money = Annotated[
    Decimal,
    PlainSerializer(lambda d: f"{d:.2f}", return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?[0-9]+\.[0-9]{2}$", "description": "yuan, two decimals"}),
]

DistrictCode = Annotated[str, WithJsonSchema({"type": "string", "pattern": r"^[0-9]{6}$", "description": "GB/T 2260 county-level code"})]
StreetCode = Annotated[str, WithJsonSchema({"type": "string", "pattern": r"^[0-9]{9}$", "description": "township/street code"})]


class PublicEvent(BaseModel):
    """Base of every public event. Subclasses set SERVICE, NAME, VERSION and SUBJECT
    (the field whose value is the CloudEvents subject and the Kafka key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    SERVICE: ClassVar[str]
    NAME: ClassVar[str]
    VERSION: ClassVar[int] = 1
    SUBJECT: ClassVar[str] = "client_id"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "NAME" in cls.__dict__:
            REGISTRY[event_type(cls)] = cls

    @property
    def subject(self) -> str:
        return str(getattr(self, self.SUBJECT))


def event_type(cls: type[PublicEvent]) -> str:
    return f"jingkang.{cls.SERVICE}.{cls.NAME}.v{cls.VERSION}"


def lookup(ce_type: str) -> type[PublicEvent] | None:
    return REGISTRY.get(ce_type)
