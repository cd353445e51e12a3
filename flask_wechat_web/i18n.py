"""The language of the extension's pages: which one a request gets, and its catalogs.

The extension's strings live in their own gettext domain, ``flask_wechat_web``,
under ``flask_wechat_web/translations``, so a site's own catalogs are never
touched. The source strings (msgids) are the English text; ``zh_CN`` and
``zh_TW`` are catalogs. A request gets Flask-Babel's locale when the site uses
Flask-Babel, else ``WECHAT_WEB_UI_LOCALE``, else the best of the browser's
``Accept-Language``, else ``zh_CN``. Flask-Babel only picks the language: the
catalogs are always read with Babel's :class:`~babel.support.Translations`,
with or without it.

Babel is imported on first use, when a page or message is translated: the
package (and so the pytest plugin, which pytest loads in every project that
has it installed) imports this module without it.
"""

from __future__ import annotations

import typing as t
from collections import UserString
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path

from flask import current_app, g, has_app_context, has_request_context, request
from markupsafe import Markup

if t.TYPE_CHECKING:
    from babel.support import NullTranslations

#: The extension's gettext domain (``<locale>/LC_MESSAGES/flask_wechat_web.mo``).
DOMAIN = "flask_wechat_web"
TRANSLATIONS_DIR = Path(__file__).with_name("translations")
#: The languages of the extension's pages; English is the source language.
LOCALES = ("zh_CN", "zh_TW", "en")
DEFAULT_LOCALE = "zh_CN"
#: ``<html lang>`` for each locale.
HTML_LANG = {"zh_CN": "zh-CN", "zh_TW": "zh-TW", "en": "en"}


def supported_locale(tag: str) -> str | None:
    """The locale of :data:`LOCALES` a language tag (``zh-HK``, ``en_GB``) asks for.

    Traditional script gets ``zh_TW``, every other Chinese ``zh_CN``. Where the
    tag names no script, Babel's likely subtags tell it (``zh-HK`` is
    ``zh_Hant_HK``, ``zh-SG`` is ``zh_Hans_SG``).
    """
    from babel import Locale, UnknownLocaleError, parse_locale

    identifier = tag.replace("-", "_")
    try:
        language, _, script, _ = parse_locale(identifier)[:4]
        if language == "zh" and not script:
            script = Locale.parse(identifier).script
    except (ValueError, TypeError, UnknownLocaleError):
        return None
    if language == "en":
        return "en"
    if language == "zh":
        return "zh_TW" if script == "Hant" else "zh_CN"
    return None


def negotiate(accept_languages: Iterable[tuple[str, float]]) -> str | None:
    """The first supported locale of ``(tag, quality)`` pairs, best first.

    Werkzeug's ``request.accept_languages`` is such a list, already sorted.
    """
    for tag, quality in accept_languages:
        locale = supported_locale(tag) if quality > 0 else None
        if locale:
            return locale
    return None


def _flask_babel_locale() -> str | None:
    if "babel" not in current_app.extensions:
        return None
    from flask_babel import get_locale  # type: ignore[import-untyped, unused-ignore]

    locale = get_locale()
    return supported_locale(str(locale)) if locale is not None else None


def current_locale() -> str:
    """The locale of this request's pages and messages (see the module docstring)."""
    if not has_request_context():
        configured = current_app.config.get("WECHAT_WEB_UI_LOCALE") if has_app_context() else None
        return t.cast(str, configured or DEFAULT_LOCALE)
    locale: str | None = g.get("_wechat_web_locale")
    if locale is None:
        locale = (
            _flask_babel_locale()
            or current_app.config.get("WECHAT_WEB_UI_LOCALE")
            or negotiate(request.accept_languages)
            or DEFAULT_LOCALE
        )
        g._wechat_web_locale = locale
    return locale


@cache
def translations(locale: str) -> NullTranslations:
    """The catalog of ``locale``; English, the source language, has none."""
    from babel.support import Translations

    return Translations.load(str(TRANSLATIONS_DIR), [locale], DOMAIN)


def gettext(message: str) -> str:
    """``message`` in the current request's language."""
    return translations(current_locale()).gettext(message)


class _LazyText(UserString):
    """A text that behaves as a ``str`` and is translated each time it is read."""

    def __init__(self, message: str) -> None:  # no UserString.__init__: ``data`` is read
        self.message = message

    @property
    def data(self) -> str:  # type: ignore[override]
        return gettext(self.message)


def lazy_gettext(message: str) -> str:
    """``message``, translated each time it is used (for class attributes).

    It behaves as a ``str`` (a :class:`~collections.UserString`); pass
    ``str(value)`` where a real string is needed (a flash, JSON).
    """
    return t.cast(str, _LazyText(message))


def gettext_noop(message: str) -> str:
    """Mark ``message`` for extraction; translate it later, where it is shown."""
    return message


def template_gettext(locale: str) -> Callable[..., Markup]:
    """The ``_`` of the extension's templates, for ``locale``.

    Like Jinja's new-style gettext: ``_("Log in as %(name)s", name=n)`` fills
    in the escaped ``name``. The catalogs are ours, so their text is trusted.
    """
    catalog = translations(locale)

    def translate(message: str, **variables: t.Any) -> Markup:
        text = Markup(catalog.gettext(message))
        return text % variables if variables else text

    return translate


def template_text(message: str, **variables: t.Any) -> Markup:
    """The ``wechat_gettext`` of templates: :func:`template_gettext` in the request's language.

    The extension's pages and macros use it rather than ``_``, so they can sit
    in a site's own layout, whose ``_`` is the site's.
    """
    return template_gettext(current_locale())(message, **variables)


def template_context(locale: str) -> dict[str, t.Any]:
    """What the fake WeChat's templates need to speak ``locale``."""
    return {"_": template_gettext(locale), "html_lang": HTML_LANG[locale]}
