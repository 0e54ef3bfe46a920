/* webapi: the JSON API. GET /api/receivers takes the list's parameters and
 * answers a page (100) of the objects `msgspool list --json` prints, with
 * the total in X-Total-Count; GET /api/receivers/ID the object of `show
 * --json`; POST /api/resend a body {"ids": [...]} (Content-Type
 * application/json only: webhttp.c refuses the rest) with the counts. */
#include "config.h"
#include "json.h"
#include "webpages.h"
#include "webspool.h"
#include "ydoc.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Writes what a FILE-based JSON writer produced into the answer. */
static void answer_json(struct web_req *r, char *data, size_t len)
{
	r->ctype = "application/json";
	util_buf_add(&r->out, data, len);
	util_buf_putc(&r->out, '\n');
	free(data);
}

void webapi_list(struct web_req *r)
{
	struct weblist l;
	if (weblist_query(r, &l) < 0)
		return;
	char *data = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&data, &len);
	if (!f) {
		weblist_free(&l);
		webhttp_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		return;
	}
	fputc('[', f);
	for (size_t i = 0; i < l.nrows; i++) {
		if (i)
			fputs(",\n", f);
		json_receiver(f, r->app->sp, r->app->conf.max_receiver_size, l.rows[i].status, l.rows[i].id);
	}
	fputc(']', f);
	fclose(f);
	snprintf(r->total, sizeof r->total, "%zu", l.nsel);
	weblist_free(&l);
	answer_json(r, data, len);
}

void webapi_show(struct web_req *r, const char *in)
{
	enum spool_status st;
	char id[SPOOL_ID_MAX + 1];
	if (!webpages_locate(r, in, id, &st, "not a receiver id", "no receiver with this id or id prefix"))
		return;
	char *data = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&data, &len);
	if (!f) {
		webhttp_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
		return;
	}
	json_receiver(f, r->app->sp, r->app->conf.max_receiver_size, st, id);
	fclose(f);
	answer_json(r, data, len);
}

/* The ids of {"ids": ["...", ...]}, borrowed from doc; NULL when the body
 * is not that shape. JSON is YAML, and ydoc reads it with its limits. */
static char **body_ids(struct web_req *r, struct ydoc_node **doc, size_t *n)
{
	struct ydoc_error ye;
	*doc = NULL;
	*n = 0;
	if (!r->body.len || ydoc_parse(r->body.data, r->body.len, NULL, doc, &ye) < 0)
		return NULL;
	const struct ydoc_node *ids = (*doc)->kind == YDOC_MAP ? ydoc_get(*doc, "ids") : NULL;
	if (!ids || ids->kind != YDOC_SEQ || !ids->n)
		return NULL;
	char **out = calloc(ids->n, sizeof *out);
	for (size_t i = 0; out && i < ids->n; i++) {
		if (ids->items[i]->kind != YDOC_SCALAR) {
			free(out);
			return NULL;
		}
		out[(*n)++] = ids->items[i]->str;
	}
	return out;
}

void webapi_resend(struct web_req *r)
{
	struct ydoc_node *doc;
	size_t n;
	char **ids = body_ids(r, &doc, &n), err[512];
	if (!ids) {
		ydoc_free(doc);
		webhttp_error(r, MHD_HTTP_BAD_REQUEST, "the body must be {\"ids\": [\"ID\", ...]}");
		return;
	}
	char *store;
	if (!webpages_resolve_ids(r, ids, n, &store)) {
		free(store);
		free(ids);
		ydoc_free(doc);
		return;
	}
	struct webspool_counts c;
	/* The SMTP time without the lock: the other pages answer meanwhile. */
	webhttp_unlock(r);
	int rc = webspool_resend(r->app->sp, &r->app->conf, r->user, ids, n, &c, err, sizeof err);
	webhttp_relock(r);
	free(ids);
	free(store);
	ydoc_free(doc);
	if (rc < 0) {
		webhttp_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, err);
		return;
	}
	r->ctype = "application/json";
	util_buf_printf(&r->out, "{\"sent\":%zu,\"failed\":%zu,\"error\":%zu,\"busy\":%zu,\"refused\":%zu,"
				 "\"not_attempted\":%zu,\"rate_limited\":%zu}\n", c.sent, c.failed, c.error, c.busy, c.refused,
			c.other, c.rate);
}
