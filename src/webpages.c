/* webpages: the login, the dashboard, a receiver's detail and the
 * actions of the list (resend, delete with its confirmation page, hold
 * and release). Every
 * value from the spool is written through webhtml_esc; the html body only
 * ever goes into a sandboxed iframe's srcdoc (no scripts, no requests:
 * the page's CSP covers it). The list itself is in weblist.c. */
#include "config.h"
#include "webpages.h"
#include "webhtml.h"
#include "webspool.h"
#include "query.h"
#include "receiver.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- login ---- */

static void login_page(struct web_req *r, const char *user, const char *problem)
{
	util_buf_adds(&r->out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
			       "<link rel=\"stylesheet\" href=\"/static/style.css\"><title>Log in | msgspool</title>"
			       "</head><body><header><span class=\"brand\">msgspool</span></header>"
			       "<form class=\"login\" method=\"post\" action=\"/login\"><h1>Log in</h1>");
	if (problem) {
		util_buf_adds(&r->out, "<p class=\"msg bad\">");
		webhtml_esc(&r->out, problem);
		util_buf_adds(&r->out, "</p>");
	}
	webhtml_csrf(&r->out, r->sess->csrf);
	util_buf_adds(&r->out, "<label for=\"username\">Username</label>"
			       "<input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required value=\"");
	webhtml_esc(&r->out, user ? user : "");
	util_buf_adds(&r->out, "\"><label for=\"password\">Password</label>"
			       "<input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>"
			       "<button type=\"submit\">Log in</button></form></body></html>\n");
}

/* The login form's own session (no user), so its POST can carry a token. */
static bool login_session(struct web_req *r)
{
	if (r->sess && !r->sess->user[0])
		return true;
	r->sess = webauth_create(r->app->auth, "", time(NULL));
	if (!r->sess) {
		webhttp_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "no random numbers for a session");
		return false;
	}
	webhttp_set_cookie(r, r->sess->id);
	return true;
}

void webpages_login_form(struct web_req *r)
{
	if (r->user) {
		webhttp_redirect(r, "/");
		return;
	}
	if (login_session(r))
		login_page(r, NULL, NULL);
}

void webpages_login(struct web_req *r)
{
	const char *user = webform_get(&r->form, "username"), *pass = webform_get(&r->form, "password");
	enum webhttp_login l = webhttp_password(r, user, pass);
	if (l == WEBHTTP_LOCKED) {
		webhttp_log("%s: login refused: too many wrong passwords from this address", r->addr);
		r->status = MHD_HTTP_TOO_MANY_REQUESTS;
		login_page(r, user, "Too many wrong passwords from your address. Wait a minute, then try again.");
		return;
	}
	if (l == WEBHTTP_WRONG) {
		webhttp_log("%s: login as %s failed: wrong user or password", r->addr, user ? user : "(none)");
		r->status = MHD_HTTP_UNAUTHORIZED;
		login_page(r, user, "Please enter a correct username and password.");
		return;
	}
	/* A new id at login: a cookie planted before it is worth nothing after. */
	webauth_drop(r->app->auth, r->sess->id);
	r->sess = webauth_create(r->app->auth, user, time(NULL));
	if (!r->sess) {
		webhttp_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "no random numbers for a session");
		return;
	}
	webhttp_set_cookie(r, r->sess->id);
	webhttp_log("%s: %s logged in", r->addr, user);
	webhttp_redirect(r, "/");
}

void webpages_logout(struct web_req *r)
{
	webhttp_log("%s: %s logged out", r->addr, r->user);
	webauth_drop(r->app->auth, r->sess->id);
	r->sess = NULL;
	webhttp_set_cookie(r, NULL);
	webhttp_redirect(r, "/login");
}

/* ---- detail ---- */

/* Whether hold (or release) applies to a receiver of this status: hold
 * takes those waiting to be sent (new/, failed/), release the held ones,
 * as `msgspool hold` and `release` do. */
static bool move_applies(bool hold, enum spool_status st)
{
	return hold ? st == SPOOL_NEW || st == SPOOL_FAILED : st == SPOOL_HOLD;
}

static void field(struct util_buf *b, const char *label, const char *value)
{
	if (!value)
		return;
	util_buf_adds(b, "<dt>");
	webhtml_esc(b, label);
	util_buf_adds(b, "</dt><dd>");
	webhtml_esc(b, value);
	util_buf_adds(b, "</dd>");
}

