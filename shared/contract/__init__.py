"""The public event contract: what district integrations rely on (DESIGN.md §3).

Each public event is a versioned pydantic model here, separate from the services'
internal events. JSON Schemas in `schemas/` are generated from these models
(`python -m shared.contract`) and committed; a test fails when they drift.
"""
from shared.contract.base import REGISTRY, PublicEvent, event_type, lookup  # noqa: F401
from shared.contract import assessment, funding, intake, notification, referral, supervision, withheld  # noqa: F401  (registers)
