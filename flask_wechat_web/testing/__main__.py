"""``python -m flask_wechat_web.testing``: serve a fake WeChat until stopped.

Prints one line of JSON, the ``WECHAT_WEB_*`` settings pointing at it, then
serves (auto-approving) until interrupted. For tests and load runs that need
the fake in a process of its own.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from .fake import FakeWeChat


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flask_wechat_web.testing")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--certfile", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--keyfile", help="the certificate's private key (PEM)")
    parser.add_argument("--threads", type=int, default=32)
    args = parser.parse_args(argv)
    fake = FakeWeChat()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    with fake.serve(
        host=args.host, certfile=args.certfile, keyfile=args.keyfile, threads=args.threads
    ):
        print(json.dumps(fake.config()), flush=True)
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass
    sys.exit(0)


if __name__ == "__main__":
    main()