static void field_time(struct util_buf *b, const char *label, time_t t)
{
	util_buf_adds(b, "<dt>");
	util_buf_adds(b, label);
	util_buf_adds(b, "</dt><dd>");
	webhtml_time(b, t);
	util_buf_adds(b, "</dd>");
}

/* The keys shown as fields; the others are shown as YAML, as `show` does. */
static const char *const shown[] = {
	"msgspool", "send_to", "subject", "user", "language", "context_type", "message_type",
	"message", "from", "reply_to", "created", "sent_at", "sending_failed_count",
	"sending_success_count", "text", "html", "errors"};

static void other_fields(struct util_buf *b, const struct receiver *rc)
{
	struct ydoc_node *rest = ydoc_map_without(rc->doc, shown, sizeof shown / sizeof *shown);
	struct util_buf y = {0};
	if (rest->n && ydoc_emit(rest, &y) == 0) {
		util_buf_adds(b, "<h2>Other fields</h2><pre>");
		webhtml_esc(b, util_buf_cstr(&y));
		util_buf_adds(b, "</pre>");
	}
	util_buf_free(&y);
	ydoc_free(rest);
}

static const char *scalar(const struct ydoc_node *map, const char *key)
{
	const struct ydoc_node *n = map ? ydoc_get(map, key) : NULL;
	return n && n->kind == YDOC_SCALAR && !ydoc_is_null(n) ? n->str : NULL;
}

static void errors_html(struct util_buf *b, const struct receiver *rc)
{
	size_t n = rc->errors ? rc->errors->n : 0;
	if (!n)
		return;
	util_buf_printf(b, "<h2>Errors (%zu)</h2>", n);
	for (size_t i = 0; i < n; i++) {
		const struct ydoc_node *e = rc->errors->items[i];
		const char *code = scalar(e, "smtp_code"), *tr = scalar(e, "transcript");
		util_buf_printf(b, "<div class=\"err\"><b>Error %zu of %zu</b><dl class=\"fields\">", i + 1, n);
		field(b, "at", scalar(e, "at") ? scalar(e, "at") : "?");
		field(b, "error", scalar(e, "error") ? scalar(e, "error") : "?");
		field(b, "SMTP code", code ? code : "none (no reply)");
		util_buf_adds(b, "</dl>");
		if (tr && *tr) {
			util_buf_adds(b, "<pre class=\"tr\">");
			webhtml_esc(b, tr);
			util_buf_adds(b, "</pre>");
		}
		util_buf_adds(b, "</div>");
	}
}

/* The actions of a receiver's page: Hold only for one waiting to be sent,
 * Release only for a held one (move_page refuses the others too). */
static void action_buttons(struct web_req *r, const char *id, enum spool_status st)
{
	util_buf_adds(&r->out, "<form class=\"bar\" method=\"post\" action=\"/receivers/resend\">");
	webhtml_csrf(&r->out, r->sess->csrf);
	util_buf_adds(&r->out, "<input type=\"hidden\" name=\"id\" value=\"");
	webhtml_esc(&r->out, id);
	util_buf_adds(&r->out, "\"><button type=\"submit\">Resend</button>");
	if (move_applies(true, st))
		util_buf_adds(&r->out, "<button type=\"submit\" formaction=\"/receivers/hold\">Hold</button>");
	if (move_applies(false, st))
		util_buf_adds(&r->out, "<button type=\"submit\" formaction=\"/receivers/release\">Release</button>");
	util_buf_adds(&r->out, "<button type=\"submit\" class=\"danger\" formaction=\"/receivers/delete\">Delete</button>"
			       "<a href=\"/receivers\">Back to the list</a></form>");
}

static void detail_fields(struct web_req *r, const struct receiver *rc, enum spool_status st)
{
	struct util_buf *b = &r->out;
	char num[64];
	util_buf_adds(b, "<dl class=\"fields\">");
	field(b, "id", rc->id);
	util_buf_printf(b, "<dt>status</dt><dd><span class=\"st st-%s\">%s</span></dd>", spool_status_name(st),
			spool_status_name(st));
	field(b, "send_to", rc->send_to);
	field(b, "subject", rc->subject);
	field(b, "user", rc->user);
	field(b, "language", rc->language);
	field(b, "context_type", rc->context_type);
	field(b, "message_type", rc->message_type);
	field(b, "message", rc->message);
	field(b, "from", rc->from);
	field(b, "reply_to", rc->reply_to);
	field_time(b, "created", rc->created);
	field_time(b, "sent_at", rc->sent_at);
	snprintf(num, sizeof num, "%lld (resend limit %ld)", rc->failed_count, r->app->conf.resend_limit);
	field(b, "sending_failed_count", num);
	snprintf(num, sizeof num, "%lld", rc->success_count);
	field(b, "sending_success_count", num);
	util_buf_adds(b, "</dl>");
}

