"""Signals sent by Flask-WeChat-Web: a private blinker ``Namespace``, as Flask's own."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: Sent by the callback after a successful login, with the app as sender and
#: the keywords ``identity`` (the :class:`~flask_wechat_web.WeChatIdentity`), ``token`` (the
#: token dict) and ``user`` (the user now logged in).
wechat_authorized = _signals.signal("wechat-authorized")

#: Sent when a login fails for any reason, with the app as sender and the
#: keyword ``error`` (a :class:`~flask_wechat_web.WeChatError`).
wechat_login_failed = _signals.signal("wechat-login-failed")

#: Sent by ``wechat.logout`` after logging the user out, with the app as
#: sender and the keyword ``user`` (the user that was logged in, or ``None``).
wechat_logged_out = _signals.signal("wechat-logged-out")

#: Sent by ``wechat.mp_push`` once per event or message the Official Account
#: pushes (retries and replays are dropped before), with the app as sender and
#: the keyword ``push`` (a :class:`~flask_wechat_web.push.MpPush`). Receivers
#: run inside WeChat's 5 s: they must not call WeChat or wait on anything slow.
wechat_mp_event = _signals.signal("wechat-mp-event")
