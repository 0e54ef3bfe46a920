/* webspool: what msgspool-web does to the spool, as library calls over the
 * modules the commands use (query, receiver, deliver, json): a receiver's
 * JSON as `msgspool show --json` prints it, the resend action (the same
 * deliver_one call as `msgspool resend`), deletion, hold and release, and
 * the audit entry
 * each action leaves in the receiver's file (spool-layout/README.md,
 * `events`). */
#ifndef MSGSPOOL_WEBSPOOL_H
#define MSGSPOOL_WEBSPOOL_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include "conf.h"
#include "spool.h"

/* An id from a URL or a form: exactly what the commands accept (letters,
 * digits, '.', '_', '-'; no leading dot, no ".."), located in the spool.
 * -1 with errno EINVAL for a bad id, ENOENT when no status has it. */
int webspool_locate(struct spool *sp, const char *id, enum spool_status *st);

/* Appends {at, action, by} to the receiver's `events` list, durably, and
 * leaves it where it was; with `pin` (a resend's sender), also the
 * Message-ID deliver_pin_message_id draws. -1 with err set; errno EBUSY
 * when a sender has it. */
struct deliver;
int webspool_event(struct spool *sp, size_t max_size, enum spool_status st, const char *id,
		   const char *action, const char *user, time_t now, struct deliver *pin, char *err, size_t errsz);

struct webspool_counts {
	size_t sent, failed, error, busy, refused, other;
	size_t rate;		/* not sent: an hourly or daily smtp.rate was used up */
	char rate_note[128];	/* which, and until when */
};

/* Resends each id whatever its status, as `msgspool resend` does, after
 * recording who asked, each taking a slot of smtp.rate (shared with
 * msgspoold and the commands); stops when the mail server cannot be used
 * or an hourly or daily limit is used up (out->rate, out->rate_note). Each
 * outcome is logged with the user. -1 with err when no transport opens. */
int webspool_resend(struct spool *sp, const struct conf *conf, const char *user, char **ids, size_t n,
		    struct webspool_counts *out, char *err, size_t errsz);
/* Deletes each id (never from active/ or corrupt/, as delete-receivers),
 * logging who did it. Returns how many were deleted. */
size_t webspool_delete(struct spool *sp, const char *user, char **ids, size_t n, size_t *refused);
/* Holds (hold) or releases each id as `msgspool hold` and `release` do,
 * logging who did it. Returns how many moved; *refused the others. */
size_t webspool_move(struct spool *sp, const char *user, char **ids, size_t n, bool hold, size_t *refused);

#endif
