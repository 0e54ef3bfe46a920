/* policy: when a receiver may be tried, and where a failure puts it. The
 * resend limit, the retry delays, send_after and expires_at are written
 * here and nowhere else (the admin's forced resend ignores the last two); the
 * daemon, the deliver module and the commands ask. The rules are in
 * spool-layout/README.md ("Status transitions"). */
#ifndef MSGSPOOL_POLICY_H
#define MSGSPOOL_POLICY_H

#include <stdbool.h>
#include <time.h>
#include "conf.h"
#include "receiver.h"
#include "spool.h"

/* Who asks: each has its own rule for the resend limit and the delay. */
enum policy_mode {
	POLICY_SEND,		/* a first attempt from new/ */
	POLICY_RETRY,		/* resend-failed: within the limit, at once */
	POLICY_RETRY_DUE,	/* the daemon's retry: within the limit, after the delay */
	POLICY_FORCE,		/* the admin's resend: whatever the count */
};

enum policy_verdict {
	POLICY_NOW,		/* try it now */
	POLICY_LATER,		/* not yet: at `not_before` */
	POLICY_NEVER,		/* over the limit: leave it where it is */
	POLICY_EXPIRED,		/* expires_at has passed: error/, never sent */
};

struct policy_decision {
	enum policy_verdict verdict;
	time_t not_before;		/* POLICY_LATER: when it is due (send_after, or the retry delay) */
	enum spool_status on_failure;	/* where a failed attempt puts it */
};

/* The one decision: may `r` be tried now, and where a failure puts it. */
struct policy_decision policy_decide(const struct conf *c, const struct receiver *r,
				     enum policy_mode mode, time_t now);

/* The pause after the mail server or the spool could not be used: doubles
 * from 1 s up to a minute. `prev` is the last pause, 0 for none. */
long policy_session_backoff(long prev);

#endif