/* The receivers an id prefix names, for a page that lists them: the first
 * WEBPAGES_CANDIDATES, sorted, and how many in all. */
struct candidates {
	const char *prefix;
	size_t plen, n;
	enum spool_status cur;
	struct webpages_candidate c[WEBPAGES_CANDIDATES];
};

static int candidate_cb(const char *id, void *vctx)
{
	struct candidates *k = vctx;
	if (strncmp(id, k->prefix, k->plen))
		return 0;
	if (k->n < WEBPAGES_CANDIDATES) {
		snprintf(k->c[k->n].id, sizeof k->c[k->n].id, "%s", id);
		k->c[k->n].st = k->cur;
	}
	k->n++;
	return 0;
}

static int candidate_cmp(const void *a, const void *b)
{
	return strcmp(((const struct webpages_candidate *)a)->id, ((const struct webpages_candidate *)b)->id);
}

size_t webpages_candidates(struct web_req *r, const char *prefix, struct webpages_candidate *out)
{
	struct candidates *k = calloc(1, sizeof *k);
	if (!k)
		return 0;
	k->prefix = prefix;
	k->plen = strlen(prefix);
	for (int i = 0; i < SPOOL_NSTATUS; i++) {
		k->cur = (enum spool_status)i;
		spool_scan(r->app->sp, k->cur, candidate_cb, k);
	}
	size_t nshown = k->n < WEBPAGES_CANDIDATES ? k->n : WEBPAGES_CANDIDATES, n = k->n;
	qsort(k->c, nshown, sizeof *k->c, candidate_cmp);
	memcpy(out, k->c, nshown * sizeof *out);
	free(k);
	return n;
}

enum webpages_find webpages_find(struct web_req *r, const char *in, char id[SPOOL_ID_MAX + 1], enum spool_status *st)
{
	if (!in || !spool_id_valid(in))
		return WEBPAGES_BAD;
	if (spool_locate(r->app->sp, in, st) == 0) {
		snprintf(id, SPOOL_ID_MAX + 1, "%s", in);
		return WEBPAGES_FOUND;
	}
	int f = spool_find(r->app->sp, in, st, id, SPOOL_ID_MAX + 1);
	return f == SPOOL_FOUND ? WEBPAGES_FOUND : f == SPOOL_AMBIGUOUS ? WEBPAGES_AMBIGUOUS
	     : f == SPOOL_NOT_FOUND ? WEBPAGES_NONE : WEBPAGES_ERROR;
}

/* The answer for an id prefix that names more than one receiver: the
 * candidates, each a link to its page (HTML) or in a list (the API). */
static void ambiguous(struct web_req *r, unsigned status, const char *const *prefixes, size_t np)
{
	struct webpages_candidate c[WEBPAGES_CANDIDATES];
	r->status = status;
	r->out.len = 0;
	bool api = !strncmp(r->path, "/api/", 5);
	if (api) {
		r->ctype = "application/json";
		util_buf_adds(&r->out, "{\"error\":\"an id prefix matches more than one receiver; give more of the id\",\"candidates\":{");
	} else {
		webhtml_head(&r->out, "Which receiver?", r->user, r->sess->csrf);
		util_buf_adds(&r->out, strcmp(r->method, "POST") ? "<p class=\"msg bad\">This id prefix matches more than "
								    "one receiver. Give more of the id, or pick one:</p>"
				       : "<p class=\"msg bad\">Nothing was done: an id prefix matches more than one "
					 "receiver. Give more of the id, or pick one:</p>");
	}
	for (size_t p = 0; p < np; p++) {
		size_t n = webpages_candidates(r, prefixes[p], c), nshown = n < WEBPAGES_CANDIDATES ? n : WEBPAGES_CANDIDATES;
		/* Ids are checked names (letters, digits, '.', '_', '-'): JSON and
		 * URLs as they are; the page escapes them all the same. */
		if (api) {
			util_buf_printf(&r->out, "%s\"%s\":[", p ? "," : "", prefixes[p]);
			for (size_t i = 0; i < nshown; i++)
				util_buf_printf(&r->out, "%s\"%s\"", i ? "," : "", c[i].id);
			util_buf_adds(&r->out, "]");
			continue;
		}
		util_buf_printf(&r->out, "<h2>%zu receivers start with ", n);
		webhtml_esc(&r->out, prefixes[p]);
		util_buf_adds(&r->out, "</h2><ul class=\"candidates\">");
		for (size_t i = 0; i < nshown; i++) {
			util_buf_adds(&r->out, "<li><a href=\"/receivers/");
			webhtml_url(&r->out, c[i].id);
			util_buf_adds(&r->out, "\">");
			webhtml_esc(&r->out, c[i].id);
			util_buf_printf(&r->out, "</a> <span class=\"st st-%s\">%s</span></li>", spool_status_name(c[i].st),
					spool_status_name(c[i].st));
		}
		if (n > nshown) {
			util_buf_printf(&r->out, "<li>and %zu more: <a href=\"/receivers?q=", n - nshown);
			webhtml_url(&r->out, prefixes[p]);
			util_buf_adds(&r->out, "\">search for them</a></li>");
		}
		util_buf_adds(&r->out, "</ul>");
	}
	if (api) {
		util_buf_adds(&r->out, "}}\n");
		return;
	}
	util_buf_adds(&r->out, "<p><a href=\"/receivers\">Back to the message receivers</a></p>");
	webhtml_foot(&r->out);
}

