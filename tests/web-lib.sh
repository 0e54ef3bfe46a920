# web-lib.sh: helpers for msgspool-web's tests (web-http.sh, web-browser.sh)
# and bench/web.sh, sourced after tests/lib.sh: users, the web: section,
# starting the server and logging in with curl.

WEB_USER=admin
WEB_PASS='correct horse battery staple'

# web_users: an htpasswd file with WEB_USER (bcrypt, cost 5 for speed).
web_users() {
	htpasswd -bBc -C 5 "$T/web.htpasswd" "$WEB_USER" "$WEB_PASS" >/dev/null 2>&1
	chmod 0640 "$T/web.htpasswd"
}

# web_conf [LINES]: appends the web: section (listen on a free port) to the config.
web_conf() {
	WEB_PORT=$(free_port)
	WEB="http://127.0.0.1:$WEB_PORT"
	cat >> "$MSGSPOOL_CONFIG" <<CONF
web:
  listen: 127.0.0.1:$WEB_PORT
  htpasswd: $T/web.htpasswd
${1:-}
CONF
}

# start_web: msgspool-web in the background, log in $T/web.log; waits until it answers.
start_web() {
	${WEB_WRAPPER:-} "$BLD/msgspool-web" > "$T/web.log" 2>&1 &
	WEB_PID=$!
	PIDS="$PIDS $WEB_PID"
	wait_until 10 curl -skf -o /dev/null "${WEB_BASE:-$WEB}/static/style.css"
}

# web_login [JAR]: logs in as WEB_USER with curl, cookies in JAR ($T/jar).
web_login() {
	local jar=${1:-$T/jar} tok
	tok=$(curl -sk -c "$jar" -b "$jar" "${WEB_BASE:-$WEB}/login" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' | head -1)
	curl -sk -o /dev/null -c "$jar" -b "$jar" --data-urlencode "csrf=$tok" --data-urlencode "username=$WEB_USER" \
		--data-urlencode "password=$WEB_PASS" "${WEB_BASE:-$WEB}/login"
}

# web_csrf [JAR]: the logged-in session's CSRF token (from the dashboard's logout form).
web_csrf() {
	curl -sk -b "${1:-$T/jar}" "${WEB_BASE:-$WEB}/" | sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' | head -1
}

# code ARGS...: the HTTP status curl gets.
code() { curl -sk -o /dev/null -w '%{http_code}' "$@"; }

# web_fixture N: N receivers written straight into the status directories,
# the way a spool looks after two days of work: sent ones with sent_at
# spread over 48 hours, failed and error ones with their last attempt's
# time as the file's mtime, some waiting in new/. Fast (no sending).
web_fixture() {
	py - "$T/spool" "$1" <<'PY'
import os, random, sys, time
spool, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(14)
now = int(time.time())
types = ["comment_delivery", "deadline_moved", "feedback_published", "new_attempt"]
subjects = {"comment_delivery": "New comment on {}", "deadline_moved": "Deadline moved for {}",
            "feedback_published": "Feedback published for {}", "new_attempt": "New attempt on {}"}
courses = ["INF1000 Oblig 1", "INF1010 Oblig 3", "MAT1100 Assignment 2", "IN2010 Project", "FYS-MEK1110 Lab 4"]
def ts(t): return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
for i in range(n):
    kind = rnd.choice(types)
    created = now - rnd.randint(60, 48 * 3600)
    rid = "%s.%06d-f%015x" % (time.strftime("%Y%m%dT%H%M%S", time.gmtime(created)), i % 1000000, i)
    r = rnd.random()
    st = "sent" if r < 0.75 else "failed" if r < 0.87 else "error" if r < 0.92 else "new"
    user = "student%04d" % rnd.randint(1, 3000)
    body = ["msgspool: 1", "send_to: %s@uio.example.org" % user,
            "subject: \"%s\"" % subjects[kind].format(rnd.choice(courses)),
            "text: |\n  Hello,\n  something happened in Devilry.",
            "user: %s" % user, "context_type: %s" % kind, "created: \"%s\"" % ts(created)]
    mtime = created
    if st == "sent":
        sent = min(now, created + rnd.randint(1, 600))
        body += ["sending_success_count: 1", "sending_failed_count: 0", "sent_at: \"%s\"" % ts(sent)]
    elif st in ("failed", "error"):
        mtime = min(now, created + rnd.randint(1, 3600))
        count = 1 if st == "failed" else 3
        body += ["sending_success_count: 0", "sending_failed_count: %d" % count, "errors:"]
        for k in range(count):
            body += ["- at: \"%s\"" % ts(mtime), "  error: 451 4.3.0 try again later", "  smtp_code: 451",
                     "  transcript: |\n    S: 220 mx.example.org ESMTP\n    C: EHLO msgspool.example.org\n    S: 250 mx.example.org\n    C: MAIL FROM:<noreply@example.org>\n    S: 250 OK\n    C: RCPT TO:<%s@uio.example.org>\n    S: 451 4.3.0 try again later" % user]
    path = os.path.join(spool, st, rid + ".yaml")
    with open(path, "w") as f:
        f.write("\n".join(body) + "\n")
    os.utime(path, (mtime, mtime))
PY
}
