"""Sphinx configuration for the Flask-WeChat-Web documentation."""

from __future__ import annotations

import os
import typing as t
from importlib.metadata import version as _version

from sphinx.ext.intersphinx import missing_reference

project = "Flask-WeChat-Web"
author = "Flask-WeChat-Web contributors"
copyright = "Flask-WeChat-Web contributors"
release = _version("Flask-WeChat-Web")
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc", "sphinx.ext.intersphinx"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
nitpicky = True

# The build has no internet, so each project's inventory is read from
# docs/_inventories (refreshed by scripts/update-inventories.sh) while the
# links point at the project's site.
intersphinx_mapping = {
    name: (url, f"_inventories/{name}.inv")
    for name, url in {
        "python": "https://docs.python.org/3/",
        "flask": "https://flask.palletsprojects.com/en/stable/",
        "werkzeug": "https://werkzeug.palletsprojects.com/en/stable/",
        "flask_login": "https://flask-login.readthedocs.io/en/latest/",
        "authlib": "https://docs.authlib.org/en/latest/",
        "requests": "https://requests.readthedocs.io/en/latest/",
        "flask_sqlalchemy": "https://flask-sqlalchemy.readthedocs.io/en/stable/",
    }.items()
}

exclude_patterns = ["_build", "_inventories"]
html_theme = "furo"
html_title = "Flask-WeChat-Web"
html_static_path: list[str] = []
pygments_style = "friendly"
pygments_dark_style = "monokai"

# Translations (简体中文): gettext catalogs in docs/locale/zh_CN/LC_MESSAGES,
# one .po per page so two translators can work on different pages. Built
# with `-D language=zh_CN` into docs/_build/html/zh_CN; see scripts/docs.sh.
# Read the Docs builds the 简体中文 translation as its own project and passes
# the project's language as `-D language=zh-cn` (lowercase, a dash):
# _normalize_language maps every spelling to the catalogs' folder, zh_CN.
locale_dirs = ["locale/"]
gettext_compact = False
gettext_location = False
gettext_uuid = False
templates_path = ["_templates"]
html_sidebars = {
    "**": [
        "sidebar/brand.html",
        "sidebar/language.html",
        "sidebar/search.html",
        "sidebar/scroll-start.html",
        "sidebar/navigation.html",
        "sidebar/scroll-end.html",
    ]
}


def _show_default_factories(
    app: object,
    what: str,
    name: str,
    obj: object,
    options: object,
    sig: str | None,
    ret: str | None,
) -> tuple[str | None, str | None]:
    """A dataclass field's ``default_factory`` as ``...``: Sphinx cannot parse ``<factory>``."""
    return (sig.replace("= <factory>", "= ...") if sig else sig), ret


#: Names signatures show (imported for type checking only, or defined in a
#: submodule) -> the name the docs, ours or a linked project's, know them by.
_REFERENCE_NAMES = {
    "flask.app.Flask": "flask.Flask",
    "Flask": "flask.Flask",
    "SQLAlchemy": "flask_sqlalchemy.SQLAlchemy",
    "WeChatRemoteApp": "flask_wechat_web.client.WeChatRemoteApp",
    "WSGIAdapter": "flask_wechat_web.testing.transport.WSGIAdapter",
    "WSGIApplication": "wsgiref.types.WSGIApplication",
    "WSGIEnvironment": "wsgiref.types.WSGIEnvironment",
    "StartResponse": "wsgiref.types.StartResponse",
    "t.Any": "typing.Any",
}


def _resolve_by_known_name(app: t.Any, env: t.Any, node: t.Any, contnode: t.Any) -> t.Any:
    """Resolve a reference listed in ``_REFERENCE_NAMES`` by the name it maps to."""
    target = _REFERENCE_NAMES.get(node.get("reftarget"))
    if node.get("refdomain") != "py" or target is None:
        return None
    node["reftarget"], node["reftype"] = target, "obj"  # any kind: a class, a type alias
    found = env.domains["py"].resolve_xref(
        env, node["refdoc"], app.builder, "obj", target, node, contnode
    )
    return found or missing_reference(app, env, node, contnode)


#: The catalogs' language (the folder under docs/locale) by its lowercase,
#: dashed spelling: how Read the Docs and browsers write it.
_LANGUAGES = {"zh-cn": "zh_CN"}


def _normalize_language(app: t.Any, config: t.Any) -> None:
    """Use the catalogs' spelling of the language, and link the other language's build.

    Sphinx finds a page's catalog under ``locale/<language>`` as spelled, so
    ``zh-cn`` from Read the Docs would build an English site. Locally the
    Chinese build sits in ``zh_CN/`` beside the English one; on Read the Docs
    each language is a project of its own, ``/en/<version>/`` and
    ``/zh-cn/<version>/`` on one domain.
    """
    config.language = _LANGUAGES.get(config.language.lower().replace("_", "-"), config.language)
    chinese = config.language == "zh_CN"
    rtd_version = os.environ.get("READTHEDOCS_VERSION")
    if rtd_version:
        other = f"../../{'en' if chinese else 'zh-cn'}/{rtd_version}/"
    else:
        other = "../" if chinese else "zh_CN/"
    config.html_context = {**config.html_context, "other_language_root": other}


def setup(app: t.Any) -> None:
    app.connect("config-inited", _normalize_language)
    app.connect("autodoc-process-signature", _show_default_factories)
    app.connect("missing-reference", _resolve_by_known_name)