bool webpages_locate(struct web_req *r, const char *in, char id[SPOOL_ID_MAX + 1], enum spool_status *st,
		     const char *bad, const char *missing)
{
	switch (webpages_find(r, in, id, st)) {
	case WEBPAGES_FOUND:
		return true;
	case WEBPAGES_BAD:
		webhttp_error(r, MHD_HTTP_BAD_REQUEST, bad);
		return false;
	case WEBPAGES_NONE:
		webhttp_error(r, MHD_HTTP_NOT_FOUND, missing);
		return false;
	case WEBPAGES_AMBIGUOUS:
		ambiguous(r, MHD_HTTP_MULTIPLE_CHOICES, &in, 1);
		return false;
	default:
		webhttp_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read the spool; see the log");
		webhttp_log("%s: cannot look for an id prefix: %s", spool_root(r->app->sp), strerror(errno));
		return false;
	}
}

void webpages_detail(struct web_req *r, const char *in)
{
	enum spool_status st;
	char id[SPOOL_ID_MAX + 1];
	if (!webpages_locate(r, in, id, &st, "That is not a receiver id.", "No receiver with this id or id prefix."))
		return;
	if (strcmp(id, in)) {
		/* A prefix: the page's own address is the whole id. */
		char to[sizeof "/receivers/" + SPOOL_ID_MAX];
		snprintf(to, sizeof to, "/receivers/%s", id);
		webhttp_redirect(r, to);
		return;
	}
	struct receiver rc;
	char err[RECEIVER_ERRLEN];
	webhtml_head(&r->out, "Message receiver", r->user, r->sess->csrf);
	if (query_load(r->app->sp, r->app->conf.max_receiver_size, st, id, &rc, err, sizeof err) < 0) {
		util_buf_adds(&r->out, "<p class=\"msg bad\">This file cannot be read: ");
		webhtml_esc(&r->out, err);
		util_buf_adds(&r->out, "</p>");
		webhtml_foot(&r->out);
		return;
	}
	action_buttons(r, id, st);
	detail_fields(r, &rc, st);
	other_fields(&r->out, &rc);
	if (rc.text) {
		util_buf_adds(&r->out, "<h2>Text body</h2><pre>");
		webhtml_esc(&r->out, rc.text);
		util_buf_adds(&r->out, "</pre>");
	}
	if (rc.html) {
		/* sandbox="" with no allow-*: no scripts, no forms, a unique origin. */
		util_buf_adds(&r->out, "<h2>HTML body</h2><iframe sandbox=\"\" referrerpolicy=\"no-referrer\" title=\"HTML body\" srcdoc=\"");
		webhtml_esc(&r->out, rc.html);
		util_buf_adds(&r->out, "\"></iframe>");
	}
	errors_html(&r->out, &rc);
	receiver_free(&rc);
	webhtml_foot(&r->out);
}

/* ---- actions ---- */

/* The form's ids (each `id` field), borrowed from the form. */
static char **form_ids(const struct webform *f, size_t *n)
{
	char **ids = calloc(f->n ? f->n : 1, sizeof *ids);
	*n = 0;
	for (size_t i = 0; ids && i < f->n; i++)
		if (!strcmp(f->k[i], "id"))
			ids[(*n)++] = f->v[i];
	return ids;
}

