"""supervision's application: the read model fed from the public topics (`project`), the
queries the API answers (indicators, evidence, trends, districts), and the review of
closed periods that publishes IndicatorBelowTarget (through its own small event store
and relay, like every service publishes). No HTTP, no Kafka here."""
from __future__ import annotations

import calendar
import json
import threading
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

from eventsourcing.persistence import IntegrityError

from services.supervision.domain import IndicatorReview, closed_months, month_of
from services.supervision.indicators import NAMES, USED, Unusable, collect, fact_of, figures
from services.supervision.readmodel import ReadModel, row_of
from shared.auth import ANONYMOUS, Principal, area_prefix
from shared.contract import REGISTRY
from shared.envelope import MAX_MESSAGE_BYTES, InvalidMessage, attributes
from shared.errors import InvalidInput
from shared.store import ServiceApplication

DISTRICT_NAMES = Path(__file__).with_name("districts.json")


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None


@dataclass
class Batch:
    """What one poll of the topics comes to: rows to store, the next offset of each
    partition it read, and the messages that can never be used (for the dead-letter topic)."""
    rows: list[tuple] = field(default_factory=list)
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    dead: list[tuple[Message, str]] = field(default_factory=list)
    duplicates: int = 0
    ignored: int = 0


class Reviews(ServiceApplication):
    """supervision's event store: only the IndicatorBelowTarget it publishes."""
    name = "supervision"


@dataclass(frozen=True)
class Rules:
    """Per city (settings.py): which districts are main ones, the definitions' day counts,
    the longest period a query may ask for, and how long after a month ends it counts as closed."""
    main_districts: tuple[str, ...] = ()
    max_period_days: int = 1096
    close_after_days: int = 15
    review_months: int = 12
    names: dict[str, str] = field(default_factory=lambda: load_names())


