"""The extension's pages in a site's own layout, and a way back to the site from each."""

from __future__ import annotations

import re
import typing as t

from flask import Flask
from jinja2 import DictLoader

from flask_wechat_web.testing import FakeWeChat

from .conftest import log_in, make_app

ANDROID_UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126 Mobile"
#: A site's base template, with its own ``_`` and ``html_lang``.
BASE = """<!doctype html>
<html lang="{{ html_lang }}"><head><title>{% block title %}{% endblock %} · Shop</title></head>
<body><header id="site-header"><a href="/">Shop</a> {{ _("Cart") }}</header>
{% block content %}{% endblock %}</body></html>"""
#: The one step the docs give: the extension's layout, overridden by the site.
LAYOUT = """{% extends "base.html" %}
{% block title %}{% block wechat_title %}{% endblock %}{% endblock %}
{% block content %}{% block wechat_content %}{% endblock %}{% endblock %}"""


def site_with_layout(fake: FakeWeChat, **config: t.Any) -> Flask:
    app, _ = make_app(fake, **config)
    app.jinja_loader = DictLoader({"base.html": BASE, "wechat/layout.html": LAYOUT})
    app.jinja_env.globals["_"] = lambda text: f"site:{text}"
    app.jinja_env.globals["html_lang"] = "x-site"
    return app


def _pages(app: Flask, fake: FakeWeChat) -> dict[str, t.Any]:
    """Each page a person may meet, by name."""
    client = app.test_client()
    english = {"Accept-Language": "en"}
    pages = {
        "logout, logged out": client.get("/wechat/logout", headers=english),
        "qrcode": client.get("/wechat/qrcode", headers=english),
        "phone": client.get("/wechat/login", headers={**english, "User-Agent": ANDROID_UA}),
        "error": client.get("/wechat/authorized?state=Forged123&code=x", headers=english),
    }
    log_in(client, fake)
    pages["logout, logged in"] = client.get("/wechat/logout", headers=english)
    return pages


def test_the_pages_sit_in_the_sites_own_layout(fake_wechat: FakeWeChat) -> None:
    app = site_with_layout(fake_wechat)
    for name, response in _pages(app, fake_wechat).items():
        page = response.get_data(as_text=True)
        assert '<header id="site-header">' in page, name
        assert "site:Cart" in page, f"{name}: the site's own _ is the site's"
        assert '<html lang="x-site">' in page, f"{name}: the site's own html_lang"
        assert re.search(r"<title>[^<]+ · Shop</title>", page), name
        assert 'class="wechat-card"' in page, name
        # Each page keeps its own headers.
        assert response.headers["Cache-Control"] == "no-store", name
        assert response.headers["Referrer-Policy"] == "no-referrer", name
        assert "frame-ancestors" in response.headers["Content-Security-Policy"], name
    error = _pages(app, fake_wechat)["error"].get_data(as_text=True)
    assert "Details for the site owner" in error, "the page's own words, in its language"


def test_the_setup_error_page_keeps_its_own_layout(fake_wechat: FakeWeChat) -> None:
    """The site's setup is what failed: its layout may be what fails."""
    app = site_with_layout(fake_wechat)
    app.secret_key = None
    response = app.test_client().get("/wechat/login", headers={"Accept-Language": "en"})
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "site-header" not in page and '<html lang="en">' in page
    assert '<a class="button secondary" href="/">Back to the site</a>' in page


def test_every_page_leads_back_to_the_site(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat)
    for name, response in _pages(app, fake_wechat).items():
        page = response.get_data(as_text=True)
        assert 'href="/">Back to the site</a>' in page, name
