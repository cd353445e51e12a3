#!/bin/sh
# Refresh docs/_inventories/*.inv, the intersphinx inventories the docs link
# out with. The docs build has no internet (CI neither), so the inventories
# are committed; they come from Debian's documentation packages (the same
# Sphinx objects.inv each project publishes, built for Debian's release).
# Projects whose site is built as "dirhtml" get their page.html#x links
# rewritten to page/#x. Run it when a linked project's API moves; commit the
# result.
set -eu
out="$(cd "$(dirname "$0")/.." && pwd)/docs/_inventories"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
# name, Debian package, the package's html directory, layout of the site
cat >list <<'LIST'
python python3.11-doc usr/share/doc/python3.11/html html
flask python-flask-doc usr/share/doc/python-flask-doc/html dirhtml
werkzeug python-werkzeug-doc usr/share/doc/python-werkzeug-doc/html dirhtml
flask_login python-flask-login-doc usr/share/doc/python-flask-login-doc/html html
authlib python-authlib-doc usr/share/doc/python-authlib-doc/html html
requests python-requests-doc usr/share/doc/python-requests-doc/html dirhtml
flask_sqlalchemy flask-sqlalchemy-doc usr/share/doc/flask-sqlalchemy-doc/html dirhtml
LIST
apt-get download $(awk '{print $2}' list) >/dev/null
for deb in *.deb; do dpkg-deb -x "$deb" root; done
mkdir -p "$out"
while read -r name package dir layout; do
    python3 - "root/$dir/objects.inv" "$out/$name.inv" "$layout" <<'PY'
import re, sys, zlib

source, target, layout = sys.argv[1:]
with open(source, "rb") as f:
    header = [f.readline() for _ in range(4)]
    lines = zlib.decompress(f.read()).decode().splitlines()
entry = re.compile(r"(.+?)\s+(\S+)\s+(-?\d+)\s+?(\S*)\s+(.*)")
if layout == "dirhtml":
    rewritten = []
    for line in lines:
        name, role, prio, uri, shown = entry.match(line).groups()
        page, _, anchor = uri.partition("#")
        page = re.sub(r"(^|/)index\.html$", r"\1", page)
        page = re.sub(r"\.html$", "/", page)
        rewritten.append(f"{name} {role} {prio} {page}{'#' if anchor else ''}{anchor} {shown}")
    lines = rewritten
with open(target, "wb") as f:
    f.writelines(header)
    f.write(zlib.compress(("\n".join(lines) + "\n").encode(), 9))
PY
    echo "$name: $(dpkg-deb -f "$(ls "$package"_*.deb)" Version) -> $out/$name.inv"
done <list
