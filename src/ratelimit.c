/* ratelimit: a limit per second or minute paces the messages evenly (one
 * every per/n seconds, 5% slower, so that no second ever holds more than
 * n); a limit per hour or day counts in fixed windows aligned to the clock
 * (the hour, the local day), whose counts survive a restart. The daemon
 * and `msgspool send` count in one file under one lock, each slot taken
 * once by one of them. It owns the counting and its file (through spool.c's
 * state calls); it must never touch a receiver: what waits is not
 * claimed, so it is never counted as failed; a slot taken for a receiver
 * that never reached the server (busy, not due, quarantined) is given
 * back (ratelimit_give_back). Described in
 * msgspool.yaml(5) (smtp.rate) and spool-layout/README.md. */
#include "config.h"
#include "ratelimit.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STATE "rate"
/* Paced limits go 5% slower than asked: the server counts arrivals, and
 * the time from a slot to its MAIL (a claim's fsyncs, a loaded host, the
 * network) varies; 1% left 10 ms of it in a second of 50 and a server
 * could count 51 (a test saw it). 5% leaves about 50 ms. */
#define PACE 1.05

struct window {
	long n, per;		/* the limit */
	time_t start;		/* of the current window */
	long count;		/* taken in it */
	double next;		/* paced limits: the earliest time of the next one */
};

struct ratelimit {
	struct spool *sp;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct window w[4];
	int nw;
	bool stopping;
};

static double now_real(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double (*ratelimit_clock)(void) = now_real;

/* The start of the window of `per` seconds that holds `now`. */
static time_t window_start(time_t now, long per)
{
	return per == 86400 ? util_local_start(now, UTIL_DAY, 0) : now - now % per;
}

static time_t window_end(time_t start, long per)
{
	if (per != 86400)
		return start + per;
	return util_local_start(start + 86400 + 7200, UTIL_DAY, 0); /* the next local midnight, DST or not */
}

static bool paced(const struct window *w)
{
	return w->per <= 60;
}

/* Merges the counts the spool keeps, lines "PER START COUNT [NEXT]", into
 * ours: every process that sends (msgspoold, a send from cron) counts in
 * the same file, so the larger of two counts of one window is the truth;
 * a paced limit's NEXT is the earliest time anyone may send again (never
 * more than one interval ahead: a clock set back must not stop sending). */
static void load_counts(struct ratelimit *rl, double now)
{
	char *data;
	size_t len;
	if (spool_state_read(rl->sp, STATE, 4096, &data, &len) < 0)
		return;
	for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
		long per, count;
		long long start;
		double next = 0;
		if (sscanf(line, "%ld %lld %ld %lf", &per, &start, &count, &next) < 3)
			continue;
		for (int i = 0; i < rl->nw; i++) {
			struct window *w = &rl->w[i];
			if (w->per != per)
				continue;
			if (w->start == (time_t)start && count > w->count)
				w->count = count;
			double step = PACE * (double)w->per / (double)w->n;
			if (paced(w) && next > w->next)
				w->next = next > now + step ? now + step : next;
		}
	}
	free(data);
}

static void save_counts(struct ratelimit *rl)
{
	char buf[512];
	size_t len = 0;
	for (int i = 0; i < rl->nw; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "%ld %lld %ld %.3f\n", rl->w[i].per,
					(long long)rl->w[i].start, rl->w[i].count, rl->w[i].next);
	spool_state_write(rl->sp, STATE, buf, len); /* a lost count errs on the side of more mail */
}

