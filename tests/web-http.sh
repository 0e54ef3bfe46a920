#!/bin/sh
# web-http: msgspool-web over HTTP with curl: every refusal (no login, wrong
# password, lockout, bad ids, missing CSRF, wrong method, a body over 1 MiB,
# an unsafe users file), the headers every answer carries, escaping of
# hostile content, the actions with their audit entries, the JSON API and
# HTTPS.
. "${top_srcdir:-.}/tests/lib.sh"
. "$SRC/tests/web-lib.sh"

ms init >/dev/null
web_users
# A user whose hash is slow on purpose (cost 14: about a second a check),
# for the check that a login's bcrypt holds up nobody else.
SLOW_PASS='slow but sure'
htpasswd -bB -C 14 "$T/web.htpasswd" slow "$SLOW_PASS" >/dev/null 2>&1
web_conf

# ---- refusing to start (exit 78, the file named) ----
mv "$T/web.htpasswd" "$T/keep"
check_rc "missing htpasswd: exit 78" 78 "$BLD/msgspool-web"
check_contains "missing htpasswd: named" "$(cat "$T/err")" "$T/web.htpasswd"
: > "$T/web.htpasswd"
chmod 0640 "$T/web.htpasswd"
check_rc "empty htpasswd: exit 78" 78 "$BLD/msgspool-web"
check_contains "empty htpasswd: said" "$(cat "$T/err")" "empty"
cp "$T/keep" "$T/web.htpasswd"
chmod 0644 "$T/web.htpasswd"
check_rc "world-readable htpasswd: exit 78" 78 "$BLD/msgspool-web"
check_contains "world-readable htpasswd: said" "$(cat "$T/err")" "readable or writable by others"
printf 'admin:$apr1$abcdefgh$0123456789012345678901\n' > "$T/web.htpasswd"
chmod 0640 "$T/web.htpasswd"
check_rc "MD5 htpasswd: exit 78" 78 "$BLD/msgspool-web"
cp "$T/keep" "$T/web.htpasswd"
chmod 0640 "$T/web.htpasswd"
cp "$MSGSPOOL_CONFIG" "$T/conf.keep"
echo "  tls_cert: $T/none.crt" >> "$MSGSPOOL_CONFIG"
check_rc "tls_cert without tls_key: exit 78" 78 "$BLD/msgspool-web"
cp "$T/conf.keep" "$MSGSPOOL_CONFIG"
sed -i 's/^  listen: .*/  listen: localhost/' "$MSGSPOOL_CONFIG"
check_rc "listen without a port: exit 78" 78 "$BLD/msgspool-web"
check_contains "listen without a port: said" "$(cat "$T/err")" "web.listen: 'localhost' is not host:port"
cp "$T/conf.keep" "$MSGSPOOL_CONFIG"

# ---- smtp.password_file, read as root, by the commands' rule ----
# (these tests run as root) A file writable by its group, or a path that
# passes through the spool (a producer's link in new/ to a directory only
# root can read), stops the start with the file named; a good one starts.
mkdir -p "$T/private"; chmod 0700 "$T/private"
printf 's3cret\n' > "$T/private/pw"; chmod 0600 "$T/private/pw"
pwconf() {
	sed -e 's/^transport: maildir/transport: smtp/' "$T/conf.keep" > "$T/pw.yaml"
	printf 'smtp:\n  host: 127.0.0.1\n  port: 25\n  username: mailer\n  password_file: %s\n' "$1" >> "$T/pw.yaml"
	chmod 0640 "$T/pw.yaml"
}
pwconf "$T/private/pw"
check_rc "a 0600 password file of root's: starts (and serves until stopped)" 124 timeout 2 "$BLD/msgspool-web" -c "$T/pw.yaml"
chmod 0620 "$T/private/pw"
check_rc "a group-writable password file: exit 78" 78 timeout 10 "$BLD/msgspool-web" -c "$T/pw.yaml"
check_contains "a group-writable password file: named, and why" "$(cat "$T/err")" \
	"$T/private/pw: the password file must be a regular file not readable by others and writable by its owner only"
