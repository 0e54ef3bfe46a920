/* webhttp: the request cycle on libmicrohttpd. Each connection has a
 * thread of its own (MHD_USE_THREAD_PER_CONNECTION, the mode libmicrohttpd's
 * manual advises when a handler may block), and the handlers run one at a
 * time under the app's lock, so the session, CSRF and lockout tables and
 * the list cache reader are never touched by two threads at once; a resend
 * lets go of the lock for its SMTP time (webhttp_unlock), so a slow or
 * hanging mail server does not freeze the other users' pages, and so does
 * a login for its bcrypt check (webhttp_password). Nothing
 * request-specific lives in a static buffer. Must never answer a page without the security headers, read a body over
 * WEBHTTP_MAX_BODY, or run a POST handler without the CSRF check. The rules
 * are in man/msgspool-web.8 and SECURITY.md. */
#include "config.h"
#include "webhttp.h"
#include "webhtml.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#define COOKIE "msgspool_session"

static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
			  "frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

void webhttp_log(const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = (int)sizeof line - 2;
	/* Values from requests may carry control characters: never into the log. */
	for (int i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[n] = '\n';
	/* A time of our own: the log is the audit trail also outside the journal. */
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(stderr, "%s msgspool-web: %.*s", stamp, n + 1, line);
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
	     : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

size_t webhttp_unescape(char *s)
{
	char *w = s;
	for (const char *p = s; *p; p++) {
		int h, l;
		if (*p == '%' && (h = hexval(p[1])) >= 0 && (l = hexval(p[2])) >= 0) {
			char c = (char)(h * 16 + l);
			*w++ = c ? c : '\x01';
			p += 2;
		} else {
			*w++ = *p == '+' ? ' ' : *p;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static size_t unescape_cb(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return webhttp_unescape(s);
}

int webform_parse(struct webform *f, const char *data, size_t len)
{
	memset(f, 0, sizeof *f);
	const char *p = data, *end = data + len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		if (stop > p) {
			char **k = realloc(f->k, (f->n + 1) * sizeof *k), **v;
			if (k)
				f->k = k;
			v = k ? realloc(f->v, (f->n + 1) * sizeof *v) : NULL;
			if (!v)
				return -1;
			f->v = v;
			const char *ke = eq ? eq : stop;
			f->k[f->n] = strndup(p, (size_t)(ke - p));
			f->v[f->n] = eq ? strndup(eq + 1, (size_t)(stop - eq - 1)) : strdup("");
			webhttp_unescape(f->k[f->n]);
			webhttp_unescape(f->v[f->n]);
			f->n++;
		}
		p = stop + 1;
	}
	return 0;
}

const char *webform_get(const struct webform *f, const char *key)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->k[i], key))
			return f->v[i];
	return NULL;
}

void webform_free(struct webform *f)
{
	for (size_t i = 0; i < f->n; i++) {
		free(f->k[i]);
		explicit_bzero(f->v[i], strlen(f->v[i]));
		free(f->v[i]);
	}
	free(f->k);
	free(f->v);
	memset(f, 0, sizeof *f);
}

const char *webhttp_arg(struct web_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *webhttp_header(struct web_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void webhttp_redirect(struct web_req *r, const char *path)
{
	r->status = MHD_HTTP_SEE_OTHER;
	snprintf(r->location, sizeof r->location, "%s", path);
	r->out.len = 0;
	util_buf_adds(&r->out, "See other.\n");
	r->ctype = "text/plain; charset=utf-8";
}

static bool is_api(const struct web_req *r)
{
	return !strncmp(r->path, "/api/", 5);
}

void webhttp_error(struct web_req *r, unsigned status, const char *msg)
{
	r->status = status;
	r->out.len = 0;
	if (is_api(r)) {
		r->ctype = "application/json";
		util_buf_adds(&r->out, "{\"error\":\"");
		for (const char *p = msg; *p; p++)
			if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
				util_buf_putc(&r->out, *p);
		util_buf_adds(&r->out, "\"}\n");
		return;
	}
	r->ctype = "text/html; charset=utf-8";
	char title[32];
	snprintf(title, sizeof title, "Error %u", status);
	webhtml_head(&r->out, title, r->user, r->sess ? r->sess->csrf : "");
	util_buf_adds(&r->out, "<p class=\"msg bad\">");
	webhtml_esc(&r->out, msg);
	util_buf_adds(&r->out, "</p>");
	webhtml_foot(&r->out);
}

void webhttp_set_cookie(struct web_req *r, const char *value)
{
	snprintf(r->cookie, sizeof r->cookie, "%s=%s; Path=/; HttpOnly; SameSite=Strict%s%s", COOKIE,
		 value ? value : "", r->app->tls ? "; Secure" : "",
		 value ? "" : "; Max-Age=0");
}

static enum MHD_Result send_answer(struct web_req *r)
{
	size_t len = r->out.len;
	char *data = util_buf_steal(&r->out);
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, data ? data : (char *)"",
								    data ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", r->ctype ? r->ctype : "text/html; charset=utf-8");
	MHD_add_response_header(resp, "Content-Security-Policy", csp);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Cache-Control", strncmp(r->path, "/static/", 8) ? "no-store" : "max-age=3600");
	if (r->app->tls)
		MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
	if (r->location[0])
		MHD_add_response_header(resp, "Location", r->location);
	if (r->cookie[0])
		MHD_add_response_header(resp, "Set-Cookie", r->cookie);
	if (r->total[0])
		MHD_add_response_header(resp, "X-Total-Count", r->total);
	if (r->status == MHD_HTTP_UNAUTHORIZED && is_api(r))
		MHD_add_response_header(resp, "WWW-Authenticate", "Basic realm=\"msgspool\", charset=\"UTF-8\"");
	if (r->status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, "Allow", r->allow ? r->allow : "GET");
	enum MHD_Result rc = MHD_queue_response(r->conn, r->status ? r->status : MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* ---- routing ---- */

/* The route's id segment of path, or NULL when path is not this route. */
static bool path_matches(const char *pattern, const char *path, const char **id)
{
	size_t l = strlen(pattern);
	*id = NULL;
	if (pattern[l - 1] != '*')
		return !strcmp(pattern, path);
	if (strncmp(pattern, path, l - 1) || !path[l - 1])
		return false;
	*id = path + l - 1;
	return true;
}

static const char *cookie_session(struct web_req *r)
{
	return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, COOKIE);
}

enum webhttp_login webhttp_password(struct web_req *r, const char *user, const char *password)
{
	struct webauth *auth = r->app->auth;
	enum webauth_try t;
	/* Logins side by side from one address wait for each other's checks
	 * rather than lock it out (a bound on guesses, not on logins). */
	for (int waited = 0; (t = webauth_try_begin(auth, r->addr, time(NULL))) == WEBAUTH_TRY_WAIT; waited++) {
		if (waited == 500) /* 10 s */
			return WEBHTTP_LOCKED;
		webhttp_unlock(r);
		nanosleep(&(struct timespec){0, 20 * 1000000L}, NULL);
		webhttp_relock(r);
	}
	if (t == WEBAUTH_TRY_LOCKED)
		return WEBHTTP_LOCKED;
	/* bcrypt is slow on purpose: not under the lock, or every other
	 * request would wait for it. It reads only the users, which never
	 * change after start, and crypt_r keeps its state in its own buffer. */
	webhttp_unlock(r);
	bool ok = user && password && webpasswd_check(&r->app->pw, user, password);
	webhttp_relock(r);
	webauth_try_end(auth, r->addr, ok, time(NULL));
	return ok ? WEBHTTP_LOGGED_IN : WEBHTTP_WRONG;
}

/* HTTP Basic for the API: the same users, the same lockout. */
static void basic_login(struct web_req *r)
{
	char *pass = NULL;
	char *user = MHD_basic_auth_get_username_password(r->conn, &pass);
	if (!user)
		return;
	switch (webhttp_password(r, user, pass)) {
	case WEBHTTP_LOCKED:
		webhttp_log("%s: Basic login for %s refused: address locked out", r->addr, user);
		break;
	case WEBHTTP_LOGGED_IN:
		snprintf(r->who, sizeof r->who, "%s", user);
		r->user = r->who;
		break;
	case WEBHTTP_WRONG:
		webhttp_log("%s: Basic login for %s failed: wrong user or password", r->addr, user);
		break;
	}
	if (pass)
		explicit_bzero(pass, strlen(pass));
	MHD_free(pass);
	MHD_free(user);
}

/* True when the request may reach its handler; else the answer is set. */
static bool pass_gates(struct web_req *r, const struct webhttp_route *rt)
{
	time_t now = time(NULL);
	const struct webauth_session *s = webauth_find(r->app->auth, cookie_session(r), now);
	if (s) {
		r->sess_copy = *s;
		r->sess = &r->sess_copy;
	}
	if (r->sess && r->sess->user[0])
		r->user = r->sess->user;
	if (!r->user && rt->gate == WEBHTTP_API)
		basic_login(r);
	if (rt->gate != WEBHTTP_OPEN && !r->user) {
		if (rt->gate == WEBHTTP_API)
			webhttp_error(r, MHD_HTTP_UNAUTHORIZED, "log in first (session cookie or HTTP Basic)");
		else
			webhttp_redirect(r, "/login");
		return false;
	}
	if (strcmp(r->method, "POST"))
		return true;
	if (rt->gate == WEBHTTP_API) {
		/* A JSON body cannot come from a cross-site form without a preflight. */
		const char *ct = webhttp_header(r, "Content-Type");
		if (!ct || strncasecmp(ct, "application/json", 16) || (ct[16] && ct[16] != ';')) {
			webhttp_error(r, MHD_HTTP_FORBIDDEN, "POST to the API needs Content-Type: application/json");
			return false;
		}
		return true;
	}
	if (webform_parse(&r->form, r->body.data ? r->body.data : "", r->body.len) < 0 ||
	    !webauth_csrf_ok(r->sess, webform_get(&r->form, "csrf"))) {
		webhttp_log("%s: %s %s refused: missing or wrong CSRF token", r->addr, r->method, r->path);
		webhttp_error(r, MHD_HTTP_FORBIDDEN, "The form's security token is missing or stale. "
						       "Go back, reload the page and try again.");
		return false;
	}
	return true;
}

static void dispatch(struct web_req *r)
{
	const struct webhttp_route *found = NULL;
	const char *id = NULL, *rid;
	bool path_known = false;
	const struct webhttp_route *routes = r->app->routes;
	for (size_t i = 0; i < r->app->nroutes; i++) {
		if (!path_matches(routes[i].path, r->path, &rid))
			continue;
		path_known = true;
		if (!strcmp(routes[i].method, r->method) || (!strcmp(r->method, "HEAD") && !strcmp(routes[i].method, "GET"))) {
			found = &routes[i];
			id = rid;
			break;
		}
		r->allow = !strcmp(routes[i].method, "GET") ? "GET, HEAD" : "POST";
	}
	if (!found) {
		webhttp_error(r, path_known ? MHD_HTTP_METHOD_NOT_ALLOWED : MHD_HTTP_NOT_FOUND,
			      path_known ? "This address does not take that method." : "No such page.");
		return;
	}
	pthread_mutex_lock(&r->app->lock);
	if (pass_gates(r, found)) {
		if (found->plain)
			found->plain(r);
		else
			found->with_id(r, id);
	}
	webhttp_unlock(r);
}

void webhttp_unlock(struct web_req *r)
{
	/* What a handler created in the table is the request's own from here. */
	if (r->sess && r->sess != &r->sess_copy) {
		r->sess_copy = *r->sess;
		r->sess = &r->sess_copy;
	}
	pthread_mutex_unlock(&r->app->lock);
}

void webhttp_relock(struct web_req *r)
{
	pthread_mutex_lock(&r->app->lock);
}

static void client_addr(struct web_req *r)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(r->addr, sizeof r->addr, "?");
	if (!ci || !ci->client_addr)
		return;
	const struct sockaddr *sa = ci->client_addr;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, r->addr, sizeof r->addr);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, r->addr, sizeof r->addr);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_size, void **ctx)
{
	(void)version;
	struct web_req *r = *ctx;
	if (r && r->answered) {
		*upload_size = 0; /* the rest of a refused body */
		return MHD_YES;
	}
	if (!r) {
		r = calloc(1, sizeof *r);
		if (!r)
			return MHD_NO;
		r->app = cls;
		r->conn = conn;
		r->method = method;
		r->path = url;
		client_addr(r);
		*ctx = r;
		const char *cl = webhttp_header(r, "Content-Length");
		if (cl && strtoull(cl, NULL, 10) > WEBHTTP_MAX_BODY)
			r->too_big = true;
		else
			return MHD_YES;
	}
	if (*upload_size) {
		/* Beyond the limit the rest is read and dropped: libmicrohttpd can
		 * answer only once the body is in (a declared length is refused
		 * before, above). Memory stays bounded either way. */
		if (!r->too_big && r->body.len + *upload_size > WEBHTTP_MAX_BODY) {
			r->too_big = true;
			util_buf_free(&r->body);
		}
		if (!r->too_big)
			util_buf_add(&r->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->too_big)
		webhttp_error(r, 413, "The request body is larger than 1 MiB.");
	else
		dispatch(r);
	r->answered = true;
	return send_answer(r);
}

static void on_done(void *cls, struct MHD_Connection *conn, void **ctx, enum MHD_RequestTerminationCode why)
{
	(void)cls;
	(void)conn;
	(void)why;
	struct web_req *r = *ctx;
	if (!r)
		return;
	util_buf_free(&r->body);
	util_buf_free(&r->out);
	webform_free(&r->form);
	free(r);
	*ctx = NULL;
}

int webhttp_start(struct webapp *app, const struct webhttp_route *routes, size_t nroutes,
		  const struct sockaddr *sa, const char *cert, const char *key, char *err, size_t errsz)
{
	app->routes = routes;
	app->nroutes = nroutes;
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	if (sa->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (cert)
		flags |= MHD_USE_TLS;
	struct MHD_OptionItem tls[] = {
		{MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key},
		{MHD_OPTION_END, 0, NULL},
	};
	app->tls = cert != NULL;
	/* The time zone read once before any thread: the log and the list's
	 * date filters then only read glibc's copy of it. */
	tzset();
	if (pthread_mutex_init(&app->lock, NULL) != 0) {
		snprintf(err, errsz, "cannot create the server's lock");
		return -1;
	}
	app->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, app,
				  MHD_OPTION_SOCK_ADDR, sa,
				  MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL,
				  MHD_OPTION_UNESCAPE_CALLBACK, unescape_cb, NULL,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)32,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
				  MHD_OPTION_ARRAY, cert ? tls : tls + 2,
				  MHD_OPTION_END);
	if (!app->d) {
		pthread_mutex_destroy(&app->lock);
		snprintf(err, errsz, "cannot listen on %s: address in use, not local, or TLS files unusable",
			 app->conf.web.listen);
		return -1;
	}
	return 0;
}

void webhttp_stop(struct webapp *app)
{
	if (app->d) {
		MHD_stop_daemon(app->d);
		pthread_mutex_destroy(&app->lock);
	}
	app->d = NULL;
}