def load_names(path: str | None = None) -> dict[str, str]:
    """The city's area names, {code: name} (districts.json beside this file by default)."""
    data = json.loads(Path(path or DISTRICT_NAMES).read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


class Supervision:
    def __init__(self, model: ReadModel, rules: Rules, reviews: Reviews | None = None, cache_size: int = 64):
        self.model = model
        self.rules = rules
        self.reviews = reviews
        # The facts of an area up to a day, grouped, for the queries that follow one another
        # (a dashboard asks for the figures, then trends, then evidence): valid while the
        # model has no new fact (its version), at most cache_size of them.
        self.cache_size = cache_size
        self._collected: dict[tuple[str, date], tuple[int, Any]] = {}
        # The figures of an area and period, for as long as the grouped facts they were made
        # from stand: a dashboard asks for one trend per indicator, and each trend for every
        # month's figures (all indicators at once), so nine trends made the same figures nine
        # times (2.6 s for the demo district's dashboard, 27,000 facts).
        self._figured: dict[tuple[str, date, date], tuple[Any, dict]] = {}
        # The dashboard's queries arrive together: one of them makes what the others then
        # read, instead of each making it at once (CPU-bound: no parallelism lost).
        self._making = threading.RLock()

    def collected(self, area: str, until: date):
        version = self.model.version()
        key = (area, until)
        with self._making:
            hit = self._collected.get(key)
            if hit is not None and hit[0] == version:
                return hit[1]
            grouped = collect(self.model.facts_of(area, until))
            if len(self._collected) >= self.cache_size:
                self._collected.clear()
            self._collected[key] = (version, grouped)
            return grouped

    # --- projection ----------------------------------------------------------------------------------
    def prepare(self, messages: Iterable[Message], positions: dict[tuple[str, int], int]) -> Batch:
        """Decide what a poll's messages add to the model. `positions` are the next offsets
        already stored: a message before them was processed (redelivery) and is skipped."""
        batch = Batch()
        seen: set[str] = set()
        for m in messages:
            tp = (m.topic, m.partition)
            if m.offset < batch.positions.get(tp, positions.get(tp, 0)):
                batch.duplicates += 1
                continue
            batch.positions[tp] = m.offset + 1
            try:
                ce = envelope_of(m.value)
                # Only the types the definitions read are parsed and checked against their
                # schema (the rest, most of the traffic, are passed over unparsed).
                fact = fact_of(ce) if ce["type"] in USED_TYPES else None
                if fact is not None and fact.event.subject != str(ce["subject"]):
                    raise InvalidMessage("subject does not match the event's data")
            except (InvalidMessage, Unusable) as e:
                batch.dead.append((m, f"{type(e).__name__}: {e}"))
                continue
            if fact is None:
                batch.ignored += 1
            elif fact.id in seen:
                batch.duplicates += 1
            else:
                seen.add(fact.id)
                batch.rows.append(row_of(ce, fact))
        return batch

    def store(self, batch: Batch) -> None:
        self.model.apply(batch.rows, batch.positions)

    # --- queries -------------------------------------------------------------------------------------
    def check_period(self, start: date, end: date) -> None:
        if end < start:
            raise InvalidInput("to", "must not be before from")
        if (end - start).days + 1 > self.rules.max_period_days:
            raise InvalidInput("to", f"the period may be at most {self.rules.max_period_days} days")

    def check_district(self, code: str) -> None:
        if code not in self.tree():
            raise InvalidInput("district", f"unknown district {code}")

    def _figures(self, collected, district: str, start: date, end: date) -> dict:
        key = (district, start, end)
        with self._making:
            hit = self._figured.get(key)
            if hit is not None and hit[0] is collected:
                return hit[1]
            result = figures(collected, district=district, start=start, end=end, main_districts=self.rules.main_districts)
            if len(self._figured) >= self.cache_size * 16:  # a dashboard's months for a few areas
                self._figured.clear()
            self._figured[key] = (collected, result)
            return result

    def indicators(self, district: str, start: date, end: date) -> dict:
        self.check_period(start, end)
        self.check_district(district)
        result = self._figures(self.collected(district, end), district, start, end)
        return {"district": district, "from": start.isoformat(), "to": end.isoformat(),
                "indicators": [public_figure(name, f) for name, f in result["indicators"].items()]}

    def evidence(self, name: str, district: str, start: date, end: date, page: int, size: int) -> dict:
        if name not in NAMES:
            raise InvalidInput("name", f"unknown indicator; one of {', '.join(NAMES)}")
        self.check_period(start, end)
        self.check_district(district)
        figure = self._figures(self.collected(district, end), district, start, end)["indicators"][name]
        ids = figure["evidence"]
        rows = self.model.rows(ids[(page - 1) * size: page * size])
        return {"items": [{"id": r.id, "type": r.type, "time": r.time, "subject": r.subject} for r in rows],
                "page": page, "size": size, "total": len(ids)}

    def trends(self, district: str, indicator: str, start: date, end: date) -> dict:
        if indicator not in NAMES:
            raise InvalidInput("indicator", f"unknown indicator; one of {', '.join(NAMES)}")
        self.check_period(start, end)
        self.check_district(district)
        collected = self.collected(district, end)
        points = []
        for first, last in months(start, end):
            f = self._figures(collected, district, first, last)["indicators"][indicator]
            points.append({"period": first.strftime("%Y-%m"), "value": f["value"], "numerator": f["numerator"],
                           "denominator": f["denominator"], "target": f["target"], "met": f["met"]})
        return {"district": district, "indicator": indicator, "points": points}

    def tree(self) -> dict[str, dict]:
        """Every area known (named in the city's list, or named by an event) and the areas
        above it: code -> {code, name, parent}."""
        codes = set(self.rules.names) | self.model.districts()
        nodes: dict[str, dict] = {}
        for code in sorted(codes):
            while code and code not in nodes:
                parent = parent_of(code)
                nodes[code] = {"code": code, "name": self.rules.names.get(code, code), "parent": parent}
                code = parent
        return nodes

    def districts(self, principal: Principal) -> dict:
        return {"districts": [node | {"visible": principal is ANONYMOUS or principal.covers(node["code"])}
                              for node in sorted(self.tree().values(), key=lambda n: n["code"])]}

    # --- reviews of closed periods ---------------------------------------------------------------------
    def review_closed_periods(self, today: date) -> list[IndicatorReview]:
        """For each county with facts and each month closed by `today` (ended at least
        close_after_days ago, within the last review_months), the indicators that missed
        their target, recorded once per district, indicator and month (the relay publishes
        them as IndicatorBelowTarget). Returns the reviews recorded now."""
        assert self.reviews is not None, "reviews need the service's event store"
        recorded = []
        first = self.model.first_day()
        if first is None:
            return recorded
        counties = sorted(c for c in self.model.districts() if area_prefix(c) == c)
        for first_day, last_day in closed_months(today, self.rules.close_after_days, self.rules.review_months, first):
            period = month_of(first_day)
            for district in counties:
                if self.model.reviewed(district, period):
                    continue
                result = self._figures(self.collected(district, last_day), district, first_day, last_day)
                for name, f in result["indicators"].items():
                    if f["met"] is False:
                        review = IndicatorReview(district=district, indicator=name, period=period, value=f["value"],
                                                 target=f["target"], numerator=f["numerator"],
                                                 denominator=f["denominator"])
                        try:
                            self.reviews.save(review)
                            recorded.append(review)
                        except IntegrityError:
                            pass  # recorded by an earlier review that stopped before marking the period
                self.model.mark_reviewed(district, period)
        return recorded


USED_TYPES = frozenset(t for t, cls in REGISTRY.items() if issubclass(cls, USED))


def envelope_of(value: bytes | None, max_bytes: int = MAX_MESSAGE_BYTES) -> dict:
    """A message's CloudEvent attributes, checked for shape only: InvalidMessage otherwise."""
    return attributes(value, max_bytes)


def public_figure(name: str, f: dict) -> dict:
    """A figure as the HTTP contract has it (Decimals become strings when serialised)."""
    return {"name": name, "value": f["value"], "numerator": f["numerator"], "denominator": f["denominator"],
            "target": f["target"], "met": f["met"], "unit": f["unit"]}


def parent_of(code: str) -> str | None:
    """The area above a GB/T 2260 code: county 110105 -> city 110100 -> province 110000."""
    if code.endswith("0000"):
        return None
    if code.endswith("00"):
        return code[:2] + "0000"
    return code[:4] + "00"


def months(start: date, end: date) -> list[tuple[date, date]]:
    """The calendar months from start to end, each cut to the period."""
    out, first = [], start
    while first <= end:
        last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
        out.append((first, min(last, end)))
        first = last + timedelta(days=1)
    return out


def as_json(value: Any) -> Any:
    """Decimals as strings, exactly as computed: JSON numbers are floats to most readers."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return value
