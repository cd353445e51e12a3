"""The sandbox's stand-in for a chat with the Official Account: send it a message, read its reply.

The code sign-in starts in WeChat: the person sends the account 登录 and its
reply carries the code. This page plays that chat for a sample user: the
message goes to the site's own push URL, signed and encrypted as WeChat
sends it (in-process: the sandbox mounts the site on the fake's push
session), and the page shows the site's passive reply. The sandbox serves it
(``sandbox.py``): it knows the site's push URL and language.
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from .fake import FakeWeChat
from .pages import _initials, _Pages

#: Where the sandbox serves the page, under its mount path.
MESSAGE_PATH = "/message"
#: The longest message the page sends; WeChat's own limit is far above a keyword.
MAX_MESSAGE = 200


def message_page(fake: FakeWeChat, request: Request, locale: str, push_url: str) -> Response:
    """The chat; on the form's POST, the message pushed to ``push_url`` and the reply."""
    if request.method not in ("GET", "HEAD", "POST"):
        return Response(status=405, headers={"Allow": "GET, HEAD, POST"})
    page = _Pages(locale)
    users = {user.key: user for user in fake.users}
    chosen = users.get(request.form.get("user", ""), fake.users[0])
    context: dict[str, object] = {
        "action": request.script_root + MESSAGE_PATH,
        "users": list(users.values()),
        "chosen": chosen,
        "initials": _initials(chosen.nickname),
        "compact": False,
    }
    if request.method != "POST":
        return page("sandbox_message.html", **context)
    content = request.form.get("content", "").strip()
    if request.form.get("user") not in users or not 0 < len(content) <= MAX_MESSAGE:
        response = page("sandbox_message.html", problem=True, **context)
        response.status_code = 400
        return response
    delivery = fake.push(push_url, fake.text(content, user=chosen))
    context.update(sent=content, delivery=delivery)
    return page("sandbox_message.html", **context)
