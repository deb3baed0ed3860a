"""Between HTML forms and the services' request bodies: form fields are named after the
service's field paths with "_" for "." (applicant.id_number -> applicant_id_number), so a
422's field errors land beside the field that caused them."""
from __future__ import annotations

from typing import Mapping

from console.services import ServiceRefused


def form_name(service_field: str) -> str:
    return service_field.replace(".", "_")


# The services' reasons are English sentences; the common ones in the worker's words (by how
# they start). Anything else is shown as the service said it.
REASONS_ZH = (
    ("check digit does not match", "身份证号码校验位不正确，请核对最后一位"),
    ("check digit needs exactly 17 digits", "身份证号码应为 18 位"),
    ("must be 18 characters", "身份证号码应为 18 位"),
    ("must be 17 digits followed by", "身份证号码应为 17 位数字加一位数字或 X"),
    ("region code must start", "身份证号码的地区码不正确"),
    ("birth date is not a real date", "身份证号码中的出生日期不存在"),
    ("birth date is in the future", "出生日期不能晚于今天"),
    ("birth date is before 1900", "出生日期不能早于 1900 年"),
    ("does not match the birth date in the resident id", "与身份证号码中的出生日期不一致"),
    ("does not match the sex digit", "与身份证号码中的性别不一致"),
    ("a guardian's application must name the guardian", "监护人申请须填写监护人"),
    ("the applicant is a minor: a guardian is required", "申请人未成年，须填写监护人"),
    ("the applicant lacks capacity: a guardian is required", "申请人缺乏行为能力，须填写监护人"),
    ("the guardian cannot be the applicant", "监护人不能是申请人本人"),
    ("the guardian must be an adult", "监护人须年满 18 周岁"),
    ("must lie in the district", "街道代码须属于所填区县（以区县代码开头）"),
    ("Field required", "必填"),
    ("String should match pattern", "格式不正确"),
    ("Input should be greater than or equal to", "数值太小"),
    ("Input should be less than or equal to", "数值太大"),
    ("Input should be a valid integer", "请填写整数"),
    ("Input should be a valid date", "请填写有效日期"),
    ("Input should be", "请从选项中选择"),
    ("List should have at least 1 item", "请至少选择一项"),
    ("String should have at least 1 character", "必填"),
)


def in_words(reason: str, lang: str) -> str:
    if lang == "zh-CN":
        for start, words in REASONS_ZH:
            if reason.startswith(start):
                return words
    return reason


def field_errors(refused: ServiceRefused, t) -> dict[str, str]:
    """Form field -> what to say beside it: the service's own reason, in the user's words where
    known (its field paths are the form's names). A refusal that names no field is one
    sentence under "form"."""
    if refused.status == 422 and refused.fields:
        lang = getattr(t, "lang", "zh-CN")
        return {form_name(f) or "form": in_words(reason, lang) for f, reason in refused.fields.items()}
    return {"form": refused.sentence(t) + (f" ({refused.detail})" if refused.detail and refused.status != 409 else "")}


def text(form: Mapping[str, str], name: str) -> str | None:
    """A text field's value, trimmed; None when left empty (the service then applies its default)."""
    value = (form.get(name) or "").strip()
    return value or None


def checked(form: Mapping[str, str], name: str) -> bool:
    return form.get(name) in ("on", "true", "1", "yes")
