"""The pages in 简体中文, 繁體中文 and English: catalogs, language choice, whole pages."""

from __future__ import annotations

import configparser
import re
import typing as t
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask, render_template, render_template_string
from sqlalchemy.exc import OperationalError
from werkzeug.test import Client

from flask_wechat_web import WeChatWeb, errors
from flask_wechat_web.errors import ConfigurationError, StateMismatchError
from flask_wechat_web.i18n import negotiate
from flask_wechat_web.testing import FakeWeChat

from .conftest import MICROMESSENGER_UA, log_in, make_app
from .test_relay import relay_app

ROOT = Path(__file__).resolve().parents[1]
#: (source folder, gettext domain): the extension's catalogs and the example's.
CATALOGS = [("flask_wechat_web", "flask_wechat_web"), ("example", "messages")]
#: The keywords scripts/update-translations.sh extracts, besides Babel's own.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "wechat_gettext": None}
LOCALES = ["zh_CN", "zh_TW", "en"]
HTML_LANG = {"zh_CN": "zh-CN", "zh_TW": "zh-TW", "en": "en"}
ANDROID_UA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126 Mobile"


# -- the catalogs -------------------------------------------------------------


def _po_files(source: str, domain: str) -> list[Path]:
    return sorted((ROOT / source / "translations").glob(f"*/LC_MESSAGES/{domain}.po"))


def _key(message_id: t.Any) -> str | tuple[str, ...]:
    """A msgid as a set holds it: a plural's singular and plural as one tuple."""
    return message_id if isinstance(message_id, str) else tuple(message_id)


def _ids(messages: t.Iterable[t.Any]) -> set[str | tuple[str, ...]]:
    return {_key(m.id) for m in messages if m.id}


def _extracted(source: str) -> set[str | tuple[str, ...]]:
    """The msgids in the sources now, extracted as babel.cfg says."""
    config = configparser.ConfigParser()
    config.read(ROOT / "babel.cfg")
    method_map = [
        (pattern.strip(), method.strip())
        for method, pattern in (section.split(":", 1) for section in config.sections())
    ]
    found = extract_from_dir(ROOT / source, method_map, keywords=KEYWORDS)
    return {_key(message) for _, _, message, _, _ in found}


@pytest.mark.parametrize(("source", "domain"), CATALOGS)
def test_every_source_string_is_in_the_template(source: str, domain: str) -> None:
    with (ROOT / source / "translations" / f"{domain}.pot").open("rb") as f:
        template = _ids(read_po(f))
    extracted = _extracted(source)
    assert extracted - template == set(), "run scripts/update-translations.sh"
    assert template - extracted == set(), "stale entries: run scripts/update-translations.sh"


@pytest.mark.parametrize(("source", "domain"), CATALOGS)
def test_catalogs_are_complete_and_compiled(source: str, domain: str) -> None:
    with (ROOT / source / "translations" / f"{domain}.pot").open("rb") as f:
        template = _ids(read_po(f))
    po_files = _po_files(source, domain)
    assert len(po_files) == 2, "a zh_CN and a zh_TW catalog; English is the source"
    for po in po_files:
        locale = po.parent.parent.name
        with po.open("rb") as f:
            catalog = read_po(f, locale=locale)
        assert not catalog.fuzzy, f"{po}: the catalog is marked fuzzy"
        assert _ids(catalog) == template, f"{po}: run scripts/update-translations.sh"
        untranslated = [m.id for m in catalog if m.id and not m.string]
        fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
        assert untranslated == [], f"{po}: untranslated"
        assert fuzzy == [], f"{po}: fuzzy"
        assert [(m.id, e) for m, e in catalog.check()] == [], f"{po}: placeholders"
        # The .mo files are committed (so a checkout or sdist needs no build
        # step): each must hold exactly what its .po says, whatever the mtimes.
        with po.with_suffix(".mo").open("rb") as f:
            compiled = {_key(m.id): _key(m.string) for m in read_mo(f) if m.id}
        assert compiled == {_key(m.id): _key(m.string) for m in catalog if m.id}, (
            f"{po.with_suffix('.mo')} is not {po.name} compiled: run scripts/update-translations.sh"
        )


