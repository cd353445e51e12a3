"""A callback relay: one WeChat app's callback domain, several sites behind it.

WeChat sends codes to one registered host only. The site on that host mounts
``GET /relay`` (``wechat.relay``) and lists the sites it serves in
``WECHAT_WEB_RELAY_SITES``; each of those sets ``WECHAT_WEB_RELAY_ID`` and
sends the relay's URL to WeChat. The site's ``state`` names it, so the relay
knows where the code goes without being told by URL::

    state = L + id + NN + label + random

``L`` is the id's length as one hex digit (``1``-``f``), ``id`` the site's
id, ``NN`` two decimal digits giving the length of ``label``, the first DNS
label of the site's own host with ``-`` written as ``X`` (``00``: none),
and ``random`` the site's own random state, at least 22 characters (128
bits). Everything is ``[A-Za-z0-9]``, at most 128 characters, as WeChat's
in-app flow requires. The relay takes the callback URL from its allow-list
by id; only a pattern entry (``https://*.preview.example.com``) takes the
label, and only as the one label in place of ``*``. The code is redeemed by
the site itself, whose session holds the whole state: the relay keeps no
secret and redeems nothing.
"""

from __future__ import annotations

import functools
import logging
import re
import typing as t
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from flask import current_app, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from werkzeug.wrappers import Response

from .errors import ConfigurationError

if t.TYPE_CHECKING:
    from publicsuffixlist import PublicSuffixList

logger = logging.getLogger(__name__)

#: Where a site's callback is when an entry gives its origin only.
DEFAULT_CALLBACK_PATH = "/wechat/authorized"
#: Random characters the relay asks for beside the id: 22 base-62 digits > 128 bits.
MIN_RANDOM = 22

_ID = re.compile(r"[A-Za-z0-9]{1,15}")
_ID_LENGTHS = "123456789abcdef"
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_HOST = re.compile(rf"{_LABEL.pattern}(?:\.{_LABEL.pattern})*")
_PATH = re.compile(r"(?:/[A-Za-z0-9._~-]+)+/?")
_STATE = re.compile(r"[A-Za-z0-9]{1,128}")
_CODE = re.compile(r"[!-~]{1,512}")
_PRINTABLE = re.compile(r"[!-~]+")


@dataclass(frozen=True)
class RelaySite:
    """One entry of ``WECHAT_WEB_RELAY_SITES``: where that site's codes go."""

    id: str
    scheme: str
    #: The exact host, or for a pattern the domain after ``*.``.
    host: str
    wildcard: bool
    port: int | None
    path: str

    def __str__(self) -> str:
        host = f"*.{self.host}" if self.wildcard else self.host
        port = "" if self.port is None else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.path}"

    def target(self, label: str) -> str | None:
        """This site's callback URL; a pattern's with ``label`` in place of ``*``."""
        if self.wildcard and not label:
            return None
        host = f"{label}.{self.host}" if self.wildcard else self.host
        port = "" if self.port is None else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.path}"

    def allows(self, url: str) -> bool:
        """Whether ``url`` is this site's callback, read as a browser would read it.

        Printable ASCII only (no IDN, fullwidth dots or spaces a browser would
        fold), no backslash, ``%``, ``@``, query or fragment, and for a
        pattern exactly one DNS label before the pattern's domain.
        """
        if not _PRINTABLE.fullmatch(url) or any(c in url for c in "\\%@?#"):
            return False
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        host = parts.hostname or ""
        if self.wildcard:
            label, dot, rest = host.partition(".")
            host_ok = bool(dot) and rest == self.host and bool(_LABEL.fullmatch(label))
        else:
            host_ok = host == self.host
        return (
            host_ok
            and parts.scheme == self.scheme
            and parts.netloc.lower() == parts.netloc
            and port == self.port
            and parts.path == self.path
        )


