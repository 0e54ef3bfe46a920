/* ratelimit: smtp.rate, the limits over all of msgspoold's connections and
 * every `msgspool send` ("20/second", "2000/hour", "50000/day"): a sender
 * takes a slot before each attempt and waits while any window is full. The
 * counts of the current windows are kept in the spool (spool_state_*) and
 * counted under its lock, so processes share them, the day's count
 * survives a restart and `msgspool stats` can show them. */
#ifndef MSGSPOOL_RATELIMIT_H
#define MSGSPOOL_RATELIMIT_H

#include <stdio.h>
#include "conf.h"
#include "spool.h"

struct ratelimit;

/* The limits of `c`, with the counts the spool kept for their windows. */
struct ratelimit *ratelimit_new(struct spool *sp, const struct conf *c);
/* New limits (SIGHUP); counts of the windows kept stay. */
void ratelimit_set(struct ratelimit *rl, const struct conf *c);
/* Waits until every limit has room, then counts one; *at (when not NULL)
 * is when, for ratelimit_give_back. -1 once stopped. */
int ratelimit_take(struct ratelimit *rl, double *at);
/* ratelimit_take without the count: returns when a slot is free
 * (ratelimit_claim_take's first step). */
int ratelimit_room(struct ratelimit *rl);
/* Counts one when every limit has room (0, *at as for ratelimit_take);
 * else 1 and *until, the time (seconds since the epoch) to try again; -1
 * once stopped. Never waits. */
int ratelimit_try(struct ratelimit *rl, double *until, double *at);
/* For a one-pass sender (a command, the web admin): sleeps while the next
 * slot is at most max_wait seconds away, then returns with it free,
 * counting nothing (0; ratelimit_claim_take counts it); 1 with
 * *until when it is further (an hourly or daily limit used up). `waiting`,
 * if set, is called once before the first sleep (a progress line). */
int ratelimit_wait_room(struct ratelimit *rl, double max_wait, double *until, void (*waiting)(void *), void *ctx);
/* Returns a slot taken at `at` (ratelimit_take's) for a receiver that
 * never reached the server (its claim failed: another process has it; not
 * eligible; quarantined), in the windows per hour or day it was taken in
 * (a limit per second or minute keeps its pace); NULL does nothing.
 * Another process's count of the same window, if higher, still wins
 * (load_counts): a slot given back errs on the side of less mail. */
void ratelimit_give_back(struct ratelimit *rl, double at);
/* A slot for from/ID, claimed in between (ratelimit_claim.c): waits with
 * room(ctx) (ratelimit_room, ratelimit_wait_room: 0 when a slot is free,
 * else returned) while the receiver stays unclaimed, then claims it and
 * counts one (0; deliver_one's attempt takes the claim over).
 * RATELIMIT_GONE (nothing counted, no attempt) when another process
 * claimed it first; -1 once stopped. */
enum { RATELIMIT_GONE = -2 };
int ratelimit_claim_take(struct ratelimit *rl, struct spool *sp, enum spool_status from, const char *id,
			 int (*room)(void *ctx), void *ctx, double *at);
/* Test seam: the clock of every window, pace and count (seconds since
 * the epoch; CLOCK_REALTIME unless a unit test sets its own). Waits still
 * sleep on the real clock. */
extern double (*ratelimit_clock)(void);
/* Wakes every waiter: ratelimit_take returns -1 from now on. */
void ratelimit_stop(struct ratelimit *rl);
void ratelimit_free(struct ratelimit *rl);
/* "rate: 37 of 50 this second, 1234 of 50000 today" from the spool's
 * counts, for stats; nothing when no limit is configured. */
void ratelimit_print_usage(FILE *f, struct spool *sp, const struct conf *c);
/* The same for --json and OpenMetrics: each limit's window in seconds, its
 * limit and what was taken in the current window; returns how many. */
struct ratelimit_use {
	long per, limit, count;
};
int ratelimit_usage(struct spool *sp, const struct conf *c, struct ratelimit_use use[4]);

#endif
