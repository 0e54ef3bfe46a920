/* committer: a thread that records sent receivers in groups
 * (spool_commit_batch): one directory flush for many receivers, and the
 * sender is not kept waiting for the disk. The outcome is logged once it is
 * durable. A crash before that sends the receiver again after recovery, as
 * a crash between the server's 250 and the record always could. */
#ifndef MSGSPOOL_COMMITTER_H
#define MSGSPOOL_COMMITTER_H

#include <stdbool.h>
#include "spool.h"
#include "util.h"

struct committer;

struct committer *committer_start(struct spool *sp, msgspool_log_fn *log, void *log_ctx);
/* Writes every pending record, then stops the thread. */
void committer_stop(struct committer *cm);
/* Hands over a claimed receiver in sent/'s form: the record `out` (taken
 * over, and emptied) and the log line's address, code and time. Waits only
 * while the queue is full. -1 while the last group failed to be written
 * (the caller then records its own, and sees the error). */
int committer_submit(struct committer *cm, struct spool_claim *c, struct util_buf *out, const char *to,
		     int code, long ms);
/* A record written by a sender itself succeeded: groups may be tried again. */
void committer_recovered(struct committer *cm);

/* A record that could not be written (errno `e`): the receiver goes on
 * unchanged, so it is never lost (at worst sent again): into sent/ when
 * `sent` (the server has it), else back where it came from. */
void committer_record_failed(struct spool *sp, msgspool_log_fn *log, void *log_ctx, struct spool_claim *c,
			     enum spool_status to, const char *outcome, int e);

#endif
