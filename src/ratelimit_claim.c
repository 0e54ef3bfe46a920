/* ratelimit_claim: a slot of smtp.rate for a receiver this process holds.
 * A sender waits for room with the receiver unclaimed (what waits is
 * never claimed), then claims it (spool_claim_ahead, which its
 * deliver_one takes over at no cost) and only then counts the slot: of
 * two senders racing for one receiver (msgspoold and a send from cron)
 * the loser counts none. Taken before the claim, its slot was spent on
 * nothing, and a paced limit's slot cannot be given back (ratelimit.c).
 * It claims and gives back through the spool only; the counting is
 * ratelimit.c's. Described in msgspool.yaml(5) (smtp.rate). */
#include "config.h"
#include "ratelimit.h"

#include <time.h>

/* Claims from/ID ahead; false when another process has it (gone from
 * `from`). A claim takes its lock before its rename, so a file there and
 * locked is mostly one being claimed: it is looked at again for up to
 * 20 ms before it counts as there and not claimable. */
static bool claim(struct spool *sp, enum spool_status from, const char *id)
{
	for (int i = 0; i < 20; i++) {
		if (spool_claim_ahead(sp, from, &id, 1))
			return true;
		if (!spool_exists(sp, from, id))
			return false;
		nanosleep(&(struct timespec){0, 1000000}, NULL);
	}
	return true;
}

int ratelimit_claim_take(struct ratelimit *rl, struct spool *sp, enum spool_status from, const char *id,
			 int (*room)(void *ctx), void *ctx, double *at)
{
	for (;;) {
		int rc = room(ctx);
		if (rc)
			return rc;
		if (!claim(sp, from, id))
			return RATELIMIT_GONE;
		/* Claimed; or there and not claimable (locked by another
		 * process, not a file): deliver_one says which, and the caller
		 * gives its slot back. */
		double until;
		rc = ratelimit_try(rl, &until, at);
		if (rc == 0)
			return 0;
		spool_claim_ahead_give_back(sp, from, id); /* back where it was while it waits */
		if (rc < 0)
			return -1;
		/* another process took the room meanwhile: wait again */
	}
}
