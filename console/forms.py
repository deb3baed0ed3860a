"""Between HTML forms and the services' request bodies: form fields are named after the
service's field paths with "_" for "." (applicant.id_number -> applicant_id_number), so a
422's field errors land beside the field that caused them."""
from __future__ import annotations

from typing import Mapping

from console.services import ServiceRefused


def form_name(service_field: str) -> str:
    return service_field.replace(".", "_")


def field_errors(refused: ServiceRefused, t) -> dict[str, str]:
    """Form field -> what to say beside it: the service's own reason (its field paths are the
    form's names). A refusal that names no field is one sentence under "form"."""
    if refused.status == 422 and refused.fields:
        return {form_name(f) or "form": reason for f, reason in refused.fields.items()}
    return {"form": refused.sentence(t) + (f" ({refused.detail})" if refused.detail and refused.status != 409 else "")}


def text(form: Mapping[str, str], name: str) -> str | None:
    """A text field's value, trimmed; None when left empty (the service then applies its default)."""
    value = (form.get(name) or "").strip()
    return value or None


def checked(form: Mapping[str, str], name: str) -> bool:
    return form.get(name) in ("on", "true", "1", "yes")
