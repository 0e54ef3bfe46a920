/* deliver: one delivery attempt, shared by the commands and the daemon:
 * claim into active/, read and check, render, send, record the outcome in
 * the file, and move it durably to sent/, failed/ or error/ where the
 * policy (policy.h) puts it. Unreadable files are quarantined into corrupt/.
 *
 * A failure of the session itself (connection refused, TLS, AUTH, a greeting
 * that refuses us) says nothing about the message: the receiver goes back
 * where it was, unchanged and not counted, and the caller backs off. Only
 * what happens to the message (replies to MAIL, RCPT, DATA, or a connection
 * lost in the middle of it) counts against the resend limit. */
#ifndef MSGSPOOL_DELIVER_H
#define MSGSPOOL_DELIVER_H

#include <stdbool.h>
#include <sys/stat.h>
#include "committer.h"
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
	DELIVER_PENDING,	/* held (struct deliver's hold): sent to its end, its reply read
				 * by a later deliver_one or deliver_settle (rep->settled) */
};

typedef msgspool_log_fn deliver_log_fn;

struct deliver {
	struct spool *sp;
	const struct conf *conf;
	struct transport *t;
	deliver_log_fn *log;
	void *log_ctx;
	/* When set, a sent receiver's record is handed to it and written in a
	 * group with others while the caller sends the next one. */
	struct committer *cm;
	/* Another receiver waits for this connection: an attempt may end
	 * DELIVER_PENDING, its reply read with the next one's envelope. */
	bool hold;
};

struct deliver_report {
	enum deliver_result result;
	bool session_failed;	/* the server could not be reached or refused the session */
	int code;
	long ms;
	/* Neither claimed nor quarantined (it cannot be moved): the entry as
	 * it was seen, so that a caller can pass it over until it changes. */
	bool stuck;
	struct stat stuck_st;
	time_t not_before;	/* DELIVER_SKIPPED for send_after or the retry delay: when it is due */
	/* DELIVER_DEFERRED before anything went to the server (the file is
	 * still being written, or a young hard link): no smtp.rate slot spent. */
	bool unsent;
	/* A receiver held by an earlier call whose reply this call read, and
	 * what became of it (recorded and logged already); settled_ms: its
	 * share of the connection, from the reply before it to its own. */
	bool settled;
	enum deliver_result settled_result;
	long settled_ms;
};

/* Whether an attempt that ended so sent nothing to the server (busy,
 * not due, quarantined, or put back unread): its smtp.rate slot is given
 * back. rep is read only for DELIVER_DEFERRED, which deliver_one filled. */
bool deliver_unsent(enum deliver_result r, const struct deliver_report *rep);

/* Attempts one receiver found in `from`, if the policy lets `mode` try it
 * now (else DELIVER_SKIPPED, left where it was). */
enum deliver_result deliver_one(struct deliver *d, enum spool_status from, const char *id,
				enum policy_mode mode, struct deliver_report *rep);

/* For a caller that writes r durably before the send (the web's resend,
 * with its event): when r has no valid message_id and this process cannot
 * read or trust the spool's key (msgid.h), the Message-ID an attempt
 * would draw, drawn now and set in r, so that a duplicate after a crash
 * between the 250 and the outcome's record carries it too. 1 when set, 0
 * when not needed (a keyed derivation is the same again), -1 when it
 * cannot be made (the attempt will say why). */
int deliver_pin_message_id(struct deliver *d, struct receiver *r);

/* Reads the reply of the receiver held on d->t (DELIVER_PENDING), if any,
 * and records it (rep->settled). Call it before the connection waits,
 * idles or is freed. */
void deliver_settle(struct deliver *d, struct deliver_report *rep);

/* Finishes what a crash left in active/ (spool-layout/README.md, rule 5):
 * files no live process holds go where their last outcome says, else back
 * to new/. Returns how many were moved, -1 on error. */
int deliver_recover(struct deliver *d);

const char *deliver_result_name(enum deliver_result r);

#endif
