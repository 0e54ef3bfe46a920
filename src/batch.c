/* batch: the compose batch as a spool transaction: receivers staged in
 * tmp/, a record created exclusively in messages/ (the commit point, with
 * the list of staged ids), publishing into new/, and recovery that finishes
 * a committed batch after a crash. It must never publish a batch whose
 * record was not created, never replace a receiver, and never trust a
 * record's contents (a producer can write messages/). Rules:
 * spool-layout/README.md (messages/), SECURITY.md. */
#include "config.h"
#include "batch.h"
#include "util.h"

#include <errno.h>
#include <syslog.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct ydoc_node *record(const struct ydoc_node *m, const char *created, const char *key,
				const char *tag, struct ydoc_node *ids)
{
	struct ydoc_node *rec = ydoc_map();
	ydoc_set(rec, "msgspool", ydoc_intval(1));
	ydoc_set(rec, "created", ydoc_string(created));
	const char *keys[] = {"created_by", "context_type"};
	for (size_t i = 0; i < 2; i++)
		if (m && ydoc_get_str(m, keys[i]))
			ydoc_set(rec, keys[i], ydoc_string(ydoc_get_str(m, keys[i])));
	ydoc_set(rec, "message_type", ydoc_string("email"));
	if (m && ydoc_get(m, "metadata"))
		ydoc_set(rec, "metadata", ydoc_clone(ydoc_get(m, "metadata")));
	if (key)
		ydoc_set(rec, "key", ydoc_string(key));
	ydoc_set(rec, "receivers", ydoc_intval((long long)ids->n));
	/* While this list is here the batch is committed but maybe not all
	 * published: recovery finishes it. */
	ydoc_set(rec, "publishing", ids);
	ydoc_set(rec, "staged_as", ydoc_string(tag));
	return rec;
}

/* Renames every staged receiver of a committed record into new/, then
 * rewrites the record without its publishing list. */
static int publish(struct spool *sp, const char *msgid, struct ydoc_node *rec)
{
	struct ydoc_node *ids = ydoc_get(rec, "publishing");
	const char *tag = ydoc_get(rec, "staged_as") ? ydoc_get_str(rec, "staged_as") : msgid;
	for (size_t i = 0; ids && i < ids->n; i++) {
		const char *rid = ids->items[i]->str;
		if (spool_publish(sp, rid, tag) < 0 && errno != ENOENT) {
			if (errno != EEXIST)
				return -1;
			spool_unstage(sp, rid, tag); /* published before a crash */
		}
	}
	/* tmp/ too: were the staged names still on disk beside the published
	 * ones after a cut, a record left with its list would be published
	 * again into their place (spool_publish refuses, and unstages). */
	if (spool_sync_new(sp) < 0 || spool_sync_staged(sp) < 0)
		return -1;
	ydoc_del(rec, "publishing");
	ydoc_del(rec, "staged_as");
	struct util_buf out = {0};
	int rc = ydoc_emit(rec, &out) == 0 ? spool_message_write(sp, msgid, out.data, out.len) : -1;
	util_buf_free(&out);
	return rc;
}

void batch_unstage_all(struct spool *sp, const struct ydoc_node *ids, const char *tag)
{
	for (size_t i = 0; i < ids->n; i++)
		spool_unstage(sp, ids->items[i]->str, tag);
}

/* Reads an existing record's receiver count, for "already exists". */
size_t batch_existing_count(struct spool *sp, const char *msgid)
{
	char *data;
	size_t len, n = 0;
	struct ydoc_node *doc;
	struct ydoc_error ye;
	if (spool_message_read(sp, msgid, 64u << 20, &data, &len) < 0)
		return 0;
	if (ydoc_parse(data, len, NULL, &doc, &ye) == 0) {
		long long v;
		if (ydoc_to_int(ydoc_get(doc, "receivers"), &v) == 0 && v >= 0)
			n = (size_t)v;
		ydoc_free(doc);
	}
	free(data);
	return n;
}

/* A staging tag of this run alone: racers under one key must never touch
 * each other's staged files. */
void batch_new_tag(const char *msgid, char *buf, size_t n)
{
	char r[SPOOL_ID_MAX + 1];
	spool_new_id(r, sizeof r);
	if (snprintf(buf, n, "%.40s.%s", msgid, strrchr(r, '-') + 1) >= (int)n)
		buf[0] = '\0';
}

