"""What each WeChat endpoint answers, checked before anything uses it.

One table per endpoint (:data:`SHAPES`) says which fields WeChat sends, of
which type and range. :func:`parse` turns an answer's bytes into the checked
dict, or raises: the endpoint's :class:`~.errors.WeChatError` for an errcode,
else :class:`~.errors.MalformedAnswerError` naming the endpoint and the
field. Nothing here ever quotes a value: it might be a token.
"""

from __future__ import annotations

import json
import math
import typing as t

from . import scopes
from .errcodes import error_for_errcode
from .errors import MalformedAnswerError

TOKEN_PATH = "sns/oauth2/access_token"
REFRESH_PATH = "sns/oauth2/refresh_token"
USERINFO_PATH = "sns/userinfo"
AUTH_PATH = "sns/auth"
JSCODE_PATH = "sns/jscode2session"
#: The Official Account's server access token, the same for every process.
STABLE_TOKEN_PATH = "cgi-bin/stable_token"
#: The Official Account's follower: subscribed or not, the unionid when bound.
USER_INFO_PATH = "cgi-bin/user/info"
#: A temporary QR code of the Official Account (the follow sign-in's).
QRCODE_CREATE_PATH = "cgi-bin/qrcode/create"

#: WeChat's answers are a few hundred bytes; nothing it sends comes near this.
MAX_BODY = 64 * 1024
#: An object holding a list of strings (``privilege``) is as deep as WeChat goes;
#: one level is left for fields it may add.
MAX_DEPTH = 3
#: Integers longer than this are no count, id or errcode WeChat sends.
_MAX_DIGITS = 12
_MAX_ID = 512
_MAX_TEXT = 4096


