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