/* The exclusive record, then publishing. */
int batch_commit(const struct batch *b, bool *existed, size_t *receivers, char *err, size_t errsz)
{
	struct spool *sp = b->sp;
	struct ydoc_node *rec = record(b->m, b->created, b->key, b->tag, b->ids);
	struct util_buf out = {0};
	util_test_stop("compose-staged");
	/* The staged names are durable before the record that names them:
	 * after a cut a committed record finds every receiver to publish. */
	if (spool_sync_staged(sp) < 0) {
		snprintf(err, errsz, "tmp/: cannot flush the staged receivers: %s", strerror(errno));
		batch_unstage_all(sp, b->ids, b->tag);
		ydoc_free(rec);
		errno = EINVAL; /* as compose's other refusals */
		return -1;
	}
	int rc = ydoc_emit(rec, &out);
	if (rc == 0 && spool_message_create(sp, b->msgid, out.data, out.len) < 0) {
		int e = errno;
		batch_unstage_all(sp, b->ids, b->tag);
		if (e == EEXIST && b->key) {
			*existed = true;
			*receivers = batch_existing_count(sp, b->msgid);
			rc = 0;
		} else {
			snprintf(err, errsz, "messages/%s.yaml: cannot write: %s", b->msgid, strerror(e));
			errno = EINVAL; /* as compose's other refusals */
			rc = -1;
		}
		util_buf_free(&out);
		ydoc_free(rec);
		return rc;
	}
	util_buf_free(&out);
	*receivers = b->ids->n;
	util_test_stop("compose-committed");
	if (rc == 0 && publish(sp, b->msgid, rec) < 0) {
		/* Committed: recovery (msgspoold, msgspool send) will finish it. */
		snprintf(err, errsz, "messages/%s.yaml: committed, but publishing stopped: %s (msgspool send finishes it)",
			 b->msgid, strerror(errno));
		errno = EINVAL;
		rc = -1;
	}
	ydoc_free(rec);
	return rc;
}

struct recover_ctx {
	struct spool *sp;
	msgspool_log_fn *log;
	void *log_ctx;
	int finished, failed;
};

/* A record a producer may have written: publishing a list of ids, staged_as
 * (when there) an id too, so no value names a place outside tmp/ and new/. */
static bool record_valid(const struct ydoc_node *rec)
{
	const struct ydoc_node *ids = ydoc_get(rec, "publishing");
	if (!ids || ids->kind != YDOC_SEQ)
		return false;
	for (size_t i = 0; i < ids->n; i++) {
		const struct ydoc_node *n = ids->items[i];
		if (n->kind != YDOC_SCALAR || ydoc_is_null(n) || !spool_id_valid(n->str))
			return false;
	}
	const char *tag = ydoc_get_str(rec, "staged_as");
	return !ydoc_get(rec, "staged_as") || (tag && spool_id_valid(tag));
}

static int recover_cb(const char *msgid, void *vctx)
{
	struct recover_ctx *c = vctx;
	char *data;
	size_t len;
	struct ydoc_node *rec;
	struct ydoc_error ye;
	if (spool_message_read(c->sp, msgid, 64u << 20, &data, &len) < 0)
		return 0;
	int rc = ydoc_parse(data, len, NULL, &rec, &ye);
	free(data);
	if (rc < 0) {
		c->log(c->log_ctx, LOG_WARNING, "messages/%s.yaml: not a record (%s at line %d): left as it is",
		       msgid, ye.msg, ye.line);
		return 0;
	}
	/* One that is not a batch of ours is left alone, as it is. */
	if (ydoc_get(rec, "publishing") && !record_valid(rec))
		c->log(c->log_ctx, LOG_WARNING, "messages/%s.yaml: not published: 'publishing' must be a list of "
		       "receiver ids and 'staged_as' an id; left as it is", msgid);
	else if (ydoc_get(rec, "publishing")) {
		if (publish(c->sp, msgid, rec) == 0)
			c->finished++;
		else
			c->failed++;
	}
	ydoc_free(rec);
	return 0;
}

int batch_recover(struct spool *sp, msgspool_log_fn *log, void *log_ctx)
{
	struct recover_ctx c = {sp, log, log_ctx, 0, 0};
	if (spool_message_scan(sp, recover_cb, &c) < 0)
		return -1;
	return c.failed ? -1 : c.finished;
}
