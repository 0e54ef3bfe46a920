#!/bin/sh
# web-browser: msgspool-web end to end in a real browser (headless Chromium
# through python3-selenium, tests/web_browser.py) with a real SMTP server on
# 127.0.0.1 (tests/smtpd.py): login, filters, search, resending two failed
# receivers, a 451 transcript, a POST without the CSRF token, hostile
# content. Screenshots of the list, a detail, the dashboard, the held
# filter and an ambiguous id prefix are left in tests/web-browser.shots/ of
# the build tree; the source tree's doc/web-*.png (the README's) are
# rewritten only when asked: UPDATE_SCREENSHOTS=1.
. "${top_srcdir:-.}/tests/lib.sh"
. "$SRC/tests/web-lib.sh"

ms init >/dev/null
web_users
start_smtpd mx || exit 1
ids() { py -c 'import json,sys; print(" ".join(r["id"] for r in json.load(sys.stdin)))'; }

# Three receivers fail for real: the server answers 451 to this sender.
smtp_conf "$PORT"
sed -i 's/^from: .*/from: "Devilry <mail451@example.org>"/' "$MSGSPOOL_CONFIG"
F1=$(enq f1@example.org "Deadline moved for INF1000 Oblig 1")
F2=$(enq f2@example.org "New comment on IN2010 Project")
F3=$(enq f3@example.org "Feedback published for MAT1100")
ms send >/dev/null 2>&1
check "three failed with a real 451" "$(count failed)" 3
# Then the sender is a good one again: two are sent today.
smtp_conf "$PORT"
enq s1@example.org "Sent one" >/dev/null
enq s2@example.org "Sent two" >/dev/null
ms send >/dev/null 2>&1
check "two sent" "$(count sent)" 2
SEARCH=$(enq searchme@example.org "Find this one")
HOSTILE=$(ms enqueue - <<'YAML'
msgspool: 1
send_to: hostile@example.org
subject: "hostile <script>console.error('INJECTED');alert(1)</script>\"><img src=x onerror=\"console.error('INJECTED');alert(2)\">"
html: "<p>Hello</p><script>console.error('INJECTED');alert(3)</script><img src=x onerror=\"console.error('INJECTED');alert(4)\">"
context_type: "<b>type</b>"
user: "\"><script>alert(5)</script>"
YAML
)
# Older receivers for the dashboard's chart and the sidebar's counts.
web_fixture 60
web_conf
start_web || fail "msgspool-web did not start: $(cat "$T/web.log")"
# Two receivers whose ids share a prefix no other id has, for the page
# that lists an ambiguous prefix's candidates.
PX1=$(enq px1@example.org "Prefix one")
PX2=$(enq px2@example.org "Prefix two")
PRE=$(py -c 'import os,sys; print(os.path.commonprefix(sys.argv[1:]))' "$PX1" "$PX2")
cat > "$T/ids.json" <<JSON
{"failed_all": [$(ms list --status failed --json | ids | sed 's/\([^ ]*\)/"\1"/g; s/ /, /g')],
 "sent_today": [$(ms list --sent today --json | ids | sed 's/\([^ ]*\)/"\1"/g; s/ /, /g')],
 "resend": ["$F1", "$F2"], "f451": "$F3", "search": "$SEARCH", "hostile": "$HOSTILE",
 "prefix": "$PRE", "prefixed": ["$PX1", "$PX2"]}
JSON
SHOTS="$BLD/tests/web-browser.shots"
rm -rf "$SHOTS"
docsum() { md5sum "$SRC"/doc/*.png 2>/dev/null; }
DOC_BEFORE=$(docsum)
py "$SRC/tests/web_browser.py" --url "$WEB" --user "$WEB_USER" --password "$WEB_PASS" --ids "$T/ids.json" \
	--spool "$T/spool" --out "$SHOTS" > "$T/browser.out" 2>&1
cat "$T/browser.out"
PASSED=$((PASSED + $(grep -c '^ok - ' "$T/browser.out")))
FAILED=$((FAILED + $(grep -c '^FAIL - ' "$T/browser.out")))
grep -q '^[0-9]* failed$' "$T/browser.out" || fail "the browser script did not finish: $(tail -5 "$T/browser.out")"
check "the resent two arrived" "$(grep -l -e '^To: <\?f[12]@example.org' "$OUT"/*.eml 2>/dev/null | wc -l | tr -d ' ')" 2
check_contains "audit: resent by admin in the log" "$(cat "$T/web.log")" "$F1: resent by admin from failed/: sent"
for s in list detail dashboard held prefix; do
	[ -s "$SHOTS/$s.png" ] && ok "screenshot $s.png" || fail "no screenshot $s.png"
done
if [ "${UPDATE_SCREENSHOTS:-}" = 1 ]; then
	for s in list detail dashboard; do cp "$SHOTS/$s.png" "$SRC/doc/web-$s.png"; done
	echo "# doc/web-list.png, web-detail.png, web-dashboard.png updated from $SHOTS"
else
	check "the source tree's doc/*.png untouched (UPDATE_SCREENSHOTS=1 rewrites them)" "$(docsum)" "$DOC_BEFORE"
fi
finish
