/* webhttp: msgspool-web's HTTP layer on libmicrohttpd: the request and its
 * answer, form and query decoding, the security headers every answer
 * carries, the login gate (session cookie, or HTTP Basic for /api/), CSRF
 * on every POST, and dispatching by a route table it is handed at start.
 * It never calls a page itself: the pages live in webpages.c, weblist.c,
 * webdash.c and webapi.c, and their table in web.c, which sits above. */
#ifndef MSGSPOOL_WEBHTTP_H
#define MSGSPOOL_WEBHTTP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include "conf.h"
#include "spool.h"
#include "util.h"
#include "webauth.h"
#include "webpasswd.h"

#define WEBHTTP_MAX_BODY (1024 * 1024)	/* a larger request body gets 413 */

struct MHD_Connection;
struct MHD_Daemon;

struct web_req;

/* Who may reach a route: anyone; a logged-in browser (session cookie,
 * CSRF token on POST); the API (session or HTTP Basic, JSON on POST). */
enum webhttp_gate { WEBHTTP_OPEN, WEBHTTP_PAGE, WEBHTTP_API };

struct webhttp_route {
	const char *method;
	const char *path;	/* a trailing '*' takes one path segment: the id */
	enum webhttp_gate gate;
	void (*plain)(struct web_req *r);
	void (*with_id)(struct web_req *r, const char *id);
};

struct webapp {
	struct conf conf;
	struct spool *sp;
	struct webauth *auth;
	struct webpasswd pw;
	bool tls;
	struct MHD_Daemon *d;
	/* Held by every handler: the session, CSRF and lockout tables and the
	 * spool's list cache reader are shared by the connections' threads. A
	 * resend lets go of it for its SMTP time, a login for its bcrypt check
	 * (the users are read once, before the threads, and never change). */
	pthread_mutex_t lock;
	const struct webhttp_route *routes;	/* handed to webhttp_start */
	size_t nroutes;
};

/* An application/x-www-form-urlencoded body, decoded. */
struct webform {
	char **k, **v;
	size_t n;
};

struct web_req {
	struct webapp *app;
	struct MHD_Connection *conn;
	const char *method, *path;
	char addr[64];		/* the client's address, for lockout and the log */
	const struct webauth_session *sess;	/* the cookie's session, maybe not logged in */
	const char *user;	/* the logged-in user (session or Basic), or NULL */
	/* Copies of the session and the user, the request's own: another
	 * thread may reuse the table's slot while a resend runs unlocked. */
	struct webauth_session sess_copy;
	char who[WEBAUTH_USER_MAX + 1];
	struct util_buf body;
	bool too_big, answered;
	struct webform form;
	/* The answer. */
	unsigned status;
	const char *ctype;
	struct util_buf out;
	char location[1024];
	char cookie[256];
	const char *allow;	/* the methods a 405 names */
	char total[24];		/* X-Total-Count of an API list */
};

/* Decodes %XX (and + as a space) in place; a %00 becomes U+0001, which no
 * id, user name or password check accepts, so a NUL cannot cut a value
 * short. Returns the new length. */
size_t webhttp_unescape(char *s);
int webform_parse(struct webform *f, const char *data, size_t len);
/* The first value of key, or NULL. */
const char *webform_get(const struct webform *f, const char *key);
void webform_free(struct webform *f);

/* A query-string argument, or NULL. */
const char *webhttp_arg(struct web_req *r, const char *key);
/* A request header, or NULL. */
const char *webhttp_header(struct web_req *r, const char *name);
/* 303 See Other to a local path. */
void webhttp_redirect(struct web_req *r, const char *path);
/* An HTML error page (or, under /api/, a JSON object) with this status. */
void webhttp_error(struct web_req *r, unsigned status, const char *msg);
/* Sets the session cookie (value NULL: clears it). */
void webhttp_set_cookie(struct web_req *r, const char *value);
/* Logs a line to stderr (the journal under systemd): "msgspool-web: ...". */
void webhttp_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Around a long action that touches only the spool (which takes commits
 * from many threads) and its own transport: lets the other requests run
 * meanwhile. Between the two, r->sess and r->user stay valid (copies) but
 * the session table and the app's other state must not be touched. */
void webhttp_unlock(struct web_req *r);
void webhttp_relock(struct web_req *r);

/* Checks a login (a form's or HTTP Basic's) against the users and the
 * address's lockout. Called with the lock held; the bcrypt check runs
 * without it (webhttp_unlock), so other requests go on meanwhile. The try
 * counts as a wrong password until it is found right (then the address's
 * record is cleared): tries made at once from one address cannot outrun
 * the lockout. */
enum webhttp_login { WEBHTTP_LOGGED_IN, WEBHTTP_WRONG, WEBHTTP_LOCKED };
enum webhttp_login webhttp_password(struct web_req *r, const char *user, const char *password);

/* Starts serving routes (kept, not copied) on sa; with cert and key (PEM
 * text) HTTPS only. */
struct sockaddr;
int webhttp_start(struct webapp *app, const struct webhttp_route *routes, size_t nroutes,
		  const struct sockaddr *sa, const char *cert, const char *key, char *err, size_t errsz);
void webhttp_stop(struct webapp *app);

#endif