def parse_site(site_id: t.Any, value: t.Any) -> RelaySite | str:
    """The entry for ``site_id``, or why it is refused (never quoting the value)."""
    if not isinstance(site_id, str) or not _ID.fullmatch(site_id):
        return (
            "WECHAT_WEB_RELAY_SITES has an id that is not 1 to 15 letters and digits "
            "(the id goes into WeChat's state, which allows nothing else)."
        )
    where = f"WECHAT_WEB_RELAY_SITES[{site_id!r}]"
    example = "e.g. 'https://shop.example.com/wechat/authorized' or 'https://*.preview.example.com'"
    if not isinstance(value, str) or not _PRINTABLE.fullmatch(value):
        return f"{where} must be a callback URL, {example}."
    if any(c in value for c in "\\%@?#"):
        return f"{where} may not hold '\\', '%', '@', a query or a fragment: {example}."
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return f"{where} has a malformed host or port: {example}."
    host = parts.netloc.rpartition(":")[0] if port is not None else parts.netloc
    wildcard = host.startswith("*.")
    domain = host[2:] if wildcard else host
    if "*" in domain or "*" in parts.path or host == "*":
        return (
            f"{where}: '*' may only be the whole first label of a host name, never the "
            "host itself: a bare '*' would send codes anywhere."
        )
    if parts.scheme not in ("http", "https") or not _HOST.fullmatch(domain):
        return f"{where} must be an http(s) URL with a lowercase host name or IPv4: {example}."
    if wildcard and domain.replace(".", "").isdigit():
        return (
            f"{where}: a pattern is '*' as the whole first label of a domain name that "
            "only you control, never of an IP address, e.g. 'https://*.preview.example.com'."
        )
    if wildcard and _public_suffixes().is_public(domain):
        return (
            f"{where}: '*' stands in front of a public suffix of the Public Suffix List "
            "(such as 'com', 'com.cn', 'co.uk' or 'github.io'), under which anyone can get "
            "a name and so receive codes: put it in front of a domain that only you "
            "control, e.g. 'https://*.preview.example.com'."
        )
    path = parts.path if parts.path not in ("", "/") else DEFAULT_CALLBACK_PATH
    if not _PATH.fullmatch(path) or "/../" in f"{path}/" or "/./" in f"{path}/":
        return f"{where} has a path that is not a plain callback path: {example}."
    return RelaySite(site_id, parts.scheme, domain, wildcard, port, path)


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    """The Public Suffix List ``publicsuffixlist`` ships, loaded once when a pattern is read.

    Its ICANN and private sections alike (``github.io`` counts), and never
    fetched: the list is the installed package's.
    """
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def parse_sites(value: t.Any) -> tuple[dict[str, RelaySite], list[str]]:
    """The relay's allow-list from ``WECHAT_WEB_RELAY_SITES``, and its problems."""
    if not isinstance(value, t.Mapping) or not value:
        return {}, [
            "WECHAT_WEB_RELAY_SITES must be a dict of {site id: callback URL}, e.g. "
            "{'shop': 'https://shop.example.com/wechat/authorized'}."
        ]
    sites: dict[str, RelaySite] = {}
    found: list[str] = []
    for site_id, url in value.items():
        parsed = parse_site(site_id, url)
        if isinstance(parsed, str):
            found.append(parsed)
        else:
            sites[site_id] = parsed
    return sites, found


def problems(config: t.Mapping[str, t.Any]) -> list[str]:
    """Every problem with the two relay settings (see ``config.problems``)."""
    sites, relay_id = config.get("WECHAT_WEB_RELAY_SITES"), config.get("WECHAT_WEB_RELAY_ID")
    found = [] if sites is None else parse_sites(sites)[1]
    if relay_id is None:
        return found
    if not isinstance(relay_id, str) or not _ID.fullmatch(relay_id):
        found.append("WECHAT_WEB_RELAY_ID must be 1 to 15 letters and digits.")
    if not config.get("WECHAT_WEB_CALLBACK_URL"):
        found.append(
            "WECHAT_WEB_RELAY_ID is set but WECHAT_WEB_CALLBACK_URL is not: set it to "
            "the relay's URL, e.g. 'https://auth.example.com/wechat/relay'."
        )
    if sites is not None:
        found.append(
            "WECHAT_WEB_RELAY_ID and WECHAT_WEB_RELAY_SITES are both set: a site either "
            "owns the callback domain and relays, or sits behind a relay."
        )
    if config.get("WECHAT_WEB_SANDBOX"):
        found.append(
            "WECHAT_WEB_RELAY_ID is set with WECHAT_WEB_SANDBOX on: the sandbox sends "
            "codes to this site itself and needs no relay. Unset WECHAT_WEB_RELAY_ID "
            "and WECHAT_WEB_CALLBACK_URL for local development."
        )
    return found


