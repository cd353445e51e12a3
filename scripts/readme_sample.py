"""Usage: python scripts/readme_sample.py README.md

Run the README's Python sample as a user would, against the fake WeChat:
the sample's app served over loopback HTTP, the fake's two hosts beside it
(the sample's AppID registered there, with the site's host as its callback
domain), then a login as a person makes it, ending on the sample's page.
Meant for an empty venv holding only the built wheel with its ``testing``
extra (scripts/check-wheel.sh), so it shows that what the README promises
works from the package as published.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import types
from pathlib import Path

from login_as import log_in
from werkzeug.serving import make_server

from flask_wechat_web.testing import FakeWeChat

#: A sample user of the fake, and what the README's home page says to them.
NAME = "Alice Smith"
GREETING = f"你好 {NAME}"


def readme_app(readme: Path) -> types.ModuleType:
    """The module the README's first Python block makes, as if saved as ``app.py``."""
    code = re.search(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
    if code is None:
        raise SystemExit(f"no ```python block in {readme}")
    module = types.ModuleType("app")
    sys.modules["app"] = module
    exec(compile(code[1], f"{readme} (the Python sample)", "exec"), module.__dict__)
    return module


def main() -> None:
    app = readme_app(Path(sys.argv[1])).app
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log
    fake = FakeWeChat()
    with fake.serve(host="127.0.0.1"):
        site = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=site.serve_forever, daemon=True).start()
        try:
            config = app.config
            fake.add_app(
                config["WECHAT_WEB_APPID"], config["WECHAT_WEB_SECRET"], domain="127.0.0.1"
            )
            config.update({key: url for key, url in fake.config().items() if key.endswith("_URL")})
            page = log_in(f"http://127.0.0.1:{site.server_port}/", NAME)
        finally:
            site.shutdown()
    if GREETING not in page:
        raise SystemExit(f"the README sample's page does not say {GREETING!r}:\n{page[:2000]}")
    print(f"the README's sample logged {NAME} in against the fake WeChat: {GREETING!r}")


if __name__ == "__main__":
    main()