#: One English: "log in" (verb), "login" (noun), American spelling.
_NOT_OUR_ENGLISH = re.compile(
    r"\bsign(s|ed|ing)?[ -](in|out)\b|\bsignin\b|\blog-?in (with|to|as)\b|"
    r"\b\w*(recognis|authoris|organis|realis|customis|cancell|colour|behaviour|favour)\w*",
    re.IGNORECASE,
)


@pytest.mark.parametrize(("source", "domain"), CATALOGS)
def test_one_english_log_in_and_american_spelling(source: str, domain: str) -> None:
    with (ROOT / source / "translations" / f"{domain}.pot").open("rb") as f:
        template = _ids(read_po(f))
    texts = [text for m in template for text in ([m] if isinstance(m, str) else m)]
    assert sorted(text for text in texts if _NOT_OUR_ENGLISH.search(text)) == []


def test_the_english_checker_finds_other_english() -> None:
    for text in ("Sign in with WeChat", "You are signed in.", "Login not recognised", "cancelled"):
        assert _NOT_OUR_ENGLISH.search(text), text
    for text in ("Log in with WeChat", "Login not recognized", "Log in as %(name)s", "login link"):
        assert not _NOT_OUR_ENGLISH.search(text), text


# -- the language a request gets ---------------------------------------------


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        ("zh-CN", "zh_CN"),
        ("zh-Hans", "zh_CN"),
        ("zh-SG", "zh_CN"),
        ("zh", "zh_CN"),
        ("zh-TW", "zh_TW"),
        ("zh-HK", "zh_TW"),
        ("zh-MO", "zh_TW"),
        ("zh-Hant", "zh_TW"),
        ("zh-Hant-CN", "zh_TW"),
        ("en", "en"),
        ("en-GB,en;q=0.8", "en"),
        ("fr-FR,fr;q=0.9,zh-TW;q=0.5,en;q=0.4", "zh_TW"),
        ("de, en;q=0", "zh_CN"),
        ("fr", "zh_CN"),
        ("*", "zh_CN"),
        ("", "zh_CN"),
    ],
)
def test_accept_language_picks_the_page_language(
    fake_wechat: FakeWeChat, header: str, locale: str
) -> None:
    app, _ = make_app(fake_wechat)
    page = app.test_client().get("/wechat/qrcode", headers={"Accept-Language": header})
    assert f'<html lang="{HTML_LANG[locale]}">' in page.get_data(as_text=True)


def test_negotiate_reads_werkzeug_accept_languages() -> None:
    from werkzeug.datastructures import LanguageAccept

    assert negotiate(LanguageAccept([("fr", 1), ("zh-HK", 0.5)])) == "zh_TW"
    assert negotiate([]) is None


def test_ui_locale_setting_wins_over_the_browser(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat, WECHAT_WEB_UI_LOCALE="zh_TW")
    page = app.test_client().get("/wechat/qrcode", headers={"Accept-Language": "en"})
    text = page.get_data(as_text=True)
    assert '<html lang="zh-TW">' in text and "<h1>掃碼登入</h1>" in text


@pytest.mark.parametrize("value", ["fr", "zh-CN", "zh_Hans", "", 1])
def test_ui_locale_setting_is_validated(fake_wechat: FakeWeChat, value: object) -> None:
    with pytest.raises(ConfigurationError, match="WECHAT_WEB_UI_LOCALE"):
        make_app(fake_wechat, WECHAT_WEB_UI_LOCALE=value)