# -- the downstream side --------------------------------------------------------


def state_prefix() -> str:
    """What this site puts before its random state, behind a relay; else ``""``."""
    site_id = current_app.config.get("WECHAT_WEB_RELAY_ID")
    if not site_id:
        return ""
    own = urlsplit(url_for("wechat.authorized", _external=True)).hostname or ""
    label, dot, _ = own.partition(".")
    if not (dot and _LABEL.fullmatch(label)) or own.replace(".", "").isdigit():
        label = ""  # a single name or an IPv4 address: no label a pattern could take
    return f"{_ID_LENGTHS[len(site_id) - 1]}{site_id}{len(label):02d}{label.replace('-', 'X')}"


def parse_state(state: str) -> tuple[str, str] | None:
    """The site id and host label a relayed state carries, or ``None`` if malformed."""
    if not _STATE.fullmatch(state):
        return None
    id_length = _ID_LENGTHS.find(state[0]) + 1  # 0: not a length digit
    site_id, rest = state[1 : 1 + id_length], state[1 + id_length :]
    if id_length == 0 or len(site_id) != id_length or not rest[:2].isdigit():
        return None
    label_length = int(rest[:2])
    encoded, random_part = rest[2 : 2 + label_length], rest[2 + label_length :]
    label = encoded.replace("X", "-")
    if len(encoded) != label_length or len(random_part) < MIN_RANDOM:
        return None
    if label and not _LABEL.fullmatch(label):
        return None
    return site_id, label


# -- the relay --------------------------------------------------------------------


def register(setup: BlueprintSetupState) -> None:
    """Add ``/relay`` where the blueprint is mounted, if this app relays at all."""
    config = setup.app.config
    if config.get("WECHAT_WEB_RELAY_SITES") is None:
        return
    found = problems(config)
    if found:
        raise ConfigurationError("Flask-WeChat-Web is not configured:\n" + "\n".join(found))
    setup.add_url_rule("/relay", "relay", relay, provide_automatic_options=False)


class _Refused(Exception):
    """Why the relay forwards nothing (a fixed text, never the request's values)."""


def relay() -> Response:
    """Forward WeChat's callback to the site its state names, or a 400 page."""
    try:
        location = _forward_to()
    except _Refused as refusal:
        logger.warning("WeChat relay forwarded nothing: %s", refusal)
        html = render_template("wechat/relay_error.html", reason=str(refusal))
        return Response(html, status=400, mimetype="text/html")
    return Response(status=302, headers={"Location": location})


def _forward_to() -> str:
    """The Location to send: an allow-listed callback with ``code`` and ``state``."""
    args = request.args
    if set(args) - {"code", "state"}:
        raise _Refused("the callback carries parameters other than code and state")
    states, codes = args.getlist("state"), args.getlist("code")
    if len(states) != 1 or len(codes) > 1:
        raise _Refused("the callback has no state, or code or state twice")
    state, code = states[0], codes[0] if codes else None
    decoded = parse_state(state)
    if decoded is None:
        raise _Refused("the state is not one a site behind this relay makes")
    if code is not None and not _CODE.fullmatch(code):
        raise _Refused("the code is malformed")
    site_id, label = decoded
    sites, _ = parse_sites(current_app.config.get("WECHAT_WEB_RELAY_SITES"))
    site = sites.get(site_id)
    if site is None:
        raise _Refused("the state names no site of WECHAT_WEB_RELAY_SITES")
    target = site.target(label)
    if target is None:
        raise _Refused(f"site {site_id!r} is a pattern and the state names no host for it")
    if not site.allows(target):  # a second look, as a browser reads the URL
        raise _Refused(f"the URL built for site {site_id!r} does not match its entry")
    params = [("code", code), ("state", state)] if code is not None else [("state", state)]
    return f"{target}?{urlencode(params)}"
