"""Sphinx configuration for the Flask-WeChat-Web documentation."""

from __future__ import annotations

from importlib.metadata import version as _version

project = "Flask-WeChat-Web"
author = "Flask-WeChat-Web contributors"
copyright = "Flask-WeChat-Web contributors"
release = _version("Flask-WeChat-Web")
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
nitpicky = False

exclude_patterns = ["_build"]
html_theme = "furo"
html_title = "Flask-WeChat-Web"
html_static_path: list[str] = []
pygments_style = "friendly"
pygments_dark_style = "monokai"

# Translations (简体中文): gettext catalogs in docs/locale/zh_CN/LC_MESSAGES,
# one .po per page so two translators can work on different pages. Built
# with `-D language=zh_CN` into docs/_build/html/zh_CN; see scripts/docs.sh.
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