def test_flask_babel_locale_selector_decides(fake_wechat: FakeWeChat) -> None:
    from flask_babel import Babel

    app, _ = make_app(fake_wechat, WECHAT_WEB_UI_LOCALE="zh_CN")
    Babel(app, locale_selector=lambda: "en")

    @app.route("/site")
    def site_page() -> str:
        # The site's own gettext keeps its own (here: no) catalogs.
        return render_template_string('{{ _("Sign in with WeChat") }}|{{ _("Deny") }}')

    client = app.test_client()
    headers = {"Accept-Language": "zh-TW"}
    page = client.get("/wechat/qrcode", headers=headers).get_data(as_text=True)
    assert '<html lang="en">' in page and "<h1>Scan to log in</h1>" in page
    with app.app_context():
        app.extensions["babel"].locale_selector = lambda: "zh_Hant_HK"
    page = client.get("/wechat/qrcode", headers=headers).get_data(as_text=True)
    assert '<html lang="zh-TW">' in page
    assert client.get("/site").get_data(as_text=True) == "Sign in with WeChat|Deny"


def test_flashes_and_user_messages_follow_the_request(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat)
    client = app.test_client()
    client.get("/flash")  # a session cookie, so the state is checked and unknown
    headers = {"Accept-Language": "zh-TW"}
    response = client.get("/wechat/authorized?state=Abc123", headers=headers)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "<h1>無法辨識這次登入</h1>" in page
    assert "這次登入不是在這個瀏覽器中發起的，請在這裡重新登入。" in page
    error = StateMismatchError("unknown")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert str(error.user_message) == (
            "This login was not started in this browser. Please log in again here."
        )
    assert "登录" in str(error.user_title)  # outside a request: zh_CN


def test_logging_out_is_confirmed(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat)
    client = app.test_client()
    log_in(client, fake_wechat)
    client.post("/wechat/logout", headers={"Accept-Language": "en"})
    assert client.get("/oops").get_data(as_text=True) == "You have logged out."
    client.post("/wechat/logout")  # no one was logged in: nothing to confirm
    assert client.get("/oops").get_data(as_text=True) == ""


def test_pages_have_their_own_icon(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat)
    page = app.test_client().get("/wechat/qrcode").get_data(as_text=True)
    assert '<link rel="icon" href="data:image/svg+xml,' in page


# -- every page, whole in its language ----------------------------------------

#: Words allowed in a Chinese page besides identifiers (``snsapi_base``): names
#: and terms WeChat's Chinese pages use as they are.
LATIN_WORDS = {
    "Flask-WeChat-Web", "Flask", "App", "AppID", "QR", "Code", "ID", "Cookie", "Scope",
    "openid", "unionid", "OpenID", "UnionID", "appid", "scope", "state", "code",
    "http", "s", "A-Z", "a-z",
}  # fmt: skip
#: Simplified / traditional pairs of characters our texts use.
PAIRS = (
    "录錄 码碼 网網 页頁 这這 个個 请請 开開 权權 账帳 关關 进進 设設 为為 显顯 复複 扫掃 链鏈 "
    "连連 败敗 错誤 误誤 过過 时時 发發 从從 后後 应應 选選 择擇 认認 识識 还還 输輸 传傳 与與 "
    "绝絕 户戶 机機 电電 脑腦 务務 验驗 实實 没沒 们們 样樣 经經 获獲 无無 体體 简簡 拟擬 级級 "
    "响響 试試 确確 认認 据據 频頻 图圖 线線 态態 续續 览覽 预預 签簽 标標 齐齊 号號 昵暱 头頭"
)
SIMPLIFIED = {pair[0] for pair in PAIRS.split()}
TRADITIONAL = {pair[1] for pair in PAIRS.split()}
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
VOID = {"meta", "link", "input", "br", "img", "hr", "source"}


