/* spool_batch: the end of a batch of moves or removals (spool_move_unflushed,
 * spool_remove) made durable together, after the last: each directory
 * touched flushed once, the target first. It goes through spool.h's calls
 * only. Rules: spool-layout/README.md (rule 4). */
#include "config.h"
#include "spool_batch.h"

#include <errno.h>

unsigned spool_sync_batch(struct spool *sp, unsigned touched, enum spool_status to)
{
	unsigned failed = 0;
	int err = 0;
	/* `to` first: a rename is durable once its new name is, and a flush
	 * of the source alone could make only the removal durable. */
	for (int i = -1; i < SPOOL_NSTATUS; i++) {
		enum spool_status s = i < 0 ? to : (enum spool_status)i;
		if ((unsigned)s >= SPOOL_NSTATUS || (i >= 0 && s == to) || !(touched & 1u << s))
			continue;
		if (spool_sync(sp, s) < 0) {
			failed |= 1u << s;
			err = err ? err : errno;
		}
	}
	errno = err;
	return failed;
}
