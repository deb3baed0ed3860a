"""A small message catalogue: zh-CN first, English switchable. Keys are dotted names; each
page area adds its own messages (`MESSAGES` in its module) to the common ones here."""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

LANGUAGES = ("zh-CN", "en")
DEFAULT = "zh-CN"
COOKIE = "jk_lang"

COMMON: dict[str, dict[str, str]] = {
    "zh-CN": {
        "app.name": "精康 · 社区康复服务平台",
        "app.short": "精康",
        "lang.switch": "English",
        "nav.home": "首页",
        "nav.skip": "跳到正文",
        "nav.menu": "主导航",
        "signin.title": "登录",
        "signin.dev.title": "开发环境登录",
        "signin.dev.lead": "以下是演示区的虚构工作人员。选择一位登录；令牌由开发密钥签发，生产环境中没有此页面。",
        "signin.dev.as": "以此身份登录",
        "signin.none": "未配置登录方式。",
        "signin.oidc.unreachable": "登录服务（统一身份认证）暂时无法访问。请稍后再试。",
        "signin.oidc.expired": "这次登录已失效或不是从本浏览器开始的。请重新登录。",
        "signin.oidc.failed": "登录没有完成。请重新登录。",
        "signin.oidc.refused": "您的账号在本平台没有可用的角色或辖区，请联系管理员。",
        "signin.oidc.signed_out.title": "已退出登录",
        "signin.oidc.signed_out": "您已退出本平台，统一身份认证的登录也已结束。",
        "signin.oidc.again": "重新登录",
        "signout": "退出登录",
        "signed_in_as": "当前用户",
        "districts": "辖区",
        "role.station_worker": "驿站社工",
        "role.district_admin": "区级管理员",
        "role.hospital": "医院联络人",
        "role.funding_officer": "资金经办",
        "role.auditor": "审计",
        "role.integration": "系统对接",
        "home.title": "工作台",
        "home.lead": "选择您要处理的工作。",
        "error.title": "无法完成",
        "error.back": "返回",
        "error.csrf": "表单已失效（缺少或错误的校验码），什么也没有改变。请返回刷新页面后重新提交。",
        "error.forbidden": "您的角色或辖区无权进行此操作。",
        "error.not_found": "没有找到这项记录。",
        "error.conflict": "此操作与当前状态冲突：{detail}",
        "error.invalid": "请更正下面标出的内容。",
        "error.gone": "此人的身份信息已被删除，任何人都不能再查看；个案记录（不含身份信息）保留。",
        "error.unavailable": "服务暂时无法访问，什么也没有改变。请稍后再试。",
        "error.page_not_found": "没有这个页面。",
        "error.unexpected": "出现了意外问题，什么也没有改变。请稍后再试。",
        "error.summary": "有问题需要处理",
        "pending.title": "正在处理",
        "pending.lead": "已提交，正在送达相关服务，到达后本页会自动更新。",
        "coming.lead": "此页面正在建设中。",
        # The programme's words, shared by every area
        "category.community_rehab": "社区康复",
        "category.dynamic_care": "动态管理",
        "category.none": "未分类",
        "stability.stable": "稳定",
        "stability.basically_stable": "基本稳定",
        "stability.unstable": "不稳定",
        "yes": "是",
        "no": "否",
        "service.medication_training": "服药训练",
        "service.relapse_prevention": "预防复发",
        "service.physical_health": "躯体健康",
        "service.daily_living_skills": "生活技能",
        "service.social_skills": "社交技能",
        "service.vocational_rehabilitation": "职业康复",
        "service.psychological_rehabilitation": "心理康复",
        "service.peer_support": "同伴支持",
        "service.family_support": "家庭支持",
        "service.case_service": "个案服务",
        "service.group_service": "小组服务",
        "service.community_service": "社区活动",
        "service.home_service": "居家服务",
    },
    "en": {
        "app.name": "Jingkang · community rehabilitation",
        "app.short": "Jingkang",
        "lang.switch": "中文",
        "nav.home": "Home",
        "nav.skip": "Skip to main content",
        "nav.menu": "Main navigation",
        "signin.title": "Sign in",
        "signin.dev.title": "Development sign-in",
        "signin.dev.lead": "These are the demo district's fictional staff. Choose one to sign in; the token is signed with the development key. This page does not exist in production.",
        "signin.dev.as": "Sign in as",
        "signin.oidc.unreachable": "The sign-in service (the identity provider) is unreachable. Please try again later.",
        "signin.oidc.expired": "This sign-in has expired or was not started in this browser. Please sign in again.",
        "signin.oidc.failed": "The sign-in was not completed. Please sign in again.",
        "signin.oidc.refused": "Your account has no role or district on this platform; please ask your administrator.",
        "signin.oidc.signed_out.title": "Signed out",
        "signin.oidc.signed_out": "You have signed out of the platform and of the identity provider.",
        "signin.oidc.again": "Sign in again",
        "signin.none": "No sign-in is configured.",
        "signout": "Sign out",
        "signed_in_as": "Signed in as",
        "districts": "Districts",
        "role.station_worker": "Station worker",
        "role.district_admin": "District admin",
        "role.hospital": "Hospital liaison",
        "role.funding_officer": "Funding officer",
        "role.auditor": "Auditor",
        "role.integration": "Integration",
        "home.title": "Workbench",
        "home.lead": "Choose the work you want to do.",
        "error.title": "That did not work",
        "error.back": "Back",
        "error.csrf": "This form has expired (its check token is missing or wrong); nothing was changed. Go back, reload the page and submit again.",
        "error.forbidden": "Your role or districts do not allow this.",
        "error.not_found": "That record was not found.",
        "error.conflict": "This conflicts with the current state: {detail}",
        "error.invalid": "Please correct what is marked below.",
        "error.gone": "This person's identity was erased: no one can read it any more; the case, without identifiers, stays.",
        "error.unavailable": "The service cannot be reached right now; nothing was changed. Please try again later.",
        "error.page_not_found": "There is no such page.",
        "error.unexpected": "Something unexpected went wrong; nothing was changed. Please try again later.",
        "error.summary": "There is a problem",
        "pending.title": "On its way",
        "pending.lead": "Submitted; it is on its way to the other services. This page updates when it arrives.",
        "coming.lead": "This page is being built.",
        "category.community_rehab": "Community rehabilitation",
        "category.dynamic_care": "Dynamic care",
        "category.none": "Not classified",
        "stability.stable": "Stable",
        "stability.basically_stable": "Basically stable",
        "stability.unstable": "Unstable",
        "yes": "Yes",
        "no": "No",
        "service.medication_training": "Medication training",
        "service.relapse_prevention": "Relapse prevention",
        "service.physical_health": "Physical health",
        "service.daily_living_skills": "Daily living skills",
        "service.social_skills": "Social skills",
        "service.vocational_rehabilitation": "Vocational rehabilitation",
        "service.psychological_rehabilitation": "Psychological rehabilitation",
        "service.peer_support": "Peer support",
        "service.family_support": "Family support",
        "service.case_service": "Case service",
        "service.group_service": "Group service",
        "service.community_service": "Community activities",
        "service.home_service": "Home service",
    },
}


def catalogue(extra: Iterable[Mapping[str, Mapping[str, str]]] = ()) -> dict[str, dict[str, str]]:
    """The common messages with every area's added (an area may not redefine a key)."""
    merged = {lang: dict(COMMON[lang]) for lang in LANGUAGES}
    for messages in extra:
        for lang, entries in messages.items():
            clash = set(entries) & set(merged[lang])
            if clash:
                raise ValueError(f"message keys defined twice: {sorted(clash)}")
            merged[lang].update(entries)
    return merged


def translator(messages: Mapping[str, Mapping[str, str]], lang: str) -> Callable[..., str]:
    """t(key, **values): the message in `lang`, else in zh-CN, else the key itself (visible, never a crash)."""
    own, fallback = messages.get(lang, {}), messages[DEFAULT]

    def t(key: str, **values: object) -> str:
        text = own.get(key) or fallback.get(key) or key
        return text.format(**values) if values else text

    t.lang = lang if lang in messages else DEFAULT
    return t


def language_of(cookie: str | None) -> str:
    return cookie if cookie in LANGUAGES else DEFAULT
