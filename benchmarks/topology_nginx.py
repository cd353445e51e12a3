"""nginx, balancing the three app hosts: its configuration and its server.

Round robin, a failed host left out for :data:`FAIL_TIMEOUT` seconds, a
request retried on the next host only when its host failed before sending
a response header; the load client pins a request to a host by the
``X-Upstream`` header. Why each setting is what it is, the configuration's
comments say.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

from .topology_servers import BALANCER, AppHost, Service, free_port

#: Debian's nginx.
NGINX = "/usr/sbin/nginx"
#: Seconds nginx leaves out a host after it failed a request.
FAIL_TIMEOUT = 3
#: The request header pinning a request to one host, by its address's last number.
UPSTREAM_HEADER = "X-Upstream"
#: The same as a query parameter, for requests whose headers the client does not
#: choose: the fake WeChat's pushes (their signature does not cover the URL).
UPSTREAM_QUERY = "upstream"

#: Where nginx sends a request, and what it retries. The callback is a GET, so
#: nginx counts it idempotent, but it is not at WeChat: its code is single use.
#: ``X-Upstream`` is the load test's hook to send a step to a host of its choice.
NGINX_CONF = """\
daemon off;
user root;
worker_processes 1;
pid {base}/nginx.pid;
error_log {base}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format load '$http_x_load|$status|$upstream_addr';
    access_log {base}/access.log load;
    client_body_temp_path {base}/tmp/body;
    proxy_temp_path {base}/tmp/proxy;
    fastcgi_temp_path {base}/tmp/fastcgi;
    uwsgi_temp_path {base}/tmp/uwsgi;
    scgi_temp_path {base}/tmp/scgi;

    upstream example {{
        # Round robin (nginx's default). A host that failed is left out a while.
{servers}
    }}
    # One upstream per host, for requests pinned to it by the load test's
    # X-Upstream header or upstream query parameter (the last number of the
    # host's address). A request with neither, or any other value, goes to
    # the round robin.
{pinned}
    map "$http_x_upstream$arg_{upstream_query}" $app_upstream {{
        default example;
{choices}
    }}
    server {{
        listen {listen};
        location / {{
            # A variable naming an upstream block: no DNS lookup, nginx takes the block.
            proxy_pass http://$app_upstream;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 1s;
            proxy_read_timeout 30s;
            # Retries, chosen for the callback: a request goes to the next host
            # once, and only when its host failed before sending a response
            # header (refused, reset, died). Never after a timeout (connect
            # timeouts too: nginx does not tell them apart): the slow host may
            # still be redeeming the code, and a second redemption gets 40163.
            # A GET cut off that way is re-sent, the callback included: the
            # next host finds the login already done (the dead host saved the
            # session: same redirect), or still pending and redeems the code
            # itself, or gets 40163 from WeChat (the dead host had redeemed it)
            # and answers the extension's clean "log in again" page; or, when
            # the dead host had finished the login and renewed the session
            # id in Redis, finds the old id gone and answers the same clean
            # page (the state is no longer in this browser's session). A POST
            # (logout) that reached a host is never re-sent.
            proxy_next_upstream error;
            proxy_next_upstream_tries 2;
        }}
        # nginx's own 502/504 (no host could answer): a plain "try again" page.
        error_page 502 504 /_unavailable.html;
        location = /_unavailable.html {{
            internal;
            root {base};
        }}
    }}
}}
"""
UNAVAILABLE_PAGE = (
    "<!doctype html><meta charset=utf-8><title>Please try again</title>"
    "<h1>Please try again in a moment</h1><p>The site did not answer this request "
    "(load balancer). Reload the page.</p>\n"
)


class Nginx(Service):
    def __init__(self, base: Path, hosts: t.Sequence[AppHost], port: int | None = None) -> None:
        port = port or free_port(BALANCER)
        (base / "tmp").mkdir(parents=True, exist_ok=True)
        (base / "_unavailable.html").write_text(UNAVAILABLE_PAGE)
        servers = "\n".join(
            f"        server {host.address}:{host.port} max_fails=1 fail_timeout={FAIL_TIMEOUT}s;"
            for host in hosts
        )
        pinned = "\n".join(
            f"    upstream host{host.number} {{ server {host.address}:{host.port}; }}"
            for host in hosts
        )
        choices = "\n".join(f"        {host.number} host{host.number};" for host in hosts)
        conf = base / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                base=base,
                servers=servers,
                pinned=pinned,
                choices=choices,
                listen=f"{BALANCER}:{port}",
                upstream_query=UPSTREAM_QUERY,
            )
        )
        argv = [NGINX, "-p", base, "-e", base / "error.log", "-c", conf]
        super().__init__(argv, BALANCER, port, base / "nginx.log")
        self.url = f"http://{BALANCER}:{port}"
        self.access_log = base / "access.log"
