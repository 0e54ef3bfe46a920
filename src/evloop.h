/* evloop: the daemon's main loop: signals through a signalfd, names
 * appearing in one watched directory through inotify, an eventfd that any
 * thread may ring, and timers the owner computes. */
#ifndef MSGSPOOL_EVLOOP_H
#define MSGSPOOL_EVLOOP_H

#include <time.h>

struct evloop_ops {
	void *ctx;
	void (*on_hup)(void *ctx);			/* SIGHUP */
	void (*on_name)(void *ctx, const char *name);	/* a name moved or written into the directory */
	void (*on_overflow)(void *ctx);			/* names were lost: look at the whole directory */
	void (*on_wake)(void *ctx);			/* evloop_wake was called */
	/* Runs what is due at `now`; returns when it wants to be called next. */
	time_t (*on_timer)(void *ctx, time_t now);
};

struct evloop {
	int sfd, ifd, wakefd;
};

/* Blocks TERM, INT and HUP for every thread started after it (they arrive
 * through the loop) and watches `dir`. -1 with errno on failure. */
int evloop_open(struct evloop *ev, const char *dir);
/* Runs until SIGTERM or SIGINT; -1 when poll fails. */
int evloop_run(struct evloop *ev, const struct evloop_ops *ops);
/* From any thread: on_wake runs soon in the loop's thread. */
void evloop_wake(struct evloop *ev);
void evloop_close(struct evloop *ev);

#endif