void ratelimit_set(struct ratelimit *rl, const struct conf *c)
{
	pthread_mutex_lock(&rl->mu);
	struct window old[4];
	int nold = rl->nw;
	memcpy(old, rl->w, sizeof old);
	time_t now = (time_t)ratelimit_clock();
	rl->nw = c->smtp.nrates;
	for (int i = 0; i < rl->nw; i++) {
		rl->w[i] = (struct window){c->smtp.rate[i].n, c->smtp.rate[i].per, 0, 0, 0};
		rl->w[i].start = window_start(now, rl->w[i].per);
		for (int j = 0; j < nold; j++)
			if (old[j].per == rl->w[i].per && old[j].start == rl->w[i].start)
				rl->w[i].count = old[j].count;
	}
	pthread_cond_broadcast(&rl->cv);
	pthread_mutex_unlock(&rl->mu);
}

struct ratelimit *ratelimit_new(struct spool *sp, const struct conf *c)
{
	struct ratelimit *rl = util_xmalloc(sizeof *rl);
	memset(rl, 0, sizeof *rl);
	rl->sp = sp;
	pthread_mutex_init(&rl->mu, NULL);
	pthread_cond_init(&rl->cv, NULL);
	ratelimit_set(rl, c);
	load_counts(rl, ratelimit_clock());
	return rl;
}


/* 0 when every limit has room at `now`, else the time to look again. */
static double full_until(struct ratelimit *rl, double now)
{
	double until = 0;
	for (int i = 0; i < rl->nw; i++) {
		struct window *w = &rl->w[i];
		double end = paced(w) ? w->next : w->count >= w->n ? (double)window_end(w->start, w->per) : 0;
		if (end > now && (!until || end > until))
			until = end;
	}
	return until;
}

/* Tests ask (MSGSPOOL_TEST_RATELOG=FILE) when each slot was taken: the
 * limiter's own decisions, which a server's arrival times blur by the
 * time each send takes after its slot (claim, fsyncs, the session). */
static void trace_slot(double now)
{
	const char *path = getenv("MSGSPOOL_TEST_RATELOG");
	if (!path)
		return;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	char line[40];
	int n = snprintf(line, sizeof line, "%.6f\n", now);
	if (write(fd, line, (size_t)n) < 0) { /* a test's file: it sees the gap */
	}
	close(fd);
}

/* Under rl->mu and the spool's lock: the windows that hold `now` (a new
 * one starts at 0), with the counts the spool kept of them. */
static void load_current(struct ratelimit *rl, double now)
{
	for (int i = 0; i < rl->nw; i++) {
		struct window *w = &rl->w[i];
		time_t start = window_start((time_t)now, w->per);
		if (start != w->start) {
			w->start = start;
			w->count = 0;
		}
	}
	load_counts(rl, now);
}

/* Under rl->mu and the spool's lock of the counts (so that two processes
 * never both take the last slot): counts one when every limit has room
 * (only with `take`), else returns when to look again. */
static double take_locked(struct ratelimit *rl, bool take, double *at)
{
	int lock = spool_state_lock(rl->sp, STATE); /* without it, counting alone errs on the side of more mail */
	double now = ratelimit_clock();
	load_current(rl, now);
	double until = full_until(rl, now);
	if (!until && take) {
		for (int i = 0; i < rl->nw; i++) {
			struct window *w = &rl->w[i];
			w->count++;
			if (paced(w))
				w->next = (w->next > now ? w->next : now) + PACE * (double)w->per / (double)w->n;
		}
		save_counts(rl);
		trace_slot(now);
		if (at)
			*at = now;
	}
	if (lock >= 0)
		close(lock);
	return until;
}

int ratelimit_try(struct ratelimit *rl, double *until, double *at)
{
	pthread_mutex_lock(&rl->mu);
	int rc = rl->stopping ? -1 : 0;
	*until = rc == 0 && rl->nw ? take_locked(rl, true, at) : 0;
	pthread_mutex_unlock(&rl->mu);
	return rc < 0 ? -1 : *until ? 1 : 0;
}

