"""The ways in: each one module, listed here in the order a browser is offered them.

A login goes the first way that is configured and takes the browser
(:meth:`Flow.takes`); ``?mode=`` names one. Adding a way in is a module and
one line in :data:`FLOWS`.
"""

from __future__ import annotations

import typing as t

from ..agents import in_wechat_browser
from .app import MOBILE_APP
from .base import Flow
from .code import CODE
from .follow import FOLLOW
from .miniprogram import MINIPROGRAM
from .mp import IN_WECHAT
from .qr import QR

#: Inside WeChat's browser the Official Account, else (and anywhere) the website
#: app, else the follow sign-in, else the code sign-in; the apps' ways in take no browser.
FLOWS: tuple[Flow, ...] = (IN_WECHAT, MOBILE_APP, MINIPROGRAM, QR, FOLLOW, CODE)


def choose(
    flows: t.Sequence[Flow], config: t.Mapping[str, t.Any], mode: str | None, user_agent: str
) -> Flow | None:
    """The way a login from ``user_agent`` goes; ``None``: ``mode`` names one not configured."""
    named = {flow.name: flow for flow in flows if flow.browser}
    if mode in named:
        flow = named[mode]
        return flow if flow.configured(config) else None
    # The website app takes any browser; without one, the follow or code sign-in does.
    # In WeChat's browser, whose own screen cannot be scanned, the ways made for it first.
    if in_wechat_browser(user_agent):
        flows = sorted(flows, key=lambda flow: not (flow.in_wechat_only or flow.fits_wechat))
    return next(flow for flow in flows if flow.configured(config) and flow.takes(user_agent))
