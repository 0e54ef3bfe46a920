/* compose: one message rendered for many receivers, each in their preferred
 * language: the templates and idempotency keys; the record, all-or-nothing
 * publishing and recovery are batch.c's transaction. */
#ifndef MSGSPOOL_COMPOSE_H
#define MSGSPOOL_COMPOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "conf.h"
#include "spool.h"
#include "util.h"
#include "ydoc.h"

#define COMPOSE_ERRLEN 512

/* {{name}} from rvars, else mvars; values HTML-escaped when html. */
int compose_template(const char *tmpl, const struct ydoc_node *rvars, const struct ydoc_node *mvars,
		     bool html, struct util_buf *out, char *err, size_t errsz);

/* The message id an idempotency key stands for: "k-" and 32 hex digits. */
void compose_key_id(const char *key, char *buf, size_t n);

struct compose_result {
	char msgid[SPOOL_ID_MAX + 1];
	size_t receivers;
	bool existed;		/* the key was used before: nothing written */
};

/* Renders and writes everything, or nothing. The record in messages/ is
 * the commit point: created exclusively, listing the staged receivers.
 * With dry, renders and checks everything and writes nothing. */
int compose_run(struct spool *sp, const char *data, size_t len, const char *fname,
		const char *key, bool dry, const struct conf *conf, void (*progress)(size_t done, void *ctx), void *pctx,
		struct compose_result *res, char *err, size_t errsz);

/* One receiver from enqueue --key: the same commit and claim. */
int compose_enqueue_keyed(struct spool *sp, const char *key, struct ydoc_node *receiver_doc,
			  struct compose_result *res, char *rid, size_t ridsz, char *err, size_t errsz);

/* Publishes the receivers of records a crash left half published.
 * Returns how many records were finished, -1 on error. */
int compose_recover(struct spool *sp, msgspool_log_fn *log, void *log_ctx);

#endif