class _VisibleText(HTMLParser):
    """The text a person reads (and hears: labels), leaving out code and other-language parts."""

    def __init__(self, lang: str) -> None:
        super().__init__()
        self.lang, self.skipping, self.parts = lang, [False], []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        other_lang = values.get("lang") not in (None, self.lang)
        skip = self.skipping[-1] or tag in ("script", "style", "code") or other_lang
        if not skip:
            self.parts += [v for k, v in attrs if k in ("aria-label", "alt", "title") and v]
        if tag not in VOID:
            self.skipping.append(skip)

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID and len(self.skipping) > 1:
            self.skipping.pop()

    def handle_data(self, data: str) -> None:
        if not self.skipping[-1]:
            self.parts.append(data)


def assert_whole_in(locale: str, html: str, names: t.Iterable[str] = ()) -> None:
    """``html`` is one page entirely in ``locale``, its ``<html lang>`` saying so."""
    lang = HTML_LANG[locale]
    assert f'<html lang="{lang}">' in html
    parser = _VisibleText(lang)
    parser.feed(html)
    text = " ".join(parser.parts)
    for name in names:
        text = text.replace(name, " ")
    if locale == "en":
        assert not CJK.findall(text), f"Chinese in an English page: {text!r}"
        return
    words = {w for w in re.findall(r"[A-Za-z][A-Za-z0-9_-]*", text) if "_" not in w} - LATIN_WORDS
    assert words == set(), f"English in a {locale} page: {text!r}"
    wrong = SIMPLIFIED if locale == "zh_TW" else TRADITIONAL
    assert not wrong & set(text), f"{sorted(wrong & set(text))} in a {locale} page: {text!r}"


def _nicknames(fake: FakeWeChat) -> list[str]:
    """The sample users' names, and the initials on their avatars."""
    return [*(user.nickname for user in fake.users), "AS", "张", "王"]


def _extension_pages(fake: FakeWeChat, locale: str) -> t.Iterator[str]:
    headers = {"Accept-Language": HTML_LANG[locale]}
    app, _ = make_app(fake)
    client = app.test_client()
    yield client.get("/wechat/qrcode?next=/x", headers=headers).get_data(as_text=True)
    phone = {**headers, "User-Agent": ANDROID_UA}
    yield client.get("/wechat/login", headers=phone).get_data(as_text=True)
    no_mp, _ = make_app(fake, WECHAT_WEB_MP_APPID=None, WECHAT_WEB_MP_SECRET=None)
    yield no_mp.test_client().get("/wechat/login", headers=phone).get_data(as_text=True)
    failures = [
        errors.WeChatError(),
        errors.ConfigurationError("x"),
        errors.WeChatAPIError(),
        errors.InvalidCodeError(),
        errors.InvalidCredentialError(),
        errors.TokenExpiredError(),
        errors.AccessDeniedError(),
        errors.SnapshotUserError(),
        errors.LoginRefusedError(),
        errors.WeChatUnavailableError(),
        errors.StorageUnavailableError(),
        *(StateMismatchError(reason) for reason in [*StateMismatchError._USER_TEXTS, "?"]),
    ]
    with app.test_request_context("/wechat/authorized", headers=headers):
        for error in failures:
            yield render_template("wechat/error.html", error=error, status=error.status)
        yield render_template("wechat/leave_frame.html", target="/x")
    yield from _logout_and_setup_pages(fake, headers)
    relay = relay_app().test_client().get("/wechat/relay?code=x", headers=headers)
    assert "the callback has no state" in relay.get_data(as_text=True), "why, for the site owner"
    yield relay.get_data(as_text=True)


def _logout_and_setup_pages(fake: FakeWeChat, headers: dict[str, str]) -> t.Iterator[str]:
    """The logout confirmation, signed in and not; the site owner's setup error page."""
    app, _ = make_app(fake)
    client = app.test_client()
    yield client.get("/wechat/logout", headers=headers).get_data(as_text=True)
    log_in(client, fake)
    signed_in = client.get("/wechat/logout", headers=headers).get_data(as_text=True)
    assert _LOGOUT_BUTTON in signed_in
    yield signed_in
    app.secret_key = None
    response = app.test_client().get("/wechat/login", headers=headers)
    assert response.status_code == 500
    yield response.get_data(as_text=True)