class _Refused(Exception):
    """One field is not of the shape its endpoint answers."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _is_int(value: t.Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _identifier(value: t.Any) -> str:
    if not isinstance(value, str) or not value or len(value) > _MAX_ID:
        raise ValueError(f"must be a non-empty string of at most {_MAX_ID} characters")
    if not value.isprintable() or value.strip() != value:
        raise ValueError("must be printable, with no spaces around it")
    return value


def _text(value: t.Any) -> str:
    # Nicknames have carried raw control characters: any string will do.
    if not isinstance(value, str) or len(value) > _MAX_TEXT:
        raise ValueError(f"must be a string of at most {_MAX_TEXT} characters")
    return value


def _image_url(value: t.Any) -> str:
    # Sites put it in <img src>: an http(s) URL or nothing, never javascript:.
    if value == "":
        return ""
    if (
        not isinstance(value, str)
        or len(value) > 2048
        or not value.startswith(("https://", "http://"))
        or not value.isprintable()
        or " " in value
    ):
        raise ValueError("must be an http(s) URL of at most 2048 characters, or empty")
    return value


def _scope(value: t.Any) -> str:
    if not isinstance(value, str) or len(value) > 256 or not value.isprintable():
        raise ValueError("must be a printable string of at most 256 characters")
    return scopes.normalised(value)  # "" (nothing in it) then means not sent


def _seconds(value: t.Any) -> int:
    if not _is_int(value) or not 0 < value <= 10**8:
        raise ValueError("must be a whole number of seconds above 0")
    return t.cast(int, value)


def _count(value: t.Any) -> int:
    if not _is_int(value) or not 0 <= value <= 10**8:
        raise ValueError("must be a whole number from 0")
    return t.cast(int, value)


def _qr_url(value: t.Any) -> str:
    # The page draws it as a QR code: a short printable http(s) URL, nothing else.
    if (
        not isinstance(value, str)
        or len(value) > 512
        or not value.startswith(("https://", "http://"))
        or not value.isprintable()
        or " " in value
    ):
        raise ValueError("must be an http(s) URL of at most 512 characters")
    return value


def _epoch(value: t.Any) -> int:
    # WeChat sends none; Authlib would take one (``int()`` of it) over expires_in.
    if not _is_int(value) or value <= 0:
        raise ValueError("must be a whole number of seconds since 1970")
    return t.cast(int, value)


def _token_type(value: t.Any) -> str:
    # WeChat sends none; Authlib signs calls by it and knows only Bearer.
    if not isinstance(value, str) or value.lower() != "bearer":
        raise ValueError("must be 'bearer', the only kind of token Authlib can use")
    return value


def _sex(value: t.Any) -> int:
    # WeChat sends a number; some copies of its answers show a string: take both.
    if isinstance(value, str) and value in ("0", "1", "2"):
        return int(value)
    if not _is_int(value) or value not in (0, 1, 2):
        raise ValueError("must be 0, 1 or 2")
    return t.cast(int, value)


def _flag(value: t.Any) -> int:
    if value in (0, 1, "0", "1") and not isinstance(value, float):
        return int(value)
    raise ValueError("must be 0 or 1")


def _strings(value: t.Any) -> list[str]:
    if not isinstance(value, list) or len(value) > 64:
        raise ValueError("must be a list of at most 64 strings")
    for item in value:
        if not isinstance(item, str) or len(item) > 256 or not item.isprintable():
            raise ValueError("must be a list of at most 64 printable strings")
    return value


def _errcode(value: t.Any) -> int:
    if not _is_int(value) or abs(value) >= 2**31:
        raise ValueError("must be a whole number")
    return t.cast(int, value)


Check = t.Callable[[t.Any], t.Any]


class Field(t.NamedTuple):
    check: Check
    required: bool = False
    #: An empty string means "not sent" (``unionid`` of an unbound app).
    empty_is_absent: bool = False


#: Authlib reads ``expires_at``, ``expires_in``, ``token_type``, ``access_token``
#: and ``refresh_token`` of a token answer; the extension, the ids and the scope.
_TOKEN_FIELDS = {
    "access_token": Field(_identifier, required=True),
    "expires_in": Field(_seconds, required=True),
    "expires_at": Field(_epoch),
    "token_type": Field(_token_type),
    "openid": Field(_identifier, required=True),
    "scope": Field(_scope, empty_is_absent=True),
    "unionid": Field(_identifier, empty_is_absent=True),
    "is_snapshotuser": Field(_flag),
}

#: The fields each endpoint answers with. Fields not listed pass through
#: unchecked (WeChat adds some); ``null`` in an optional field means absent.
SHAPES: dict[str, dict[str, Field]] = {
    TOKEN_PATH: {**_TOKEN_FIELDS, "refresh_token": Field(_identifier, required=True)},
    # The refresh answer may leave the refresh token out: the old one stays.
    REFRESH_PATH: {**_TOKEN_FIELDS, "refresh_token": Field(_identifier)},
    USERINFO_PATH: {
        "openid": Field(_identifier, required=True),
        "unionid": Field(_identifier, empty_is_absent=True),
        "nickname": Field(_text),
        "headimgurl": Field(_image_url),
        "sex": Field(_sex),
        "province": Field(_text),
        "city": Field(_text),
        "country": Field(_text),
        "privilege": Field(_strings),
        "language": Field(_text),
    },
    AUTH_PATH: {"errcode": Field(_errcode, required=True), "errmsg": Field(_text)},
    # The mini program's login: no token, a session key that never leaves the server.
    JSCODE_PATH: {
        "openid": Field(_identifier, required=True),
        "session_key": Field(_identifier, required=True),
        "unionid": Field(_identifier, empty_is_absent=True),
    },
    # expires_in is what is left of the token's life: at least 300 s, at most 7200.
    STABLE_TOKEN_PATH: {
        "access_token": Field(_identifier, required=True),
        "expires_in": Field(_seconds, required=True),
    },
    # No nickname or avatar since 2021-12-27 (empty strings, unchecked and unused).
    USER_INFO_PATH: {
        "subscribe": Field(_flag, required=True),
        "openid": Field(_identifier, required=True),
        "unionid": Field(_identifier, empty_is_absent=True),
    },
    # The url is the QR code's content; expire_seconds is WeChat's, unused (0 seen).
    QRCODE_CREATE_PATH: {
        "ticket": Field(_identifier, required=True),
        "url": Field(_qr_url, required=True),
        "expire_seconds": Field(_count),
    },
}


def parse(endpoint: str, body: bytes) -> dict[str, t.Any]:
    """The checked JSON object ``endpoint`` answered with ``body``.

    An errcode other than 0 raises its :class:`~.errors.WeChatError`; any
    other surprise raises :class:`~.errors.MalformedAnswerError`.
    """
    try:
        data = _load(body)
        _raise_errcode(endpoint, data)
        return _checked(data, SHAPES.get(endpoint, {}))
    except _Refused as refused:
        raise MalformedAnswerError(endpoint, refused.field, refused.reason) from None


def _load(body: bytes) -> dict[str, t.Any]:
    if len(body) > MAX_BODY:
        raise _Refused("(body)", f"is larger than {MAX_BODY} bytes")
    if body.startswith(b"\xef\xbb\xbf"):
        raise _Refused("(body)", "starts with a byte order mark")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused("(body)", "is not UTF-8") from None
    try:
        # strict=False: profiles have carried raw control characters.
        data = json.loads(
            text,
            strict=False,
            parse_constant=_no_constant,
            parse_float=_finite_float,
            parse_int=_short_int,
        )
    except RecursionError:
        raise _Refused("(body)", f"nests JSON deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise _Refused("(body)", "is not JSON (a maintenance page?)") from None
    if not isinstance(data, dict):
        raise _Refused("(body)", "is not a JSON object")
    if _depth(data) > MAX_DEPTH:
        raise _Refused("(body)", f"nests JSON deeper than {MAX_DEPTH} levels")
    if "error" in data:
        raise _Refused("error", "carries an OAuth-style error, which WeChat never sends")
    return data


def _no_constant(name: str) -> t.NoReturn:
    raise _Refused("(body)", f"holds {name}, which is not a number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused("(body)", "holds a number too large to be finite")
    return value


def _short_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_DIGITS:
        raise _Refused("(body)", f"holds an integer of more than {_MAX_DIGITS} digits")
    return int(text)


def _depth(data: t.Any) -> int:
    """How deeply ``data`` nests lists and objects (a flat object is 1)."""
    deepest, todo = 0, [(data, 1)]
    while todo:
        value, level = todo.pop()
        if isinstance(value, dict):
            value = list(value.values())
        elif not isinstance(value, list):
            continue
        deepest = max(deepest, level)
        if level <= MAX_DEPTH:
            todo += [(item, level + 1) for item in value]
    return deepest


def _raise_errcode(endpoint: str, data: t.Mapping[str, t.Any]) -> None:
    if "errcode" not in data:
        return
    try:
        errcode = _errcode(data["errcode"])
    except ValueError as error:
        raise _Refused("errcode", str(error)) from None
    if errcode != 0:
        errmsg = data.get("errmsg")
        raise error_for_errcode(
            errcode, errmsg if isinstance(errmsg, str) else "", endpoint=endpoint
        )


def _checked(data: dict[str, t.Any], shape: t.Mapping[str, Field]) -> dict[str, t.Any]:
    checked = dict(data)
    for name, field in shape.items():
        value = data.get(name)
        if value is None or (field.empty_is_absent and value == ""):
            if field.required:
                raise _Refused(name, "is missing")
            checked.pop(name, None)
            continue
        try:
            checked[name] = field.check(value)
        except ValueError as error:
            raise _Refused(name, str(error)) from None
        if field.empty_is_absent and checked[name] == "":
            checked.pop(name)
    return checked
