"""``python -m flask_wechat_web.testing``: serve a fake WeChat until stopped.

Prints one line of JSON, the ``WECHAT_WEB_*`` settings pointing at it, then
serves until interrupted (Ctrl-C or SIGTERM). For tests, load runs and
teams on other stacks that need the fake in a process of its own: a login
is approved on its QR page (or by POSTing that page's form), as a person
would, and codes go only to ``--domain``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from .fake import FakeWeChat
from .model import DEFAULT_DOMAIN


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m flask_wechat_web.testing",
        description="Serve a fake WeChat (open host and API host) on loopback. "
        "Prints the WECHAT_WEB_* settings as one line of JSON, then serves until "
        "interrupted.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--open-port",
        type=int,
        default=0,
        help="port of the open host, the authorize pages (default: a free port)",
    )
    parser.add_argument(
        "--api-port",
        type=int,
        default=0,
        help="port of the API host, sns/* (default: a free port)",
    )
    parser.add_argument(
        "--domain",
        default=DEFAULT_DOMAIN,
        help="the sample apps' authorization callback domain: a host, or host:port "
        "(an Official Account then allows that port); codes go only to redirect_uris "
        "there (default: %(default)s)",
    )
    parser.add_argument("--certfile", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--keyfile", help="the certificate's private key (PEM)")
    parser.add_argument(
        "--threads", type=int, default=32, help="worker threads per host (default: %(default)s)"
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        fake = FakeWeChat(domain=args.domain)
    except ValueError as exc:
        sys.exit(f"python -m flask_wechat_web.testing: {exc}")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with fake.serve(
        host=args.host,
        certfile=args.certfile,
        keyfile=args.keyfile,
        threads=args.threads,
        open_port=args.open_port,
        api_port=args.api_port,
    ):
        print(json.dumps(fake.config()), flush=True)
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass
    sys.exit(0)


if __name__ == "__main__":
    main()