#: The logout macro's button, whatever its label.
_LOGOUT_BUTTON = '<button type="submit" class="button">'


def _sandbox_pages(fake: FakeWeChat, locale: str) -> t.Iterator[str]:
    from .test_fake import authorize_url, confirm, path_of

    def browser(environ: dict[str, t.Any], start_response: t.Any) -> t.Iterable[bytes]:
        environ["HTTP_ACCEPT_LANGUAGE"] = HTML_LANG[locale]
        environ.setdefault("HTTP_USER_AGENT", MICROMESSENGER_UA)
        return fake(environ, start_response)

    client = Client(browser)
    website, mp = fake.website_app, fake.mp_app
    urls = [
        authorize_url(website),
        authorize_url(website, login_type="jssdk", response_type=None),
        authorize_url(mp),
        authorize_url(website, appid="wx0123456789abcdef"),  # error pages
        authorize_url(mp, scope="snsapi_login"),  # with an errcode
        authorize_url(mp, state="has-dash"),
        authorize_url(mp, redirect_uri="https://elsewhere.example/cb"),
    ]
    for url in urls:
        yield client.get(path_of(url)).get_data(as_text=True)
    # snsapi_base is silent: only a prefetch gets its page.
    base = path_of(authorize_url(mp, scope="snsapi_base"))
    yield client.get(base, headers={"Purpose": "prefetch"}).get_data(as_text=True)
    outside = client.get(path_of(authorize_url(mp)), headers={"User-Agent": ANDROID_UA})
    yield outside.get_data(as_text=True)  # 请在微信客户端打开链接
    jssdk = authorize_url(website, login_type="jssdk", response_type=None)
    yield confirm(client, jssdk, user="zhangsan").get_data(as_text=True)  # back to the site
    yield confirm(client, authorize_url(website), user="nobody").get_data(as_text=True)
    yield client.post("/connect/confirm", data={"endpoint": "x"}).get_data(as_text=True)
    fake.snapshot, fake.deny_redirect = True, False
    yield client.get(path_of(authorize_url(mp))).get_data(as_text=True)
    yield confirm(client, authorize_url(mp), deny="1").get_data(as_text=True)


def _example_pages(tmp_path: Path, locale: str) -> t.Iterator[str]:
    from example import create_app

    from .test_fake import confirm, path_of

    app = create_app(
        {
            "TESTING": True,
            "WECHAT_WEB_SANDBOX": True,
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/example.db",
        }
    )

    @app.route("/database-down")
    def database_down() -> str:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = HTML_LANG[locale]
    client.get(f"/language/{locale}")
    down = client.get("/database-down")
    assert down.status_code == 503
    yield down.get_data(as_text=True)
    yield client.get("/").get_data(as_text=True)
    yield client.get("/", headers={"User-Agent": MICROMESSENGER_UA}).get_data(as_text=True)
    sandbox = client.get("/wechat/login?next=/account").location
    yield client.get(sandbox).get_data(as_text=True)
    callback = confirm(t.cast(t.Any, client), sandbox, user="zhangsan").location
    assert client.get(path_of(callback)).status_code == 302
    yield client.get("/account").get_data(as_text=True)
    yield client.get("/").get_data(as_text=True)
    client.post("/wechat/logout")
    yield client.get("/").get_data(as_text=True)  # with the logout confirmation
    from example.models import db

    with app.app_context():
        db.engine.dispose()  # Python 3.13 warns of a database never closed


@pytest.mark.parametrize("locale", LOCALES)
def test_extension_pages_are_whole_in_each_language(fake_wechat: FakeWeChat, locale: str) -> None:
    pages = list(_extension_pages(fake_wechat, locale))
    assert len(pages) == 27
    for page in pages:
        assert_whole_in(locale, page)