bool webpages_resolve_ids(struct web_req *r, char **ids, size_t n, char **store)
{
	const char **amb = calloc(n ? n : 1, sizeof *amb);
	char (*full)[SPOOL_ID_MAX + 1] = calloc(n ? n : 1, sizeof *full);
	size_t na = 0;
	*store = (char *)full;
	if (!amb || !full) {
		free(amb);
		webhttp_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		enum spool_status st;
		enum webpages_find f = webpages_find(r, ids[i], full[i], &st);
		if (f == WEBPAGES_FOUND)
			ids[i] = full[i];
		else if (f == WEBPAGES_AMBIGUOUS)
			amb[na++] = ids[i];
		/* Bad or unknown: left as given, for the action to refuse and count. */
	}
	if (na)
		ambiguous(r, MHD_HTTP_CONFLICT, amb, na);
	free(amb);
	return na == 0;
}

/* The form's ids with each unique prefix made whole; NULL when the answer
 * is set (none given, or a prefix that names more than one receiver). */
static char **action_ids(struct web_req *r, size_t *n, char **store)
{
	char **ids = form_ids(&r->form, n);
	*store = NULL;
	if (!ids || !*n) {
		free(ids);
		webhttp_error(r, MHD_HTTP_BAD_REQUEST, "Select at least one receiver.");
		return NULL;
	}
	if (!webpages_resolve_ids(r, ids, *n, store)) {
		free(ids);
		free(*store);
		*store = NULL;
		return NULL;
	}
	return ids;
}

static void result_line(struct util_buf *b, bool good, const char *text)
{
	util_buf_adds(b, good ? "<p class=\"msg\">" : "<p class=\"msg bad\">");
	util_buf_adds(b, text);
	util_buf_adds(b, "</p>");
}

void webpages_resend(struct web_req *r)
{
	size_t n;
	char *store, err[512], line[512];
	char **ids = action_ids(r, &n, &store);
	struct webspool_counts c;
	if (!ids)
		return;
	/* The SMTP time without the lock: the other pages answer meanwhile. */
	webhttp_unlock(r);
	int rc = webspool_resend(r->app->sp, &r->app->conf, r->user, ids, n, &c, err, sizeof err);
	webhttp_relock(r);
	free(ids);
	free(store);
	webhtml_head(&r->out, "Send message to selected receivers", r->user, r->sess->csrf);
	if (rc < 0) {
		util_buf_adds(&r->out, "<p class=\"msg bad\">");
		webhtml_esc(&r->out, err);
		util_buf_adds(&r->out, "</p>");
	} else {
		snprintf(line, sizeof line, "%zu sent, %zu failed, %zu moved to error.", c.sent, c.failed, c.error);
		result_line(&r->out, c.failed + c.error == 0, line);
		if (c.busy + c.refused + c.other) {
			snprintf(line, sizeof line, "%zu busy (a sender had them), %zu refused (no such receiver, "
				 "or in corrupt/), %zu not attempted (the mail server could not be used; see the log).",
				 c.busy, c.refused, c.other);
			result_line(&r->out, false, line);
		}
		if (c.rate) {
			snprintf(line, sizeof line, "%zu not sent: %s; left where they were.", c.rate, c.rate_note);
			result_line(&r->out, false, line);
		}
	}
	util_buf_adds(&r->out, "<p><a href=\"/receivers\">Back to the message receivers</a></p>");
	webhtml_foot(&r->out);
}

/* The confirmation page: the ids again, as hidden fields, with confirm=yes. */
static void delete_confirm(struct web_req *r, char **ids, size_t n)
{
	webhtml_head(&r->out, "Are you sure?", r->user, r->sess->csrf);
	util_buf_printf(&r->out, "<p>Delete %zu message receiver%s? This cannot be undone. Receivers being "
				 "sent and files in corrupt/ are never deleted.</p><ul>", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n && i < 100; i++) {
		util_buf_adds(&r->out, "<li>");
		webhtml_esc(&r->out, ids[i]);
		util_buf_adds(&r->out, "</li>");
	}
	if (n > 100)
		util_buf_printf(&r->out, "<li>and %zu more</li>", n - 100);
	util_buf_adds(&r->out, "</ul><form class=\"bar\" method=\"post\" action=\"/receivers/delete\">");
	webhtml_csrf(&r->out, r->sess->csrf);
	for (size_t i = 0; i < n; i++) {
		util_buf_adds(&r->out, "<input type=\"hidden\" name=\"id\" value=\"");
		webhtml_esc(&r->out, ids[i]);
		util_buf_adds(&r->out, "\">");
	}
	util_buf_adds(&r->out, "<input type=\"hidden\" name=\"confirm\" value=\"yes\">"
			       "<button type=\"submit\" class=\"danger\">Yes, I'm sure</button>"
			       "<a href=\"/receivers\">No, take me back</a></form>");
	webhtml_foot(&r->out);
}

