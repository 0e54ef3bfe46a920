/* deliver: one delivery attempt, shared by the commands and the daemon:
 * claim into active/, read and check, render, send, record the outcome in
 * the file, and move it durably to sent/, failed/ or error/ by Devilry's
 * counting rule. Unreadable files are quarantined into corrupt/.
 *
 * A failure of the session itself (connection refused, TLS, AUTH, a greeting
 * that refuses us) says nothing about the message: the receiver goes back
 * where it was, unchanged and not counted, and the caller backs off. Only
 * what happens to the message (replies to MAIL, RCPT, DATA, or a connection
 * lost in the middle of it) counts against the resend limit. */
#ifndef MSGSPOOL_DELIVER_H
#define MSGSPOOL_DELIVER_H

#include <stdbool.h>
#include "conf.h"
#include "policy.h"
#include "spool.h"
#include "transport.h"

enum deliver_result {
	DELIVER_SENT,
	DELIVER_FAILED,		/* recorded, now in failed/ */
	DELIVER_ERROR,		/* recorded, now in error/ */
	DELIVER_BUSY,		/* another process has it */
	DELIVER_SKIPPED,	/* not eligible (the policy says not now), left where it was */
	DELIVER_QUARANTINED,	/* unreadable: moved to corrupt/ */
	DELIVER_DEFERRED,	/* the server could not be used: put back unchanged, not counted */
	DELIVER_IOERR,		/* the spool could not be changed; see the log */
};

typedef void deliver_log_fn(void *ctx, int priority, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct deliver_committer;

struct deliver {
	struct spool *sp;
	const struct conf *conf;
	struct transport *t;
	deliver_log_fn *log;
	void *log_ctx;
	/* When set, a sent receiver's record is handed to it and written in a
	 * group with others while the caller sends the next one. */
	struct deliver_committer *cm;
};

struct deliver_report {
	enum deliver_result result;
	bool session_failed;	/* the server could not be reached or refused the session */
	int code;
	long ms;
};

/* Attempts one receiver found in `from`, if the policy lets `mode` try it
 * now (else DELIVER_SKIPPED, left where it was). */
enum deliver_result deliver_one(struct deliver *d, enum spool_status from, const char *id,
				enum policy_mode mode, struct deliver_report *rep);

/* Finishes what a crash left in active/ (DESIGN rule 5): files no live
 * process holds go where their last outcome says, else back to new/.
 * Returns how many were moved, -1 on error. */
int deliver_recover(struct deliver *d);

const char *deliver_result_name(enum deliver_result r);

/* A thread that records sent receivers in groups (spool_commit_batch): one
 * directory flush for many receivers, and the sender is not kept waiting
 * for the disk. The outcome is logged once it is durable. A crash before
 * that sends the receiver again after recovery, as a crash between the
 * server's 250 and the record always could. */
struct deliver_committer *deliver_committer_start(struct spool *sp, deliver_log_fn *log, void *log_ctx);
/* Writes every pending record, then stops the thread. */
void deliver_committer_stop(struct deliver_committer *cm);

#endif
