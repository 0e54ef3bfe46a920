/* maildir: the transport that writes each message as a .eml file into a
 * Maildir (tmp/, fsync, rename into new/): the embedded default for demos
 * and development, and a way to hand mail to anything that reads Maildirs.
 * Owns: the configured Maildir and the names of the files it writes there.
 * Never: touches the spool, or leaves a half-written file in new/ (a file
 * appears there whole, by rename, after its fsync).
 * Rules: the Maildir convention (tmp/ then new/, unique names),
 * man/msgspool.conf.5 (maildir.path). */
#include "config.h"
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct maildir {
	int tmpfd, newfd;
	char *path;
	char host[64];
};

static int open_sub(const char *path, const char *sub)
{
	char p[4200];
	snprintf(p, sizeof p, "%s/%s", path, sub);
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		return -1;
	return open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static void maildir_close(void *impl);

static void *maildir_open(const struct conf *c, char *err, size_t errsz)
{
	struct maildir *m = util_xmalloc(sizeof *m);
	m->tmpfd = m->newfd = -1;
	if ((mkdir(c->maildir.path, 0700) < 0 && errno != EEXIST) ||
	    (m->tmpfd = open_sub(c->maildir.path, "tmp")) < 0 ||
	    (m->newfd = open_sub(c->maildir.path, "new")) < 0) {
		snprintf(err, errsz, "%s: cannot open maildir: %s", c->maildir.path, strerror(errno));
		maildir_close(m);
		return NULL;
	}
	int cur = open_sub(c->maildir.path, "cur");
	if (cur >= 0)
		close(cur);
	m->path = strdup(c->maildir.path);
	gethostname(m->host, sizeof m->host - 1);
	for (char *p = m->host; *p; p++)
		if (*p == '/' || *p == ':')
			*p = '_';
	return m;
}

static enum transport_outcome io_fail(struct transport_result *res, const char *what, const char *path)
{
	snprintf(res->error, sizeof res->error, "maildir: %s %s: %s", what, path, strerror(errno));
	util_buf_printf(&res->transcript, "%s\n", res->error);
	/* A full disk or a permission problem is temporary from the queue's view. */
	return TRANSPORT_TEMP;
}

static enum transport_outcome maildir_send(void *impl, const char *from, const char *rcpt,
					   const char *msg, size_t len, struct transport_result *res, bool hold)
{
	(void)hold; /* a file has no reply to wait for */
	struct maildir *m = impl;
	struct timespec ts;
	unsigned char r[4] = {0};
	char name[256];
	clock_gettime(CLOCK_REALTIME, &ts);
	if (getrandom(r, sizeof r, 0) < 0)
		memset(r, 0, sizeof r);
	snprintf(name, sizeof name, "%lld.M%06ldP%ldR%02x%02x%02x%02x.%s.eml", (long long)ts.tv_sec,
		 ts.tv_nsec / 1000, (long)getpid(), r[0], r[1], r[2], r[3], m->host);
	int fd = openat(m->tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return io_fail(res, "create", name);
	/* Maildir files use LF line ends; the envelope goes in Return-Path and
	 * Delivered-To, as a local delivery agent would write them. */
	struct util_buf b = {0};
	util_buf_printf(&b, "Return-Path: <%s>\nDelivered-To: %s\n", from, rcpt);
	/* Copy runs between CRLFs, dropping each CR. */
	const char *p = msg, *end = msg + len;
	while (p < end) {
		const char *cr = memchr(p, '\r', (size_t)(end - p));
		while (cr && !(cr + 1 < end && cr[1] == '\n'))
			cr = memchr(cr + 1, '\r', (size_t)(end - cr - 1));
		const char *stop = cr ? cr : end;
		util_buf_add(&b, p, (size_t)(stop - p));
		p = cr ? cr + 1 : end;
	}
	int rc = util_write_all(fd, b.data, b.len);
	if (rc == 0)
		rc = fsync(fd);
	int e = errno;
	close(fd);
	util_buf_free(&b);
	errno = e;
	if (rc < 0) {
		unlinkat(m->tmpfd, name, 0);
		errno = e;
		return io_fail(res, "write", name);
	}
	if (renameat(m->tmpfd, name, m->newfd, name) < 0 || fsync(m->newfd) < 0) {
		e = errno;
		unlinkat(m->tmpfd, name, 0);
		errno = e;
		return io_fail(res, "deliver", name);
	}
	util_buf_printf(&res->transcript, "maildir: delivered to %s/new/%s\n", m->path, name);
	snprintf(res->error, sizeof res->error, "delivered to maildir");
	return TRANSPORT_SENT;
}

static void maildir_close(void *impl)
{
	struct maildir *m = impl;
	if (!m)
		return;
	util_close_fds((int[]){m->tmpfd, m->newfd}, 2);
	free(m->path);
	free(m);
}

static void maildir_describe(const void *impl, char *buf, size_t n)
{
	const struct maildir *m = impl;
	snprintf(buf, n, "maildir %s", m->path);
}

/* Files, no SMTP between: 8bit always, nothing to idle. */
const struct transport_ops transport_maildir = {
	.open = maildir_open,
	.send = maildir_send,
	.close = maildir_close,
	.describe = maildir_describe,
};