void webpages_delete(struct web_req *r)
{
	size_t n, refused;
	char *store, line[256];
	char **ids = action_ids(r, &n, &store);
	const char *confirm = webform_get(&r->form, "confirm");
	if (!ids)
		return;
	if (!confirm || strcmp(confirm, "yes")) {
		delete_confirm(r, ids, n);
		free(ids);
		free(store);
		return;
	}
	size_t done = webspool_delete(r->app->sp, r->user, ids, n, &refused);
	free(ids);
	free(store);
	webhtml_head(&r->out, "Delete selected receivers", r->user, r->sess->csrf);
	snprintf(line, sizeof line, "Deleted %zu message receiver%s.", done, done == 1 ? "" : "s");
	result_line(&r->out, true, line);
	if (refused) {
		snprintf(line, sizeof line, "%zu not deleted (gone, being sent, or in corrupt/; see the log).", refused);
		result_line(&r->out, false, line);
	}
	util_buf_adds(&r->out, "<p><a href=\"/receivers\">Back to the message receivers</a></p>");
	webhtml_foot(&r->out);
}

/* Takes out of ids[] those whose status the move does not apply to (a
 * held one to hold, one not held to release), each named on the page
 * with its status; returns how many are left. webspool_move checks again
 * (a sender may move one meanwhile). */
static size_t drop_wrong_status(struct web_req *r, bool hold, char **ids, size_t n, size_t *wrong)
{
	size_t kept = 0;
	*wrong = 0;
	for (size_t i = 0; i < n; i++) {
		enum spool_status st;
		if (webspool_locate(r->app->sp, ids[i], &st) < 0 || move_applies(hold, st)) {
			ids[kept++] = ids[i]; /* gone or bad: webspool_move refuses and logs it */
			continue;
		}
		if (++*wrong > 20)
			continue;
		util_buf_adds(&r->out, "<p class=\"msg bad\">");
		webhtml_esc(&r->out, ids[i]);
		util_buf_printf(&r->out, " is %s: %s</p>", spool_status_name(st),
				hold ? "only receivers waiting to be sent (not_sent, failed) can be held"
				     : "only held receivers can be released");
		webhttp_log("%s: %s by %s refused: it is %s", ids[i], hold ? "hold" : "release", r->user,
			    spool_status_name(st));
	}
	if (*wrong > 20)
		util_buf_printf(&r->out, "<p class=\"msg bad\">and %zu more of the wrong status</p>", *wrong - 20);
	return kept;
}

/* Hold or release the selected receivers (no confirmation: both undo each
 * other), then how many moved. */
static void move_page(struct web_req *r, bool hold)
{
	size_t n, refused = 0, wrong, done = 0;
	char *store, line[256];
	char **ids = action_ids(r, &n, &store);
	if (!ids)
		return;
	webhtml_head(&r->out, hold ? "Hold selected receivers" : "Release selected receivers", r->user, r->sess->csrf);
	n = drop_wrong_status(r, hold, ids, n, &wrong);
	if (n)
		done = webspool_move(r->app->sp, r->user, ids, n, hold, &refused);
	free(ids);
	free(store);
	if (wrong && !done)
		r->status = MHD_HTTP_CONFLICT;
	snprintf(line, sizeof line, "%s %zu message receiver%s.", hold ? "Held" : "Released", done, done == 1 ? "" : "s");
	result_line(&r->out, done > 0 || !wrong, line);
	if (refused) {
		snprintf(line, sizeof line, "%zu not %s (%s, gone, or taken by a sender; see the log).", refused,
			 hold ? "held" : "released", hold ? "not waiting to be sent" : "not held");
		result_line(&r->out, false, line);
	}
	util_buf_adds(&r->out, "<p><a href=\"/receivers\">Back to the message receivers</a></p>");
	webhtml_foot(&r->out);
}

void webpages_hold(struct web_req *r)
{
	move_page(r, true);
}

void webpages_release(struct web_req *r)
{
	move_page(r, false);
}