chmod 0600 "$T/private/pw"
ln -s "$T/private" "$T/spool/new/planted"
pwconf "$T/spool/new/planted/pw"
check_rc "a password file through a link planted in the spool: exit 78" 78 timeout 10 "$BLD/msgspool-web" -c "$T/pw.yaml"
check_contains "a password file through a planted link: named, and why" "$(cat "$T/err")" \
	"$T/spool/new/planted/pw: smtp.password_file passes through the spool $T/spool"
ln -s "$T/private/pw" "$T/spool/new/planted.pw"
pwconf "$T/spool/new/planted.pw"
check_rc "a password file that is a link planted in the spool: exit 78" 78 timeout 10 "$BLD/msgspool-web" -c "$T/pw.yaml"
check_contains "a planted link: named" "$(cat "$T/err")" "$T/spool/new/planted.pw: smtp.password_file passes through the spool"
rm -f "$T/spool/new/planted" "$T/spool/new/planted.pw"

# ---- a spool with hostile content ----
ID1=$(ms enqueue --to a1@example.org --subject '<script>alert(1)</script>"><img src=x onerror=alert(2)>' --text-file - <<EOF2
body
EOF2
)
ID2=$(enq a2@example.org "Second")
start_web || fail "msgspool-web did not start: $(cat "$T/web.log")"
check_rc "a second server on the same address: exit 69" 69 "$BLD/msgspool-web"

# ---- no login ----
check "no login: / redirects" "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$WEB/")" "303 $WEB/login"
check "no login: /receivers redirects" "$(code "$WEB/receivers")" 303
check "no login: a detail redirects" "$(code "$WEB/receivers/$ID1")" 303
check "no login: /api/receivers is 401" "$(code "$WEB/api/receivers")" 401
curl -s -D "$T/h" -o /dev/null "$WEB/api/receivers/$ID1"
check_contains "no login: 401 asks for Basic" "$(cat "$T/h")" 'WWW-Authenticate: Basic realm="msgspool"'
check "no login: POST /api/resend is 401" "$(code -H 'Content-Type: application/json' --data '{"ids":["'$ID1'"]}' "$WEB/api/resend")" 401
check "no login: nothing resent" "$(status_of "$ID1")" not_sent

