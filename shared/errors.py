"""Domain errors. Raised by aggregates and applications, mapped to HTTP by shared.api:
InvalidInput -> 422, NotFound -> 404, Conflict -> 409. A raised error means nothing was saved."""


class DomainError(Exception):
    """A command was refused by a business rule."""


class InvalidInput(DomainError):
    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class NotFound(DomainError):
    def __init__(self, what: str, id: object):
        super().__init__(f"{what} {id} not found")
        self.what = what
        self.id = id


class Conflict(DomainError):
    """The command is well-formed but not allowed in the aggregate's current state."""


class EventTooLarge(InvalidInput):
    """The command's event would be over the size budget (JINGKANG_MAX_EVENT_BYTES): 422
    naming its largest field; nothing is stored."""


class NotReady(Exception):
    """A /ready check's failure whose message is safe to show (positions and codes only)."""
