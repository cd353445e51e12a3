"""``flask wechat``: check the configuration, print what to enter in WeChat's consoles."""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit, urlunsplit

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from .config import account_logins, problems, relay_only, shown_host, url_problem
from .errors import InvalidCodeError, WeChatError
from .relay import problems as relay_problems
from .server_token import server_token
from .state import get_state

wechat_cli = AppGroup("wechat", help="Flask-WeChat-Web: check settings, show console values.")


#: Where each app's callback domain is entered, and what it is called there.
def _app() -> Flask:
    return t.cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]


@wechat_cli.command("check")
@click.option(
    "--online",
    is_flag=True,
    help="Also ask WeChat whether each AppID/AppSecret pair is valid.",
)
def check_command(online: bool) -> None:
    """Check the WECHAT_WEB_* settings; exit 1 with one line per problem."""
    app = _app()
    found = problems(app.config, debug=app.debug or app.testing)
    if online and found:
        # A malformed value may be a secret pasted into the wrong key: never send it.
        click.echo("The online check is skipped until these problems are fixed.", err=True)
    elif online:
        found += _online_problems(app)
    error_view = app.config.get("WECHAT_WEB_ERROR_VIEW")
    if error_view and error_view not in app.view_functions:
        found.append("WECHAT_WEB_ERROR_VIEW is not an endpoint of this app.")
    for line in _warnings(app):
        click.echo(f"warning: {line}")
    if found:
        for line in found:
            click.echo(f"problem: {line}", err=True)
        raise SystemExit(1)
    click.echo(
        "WeChat settings look right." + (" WeChat accepts the credentials." if online else "")
    )


def _online_problems(app: Flask) -> list[str]:
    """Exchange a dummy code: 40029 (bad code) means WeChat accepted appid and secret."""
    if relay_only(app.config):
        return []  # a site that only relays has no credentials to ask about
    state = get_state(app)
    found = []
    asked: set[str] = set()
    for flow in state.flows:
        key = flow.appid_key
        if not flow.configured(app.config) or key in asked:
            continue  # the follow and code sign-ins share the Official Account's pair
        asked.add(key)
        try:
            flow.probe(state, "flaskwechatcheck")
        except InvalidCodeError as error:
            if error.errcode == 40029:
                continue
            found.append(f"{key}: WeChat answered errcode {error.errcode} to a dummy code.")
        except WeChatError as error:
            found.append(f"{key}: {error.message}")
        else:
            found.append(f"{key}: WeChat accepted a dummy code, which it never should.")
    if account_logins(app.config):
        # The sign-ins through the account need its server token: the IP allow-list
        # and the quota are checked only by asking for it.
        try:
            with app.app_context():
                server_token(state)
        except WeChatError as error:
            found.append(f"WECHAT_WEB_MP_APPID: the server access token: {error.message}")
    return found


def _warnings(app: Flask) -> list[str]:
    found = []
    if not app.config.get("WECHAT_WEB_CALLBACK_URL") and not app.config.get("SERVER_NAME"):
        found.append(
            "neither SERVER_NAME nor WECHAT_WEB_CALLBACK_URL is set: the callback URL "
            "sent to WeChat is built from each request's Host header."
        )
    callback, unshown = _callback_url(app)
    # A callback URL that is no URL at all is a problem already.
    if unshown == "SERVER_NAME" or (unshown and not url_problem(unshown, app.config[unshown])):
        found.append(_NOT_SHOWN[unshown])
    if callback and urlsplit(callback).scheme != "https" and not app.debug:
        found.append(f"the callback URL {callback} is not https: WeChat recommends https.")
    return found


#: Why a configured value is not printed, by key: its key is named instead.
_NOT_SHOWN = {
    "WECHAT_WEB_CALLBACK_URL": (
        "WECHAT_WEB_CALLBACK_URL is not shown: it is not an http(s) URL whose host is "
        "a domain such as www.example.com, an IP address or localhost (it may be a "
        "secret pasted into the wrong key)."
    ),
    "SERVER_NAME": (
        "SERVER_NAME is not shown: it is not a host name such as www.example.com, an "
        "IP address or localhost (it may be a secret pasted into the wrong key)."
    ),
}


def _shown(url: str) -> str | None:
    """``url`` fit to print: no ``user:password@``, no query values; None if malformed.

    The command's output lands in terminals and CI logs; a configured URL
    may carry credentials or a token, and the console needs neither. One
    that is not an http(s) URL with a host fit to show
    (:func:`~.config.shown_host`) is not printed at all.
    """
    if url_problem("", url):
        return None
    parts = urlsplit(url)
    if not shown_host(parts.hostname):
        return None
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(f"{pair.partition('=')[0]}=…" for pair in parts.query.split("&") if pair)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _callback_url(app: Flask) -> tuple[str | None, str | None]:
    """The callback URL fit to print, or None; and the key it is not shown for, if any."""
    if app.config.get("WECHAT_WEB_CALLBACK_URL"):
        shown = _shown(str(app.config["WECHAT_WEB_CALLBACK_URL"]))
        return shown, None if shown else "WECHAT_WEB_CALLBACK_URL"
    if not app.config.get("SERVER_NAME"):
        return None, None
    shown = _external_url(app, "wechat.authorized")
    return shown, None if shown else "SERVER_NAME"


