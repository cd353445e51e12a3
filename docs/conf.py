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
