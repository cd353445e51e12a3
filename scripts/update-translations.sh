#!/bin/sh
# Bring the gettext catalogs up to date with the source: extract every marked
# string into the .pot, merge it into each .po, then compile the .mo files.
# Run it after adding or changing any end-user text, translate the entries it
# leaves empty or fuzzy (tests/test_i18n.py lists them), and run it again.
#   sh scripts/update-translations.sh
set -eu
cd "$(dirname "$0")/.."
PYBABEL="${PYBABEL:-.venv/bin/pybabel}"
# Extension strings (domain flask_wechat_web), then the example site's (messages).
for spec in "flask_wechat_web flask_wechat_web" "example messages"; do
    set -- $spec
    src=$1 domain=$2 dir=$1/translations
    $PYBABEL -q extract -F babel.cfg -k _l -k lazy_gettext -k N_ -k wechat_gettext \
        --no-location --sort-output --omit-header \
        -o "$dir/$domain.pot" "$src"
    for po in "$dir"/*/LC_MESSAGES/"$domain".po; do
        locale=$(basename "$(dirname "$(dirname "$po")")")
        $PYBABEL -q update -D "$domain" -i "$dir/$domain.pot" -d "$dir" -l "$locale" \
            --no-wrap --ignore-obsolete
        # A fixed date: the same source gives the same .po and .mo files.
        sed -i 's/^"POT-Creation-Date: .*/"POT-Creation-Date: 2026-12-01 00:00+0000\\n"/' "$po"
    done
    $PYBABEL -q compile -D "$domain" -d "$dir" --statistics
done
