/* conns: how many SMTP connections msgspoold keeps open, between
 * smtp.connections' min and max, from what its workers report (as
 * Postfix's concurrency feedback). Pure bookkeeping: no locks (the caller
 * holds its own around every call), no clock of its own, no I/O. */
#ifndef MSGSPOOL_CONNS_H
#define MSGSPOOL_CONNS_H

#include <stdbool.h>
#include <stddef.h>

struct conns {
	long min, max;
	long allowed;		/* workers 0 .. allowed-1 may hold a connection */
	long ok_since_change;	/* deliveries since allowed last changed */
	double attempt_ms;	/* smoothed duration of one attempt, 0: none yet */
	double hold_until;	/* ms: no growing before this (after a refusal) */
	long hold;		/* ms the last refusal held growth, doubling */
	double last_ok;		/* ms of the last delivery on any connection */
	bool refused;		/* the server refused one since the last idle time */
	double warm_ms;		/* attempts on connections already open since the */
	long warm_n;		/* last change: their total time and number */
	double mean_before;	/* their mean before the last growth, 0: none */
	long ceiling;		/* the last growth did not pay: no more than this until idle */
};

/* What conns_after decided. */
enum conns_change {
	CONNS_SAME,
	CONNS_GREW,	/* one more worker may connect: wake them */
	CONNS_LIMIT,	/* a refusal while others deliver: the server's limit, not an outage */
};

void conns_init(struct conns *c, long min, long max);
/* A new range (a reload): allowed moves into it at once, growth is judged
 * afresh up to the new max. */
void conns_set_range(struct conns *c, long min, long max);
/* A worker's number below allowed: it may take a job and connect. */
bool conns_may_send(const struct conns *c, size_t worker);
/* After an attempt of `ms` milliseconds that ended at `now` (ms): delivered
 * (a reply about the receiver came: 2xx, 4xx or 5xx) or the session was
 * refused or lost (connect refused, 421, dropped); `fresh` if it opened its
 * connection first. `backlog` is how many receivers wait. */
enum conns_change conns_after(struct conns *c, bool delivered, bool session_failed, bool fresh, double ms,
			      size_t backlog, double now);
/* Nothing waited for daemon.idle_close seconds: back to min. True if the
 * count changed. */
bool conns_idle(struct conns *c);

#endif
