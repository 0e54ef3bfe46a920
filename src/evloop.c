/* evloop: one thread's poll over a signalfd, an inotify descriptor and an
 * eventfd, with a deadline its owner computes. It owns those descriptors
 * and the signal mask; it must never do the work itself (the callbacks
 * do), nor read the spool. The daemon's loop is described in msgspoold(8). */
#include "config.h"
#include "evloop.h"
#include "dlog.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <syslog.h>
#include <unistd.h>

int evloop_open(struct evloop *ev, const char *dir)
{
	/* Signals arrive through a file descriptor, in the main thread only. */
	sigset_t sigs;
	util_block_stop_signals(&sigs);
	signal(SIGIO, SIG_IGN); /* a read lease broken while spool_claim_settled holds it */
	ev->sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
	ev->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ev->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (ev->sfd < 0 || ev->ifd < 0 || ev->wakefd < 0 ||
	    inotify_add_watch(ev->ifd, dir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0)
		return -1;
	return 0;
}

void evloop_wake(struct evloop *ev)
{
	uint64_t one = 1;
	if (write(ev->wakefd, &one, sizeof one) < 0)
		dlog(LOG_ERR, "eventfd: %s", strerror(errno));
}

static void read_names(struct evloop *ev, const struct evloop_ops *ops)
{
	char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t len;
	while ((len = read(ev->ifd, buf, sizeof buf)) > 0) {
		for (char *p = buf; p < buf + len;) {
			struct inotify_event *e = (struct inotify_event *)p;
			if (e->mask & IN_Q_OVERFLOW)
				ops->on_overflow(ops->ctx);
			else if (e->len)
				ops->on_name(ops->ctx, e->name);
			p += sizeof *e + e->len;
		}
	}
}

/* false for TERM and INT. */
static bool read_signal(struct evloop *ev, const struct evloop_ops *ops)
{
	struct signalfd_siginfo si;
	if (read(ev->sfd, &si, sizeof si) != (ssize_t)sizeof si)
		return true;
	if (si.ssi_signo != SIGHUP)
		return false;
	ops->on_hup(ops->ctx);
	return true;
}

int evloop_run(struct evloop *ev, const struct evloop_ops *ops)
{
	time_t next = ops->on_timer(ops->ctx, time(NULL));
	for (bool running = true; running;) {
		time_t now = time(NULL);
		struct pollfd pfd[3] = {{ev->ifd, POLLIN, 0}, {ev->sfd, POLLIN, 0}, {ev->wakefd, POLLIN, 0}};
		int timeout = next > now ? (int)(next - now) * 1000 : 0;
		int n = poll(pfd, 3, timeout);
		if (n > 0 && (pfd[2].revents & POLLIN)) {
			uint64_t v;
			if (read(ev->wakefd, &v, sizeof v) == (ssize_t)sizeof v)
				ops->on_wake(ops->ctx);
		}
		if (n < 0 && errno != EINTR) {
			dlog(LOG_ERR, "poll: %s", strerror(errno));
			return -1;
		}
		if (n > 0 && (pfd[0].revents & POLLIN))
			read_names(ev, ops);
		if (n > 0 && (pfd[1].revents & POLLIN))
			running = read_signal(ev, ops);
		next = ops->on_timer(ops->ctx, time(NULL));
	}
	return 0;
}

void evloop_close(struct evloop *ev)
{
	close(ev->ifd);
	close(ev->sfd);
	close(ev->wakefd);
}