@wechat_cli.command("urls")
@click.option(
    "--show-token",
    is_flag=True,
    help="Print the push Token (WECHAT_WEB_MP_TOKEN) to paste into 服务器配置.",
)
def urls_command(show_token: bool) -> None:
    """Print the callback URL and the domain to enter in each WeChat console."""
    app = _app()
    found = relay_problems(app.config)  # an id or an entry is printed below
    if found:
        for line in found:
            click.echo(f"problem: {line}", err=True)
        raise SystemExit(1)
    relays = app.config.get("WECHAT_WEB_RELAY_SITES") is not None
    if relays:
        callback = _external_url(app, "wechat.relay")
        unshown = "SERVER_NAME" if callback is None and app.config.get("SERVER_NAME") else None
    else:
        callback, unshown = _callback_url(app)
    if unshown:
        click.echo(f"problem: {_NOT_SHOWN[unshown]}", err=True)
        raise SystemExit(1)
    if app.config.get("WECHAT_WEB_RELAY_ID"):
        _relayed_urls(app, callback or "")
        return
    if callback is None:
        click.echo(
            "SERVER_NAME is not set, so the callback URL depends on the Host each "
            "request comes with. Set SERVER_NAME (and PREFERRED_URL_SCHEME) or "
            "WECHAT_WEB_CALLBACK_URL to the public address, then run this again.",
            err=True,
        )
        raise SystemExit(1)
    parts = urlsplit(callback)
    # A relay's sites may log in either way: its one domain goes in every console.
    # The website app's first: the way in of any browser, after those made for one.
    browser_flows = [flow for flow in get_state(app).flows if flow.browser]
    if relays or any(flow.console and flow.configured(app.config) for flow in browser_flows):
        click.echo(f"{'Relay URL' if relays else 'Callback URL'}: {callback}")
    consoles: set[str] = set()
    for flow in sorted(browser_flows, key=lambda flow: flow.in_wechat_only):
        configured = relays or flow.configured(app.config)
        if not (configured and flow.console) or flow.console in consoles:
            continue
        consoles.add(flow.console)
        click.echo(f"{flow.app_kind[0].upper()}{flow.app_kind[1:]}: enter {parts.hostname}")
        click.echo(f"  in {flow.console}")
        if flow.console_refuses_port and parts.port:
            click.echo(f"  warning: the {flow.app_kind} rejects domains with a port (10003).")
        if flow.console_note:
            click.echo(f"  {flow.console_note}")
    if parts.scheme != "https":
        click.echo("warning: the callback URL is not https.")
    if relays:
        _relay_sites(app)
    if app.config.get("WECHAT_WEB_MP_TOKEN"):
        _push_settings(app, show_token)


def _push_settings(app: Flask, show_token: bool) -> None:
    """What to enter in the Official Account's 服务器配置 for ``/mp/push``."""
    url = _external_url(app, "wechat.mp_push")
    if url is None:
        return  # SERVER_NAME unfit to show: said above
    click.echo("Official Account push: in mp.weixin.qq.com > 设置与开发 > 基本配置 > 服务器配置")
    click.echo(f"  URL (服务器地址): {url}")
    if show_token:
        click.echo(f"  Token (令牌): {app.config['WECHAT_WEB_MP_TOKEN']}")
    else:
        click.echo("  Token (令牌): the value of WECHAT_WEB_MP_TOKEN (--show-token prints it)")
    if app.config.get("WECHAT_WEB_MP_AES_KEY"):
        click.echo("  EncodingAESKey (消息加解密密钥): the value of WECHAT_WEB_MP_AES_KEY")
        click.echo("  消息加解密方式: 安全模式 (safe mode)")
    else:
        click.echo("  消息加解密方式: 明文模式 (plaintext: the body is not signed)")
    push = urlsplit(url)
    if push.port not in (None, 80, 443):
        click.echo("  warning: WeChat pushes only to ports 80 and 443.")


def _external_url(app: Flask, endpoint: str) -> str | None:
    """The URL of ``endpoint`` at ``SERVER_NAME``, fit to print; None if it is not."""
    if not app.config.get("SERVER_NAME"):
        return None
    with app.app_context():
        from flask import url_for

        return _shown(url_for(endpoint, _external=True))


def _relay_sites(app: Flask) -> None:
    """The sites a relay forwards codes to, as its allow-list reads."""
    from .relay import parse_sites

    sites, _ = parse_sites(app.config["WECHAT_WEB_RELAY_SITES"])
    click.echo("It forwards codes to these sites only (WECHAT_WEB_RELAY_SITES):")
    for site in sites.values():
        pattern = " (any one DNS label in place of *)" if site.wildcard else ""
        click.echo(f"  {site.id}: {site}{pattern}")
    click.echo(
        "Each sets WECHAT_WEB_RELAY_ID to its id and WECHAT_WEB_CALLBACK_URL to the relay URL."
    )


def _relayed_urls(app: Flask, relay_url: str) -> None:
    """A site behind a relay: nothing to register, its callback goes through the relay."""
    own = _external_url(app, "wechat.authorized") or "(set SERVER_NAME to see it)"
    click.echo(f"This site's WeChat callback goes through the relay at {relay_url}")
    site_id = app.config["WECHAT_WEB_RELAY_ID"]
    click.echo(f"  as site {site_id!r}; the relay forwards codes to {own}")
    click.echo(
        "Register nothing for this site in the WeChat consoles: the relay's domain is "
        "the one registered. On the relay site, WECHAT_WEB_RELAY_SITES must map this "
        "site's id to that callback URL (or a pattern it matches)."
    )
