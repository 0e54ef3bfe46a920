/* batch: all-or-nothing publishing of many receivers (compose, enqueue
 * --key): stage, commit by an exclusive record, publish, recover. */
#ifndef MSGSPOOL_BATCH_H
#define MSGSPOOL_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include "spool.h"
#include "ydoc.h"
#include "util.h"

/* A batch whose receivers are staged in tmp/ under `tag`. */
struct batch {
	struct spool *sp;
	const char *msgid;
	const struct ydoc_node *m;	/* the message, for the record's keys (may be NULL) */
	const char *created, *key, *tag;	/* key: the idempotency key or NULL */
	struct ydoc_node *ids;	/* the staged receiver ids; batch_commit takes it */
};

/* Creates the record (the commit point), then publishes. With a key whose
 * record exists: nothing published, *existed set. */
int batch_commit(const struct batch *b, bool *existed, size_t *receivers, char *err, size_t errsz);
/* A staging tag of this run alone. */
void batch_new_tag(const char *msgid, char *buf, size_t n);
void batch_unstage_all(struct spool *sp, const struct ydoc_node *ids, const char *tag);
/* The receiver count an existing record states, for "already exists". */
size_t batch_existing_count(struct spool *sp, const char *msgid);
/* Publishes the receivers of records a crash left half published. Returns
 * how many records were finished, -1 on error. */
int batch_recover(struct spool *sp, msgspool_log_fn *log, void *log_ctx);

#endif
