/* compose: rendering: one message for many users, each in their own
 * language (templates, variables, the text derived from the html), and the
 * idempotency key's ids. It must never write the spool except through
 * batch.c's transaction, and never let a variable put a line break into a
 * header. Rules: msgspool(1) compose, spool-layout/README.md (messages/). */
#include "config.h"
#include "compose.h"
#include "mime.h"
#include "batch.h"
#include "html2text.h"
#include "receiver.h"

#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	errno = EINVAL;
	return -1;
}

static void escape_html(struct util_buf *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': util_buf_adds(out, "&amp;"); break;
		case '<': util_buf_adds(out, "&lt;"); break;
		case '>': util_buf_adds(out, "&gt;"); break;
		case '"': util_buf_adds(out, "&quot;"); break;
		case '\'': util_buf_adds(out, "&#39;"); break;
		default: util_buf_add(out, s, 1);
		}
	}
}

int compose_template(const char *tmpl, const struct ydoc_node *rvars, const struct ydoc_node *mvars,
		     bool html, struct util_buf *out, char *err, size_t errsz)
{
	const char *p = tmpl;
	for (;;) {
		const char *open = strstr(p, "{{");
		if (!open) {
			util_buf_adds(out, p);
			return 0;
		}
		util_buf_add(out, p, (size_t)(open - p));
		const char *close = strstr(open + 2, "}}");
		if (!close)
			return fail(err, errsz, "unclosed {{ at \"%.20s\"", open);
		const char *b = open + 2, *e = close;
		while (b < e && *b == ' ')
			b++;
		while (e > b && e[-1] == ' ')
			e--;
		char name[128];
		size_t n = (size_t)(e - b);
		if (n == 0 || n >= sizeof name || strspn(b, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") < n)
			return fail(err, errsz, "'{{%.*s}}' is not a variable name", (int)(close - open - 2), open + 2);
		memcpy(name, b, n);
		name[n] = '\0';
		const struct ydoc_node *v = ydoc_get(rvars, name);
		if (!v)
			v = ydoc_get(mvars, name);
		if (!v)
			return fail(err, errsz, "unknown variable '%s'", name);
		if (v->kind != YDOC_SCALAR)
			return fail(err, errsz, "variable '%s' is not a single value", name);
		if (html)
			escape_html(out, v->str);
		else
			util_buf_adds(out, v->str);
		p = close + 2;
	}
}

void compose_key_id(const char *key, char *buf, size_t n)
{
	unsigned char d[32];
	gnutls_hash_fast(GNUTLS_DIG_SHA256, key, strlen(key), d);
	char hex[33];
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	snprintf(buf, n, "k-%s", hex);
}

static bool only_keys(const struct ydoc_node *map, const char *const *allowed, const char **bad)
{
	for (size_t i = 0; i < map->n; i++) {
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			ok |= !strcmp(ydoc_key(map, i), *a);
		if (!ok) {
			*bad = ydoc_key(map, i);
			return false;
		}
	}
	return true;
}

/* Checks the message part of a compose file. */
static int check_message(const struct ydoc_node *m, const char *fname, char *err, size_t errsz)
{
	static const char *const top[] = {"msgspool", "context_type", "created_by", "message_type", "metadata",
					  "default_language", "languages", "vars", "receivers", "from",
					  "reply_to", "send_after", "expires_at", "priority", NULL};
	static const char *const lang_keys[] = {"subject", "html", "text", NULL};
	const char *bad;
	long long v;
	if (m->kind != YDOC_MAP)
		return fail(err, errsz, "%s:%d: a message must be a YAML mapping", fname, m->line);
	if (!only_keys(m, top, &bad))
		return fail(err, errsz, "%s:%d: %s: unknown key", fname, ydoc_get(m, bad)->line, bad);
	const struct ydoc_node *n = ydoc_get(m, "msgspool");
	if (!n || ydoc_to_int(n, &v) < 0 || v != 1)
		return fail(err, errsz, "%s:%d: msgspool: format version 1 is required", fname, n ? n->line : m->line);
	static const char *const scalars[] = {"send_after", "expires_at", "priority"};
	for (size_t i = 0; i < sizeof scalars / sizeof *scalars; i++)
		if ((n = ydoc_get(m, scalars[i])) && !ydoc_get_str(m, scalars[i]))
			return fail(err, errsz, "%s:%d: %s: a single value is required", fname, n->line, scalars[i]);
	const struct ydoc_node *langs = ydoc_get(m, "languages");
	if (!langs || langs->kind != YDOC_MAP || langs->n == 0)
		return fail(err, errsz, "%s:%d: languages: a mapping of language: {subject, html, text} is required",
			    fname, langs ? langs->line : m->line);
	for (size_t i = 0; i < langs->n; i++) {
		const struct ydoc_node *l = ydoc_val(langs, i);
		const char *name = ydoc_key(langs, i);
		if (l->kind != YDOC_MAP || !only_keys(l, lang_keys, &bad))
			return fail(err, errsz, "%s:%d: languages.%s: only subject, html and text are allowed", fname, l->line, name);
		if (!ydoc_get_str(l, "subject") || (!ydoc_get_str(l, "html") && !ydoc_get_str(l, "text")))
			return fail(err, errsz, "%s:%d: languages.%s: a subject and html or text are required", fname, l->line, name);
	}
	const char *def = ydoc_get_str(m, "default_language");
	if (!def || !ydoc_get(langs, def))
		return fail(err, errsz, "%s:%d: default_language: must name one of the languages", fname,
			    ydoc_get(m, "default_language") ? ydoc_get(m, "default_language")->line : m->line);
	const char *mt = ydoc_get_str(m, "message_type");
	if (mt && strcmp(mt, "email"))
		return fail(err, errsz, "%s: message_type: '%s' is not sent by msgspool (only 'email')", fname, mt);
	const struct ydoc_node *vars = ydoc_get(m, "vars");
	if (vars && !ydoc_is_null(vars) && vars->kind != YDOC_MAP)
		return fail(err, errsz, "%s:%d: vars: must be a mapping", fname, vars->line);
	const struct ydoc_node *rs = ydoc_get(m, "receivers");
	if (!rs || rs->kind != YDOC_SEQ || rs->n == 0)
		return fail(err, errsz, "%s:%d: receivers: a non-empty list is required", fname, rs ? rs->line : m->line);
	return 0;
}

/* The subject, html and text of one receiver from its language's templates;
 * the text is derived from the html when the message has none. */
static int render_texts(const struct ydoc_node *l, const struct ydoc_node *rvars, const struct ydoc_node *mvars,
			const char *who, const char *use, struct util_buf *subj, struct util_buf *html,
			struct util_buf *text, char *err, size_t errsz)
{
	char terr[300];
	if (compose_template(ydoc_get_str(l, "subject"), rvars, mvars, false, subj, terr, sizeof terr) < 0)
		return fail(err, errsz, "%s: subject (%s): %s", who, use, terr);
	if (util_has_crlf(util_buf_cstr(subj)))
		return fail(err, errsz, "%s: subject (%s): a variable put a line break into the subject", who, use);
	if (ydoc_get_str(l, "html") &&
	    compose_template(ydoc_get_str(l, "html"), rvars, mvars, true, html, terr, sizeof terr) < 0)
		return fail(err, errsz, "%s: html (%s): %s", who, use, terr);
	if (ydoc_get_str(l, "text")) {
		if (compose_template(ydoc_get_str(l, "text"), rvars, mvars, false, text, terr, sizeof terr) < 0)
			return fail(err, errsz, "%s: text (%s): %s", who, use, terr);
		return 0;
	}
	char *derived = html2text(html->data ? html->data : "", html->len);
	util_buf_adds(text, derived ? derived : "");
	free(derived);
	return 0;
}

/* Renders receiver i into a receiver document. */
static int render_one(const struct ydoc_node *m, size_t i, const char *msgid, const char *created,
		      const char *fname, struct receiver *out, char *err, size_t errsz)
{
	static const char *const rkeys[] = {"user", "send_to", "language", "vars", NULL};
	const struct ydoc_node *r = m->items ? ydoc_get(m, "receivers")->items[i] : NULL;
	const char *bad, *user = NULL;
	char who[160];
	if (!r || r->kind != YDOC_MAP)
		return fail(err, errsz, "%s:%d: receivers[%zu]: must be a mapping", fname, r ? r->line : 0, i);
	user = ydoc_get_str(r, "user");
	snprintf(who, sizeof who, "%s:%d: receivers[%zu]%s%s%s", fname, r->line, i, user ? " (" : "", user ? user : "",
		 user ? ")" : "");
	if (!only_keys(r, rkeys, &bad))
		return fail(err, errsz, "%s: %s: unknown key", who, bad);
	const char *to = ydoc_get_str(r, "send_to");
	if (!to)
		return fail(err, errsz, "%s: send_to: required", who);
	const struct ydoc_node *rvars = ydoc_get(r, "vars");
	if (rvars && !ydoc_is_null(rvars) && rvars->kind != YDOC_MAP)
		return fail(err, errsz, "%s: vars: must be a mapping", who);
	const struct ydoc_node *mvars = ydoc_get(m, "vars");
	const struct ydoc_node *langs = ydoc_get(m, "languages");
	const char *want = ydoc_get_str(r, "language");
	const char *def = ydoc_get_str(m, "default_language");
	const char *use = want && ydoc_get(langs, want) ? want : def;
	const struct ydoc_node *l = ydoc_get(langs, use);

	struct util_buf subj = {0}, html = {0}, text = {0};
	char terr[300];
	int rc = -1;
	if (render_texts(l, rvars, mvars, who, use, &subj, &html, &text, err, errsz) < 0)
		goto done;
	receiver_init(out, "x", to, util_buf_cstr(&subj), 0);
	ydoc_set(out->doc, "created", ydoc_string(created));
	receiver_set(out, "text", util_buf_cstr(&text));
	if (html.len)
		receiver_set(out, "html", html.data);
	receiver_set(out, "user", user);
	receiver_set(out, "language", use);
	if (!want || strcmp(want, use)) {
		/* The file says which language it is in and that it fell back. */
		ydoc_set(out->doc, "language_fallback", ydoc_scalar("true"));
		if (want)
			receiver_set(out, "requested_language", want);
	}
	receiver_set(out, "message", msgid);
	receiver_set(out, "context_type", ydoc_get_str(m, "context_type"));
	receiver_set(out, "message_type", "email");
	receiver_set(out, "from", ydoc_get_str(m, "from"));
	receiver_set(out, "reply_to", ydoc_get_str(m, "reply_to"));
	/* The schedule and priority are the message's, so every receiver's. */
	static const char *const passed_on[] = {"send_after", "expires_at", "priority"};
	for (size_t k = 0; k < sizeof passed_on / sizeof *passed_on; k++)
		receiver_set(out, passed_on[k], ydoc_get_str(m, passed_on[k]));
	util_time_parse(created, &out->created);
	if (receiver_validate(out, who, terr, sizeof terr) < 0) {
		fail(err, errsz, "%s", terr);
		receiver_free(out);
		goto done;
	}
	rc = 0;
done:
	util_buf_free(&subj);
	util_buf_free(&html);
	util_buf_free(&text);
	return rc;
}

/* Receiver ids under a key: the same key and user always give the same id. */
static void keyed_receiver_id(const char *msgid, const char *who, char *buf, size_t n)
{
	char h[64];
	compose_key_id(who, h, sizeof h);
	if (snprintf(buf, n, "%s-%.16s", msgid, h + 2) >= (int)n)
		buf[0] = '\0';
}

int compose_run(struct spool *sp, const char *data, size_t len, const char *fname,
		const char *key, bool dry, const struct conf *conf, void (*progress)(size_t done, void *ctx), void *pctx,
		struct compose_result *res, char *err, size_t errsz)
{
	struct ydoc_node *m;
	struct ydoc_error ye;
	struct ydoc_limits lim = {32, 10000000, YDOC_MAX_KEYS};
	memset(res, 0, sizeof *res);
	if (ydoc_parse(data, len, &lim, &m, &ye) < 0)
		return fail(err, errsz, "%s:%d: %s", fname, ye.line, ye.msg);
	if (check_message(m, fname, err, errsz) < 0) {
		ydoc_free(m);
		return -1;
	}
	char created[UTIL_TIME_LEN];
	util_time_format(time(NULL), created);
	if (key)
		compose_key_id(key, res->msgid, sizeof res->msgid);
	else
		spool_new_id(res->msgid, sizeof res->msgid);
	if (key && spool_message_exists(sp, res->msgid)) {
		/* Say so before rendering anything; the create below still decides races. */
		res->existed = true;
		res->receivers = batch_existing_count(sp, res->msgid);
		ydoc_free(m);
		return 0;
	}
	const struct ydoc_node *rs = ydoc_get(m, "receivers");
	struct ydoc_node *ids = ydoc_seq();
	char tag[SPOOL_ID_MAX + 1];
	batch_new_tag(res->msgid, tag, sizeof tag);
	int rc = 0;
	for (size_t i = 0; i < rs->n && rc == 0; i++) {
		struct receiver r;
		char rid[SPOOL_ID_MAX + 1];
		if ((rc = render_one(m, i, res->msgid, created, fname, &r, err, errsz)) < 0)
			break;
		if (key)
			keyed_receiver_id(res->msgid, r.user ? r.user : r.send_to, rid, sizeof rid);
		else
			spool_new_id(rid, sizeof rid);
		struct util_buf out = {0};
		char why[400];
		if (mime_check(&r, conf, why, sizeof why) < 0) {
			rc = fail(err, errsz, "%s: receivers[%zu]: %s", fname, i, why);
		} else if (receiver_save(&r, &out) < 0 || out.len > conf->max_receiver_size) {
			rc = fail(err, errsz, "%s: receivers[%zu]: the rendered receiver is %zu bytes, more than max_receiver_size",
				  fname, i, out.len);
		} else if (!dry && spool_stage(sp, rid, tag, out.data, out.len) < 0) {
			rc = fail(err, errsz, "%s/tmp: cannot write: %s", spool_root(sp), strerror(errno));
		} else {
			for (size_t k = 0; k < ids->n && key; k++)
				if (!strcmp(ids->items[k]->str, rid))
					rc = fail(err, errsz, "%s: receivers[%zu]: the same user twice under one key", fname, i);
			ydoc_push(ids, ydoc_string(rid));
		}
		util_buf_free(&out);
		receiver_free(&r);
		if (progress && (i + 1) % 256 == 0)
			progress(i + 1, pctx);
	}
	if (rc < 0 || dry) {
		if (!dry)
			batch_unstage_all(sp, ids, tag);
		res->receivers = ids->n;
		ydoc_free(ids);
		ydoc_free(m);
		return rc < 0 ? -1 : 0;
	}
	struct batch b = {sp, res->msgid, m, created, key, tag, ids};
	rc = batch_commit(&b, &res->existed, &res->receivers, err, errsz);
	ydoc_free(m);
	return rc;
}

int compose_enqueue_keyed(struct spool *sp, const char *key, struct ydoc_node *doc,
			  struct compose_result *res, char *rid, size_t ridsz, char *err, size_t errsz)
{
	memset(res, 0, sizeof *res);
	compose_key_id(key, res->msgid, sizeof res->msgid);
	snprintf(rid, ridsz, "%s", res->msgid);
	ydoc_set(doc, "message", ydoc_string(res->msgid));
	struct util_buf out = {0};
	char created[UTIL_TIME_LEN];
	const struct ydoc_node *c = ydoc_get(doc, "created");
	snprintf(created, sizeof created, "%s", c && c->kind == YDOC_SCALAR ? c->str : "");
	char tag[SPOOL_ID_MAX + 1];
	batch_new_tag(res->msgid, tag, sizeof tag);
	if (ydoc_emit(doc, &out) < 0 || spool_stage(sp, rid, tag, out.data, out.len) < 0) {
		util_buf_free(&out);
		return fail(err, errsz, "%s/tmp: cannot write: %s", spool_root(sp), strerror(errno));
	}
	util_buf_free(&out);
	struct ydoc_node *ids = ydoc_seq();
	ydoc_push(ids, ydoc_string(rid));
	struct ydoc_node *m = ydoc_map();
	const struct ydoc_node *ct = ydoc_get(doc, "context_type");
	if (ct)
		ydoc_set(m, "context_type", ydoc_clone(ct));
	struct batch b = {sp, res->msgid, m, created, key, tag, ids};
	int rc = batch_commit(&b, &res->existed, &res->receivers, err, errsz);
	ydoc_free(m);
	return rc;
}


int compose_recover(struct spool *sp, msgspool_log_fn *log, void *log_ctx)
{
	return batch_recover(sp, log, log_ctx);
}
