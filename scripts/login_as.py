"""Usage: python scripts/login_as.py START_URL NAME

Log in through a sandbox or fake WeChat consent page as a person would: a
cookie jar, every redirect followed, the consent page's "Log in as NAME"
button pressed. Passes (exit 0) when the page the login ends on shows NAME;
otherwise prints what it saw and exits 1. Needs only requests (which the
package installs), so it runs in the example's or any user's venv.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import requests


@dataclass
class Button:
    name: str
    value: str
    text: str = ""


@dataclass
class Form:
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[Button] = field(default_factory=list)


class Forms(HTMLParser):
    """The page's forms: action, hidden fields and submit buttons (with their text)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._button: Button | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append(Form(attr.get("action", "")))
        elif self.forms and tag == "input" and attr.get("type") == "hidden":
            self.forms[-1].fields[attr.get("name", "")] = attr.get("value", "")
        elif self.forms and tag == "button":
            self._button = Button(attr.get("name", ""), attr.get("value", ""))
            self.forms[-1].buttons.append(self._button)

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._button = None

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button.text += data


def log_in(start_url: str, name: str) -> str:
    """The text of the page the login ends on, after pressing "Log in as ``name``"."""
    browser = requests.Session()
    browser.headers["Accept-Language"] = "en"
    page = browser.get(start_url, timeout=30)
    page.raise_for_status()
    parser = Forms()
    parser.feed(page.text)
    for form in parser.forms:
        for button in form.buttons:
            if name in button.text:
                data = dict(form.fields)
                if button.name:
                    data[button.name] = button.value
                action = urljoin(page.url, form.action or page.url)
                done = browser.post(action, data=data, timeout=30)
                done.raise_for_status()
                return done.text
    buttons = [button.text.strip() for form in parser.forms for button in form.buttons]
    raise SystemExit(f"no 'Log in as {name}' button on {page.url} (its buttons: {buttons})")


def main() -> None:
    start_url, name = sys.argv[1:3]
    page = log_in(start_url, name)
    if name not in page:
        print(f"the page after the login does not show {name!r}:\n{page[:2000]}")
        raise SystemExit(1)
    print(f"logged in as {name} through {start_url}")


if __name__ == "__main__":
    main()
