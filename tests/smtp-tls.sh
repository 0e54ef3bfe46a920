#!/bin/bash
# smtp-tls: STARTTLS and implicit TLS with certificates made here (trusted
# only through ca_file; a wrong host name is refused; verify: false skips
# it), STARTTLS asked for but not offered, AUTH with the right and wrong
# password (never in the transcript), and servers that hang (every attempt
# ends within the timeout).
. "${top_srcdir:-.}/tests/lib.sh"

# A CA, a server certificate for localhost signed by it, and a self-signed one.
(
	cd "$T"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=msgspool test CA" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj "/CN=localhost" 2>/dev/null
	printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' > ext.cnf
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile ext.cnf 2>/dev/null
	openssl req -x509 -newkey rsa:2048 -nodes -keyout self.key -out self.pem -days 2 -subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost" 2>/dev/null
) || { fail "openssl could not make test certificates"; finish; exit 1; }
ms init >/dev/null
last_error() { ms list --json | py -c 'import json,sys; a=json.load(sys.stdin); print(a[0]["errors"][-1]["error"] if a and "errors" in a[0] else "")'; }
transcript() { ms list --json | py -c 'import json,sys; a=json.load(sys.stdin); print(a[0]["errors"][-1]["transcript"])'; }
reset() { rm -f "$T"/spool/*/*.yaml; }

# --- STARTTLS ---
start_smtpd tls --starttls "$T/srv.pem" "$T/srv.key" || exit 1
HOST=localhost smtp_conf "$PORT" "  tls: starttls"
id=$(enq a@example.com)
check_rc "starttls, not trusted by the system" 75 ms send
check "nothing arrived" "$(mails)" 0
check_contains "reason: not trusted" "$(cat "$T/err")" "certificate of localhost not trusted"
check "deferred, not counted" "$(count new):$(count failed)" "1:0"
reset
HOST=localhost smtp_conf "$PORT" "$(printf '  tls: starttls\n  ca_file: %s' "$T/ca.pem")"
id=$(enq a@example.com)
check_rc "starttls with ca_file" 0 ms send
check "accepted with ca_file" "$(status_of "$id")" sent
check "arrived over TLS" "$(mails)" 1
reset
HOST=127.0.0.1 smtp_conf "$PORT" "$(printf '  tls: starttls\n  ca_file: %s' "$T/ca.pem")"
enq a@example.com >/dev/null
check_rc "starttls, wrong host name" 75 ms send
check_contains "reason: name" "$(cat "$T/err")" "not trusted"
check "still one arrived" "$(mails)" 1
reset
HOST=127.0.0.1 smtp_conf "$PORT" "$(printf '  tls: starttls\n  verify: false')"
enq a@example.com >/dev/null
check_rc "verify: false accepts" 0 ms send
check "arrived unverified" "$(mails)" 2
reset

# --- STARTTLS asked for, not offered: never a silent downgrade ---
start_smtpd plain || exit 1
smtp_conf "$PORT" "  tls: starttls"
id=$(enq a@example.com)
check_rc "starttls not offered" 75 ms send
check "nothing sent in clear" "$(mails)" 0
check_contains "reason: not offered" "$(cat "$T/err")" "does not offer STARTTLS"
reset

# --- implicit TLS ---
start_smtpd implicit --tls "$T/srv.pem" "$T/srv.key" || exit 1
HOST=localhost smtp_conf "$PORT" "$(printf '  tls: tls\n  ca_file: %s' "$T/ca.pem")"
id=$(enq a@example.com)
check_rc "implicit tls with ca_file" 0 ms send
check "implicit tls arrived" "$(mails)" 1
reset
start_smtpd selfsigned --tls "$T/self.pem" "$T/self.key" || exit 1
HOST=localhost smtp_conf "$PORT" "$(printf '  tls: tls\n  ca_file: %s' "$T/ca.pem")"
enq a@example.com >/dev/null
check_rc "implicit tls, self-signed refused" 75 ms send
check "self-signed: nothing arrived" "$(mails)" 0
reset

# --- AUTH ---
start_smtpd auth --auth "msgspool:s3cret-Pa55" || exit 1
printf 's3cret-Pa55\n' > "$T/pw"
chmod 600 "$T/pw"
smtp_conf "$PORT" "$(printf '  username: msgspool\n  password_file: %s' "$T/pw")"
id=$(enq a@example.com)
check_rc "auth, right password" 0 ms send
check "auth: arrived" "$(mails)" 1
reset
printf 'wrong-password\n' > "$T/pw"
id=$(enq a@example.com)
check_rc "auth, wrong password" 75 ms send
check_contains "auth failure reported" "$(cat "$T/err")" "AUTH: 535"
check "auth failure: deferred" "$(count new)" 1
# The transcript of a message failure after AUTH shows AUTH redacted.
printf 's3cret-Pa55\n' > "$T/pw"
rm -f "$T"/spool/*/*.yaml
enq temp451@example.com >/dev/null
ms send >/dev/null 2>&1
tr=$(transcript)
check_contains "transcript shows AUTH" "$tr" "AUTH PLAIN <credentials redacted>"
check_contains "transcript shows the 235" "$tr" "<<< 235"
case "$tr" in *s3cret*|*czNjcmV0LVBhNTU*) fail "password in the transcript" ;; *) ok "password not in the transcript" ;; esac
grep -rq "s3cret" "$T/spool" && fail "password in the spool" || ok "password nowhere in the spool"
reset
chmod 644 "$T/pw"
enq a@example.com >/dev/null
check_rc "password file readable by others refused" 78 ms send
check_contains "says why" "$(cat "$T/err")" "not readable by others"
check "nothing attempted" "$(count new)" 1
reset
chmod 600 "$T/pw"
HOST=192.0.2.1 smtp_conf 25 "$(printf '  username: msgspool\n  password_file: %s' "$T/pw")"
enq a@example.com >/dev/null
check_rc "AUTH in clear to a remote host refused" 78 ms send
check_contains "says why" "$(cat "$T/err")" "password in clear"
reset

# --- servers that hang: each attempt ends within the timeout ---
TIMEOUT=2 smtp_conf "$(cd "$T" && echo "$PORT")"
start_smtpd hang || exit 1
TIMEOUT=2 smtp_conf "$PORT"
id=$(enq hang@example.com)
s=$(date +%s)
ms send >/dev/null 2>&1
e=$(( $(date +%s) - s ))
[ "$e" -le 8 ] && ok "hang at RCPT ended ($e s, timeout 2 s)" || fail "hang at RCPT took $e s with timeout 2 s"
check "hang: failed" "$(status_of "$id")" failed
check_contains "hang: no reply recorded" "$(last_error)" "no reply"
reset
start_smtpd hanggreet --hang-greeting || exit 1
TIMEOUT=2 smtp_conf "$PORT"
id=$(enq a@example.com)
s=$(date +%s)
ms send >/dev/null 2>&1
e=$(( $(date +%s) - s ))
[ "$e" -le 8 ] && ok "silent greeting ended ($e s, timeout 2 s)" || fail "silent greeting took $e s with timeout 2 s"
check "silent greeting: deferred" "$(status_of "$id")" not_sent
reset

finish