# ---- the login page and wrong passwords ----
tok=$(curl -s -c "$T/bad" -b "$T/bad" "$WEB/login" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p')
check "login page carries a 32-hex token" "${#tok}" 32
check "login without the token: 403" "$(code -b "$T/bad" --data "username=$WEB_USER&password=x" "$WEB/login")" 403
check "wrong password: 401" "$(code -c "$T/bad" -b "$T/bad" --data "csrf=$tok&username=$WEB_USER&password=wrong" "$WEB/login")" 401
check "wrong password: still logged out" "$(code -b "$T/bad" "$WEB/receivers")" 303
check "unknown user: 401" "$(code -c "$T/bad" -b "$T/bad" --data "csrf=$tok&username=nobody&password=$WEB_PASS" "$WEB/login")" 401
check "Basic with a wrong password: 401" "$(code -u "$WEB_USER:wrong" "$WEB/api/receivers")" 401

# ---- logged in ----
web_login
curl -s -D "$T/h" -o /dev/null "$WEB/login" -b "$T/jar"
check_contains "a logged-in /login goes to the dashboard" "$(cat "$T/h")" "Location: /"
grep msgspool_session "$T/jar" > /dev/null && ok "session cookie set" || fail "no session cookie"
tok2=$(curl -s -c "$T/j2" -b "$T/j2" "$WEB/login" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p')
curl -s -D "$T/h" -o /dev/null -c "$T/j2" -b "$T/j2" --data "csrf=$tok2&username=$WEB_USER&password=$(printf %s "$WEB_PASS" | sed 's/ /+/g')" "$WEB/login"
check_contains "session cookie HttpOnly, SameSite=Strict" "$(grep -i set-cookie "$T/h")" "; Path=/; HttpOnly; SameSite=Strict"
curl -s -D "$T/h" -o "$T/page" -b "$T/jar" "$WEB/receivers"
check "list: 200" "$(head -1 "$T/h" | tr -d '\r')" "HTTP/1.1 200 OK"
check_contains "list: CSP" "$(cat "$T/h")" "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; form-action 'self'; frame-ancestors 'none'"
check_contains "list: nosniff" "$(cat "$T/h")" "X-Content-Type-Options: nosniff"
check_contains "list: a checkbox per row" "$(cat "$T/page")" "<input type=\"checkbox\" name=\"id\" value=\"$ID1\">"
check_contains "list: hostile subject escaped" "$(cat "$T/page")" '&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;'
check "list: no injected tag" "$(grep -c '<script>alert\|<img src=x' "$T/page")" 0
check "detail: no injected tag" "$(curl -s -b "$T/jar" "$WEB/receivers/$ID1" | grep -c '<script>alert\|<img src=x')" 0
check "the stylesheet needs no login" "$(code "$WEB/static/style.css")" 200

# ---- bad ids (the same rules as the commands) ----
for bad in '..' '..%2f..%2fmsgspool.yaml' "..%2fnew%2f$ID1" "new%2f$ID1" "$ID1%00" "$ID1%00.yaml" '.hidden' 'a%20b' "$ID1%0a"; do
	check "bad id $bad: 400" "$(code --path-as-is -b "$T/jar" "$WEB/receivers/$bad")" 400
	check "bad id $bad (API): 400" "$(code --path-as-is -b "$T/jar" "$WEB/api/receivers/$bad")" 400
done
check "path with a slash: no page" "$(code --path-as-is -b "$T/jar" "$WEB/receivers/../receivers/$ID1")" 400
check "unknown id: 404" "$(code -b "$T/jar" "$WEB/receivers/20000101T000000.000000Z-0000000000000000")" 404
check "an id prefix of nothing: 404" "$(code -b "$T/jar" "$WEB/receivers/19990101T")" 404

# ---- id prefixes, as msgspool show PREFIX takes them ----
P1=$(enq p1@example.org "Prefix one")
P2=$(enq p2@example.org "Prefix two")
PRE=$(py -c 'import os,sys; print(os.path.commonprefix(sys.argv[1:]))' "$P1" "$P2")
NPRE=$(ls "$T/spool/new" | grep -c "^$PRE")
curl -s -D "$T/h" -o /dev/null -b "$T/jar" "$WEB/receivers/${P1%?}"
check "a unique prefix: 303 to the whole id's page" "$(head -1 "$T/h" | tr -d '\r') $(grep -i '^Location:' "$T/h" | tr -d '\r')" \
	"HTTP/1.1 303 See Other Location: /receivers/$P1"
check "a unique prefix (API): the object of show --json" "$(curl -s -b "$T/jar" "$WEB/api/receivers/${P1%?}")" "$(ms show --json "$P1")"
curl -s -D "$T/h" -o "$T/page" -b "$T/jar" "$WEB/receivers/$PRE"
check "an ambiguous prefix: 300" "$(head -1 "$T/h" | tr -d '\r')" "HTTP/1.1 300 Multiple Choices"
check_contains "an ambiguous prefix: the page says so" "$(cat "$T/page")" "This id prefix matches more than one receiver"
check "an ambiguous prefix: a link to each candidate" "$(grep -o 'href="/receivers/[^"?]*"' "$T/page" | grep -c "$PRE")" "$NPRE"
check_contains "an ambiguous prefix: the first candidate" "$(cat "$T/page")" "<a href=\"/receivers/$P1\">$P1</a>"
check_contains "an ambiguous prefix: the second candidate" "$(cat "$T/page")" "<a href=\"/receivers/$P2\">$P2</a>"
check "an ambiguous prefix (API): 300 with the candidates" "$(curl -s -w ' %{http_code}' -b "$T/jar" "$WEB/api/receivers/$PRE" | py -c '
import json, sys
body, code = sys.stdin.read().rsplit(" ", 1)
c = json.loads(body)["candidates"][sys.argv[1]]
print(code, sys.argv[2] in c, sys.argv[3] in c)' "$PRE" "$P1" "$P2")" "300 True True"
csrf=$(web_csrf)
for a in hold resend delete; do
	check "$a of an ambiguous prefix: 409" "$(code -b "$T/jar" --data "csrf=$csrf&id=$PRE&confirm=yes" "$WEB/receivers/$a")" 409
done
curl -s -b "$T/jar" --data "csrf=$csrf&id=$PRE" "$WEB/receivers/hold" > "$T/page"
check_contains "hold of an ambiguous prefix: says nothing was done" "$(cat "$T/page")" "Nothing was done: an id prefix matches more than one receiver"
check_contains "hold of an ambiguous prefix: lists the candidates" "$(cat "$T/page")" "<a href=\"/receivers/$P2\">$P2</a>"
check "API resend of an ambiguous prefix: 409" "$(code -u "$WEB_USER:$WEB_PASS" -H 'Content-Type: application/json' --data '{"ids":["'"$PRE"'"]}' "$WEB/api/resend")" 409
check "an ambiguous prefix: nothing moved, sent or deleted" "$(status_of "$P1") $(status_of "$P2") $(ls "$T/outbox/new" 2>/dev/null | wc -l)" "not_sent not_sent 0"
curl -s -b "$T/jar" --data "csrf=$csrf&id=${P1%?}" "$WEB/receivers/hold" > "$T/page"
check_contains "hold of a unique prefix: done" "$(cat "$T/page")" "Held 1 message receiver."
check "hold of a unique prefix: that one only" "$(status_of "$P1") $(status_of "$P2")" "held not_sent"
curl -s -b "$T/jar" --data "csrf=$csrf&id=${P1%?}" "$WEB/receivers/release" > "$T/page"
check "release of a unique prefix: back in new/" "$(status_of "$P1")" not_sent
check "API resend of a unique prefix: sent" "$(curl -s -u "$WEB_USER:$WEB_PASS" -H 'Content-Type: application/json' --data '{"ids":["'"${P2%?}"'"]}' "$WEB/api/resend")" \
	'{"sent":1,"failed":0,"error":0,"busy":0,"refused":0,"not_attempted":0,"rate_limited":0}'
check "API resend of a unique prefix: that one" "$(status_of "$P2") $(status_of "$P1")" "sent not_sent"
ms delete --yes "$P1" "$P2" > /dev/null
rm -f "$T/outbox/new/"*
check "bad filter: 400" "$(code -b "$T/jar" "$WEB/receivers?status=nope")" 400
check "bad sort: 400" "$(code -b "$T/jar" "$WEB/receivers?sort=password")" 400

# ---- missing CSRF: 403 and nothing changes ----
before=$(md5sum "$T/spool/new/$ID1.yaml")
check "resend without token: 403" "$(code -b "$T/jar" --data "id=$ID1" "$WEB/receivers/resend")" 403
check "resend with a wrong token: 403" "$(code -b "$T/jar" --data "csrf=00000000000000000000000000000000&id=$ID1" "$WEB/receivers/resend")" 403
check "delete without token: 403" "$(code -b "$T/jar" --data "id=$ID1&confirm=yes" "$WEB/receivers/delete")" 403
check "logout without token: 403" "$(code -b "$T/jar" -X POST "$WEB/logout")" 403
check "API resend as a form: 403" "$(code -b "$T/jar" --data "ids=$ID1" "$WEB/api/resend")" 403
check "API resend as text/plain: 403" "$(code -b "$T/jar" -H 'Content-Type: text/plain' --data '{"ids":["'$ID1'"]}' "$WEB/api/resend")" 403
check "after the refusals: file unchanged" "$(md5sum "$T/spool/new/$ID1.yaml")" "$before"
check "after the refusals: nothing sent" "$(ls "$T/outbox/new" 2>/dev/null | wc -l)" 0
check "after the refusals: still logged in" "$(code -b "$T/jar" "$WEB/")" 200

# ---- wrong method ----
check "DELETE /receivers: 405" "$(code -b "$T/jar" -X DELETE "$WEB/receivers")" 405
check "PUT /login: 405" "$(code -X PUT "$WEB/login")" 405
check "POST /: 405" "$(code -b "$T/jar" -X POST "$WEB/")" 405
check "GET /logout: 405" "$(code -b "$T/jar" "$WEB/logout")" 405
check "GET /api/resend: 405" "$(code -b "$T/jar" "$WEB/api/resend")" 405
check "unknown page: 404" "$(code -b "$T/jar" "$WEB/admin")" 404

# ---- a body over 1 MiB ----
head -c 1100000 /dev/zero | tr '\0' 'a' > "$T/big"
check "body over 1 MiB: 413" "$(code -b "$T/jar" --data-binary @"$T/big" "$WEB/receivers/resend")" 413
check "body over 1 MiB (chunked): 413" "$(code -b "$T/jar" -H 'Transfer-Encoding: chunked' --data-binary @"$T/big" "$WEB/login")" 413
check "after the big body: file unchanged" "$(md5sum "$T/spool/new/$ID1.yaml")" "$before"

# ---- the actions, with their audit entries ----
csrf=$(web_csrf)
curl -s -b "$T/jar" --data "csrf=$csrf&id=$ID1" "$WEB/receivers/resend" > "$T/page"
check_contains "resend: counts shown" "$(cat "$T/page")" "1 sent, 0 failed, 0 moved to error."
check "resend: sent" "$(status_of "$ID1")" sent
ms show --json "$ID1" | py -c '
import json, sys
e = json.load(sys.stdin)["events"][-1]
print(e["action"], e["by"], e["via"], "at" in e)' > "$T/ev"
check "resend: audit entry in the file" "$(cat "$T/ev")" "resend admin web True"
check_contains "resend: audit line in the log" "$(cat "$T/web.log")" "$ID1: resent by admin from new/: sent"
check "resend: its record in the audit file" "$(grep " resend $ID1 " "$T/spool/audit" | cut -d' ' -f2-)" "resend $ID1 new/ admin web"
curl -s -b "$T/jar" --data "csrf=$csrf&id=$ID2" "$WEB/receivers/delete" > "$T/page"
check_contains "delete: asks first" "$(cat "$T/page")" "Are you sure?"
check "delete: nothing deleted before the answer" "$(count new)" 1
curl -s -b "$T/jar" --data "csrf=$csrf&id=$ID2&confirm=yes" "$WEB/receivers/delete" > "$T/page"
check_contains "delete: done" "$(cat "$T/page")" "Deleted 1 message receiver."
check "delete: gone" "$(count new)" 0
check_contains "delete: audit line in the log" "$(cat "$T/web.log")" "$ID2: deleted by admin from new/"
check "delete: its record in the spool's audit file" "$(grep " delete $ID2 " "$T/spool/audit" | cut -d' ' -f2-)" "delete $ID2 new/ admin web"
check "the audit file: the owner's, not others'" "$(stat -c %a "$T/spool/audit")" 640

# ---- hold and release, as msgspool hold and release ----
IDH=$(enq h1@example.org Hold)
check "hold without token: 403" "$(code -b "$T/jar" --data "id=$IDH" "$WEB/receivers/hold")" 403
check "release without token: 403" "$(code -b "$T/jar" --data "id=$IDH" "$WEB/receivers/release")" 403
check "without a token nothing moved" "$(status_of "$IDH")" not_sent
check_contains "the list offers hold" "$(curl -s -b "$T/jar" "$WEB/receivers")" 'formaction="/receivers/hold"'
curl -s -b "$T/jar" "$WEB/receivers/$IDH" > "$T/page"
check "the detail of a waiting receiver offers hold, not release" \
	"$(grep -c 'formaction="/receivers/hold"' "$T/page") $(grep -c 'formaction="/receivers/release"' "$T/page")" "1 0"
curl -s -b "$T/jar" --data "csrf=$csrf&id=$IDH" "$WEB/receivers/hold" > "$T/page"
check_contains "hold: done" "$(cat "$T/page")" "Held 1 message receiver."
check "hold: in hold/" "$(status_of "$IDH")" held
check_contains "hold: audit line in the log" "$(cat "$T/web.log")" "$IDH: held by admin: new/ -> hold/"
check "hold: its record in the audit file" "$(grep " hold $IDH " "$T/spool/audit" | cut -d' ' -f2-)" "hold $IDH new/ admin web"
check_contains "the list's held filter shows it" "$(curl -s -b "$T/jar" "$WEB/receivers?status=held")" "value=\"$IDH\""
curl -s -b "$T/jar" "$WEB/receivers/$IDH" > "$T/page"
check "the detail of a held receiver offers release, not hold" \
	"$(grep -c 'formaction="/receivers/hold"' "$T/page") $(grep -c 'formaction="/receivers/release"' "$T/page")" "0 1"
curl -s -b "$T/jar" "$WEB/receivers/$ID1" > "$T/page"
check "the detail of a sent receiver offers neither" \
	"$(grep -c 'formaction="/receivers/hold"' "$T/page") $(grep -c 'formaction="/receivers/release"' "$T/page")" "0 0"
check "hold of a held receiver: 409" "$(code -b "$T/jar" --data "csrf=$csrf&id=$IDH" "$WEB/receivers/hold")" 409
curl -s -D "$T/h" -b "$T/jar" --data "csrf=$csrf&id=$ID1" "$WEB/receivers/hold" > "$T/page"
check "hold of a sent receiver: 409" "$(head -1 "$T/h" | tr -d '\r')" "HTTP/1.1 409 Conflict"
check_contains "hold of a sent receiver: says why" "$(cat "$T/page")" "$ID1 is sent: only receivers waiting to be sent (not_sent, failed) can be held"
check "a sent receiver stays sent" "$(status_of "$ID1")" sent
curl -s -b "$T/jar" --data "csrf=$csrf&id=$ID1&id=$IDH" "$WEB/receivers/release" > "$T/page"
check_contains "release of a sent and a held one: the held one is released" "$(cat "$T/page")" "Released 1 message receiver."
check_contains "release of a sent and a held one: the sent one named" "$(cat "$T/page")" "$ID1 is sent: only held receivers can be released"
check "release of a sent and a held one: each where it belongs" "$(status_of "$ID1") $(status_of "$IDH")" "sent not_sent"
curl -s -b "$T/jar" --data "csrf=$csrf&id=$IDH" "$WEB/receivers/hold" > /dev/null
curl -s -b "$T/jar" --data "csrf=$csrf&id=$IDH" "$WEB/receivers/release" > "$T/page"
check_contains "release: done" "$(cat "$T/page")" "Released 1 message receiver."
check "release: back in new/" "$(status_of "$IDH")" not_sent
check_contains "release: audit line in the log" "$(cat "$T/web.log")" "$IDH: released by admin: hold/ -> new/"
check "release: its record in the audit file" "$(grep " release $IDH " "$T/spool/audit" | tail -1 | cut -d' ' -f2-)" "release $IDH hold/ admin web"
check "release of a receiver not held: 409" "$(code -b "$T/jar" --data "csrf=$csrf&id=$IDH" "$WEB/receivers/release")" 409
curl -s -b "$T/jar" --data "csrf=$csrf&id=$IDH" "$WEB/receivers/release" > "$T/page"
check_contains "release of a receiver not held: says why" "$(cat "$T/page")" "$IDH is not_sent: only held receivers can be released"
ms delete --yes "$IDH" > /dev/null

# ---- the JSON API ----
check "API show = show --json" "$(curl -s -u "$WEB_USER:$WEB_PASS" "$WEB/api/receivers/$ID1")" "$(ms show --json "$ID1")"
check "API list = list --json" "$(curl -s -b "$T/jar" "$WEB/api/receivers")" "$(ms list --json)"
check "API list ?sent=today = list --sent today --json" "$(curl -s -b "$T/jar" "$WEB/api/receivers?sent=today")" "$(ms list --sent today --json)"
check "API list ?status=not_sent&q=A1 = the same list" "$(curl -s -b "$T/jar" "$WEB/api/receivers?status=not_sent&q=A1")" "$(ms list --status not_sent --search A1 --json)"
check "API list ?sent=none&sort=created = oldest first" "$(curl -s -b "$T/jar" "$WEB/api/receivers?sent=none&sort=created" | py -c 'import json,sys; print(" ".join(r["id"] for r in json.load(sys.stdin)))')" \
	"$(ms list --sent none --json | py -c 'import json,sys; print(" ".join(r["id"] for r in reversed(json.load(sys.stdin))))')"
ID3=$(enq a3@example.org Third)
check "API resend: counts" "$(curl -s -u "$WEB_USER:$WEB_PASS" -H 'Content-Type: application/json' --data '{"ids":["'$ID3'"]}' "$WEB/api/resend")" \
	'{"sent":1,"failed":0,"error":0,"busy":0,"refused":0,"not_attempted":0,"rate_limited":0}'
check "API resend: bad body 400" "$(code -u "$WEB_USER:$WEB_PASS" -H 'Content-Type: application/json' --data '{"ids":"x"}' "$WEB/api/resend")" 400
check "API resend: a bad id is refused" "$(curl -s -u "$WEB_USER:$WEB_PASS" -H 'Content-Type: application/json' --data '{"ids":["../x"]}' "$WEB/api/resend")" \
	'{"sent":0,"failed":0,"error":0,"busy":0,"refused":1,"not_attempted":0,"rate_limited":0}'

printf 'not: [yaml\n' > "$T/spool/corrupt/broken-1.yaml"
check "API resend: corrupt/ is refused" "$(curl -s -u "$WEB_USER:$WEB_PASS" -H 'Content-Type: application/json' --data '{"ids":["broken-1"]}' "$WEB/api/resend")" \
	'{"sent":0,"failed":0,"error":0,"busy":0,"refused":1,"not_attempted":0,"rate_limited":0}'
check_contains "detail of an unreadable file: says why" "$(curl -s -b "$T/jar" "$WEB/receivers/broken-1")" "This file cannot be read"
check "the audit file: one line per action, each a time and five fields" "$(awk 'NF != 6 || $1 !~ /^20[0-9-]*T[0-9:]*Z$/' "$T/spool/audit")" ""
check "delete: corrupt/ is never deleted" "$(code -b "$T/jar" --data "csrf=$csrf&id=broken-1&confirm=yes" "$WEB/receivers/delete"; ls "$T/spool/corrupt")" "200broken-1.yaml"
check "API resend by Basic: the audit names the user" "$(ms show --json "$ID3" | py -c 'import json,sys; print(json.load(sys.stdin)["events"][-1]["by"])')" "$WEB_USER"

# ---- a login's bcrypt check runs outside the server's lock ----
# Three logins as the slow user start at once; once the server has spent
# a tenth of a second of CPU on them, they are inside bcrypt. A page asked
# for then must be served while all three are still being checked: the
# log has none of their "logged in" lines when it arrives (a check made
# under the lock writes its line before it lets the page in, so this
# fails every time on such code, and no stopwatch decides it).
cpu() { awk '{print $14 + $15}' "/proc/$WEB_PID/stat"; }
SLOW=""
for i in 1 2 3; do
	tok=$(curl -s -c "$T/slow$i" -b "$T/slow$i" "$WEB/login" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p')
	printf 'csrf=%s&username=slow&password=%s' "$tok" "$(printf %s "$SLOW_PASS" | sed 's/ /+/g')" > "$T/slowform$i"
done
c0=$(cpu)
for i in 1 2 3; do
	code -c "$T/slow$i" -b "$T/slow$i" --data @"$T/slowform$i" "$WEB/login" > "$T/slowcode$i" &
	SLOW="$SLOW $!"
done
wait_until 60 sh -c "[ \$(awk '{print \$14 + \$15}' /proc/$WEB_PID/stat) -ge $((c0 + 10)) ]" || fail "the slow logins never reached bcrypt"
check "a page while three slow logins are checked: 200" "$(code -b "$T/jar" "$WEB/receivers")" 200
check "the page came before any slow login was done" "$(grep -c ': slow logged in' "$T/web.log")" 0
wait $SLOW
check "the slow logins all succeeded" "$(cat "$T/slowcode1" "$T/slowcode2" "$T/slowcode3")" 303303303
check "each slow login logged" "$(grep -c ': slow logged in' "$T/web.log")" 3
check "a slow login's session works" "$(code -b "$T/slow2" "$WEB/")" 200

# ---- logout ----
check "logout: 303" "$(code -b "$T/jar" --data "csrf=$csrf" "$WEB/logout")" 303
check "logout: the old cookie is worth nothing" "$(code -b "$T/jar" "$WEB/")" 303

# ---- lockout (last: it locks 127.0.0.1 for a minute) ----
tok=$(curl -s -c "$T/lk" -b "$T/lk" "$WEB/login" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p')
for i in 1 2 3 4 5; do code -c "$T/lk" -b "$T/lk" --data "csrf=$tok&username=$WEB_USER&password=wrong$i" "$WEB/login" >/dev/null; done
check "lockout: the sixth try is refused" \
	"$(code -c "$T/lk" -b "$T/lk" --data-urlencode "csrf=$tok" --data-urlencode "username=$WEB_USER" --data-urlencode "password=$WEB_PASS" "$WEB/login")" 429
check "lockout: no session" "$(code -b "$T/lk" "$WEB/")" 303
check "lockout: Basic refused too" "$(code -u "$WEB_USER:$WEB_PASS" "$WEB/api/receivers")" 401
check_contains "lockout: logged" "$(cat "$T/web.log")" "too many wrong passwords"
kill "$WEB_PID"; wait "$WEB_PID"
check "stopped cleanly by SIGTERM (sanitizers: no leak)" "$?" 0
check "no sanitizer report" "$(grep -c 'Sanitizer\|runtime error' "$T/web.log")" 0

# ---- HTTPS ----
openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -days 2 -keyout "$T/web.key" -out "$T/web.crt" 2>/dev/null
chmod 0600 "$T/web.key"
echo "  tls_cert: $T/web.crt" >> "$MSGSPOOL_CONFIG"
echo "  tls_key: $T/web.key" >> "$MSGSPOOL_CONFIG"
WEB_BASE="https://127.0.0.1:$WEB_PORT"
start_web || fail "msgspool-web (TLS) did not start: $(cat "$T/web.log")"
check "HTTPS: login page" "$(code --cacert "$T/web.crt" "$WEB_BASE/login")" 200
curl -s -D "$T/h" -o /dev/null --cacert "$T/web.crt" "$WEB_BASE/login"
check_contains "HTTPS: cookie Secure" "$(grep -i set-cookie "$T/h")" "SameSite=Strict; Secure"
check "HTTPS: plain HTTP gets nothing" "$(code "http://127.0.0.1:$WEB_PORT/login")" 000

# ---- wrong passwords tried side by side cannot outrun the lockout ----
# (a fresh server: nothing counted yet) Seven wrong tries at once, each a
# slow bcrypt run outside the lock: each counts from the moment it starts,
# so five are checked (401) and the other two are refused (429).
tok=$(curl -s --cacert "$T/web.crt" -c "$T/par" -b "$T/par" "$WEB_BASE/login" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p')
PAR=""
for i in 1 2 3 4 5 6 7; do
	code --cacert "$T/web.crt" -b "$T/par" --data "csrf=$tok&username=slow&password=wrong$i" "$WEB_BASE/login" > "$T/par$i" &
	PAR="$PAR $!"
done
wait $PAR
check "seven wrong tries at once: five checked, two locked out" "$(cat "$T"/par[1-7] | fold -w3 | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')" "401:5 429:2 "
finish