@pytest.mark.parametrize("locale", LOCALES)
def test_sandbox_pages_are_whole_in_each_language(locale: str) -> None:
    fake = FakeWeChat(domain="site.example")
    pages = list(_sandbox_pages(fake, locale))
    assert len(pages) == 14
    assert all('<form method="post"' in page for page in pages[:3]), "the consent pages"
    assert all('class="error"' in page for page in pages[3:7]), "WeChat's error pages"
    for page in pages:
        assert_whole_in(locale, page, _nicknames(fake))


@pytest.mark.parametrize("locale", LOCALES)
def test_example_pages_are_whole_in_each_language(tmp_path: Path, locale: str) -> None:
    pages = list(_example_pages(tmp_path, locale))  # the database-down page first
    assert "张三😀" in pages[4] and "张三😀" in pages[5]
    assert 'class="flash flash-success"' in pages[6]
    for page in pages:
        assert_whole_in(locale, page, _nicknames(FakeWeChat()))


def test_inside_wechat_the_home_page_does_not_say_scan(tmp_path: Path) -> None:
    desktop, in_wechat = list(_example_pages(tmp_path, "en"))[1:3]
    assert "scan a QR code" in desktop
    assert "scan a QR code" not in in_wechat and "one tap and you are logged in" in in_wechat


def test_flask_babel_without_a_selector_means_its_default_locale() -> None:
    from flask_babel import Babel

    app = Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY="k", WECHAT_WEB_SANDBOX=True)
    Babel(app)
    WeChatWeb(app)
    page = app.test_client().get("/wechat/qrcode").get_data(as_text=True)
    assert '<html lang="en">' in page  # Flask-Babel's default locale, en


def test_the_checker_finds_a_mixed_page() -> None:
    with pytest.raises(AssertionError, match="English in a zh_CN page"):
        assert_whole_in("zh_CN", '<html lang="zh-CN"><p>微信登录 <a>Continue</a></p></html>')
    with pytest.raises(AssertionError, match="Chinese in an English page"):
        assert_whole_in("en", '<html lang="en"><h1>Denied</h1><p>你已拒绝授权</p></html>')
    with pytest.raises(AssertionError, match="in a zh_TW page"):
        assert_whole_in("zh_TW", '<html lang="zh-TW"><p>微信登录</p></html>')
    assert_whole_in("en", '<html lang="en"><a lang="zh-TW">繁體中文</a> <code>错误</code></html>')


def test_english_pages_ask_wechat_for_its_english_qr_page(fake_wechat: FakeWeChat) -> None:
    from .test_fake import path_of

    app, _ = make_app(fake_wechat)
    client = app.test_client()
    english = client.get("/wechat/login", headers={"Accept-Language": "en"}).location
    chinese = client.get("/wechat/login", headers={"Accept-Language": "zh-TW"}).location
    assert "&lang=en#" in english and "lang=" not in chinese
    in_wechat = {"Accept-Language": "en", "User-Agent": MICROMESSENGER_UA}
    assert "lang=" not in client.get("/wechat/login", headers=in_wechat).location
    # The sandbox's QR page takes WeChat's lang=en over the browser's Chinese.
    fake = FakeWeChat()
    sandbox = Client(fake)
    url = path_of(english.replace(fake_wechat.config()["WECHAT_WEB_OPEN_BASE_URL"], ""))
    page = sandbox.get(url, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert '<html lang="en">' in page


@pytest.mark.parametrize(
    ("accept", "label"), [("zh-CN", "退出登录"), ("zh-HK", "登出"), ("en", "Log out")]
)
def test_the_logout_macro_speaks_the_page_language(
    fake_wechat: FakeWeChat, accept: str, label: str
) -> None:
    app, _ = make_app(fake_wechat)
    source = '{% from "wechat/macros.html" import wechat_logout_form %}{{ wechat_logout_form() }}'
    with app.test_request_context("/", headers={"Accept-Language": accept}):
        assert f">{label}</button>" in render_template_string(source)
        own = render_template_string(source.replace("form()", 'form(label="Sign out")'))
        assert ">Sign out</button>" in own