static int wait_locked(struct ratelimit *rl, bool take, double *at)
{
	pthread_mutex_lock(&rl->mu);
	for (;;) {
		if (rl->stopping) {
			pthread_mutex_unlock(&rl->mu);
			return -1;
		}
		double until = rl->nw ? take_locked(rl, take, at) : 0;
		if (!until)
			break;
		struct timespec ts;
		ts.tv_sec = (time_t)until;
		ts.tv_nsec = (long)((until - (double)ts.tv_sec) * 1e9);
		pthread_cond_timedwait(&rl->cv, &rl->mu, &ts);
	}
	pthread_mutex_unlock(&rl->mu);
	return 0;
}

int ratelimit_take(struct ratelimit *rl, double *at)
{
	return wait_locked(rl, true, at);
}

int ratelimit_room(struct ratelimit *rl)
{
	return wait_locked(rl, false, NULL);
}

void ratelimit_give_back(struct ratelimit *rl, double at)
{
	if (!rl)
		return;
	pthread_mutex_lock(&rl->mu);
	if (rl->nw) {
		int lock = spool_state_lock(rl->sp, STATE);
		/* The current windows first: saved, the counts of windows
		 * gone by would replace another's of the new ones. */
		load_current(rl, ratelimit_clock());
		bool changed = false;
		for (int i = 0; i < rl->nw; i++) {
			struct window *w = &rl->w[i];
			/* Only in the window it was taken in: a slot of the hour
			 * before is not one of this hour's. A paced limit keeps its
			 * pace (the slot cost 1/n of its period, not a share of a
			 * quota), so no second ever gives out more than n. */
			if (w->start == window_start((time_t)at, w->per) && w->count > 0 && !paced(w)) {
				w->count--;
				changed = true;
			}
		}
		if (changed)
			save_counts(rl);
		if (lock >= 0)
			close(lock);
		pthread_cond_broadcast(&rl->cv);
	}
	pthread_mutex_unlock(&rl->mu);
}

void ratelimit_stop(struct ratelimit *rl)
{
	pthread_mutex_lock(&rl->mu);
	rl->stopping = true;
	pthread_cond_broadcast(&rl->cv);
	pthread_mutex_unlock(&rl->mu);
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	pthread_cond_destroy(&rl->cv);
	pthread_mutex_destroy(&rl->mu);
	free(rl);
}

int ratelimit_usage(struct spool *sp, const struct conf *c, struct ratelimit_use use[4])
{
	if (!c->smtp.nrates)
		return 0;
	struct ratelimit *rl = ratelimit_new(sp, c);
	int n = rl->nw;
	for (int i = 0; i < n; i++)
		use[i] = (struct ratelimit_use){rl->w[i].per, rl->w[i].n, rl->w[i].count};
	ratelimit_free(rl);
	return n;
}

void ratelimit_print_usage(FILE *f, struct spool *sp, const struct conf *c)
{
	static const char *const names[] = {"this second", "this minute", "this hour", "today"};
	struct ratelimit_use u[4];
	int n = ratelimit_usage(sp, c, u);
	if (!n)
		return;
	fprintf(f, "\nrate (smtp.rate, over all connections):");
	for (int i = 0; i < n; i++) {
		int k = u[i].per == 1 ? 0 : u[i].per == 60 ? 1 : u[i].per == 3600 ? 2 : 3;
		fprintf(f, "%s %ld of %ld %s", i ? "," : "", u[i].count, u[i].limit, names[k]);
	}
	fputc('\n', f);
}

int ratelimit_wait_room(struct ratelimit *rl, double max_wait, double *until, void (*waiting)(void *), void *ctx)
{
	bool said = false;
	for (;;) {
		pthread_mutex_lock(&rl->mu);
		*until = rl->nw ? take_locked(rl, false, NULL) : 0;
		pthread_mutex_unlock(&rl->mu);
		if (!*until)
			break;
		double wait = *until - ratelimit_clock();
		if (wait > max_wait)
			return 1;
		if (waiting && !said)
			waiting(ctx);
		said = true;
		if (wait > 0) {
			struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
			nanosleep(&ts, NULL);
		}
	}
	return 0;
}
