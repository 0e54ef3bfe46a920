/* dlog: the daemon's log lines. It owns their form (time stamp, pid, one
 * write per line) and where they go; it must never block a worker on
 * anything but the write itself. What the lines say is msgspoold(8)'s. */
#include "config.h"
#include "dlog.h"
#include "util.h"

#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static bool log_stderr = true;
/* Set again after daemonize forks: glibc no longer caches getpid, and a
 * system call per log line is a system call per receiver. */
static pid_t log_pid;

void dlog_open(bool foreground)
{
	log_pid = getpid();
	log_stderr = foreground;
	if (!foreground)
		openlog("msgspoold", LOG_PID, LOG_MAIL);
}

void dlog_set_pid(void)
{
	log_pid = getpid();
}

static void vlogmsg(int prio, const char *fmt, va_list ap)
{
	if (!log_stderr) {
		char msg[2048];
		util_vformat_escaped(msg, sizeof msg, fmt, ap); /* a producer's text stays on one line */
		syslog(prio, "%s", msg);
		return;
	}
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
	/* One write per line: lines from worker threads never interleave. */
	char line[2048];
	int n = snprintf(line, sizeof line, "%s.%03ld msgspoold[%ld]: ", stamp, ts.tv_nsec / 1000000, (long)log_pid);
	if (n < 0 || (size_t)n >= sizeof line)
		n = 0;
	util_vformat_escaped(line + n, sizeof line - (size_t)n - 1, fmt, ap); /* one line, whatever it quotes */
	int m = (int)strlen(line + n);
	size_t len = (size_t)n + (size_t)m < sizeof line - 1 ? (size_t)n + (size_t)m : sizeof line - 2;
	line[len++] = '\n';
	fwrite(line, 1, len, stderr);
	fflush(stderr);
}

void dlog(int prio, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlogmsg(prio, fmt, ap);
	va_end(ap);
}

void dlog_fn(void *ctx, int prio, const char *fmt, ...)
{
	(void)ctx;
	va_list ap;
	va_start(ap, fmt);
	vlogmsg(prio, fmt, ap);
	va_end(ap);
}
