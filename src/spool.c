/* spool: directories, ids, atomic durable writes, claims and moves.
 *
 * Every state change is a rename; every rename that matters is followed by
 * an fsync of the directories it touched, and every file that is renamed
 * into place was fsynced first. Renames that must not overwrite use
 * renameat2(RENAME_NOREPLACE), falling back to link()+unlink() where the
 * file system lacks it (NFS), which is the Maildir way. */
#include "config.h"
#include "spool.h"
#include "util.h"

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define SPOOL_POOL_MAX 64

/* Inodes kept for reuse by commits: an ext4 inode allocated and freed per
 * receiver costs more CPU than the rest of a delivery (see BENCHMARKS.md). */
struct spool_pool {
	int fd[SPOOL_POOL_MAX];		/* read-only, holding the inode's flock */
	off_t size[SPOOL_POOL_MAX];	/* of what it holds: shrinking needs a truncate */
	char name[SPOOL_POOL_MAX][48];	/* tmp/pool.PID.RANDOM */
	int n;
};

struct spool_shared;

struct spool {
	char *root;
	int rootfd;
	int dirfd[SPOOL_NSTATUS];
	int tmpfd;
	int msgfd;
	struct spool_pool pool;
	struct spool_shared *shared;	/* the pool's lock and group fsync: commits come from many threads */
};

static const char *const status_dirs[SPOOL_NSTATUS] = {
	"new", "active", "failed", "error", "sent", "corrupt"};
static const char *const status_names[SPOOL_NSTATUS] = {
	"not_sent", "active", "failed", "error", "sent", "corrupt"};

#define SUFFIX ".yaml"
#define SUFFIX_LEN 5

const char *spool_status_name(enum spool_status st)
{
	return status_names[st];
}

const char *spool_status_dir(enum spool_status st)
{
	return status_dirs[st];
}

int spool_status_parse(const char *s, enum spool_status *out)
{
	for (int i = 0; i < SPOOL_NSTATUS; i++) {
		if (!strcmp(s, status_names[i]) || !strcmp(s, status_dirs[i])) {
			*out = (enum spool_status)i;
			return 0;
		}
	}
	errno = EINVAL;
	return -1;
}

bool spool_id_valid(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > SPOOL_ID_MAX || id[0] == '.' || strstr(id, ".."))
		return false;
	for (const char *p = id; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

bool spool_name_to_id(const char *name, char *id, size_t idsz)
{
	size_t n = strlen(name);
	if (n <= SUFFIX_LEN || strcmp(name + n - SUFFIX_LEN, SUFFIX) != 0)
		return false;
	n -= SUFFIX_LEN;
	if (n >= idsz || n > SPOOL_ID_MAX)
		return false;
	memcpy(id, name, n);
	id[n] = '\0';
	return spool_id_valid(id);
}

/* ID.yaml into buf; empty (a name no call finds) when it does not fit,
 * which valid ids never do. Called several times per delivery: no printf. */
static void file_name(const char *id, char *buf, size_t n)
{
	size_t l = strlen(id);
	if (l + SUFFIX_LEN + 1 > n) {
		if (n)
			buf[0] = '\0';
		return;
	}
	memcpy(buf, id, l);
	memcpy(buf + l, SUFFIX, SUFFIX_LEN + 1);
}

void spool_new_id(char *buf, size_t n)
{
	struct timespec ts;
	struct tm tm;
	unsigned char rnd[8];
	char stamp[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
		/* Not reached on Linux >= 3.17; still unique per process and time. */
		unsigned long long x = (unsigned long long)getpid() << 32 ^ (unsigned long long)ts.tv_nsec;
		memcpy(rnd, &x, sizeof rnd);
	}
	snprintf(buf, n, "%s.%06ldZ-%02x%02x%02x%02x%02x%02x%02x%02x", stamp, ts.tv_nsec / 1000,
		 rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
}

void spool_path(const struct spool *sp, enum spool_status st, const char *id, char *buf, size_t n)
{
	if (id)
		snprintf(buf, n, "%s/%s/%s" SUFFIX, sp->root, status_dirs[st], id);
	else
		snprintf(buf, n, "%s/%s", sp->root, status_dirs[st]);
}

/* ---- opening ---- */

static int mkdir_mode(int parent, const char *name, mode_t mode, gid_t group)
{
	if (mkdirat(parent, name, mode) < 0 && errno != EEXIST)
		return -1;
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = 0;
	if (group != (gid_t)-1 && fchown(fd, (uid_t)-1, group) < 0)
		rc = -1;
	/* chmod after mkdir: the umask must not weaken or widen what we chose. */
	if (rc == 0 && fchmod(fd, mode) < 0)
		rc = -1;
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

int spool_init(const char *root, gid_t group)
{
	bool grp = group != (gid_t)-1;
	if (mkdir(root, 0750) < 0 && errno != EEXIST)
		return -1;
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -1;
	int rc = 0;
	if ((grp && fchown(rootfd, (uid_t)-1, group) < 0) || fchmod(rootfd, grp ? 0750 : 0700) < 0)
		rc = -1;
	/* Producers (the group) write tmp/, new/ and messages/ only; setgid keeps
	 * the group on their files. */
	mode_t prod = grp ? 02770 : 0700, own = grp ? 0750 : 0700;
	const char *names[] = {"tmp", "new", "messages", "active", "failed", "error", "sent", "corrupt"};
	for (size_t i = 0; rc == 0 && i < sizeof names / sizeof *names; i++)
		rc = mkdir_mode(rootfd, names[i], i < 3 ? prod : own, group);
	if (rc == 0)
		rc = fsync(rootfd);
	int e = errno;
	close(rootfd);
	errno = e;
	return rc;
}

/* Group commit of a directory: an fsync that starts after a change covers
 * it, so callers that arrive while one runs share the next. */
struct dir_sync {
	pthread_cond_t cv;
	unsigned long started, done, failed; /* generations; failed: the last that failed */
	int err;
	bool running;
};

struct spool_shared {
	pthread_mutex_t mu;
	struct dir_sync dir[SPOOL_NSTATUS];
};

static int open_tree(struct spool *sp, const char *root);

int spool_open(struct spool **out, const char *root)
{
	struct spool *sp = calloc(1, sizeof *sp);
	*out = NULL;
	if (!sp)
		return -1;
	if (open_tree(sp, root) < 0) {
		int e = errno;
		spool_close(sp);
		errno = e;
		return -1;
	}
	*out = sp;
	return 0;
}

static int open_tree(struct spool *sp, const char *root)
{
	sp->rootfd = sp->tmpfd = sp->msgfd = -1;
	for (int i = 0; i < SPOOL_NSTATUS; i++)
		sp->dirfd[i] = -1;
	sp->root = strdup(root);
	sp->shared = calloc(1, sizeof *sp->shared);
	if (!sp->root || !sp->shared)
		return -1;
	pthread_mutex_init(&sp->shared->mu, NULL);
	for (int i = 0; i < SPOOL_NSTATUS; i++)
		pthread_cond_init(&sp->shared->dir[i].cv, NULL);
	sp->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->rootfd < 0)
		return -1;
	for (int i = 0; i < SPOOL_NSTATUS; i++) {
		sp->dirfd[i] = openat(sp->rootfd, status_dirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sp->dirfd[i] < 0)
			return -1;
	}
	sp->tmpfd = openat(sp->rootfd, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	sp->msgfd = openat(sp->rootfd, "messages", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return sp->tmpfd < 0 || sp->msgfd < 0 ? -1 : 0;
}

void spool_close(struct spool *sp)
{
	if (!sp)
		return;
	/* Pooled inodes are spare copies in tmp/: give them back. */
	for (int i = 0; i < sp->pool.n; i++) {
		if (sp->tmpfd >= 0)
			unlinkat(sp->tmpfd, sp->pool.name[i], 0);
		close(sp->pool.fd[i]);
	}
	sp->pool.n = 0;
	if (sp->shared) {
		for (int i = 0; i < SPOOL_NSTATUS; i++)
			pthread_cond_destroy(&sp->shared->dir[i].cv);
		pthread_mutex_destroy(&sp->shared->mu);
		free(sp->shared);
	}
	for (int i = 0; i < SPOOL_NSTATUS; i++)
		if (sp->dirfd[i] >= 0)
			close(sp->dirfd[i]);
	if (sp->tmpfd >= 0)
		close(sp->tmpfd);
	if (sp->msgfd >= 0)
		close(sp->msgfd);
	if (sp->rootfd >= 0)
		close(sp->rootfd);
	free(sp->root);
	free(sp);
}

const char *spool_root(const struct spool *sp)
{
	return sp->root;
}

int spool_stat_root(struct spool *sp, struct stat *st)
{
	return fstat(sp->rootfd, st);
}

int spool_pool_count(struct spool *sp)
{
	return sp->pool.n;
}

/* ---- primitives ---- */

/* rename that never replaces: renameat2, or link+unlink where unsupported. */
static int rename_noreplace(int fromfd, const char *from, int tofd, const char *to)
{
	if (renameat2(fromfd, from, tofd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (linkat(fromfd, from, tofd, to, 0) < 0)
		return -1;
	if (unlinkat(fromfd, from, 0) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

/* Writes a new file tmp/NAME, fsynced when asked; returns its fd (locked
 * when asked). */
static int write_tmp(struct spool *sp, const char *name, const void *data, size_t len, bool lock, bool sync)
{
	int fd = openat(sp->tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	if ((lock && flock(fd, LOCK_EX) < 0) || util_write_all(fd, data, len) < 0 || (sync && fsync(fd) < 0)) {
		int e = errno;
		close(fd);
		unlinkat(sp->tmpfd, name, 0);
		errno = e;
		return -1;
	}
	return fd;
}

/* A name in tmp/ no other process or host picks: PREFIX.PID.RANDOM+SUFFIX. */
static void unique_name(char *name, size_t namesz, const char *prefix, const char *suffix)
{
	unsigned char r[6];
	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
		memset(r, 0, sizeof r);
	snprintf(name, namesz, "%s.%ld.%02x%02x%02x%02x%02x%02x%s", prefix, (long)getpid(), r[0], r[1], r[2], r[3],
		 r[4], r[5], suffix);
}

int spool_stat(struct spool *sp, enum spool_status st, const char *id, struct stat *s)
{
	char name[SPOOL_ID_MAX + 16];
	file_name(id, name, sizeof name);
	return fstatat(sp->dirfd[st], name, s, AT_SYMLINK_NOFOLLOW);
}

#define CACHE_NAME ".list-cache"

static int read_named(int dirfd, const char *name, size_t max, char **data, size_t *len,
		      struct stat *stp);

int spool_cache_read(struct spool *sp, size_t max, char **data, size_t *len)
{
	return read_named(sp->rootfd, CACHE_NAME, max, data, len, NULL);
}

/* No fsync: losing the cache in a crash costs one slow listing, no more. */
int spool_cache_write(struct spool *sp, const void *data, size_t len)
{
	char tmp[64];
	snprintf(tmp, sizeof tmp, CACHE_NAME ".%ld", (long)getpid());
	int fd = openat(sp->tmpfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	int rc = util_write_all(fd, data, len);
	close(fd);
	if (rc == 0)
		rc = renameat(sp->tmpfd, tmp, sp->rootfd, CACHE_NAME);
	if (rc < 0)
		unlinkat(sp->tmpfd, tmp, 0);
	return rc;
}

bool spool_exists(struct spool *sp, enum spool_status st, const char *id)
{
	char name[SPOOL_ID_MAX + 16];
	struct stat s;
	file_name(id, name, sizeof name);
	return fstatat(sp->dirfd[st], name, &s, AT_SYMLINK_NOFOLLOW) == 0;
}

int spool_locate(struct spool *sp, const char *id, enum spool_status *st)
{
	char name[SPOOL_ID_MAX + 16];
	struct stat s;
	file_name(id, name, sizeof name);
	for (int i = 0; i < SPOOL_NSTATUS; i++) {
		if (fstatat(sp->dirfd[i], name, &s, AT_SYMLINK_NOFOLLOW) == 0) {
			*st = (enum spool_status)i;
			return 0;
		}
		if (errno != ENOENT)
			return -1;
	}
	errno = ENOENT;
	return -1;
}

int spool_enqueue(struct spool *sp, const char *id, const void *data, size_t len)
{
	char tmpname[SPOOL_ID_MAX + 64], name[SPOOL_ID_MAX + 16];
	enum spool_status st;
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	if (spool_locate(sp, id, &st) == 0) {
		errno = EEXIST;
		return -1;
	}
	if (errno != ENOENT)
		return -1;
	file_name(id, name, sizeof name);
	unique_name(tmpname, sizeof tmpname, name, ".tmp");
	int fd = write_tmp(sp, tmpname, data, len, false, true);
	if (fd < 0)
		return -1;
	close(fd);
	if (rename_noreplace(sp->tmpfd, tmpname, sp->dirfd[SPOOL_NEW], name) < 0) {
		int e = errno;
		unlinkat(sp->tmpfd, tmpname, 0);
		errno = e;
		return -1;
	}
	return fsync(sp->dirfd[SPOOL_NEW]);
}

/* Opens a spool file for reading: never follows a link, never blocks on a
 * FIFO, and refuses anything but a regular file. */
static int open_regular(int dirfd, const char *name, struct stat *stp)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -1; /* ELOOP: a symbolic link, never followed */
	if (fstat(fd, stp) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (!S_ISREG(stp->st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	/* O_NONBLOCK stays: it changes nothing for a regular file. */
	return fd;
}

static int read_named(int dirfd, const char *name, size_t max, char **data, size_t *len,
		      struct stat *stp)
{
	struct stat s;
	int fd = open_regular(dirfd, name, stp ? stp : &s);
	if (fd < 0)
		return -1;
	if ((size_t)(stp ? stp : &s)->st_size > max) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	int rc = util_read_fd(fd, max, data, len);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

int spool_read(struct spool *sp, enum spool_status st, const char *id, size_t max,
	       char **data, size_t *len, struct stat *stp)
{
	char name[SPOOL_ID_MAX + 16];
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	file_name(id, name, sizeof name);
	return read_named(sp->dirfd[st], name, max, data, len, stp);
}

static int scan_dir(int dirfd, int (*cb)(const char *id, void *ctx), void *ctx)
{
	int fd = dup(dirfd);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	rewinddir(d);
	struct dirent *de;
	char id[SPOOL_ID_MAX + 1];
	int rc = 0;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!spool_name_to_id(de->d_name, id, sizeof id))
			continue;
		if ((rc = cb(id, ctx)) != 0)
			break;
		errno = 0;
	}
	if (!de && errno)
		rc = -1;
	int e = errno;
	closedir(d);
	errno = e;
	return rc;
}

int spool_scan(struct spool *sp, enum spool_status st, int (*cb)(const char *id, void *ctx), void *ctx)
{
	return scan_dir(sp->dirfd[st], cb, ctx);
}

struct find_ctx {
	const char *prefix;
	size_t plen;
	int matches;
	bool exact;
	enum spool_status cur, st;
	char *id;
	size_t idsz;
};

static int find_cb(const char *id, void *vctx)
{
	struct find_ctx *f = vctx;
	if (strncmp(id, f->prefix, f->plen) != 0)
		return 0;
	bool exact = id[f->plen] == '\0';
	if (f->exact && !exact)
		return 0;
	if (exact && !f->exact) {
		f->exact = true;
		f->matches = 0;
	}
	if (f->matches == 0 || strcmp(id, f->id) != 0)
		f->matches++;
	snprintf(f->id, f->idsz, "%s", id);
	f->st = f->cur;
	return 0;
}

int spool_find(struct spool *sp, const char *prefix, enum spool_status *st, char *id, size_t idsz)
{
	struct find_ctx f = {.prefix = prefix, .plen = strlen(prefix), .id = id, .idsz = idsz};
	if (f.plen == 0 || f.plen > SPOOL_ID_MAX)
		return SPOOL_NOT_FOUND;
	for (const char *p = prefix; *p; p++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *p))
			return SPOOL_NOT_FOUND;
	if (id && idsz)
		id[0] = '\0';
	for (int i = 0; i < SPOOL_NSTATUS; i++) {
		f.cur = (enum spool_status)i;
		if (spool_scan(sp, f.cur, find_cb, &f) < 0)
			return -1;
	}
	if (f.matches == 0)
		return SPOOL_NOT_FOUND;
	if (f.matches > 1)
		return SPOOL_AMBIGUOUS;
	*st = f.st;
	return SPOOL_FOUND;
}

/* ---- claims ---- */

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

int spool_claim(struct spool *sp, enum spool_status from, const char *id, struct spool_claim *c)
{
	char name[SPOOL_ID_MAX + 16];
	struct stat now;
	memset(c, 0, sizeof *c);
	c->fd = -1;
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	snprintf(c->id, sizeof c->id, "%s", id);
	c->from = from;
	file_name(id, name, sizeof name);
	int fd = open_regular(sp->dirfd[from], name, &c->st);
	if (fd < 0)
		return errno == ENOENT ? SPOOL_BUSY : -1;
	/* The lock travels with the inode through the rename, so recovery in
	 * another process can tell a live claim from a crashed one. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return e == EWOULDBLOCK ? SPOOL_BUSY : -1;
	}
	/* Someone may have claimed, finished and replaced it since we opened. */
	if (fstatat(sp->dirfd[from], name, &now, AT_SYMLINK_NOFOLLOW) < 0 || !same_file(&now, &c->st)) {
		close(fd);
		return SPOOL_BUSY;
	}
	if (from != SPOOL_ACTIVE &&
	    rename_noreplace(sp->dirfd[from], name, sp->dirfd[SPOOL_ACTIVE], name) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return (e == ENOENT || e == EEXIST) ? SPOOL_BUSY : -1;
	}
	c->fd = fd;
	return SPOOL_CLAIMED;
}

int spool_claim_read(struct spool_claim *c, size_t max, char **data, size_t *len)
{
	if ((size_t)c->st.st_size > max) {
		errno = EFBIG;
		return -1;
	}
	if (lseek(c->fd, 0, SEEK_SET) < 0)
		return -1;
	return util_read_fd(c->fd, max, data, len);
}

/* Makes the changes so far to a status directory durable, sharing the
 * fsync with any thread that needs the same. */
static int sync_dir(struct spool *sp, enum spool_status st)
{
	struct dir_sync *ds = &sp->shared->dir[st];
	pthread_mutex_lock(&sp->shared->mu);
	/* One running now may have started before our change. */
	unsigned long need = ds->started + 1;
	while (ds->done < need) {
		if (ds->running) {
			pthread_cond_wait(&ds->cv, &sp->shared->mu);
			continue;
		}
		ds->running = true;
		unsigned long gen = ++ds->started;
		pthread_mutex_unlock(&sp->shared->mu);
		int rc = fsync(sp->dirfd[st]);
		int e = errno;
		pthread_mutex_lock(&sp->shared->mu);
		ds->running = false;
		ds->done = gen;
		if (rc < 0) {
			ds->failed = gen;
			ds->err = e;
		}
		pthread_cond_broadcast(&ds->cv);
	}
	/* A failure in a later generation is reported too: conservative. */
	int rc = ds->failed >= need ? -1 : 0;
	int e = ds->err;
	pthread_mutex_unlock(&sp->shared->mu);
	if (rc < 0)
		errno = e;
	return rc;
}

static int sync_dirs(struct spool *sp, enum spool_status a, enum spool_status b)
{
	if (sync_dir(sp, a) < 0)
		return -1;
	if (a != b && sync_dir(sp, b) < 0)
		return -1;
	return 0;
}

/* Writes the new content of a commit into a pooled inode (overwritten in
 * place: no blocks freed and allocated again), not flushed yet. Returns
 * the pooled read-only fd, which holds the inode's flock, or -1 (then
 * create one). */
static int pool_write(struct spool *sp, const void *data, size_t len, char *name, size_t namesz)
{
	int fd = -1;
	off_t size = 0;
	pthread_mutex_lock(&sp->shared->mu);
	if (sp->pool.n > 0) {
		sp->pool.n--;
		fd = sp->pool.fd[sp->pool.n];
		size = sp->pool.size[sp->pool.n];
		snprintf(name, namesz, "%s", sp->pool.name[sp->pool.n]);
	}
	pthread_mutex_unlock(&sp->shared->mu);
	if (fd < 0)
		return -1;
	/* Claims are read-only: a second descriptor to write (a producer's
	 * file we may not write is simply let go). */
	int wfd = openat(sp->tmpfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (wfd < 0 || util_write_all(wfd, data, len) < 0 ||
	    ((off_t)len < size && ftruncate(wfd, (off_t)len) < 0)) {
		unlinkat(sp->tmpfd, name, 0);
		if (wfd >= 0)
			close(wfd);
		close(fd);
		return -1;
	}
	close(wfd);
	return fd;
}

/* Keeps the inode a commit swapped out of active/ (now tmp/NAME, still
 * locked by fd) for the next commit; frees it when the pool is full. */
static void pool_add(struct spool *sp, int fd, const char *name, off_t size)
{
	pthread_mutex_lock(&sp->shared->mu);
	if (sp->pool.n < SPOOL_POOL_MAX) {
		sp->pool.fd[sp->pool.n] = fd;
		sp->pool.size[sp->pool.n] = size;
		snprintf(sp->pool.name[sp->pool.n], sizeof sp->pool.name[0], "%.47s", name);
		sp->pool.n++;
		fd = -1;
	}
	pthread_mutex_unlock(&sp->shared->mu);
	if (fd >= 0) {
		unlinkat(sp->tmpfd, name, 0);
		close(fd);
	}
}

static void job_fail(struct spool_commit *j, int fd, struct spool *sp, const char *tmpname)
{
	j->rc = -1;
	j->err = errno;
	if (tmpname)
		unlinkat(sp->tmpfd, tmpname, 0);
	if (fd >= 0)
		close(fd);
}

size_t spool_commit_batch(struct spool *sp, struct spool_commit *jobs, size_t n)
{
	enum { MAXB = 64 };
	char tmpname[MAXB][48];
	int fd[MAXB];
	if (n > MAXB) {
		size_t failed = spool_commit_batch(sp, jobs + MAXB, n - MAXB);
		return failed + spool_commit_batch(sp, jobs, MAXB);
	}
	/* Write every file, then start all their writeback at once, then wait
	 * for each: the disk sees them together instead of one at a time. */
	for (size_t i = 0; i < n; i++) {
		struct spool_commit *j = &jobs[i];
		j->rc = 0;
		j->err = 0;
		fd[i] = pool_write(sp, j->data, j->len, tmpname[i], sizeof tmpname[i]);
		if (fd[i] < 0) {
			unique_name(tmpname[i], sizeof tmpname[i], "pool", "");
			fd[i] = write_tmp(sp, tmpname[i], j->data, j->len, true, false);
		}
		if (fd[i] < 0)
			job_fail(j, -1, sp, NULL);
	}
	for (size_t i = 0; i < n; i++)
		if (jobs[i].rc == 0)
			sync_file_range(fd[i], 0, 0, SYNC_FILE_RANGE_WRITE);
	for (size_t i = 0; i < n; i++)
		if (jobs[i].rc == 0 && fsync(fd[i]) < 0)
			job_fail(&jobs[i], fd[i], sp, tmpname[i]);
	/* Swap each new content into active/ in one step: at every instant a
	 * receiver is in exactly one status directory, old or new content, and
	 * the old inode lands in tmp/ under the pool name, not freed (freeing
	 * and allocating ext4 inodes cost more than the rest of a delivery). */
	char name[MAXB][SPOOL_ID_MAX + 16];
	int old_fd[MAXB];
	off_t old_size[MAXB];
	bool dirty[SPOOL_NSTATUS] = {false}, moved[MAXB] = {false};
	for (size_t i = 0; i < n; i++) {
		struct spool_commit *j = &jobs[i];
		old_fd[i] = -1;
		file_name(j->c->id, name[i], sizeof name[i]);
		if (j->rc < 0)
			continue;
		bool swapped = renameat2(sp->tmpfd, tmpname[i], sp->dirfd[SPOOL_ACTIVE], name[i], RENAME_EXCHANGE) == 0;
		/* No exchange here (NFS): a plain replace, which frees the old inode. */
		if (!swapped && ((errno != EINVAL && errno != ENOSYS) ||
				 renameat(sp->tmpfd, tmpname[i], sp->dirfd[SPOOL_ACTIVE], name[i]) < 0)) {
			job_fail(j, fd[i], sp, tmpname[i]);
			continue;
		}
		/* The old inode is pooled only once active/ is flushed: until
		 * then a crash could bring back the entry that names it. */
		if (swapped) {
			old_fd[i] = j->c->fd;
			old_size[i] = j->c->st.st_size;
			dirty[SPOOL_ACTIVE] = true;
		} else
			close(j->c->fd);
		j->c->fd = fd[i];
		j->c->st.st_size = (off_t)j->len; /* what pooling it later needs */
	}
	util_test_stop("commit-between-renames");
	for (size_t i = 0; i < n; i++) {
		struct spool_commit *j = &jobs[i];
		if (j->rc < 0)
			continue;
		if (j->to != SPOOL_ACTIVE &&
		    rename_noreplace(sp->dirfd[SPOOL_ACTIVE], name[i], sp->dirfd[j->to], name[i]) < 0) {
			j->rc = -1;
			j->err = errno;
			continue;
		}
		dirty[j->to] = dirty[SPOOL_ACTIVE] = moved[i] = true;
	}
	/* One flush per directory for the whole group. */
	int dir_err[SPOOL_NSTATUS] = {0};
	for (int s = 0; s < SPOOL_NSTATUS; s++)
		if (dirty[s] && sync_dir(sp, (enum spool_status)s) < 0)
			dir_err[s] = errno ? errno : EIO;
	size_t failed = 0;
	for (size_t i = 0; i < n; i++) {
		struct spool_commit *j = &jobs[i];
		if (j->rc == 0 && (dir_err[j->to] || dir_err[SPOOL_ACTIVE])) {
			j->rc = -1;
			j->err = dir_err[j->to] ? dir_err[j->to] : dir_err[SPOOL_ACTIVE];
		}
		/* Moved, flushed or not, the claim is over (as in spool_release);
		 * a commit that did not get that far keeps it for the caller. */
		if (moved[i]) {
			close(j->c->fd);
			j->c->fd = -1;
		}
		failed += j->rc < 0;
		if (old_fd[i] < 0)
			continue;
		if (dir_err[SPOOL_ACTIVE] == 0)
			pool_add(sp, old_fd[i], tmpname[i], old_size[i]);
		else
			close(old_fd[i]); /* left in tmp/ for its cleaner: active/ may still name it */
	}
	return failed;
}

int spool_commit(struct spool *sp, struct spool_claim *c, const void *data, size_t len,
		 enum spool_status to)
{
	struct spool_commit j = {c, data, len, to, 0, 0};
	if (spool_commit_batch(sp, &j, 1) == 0)
		return 0;
	errno = j.err;
	return -1;
}

int spool_release(struct spool *sp, struct spool_claim *c, enum spool_status to)
{
	char name[SPOOL_ID_MAX + 16];
	file_name(c->id, name, sizeof name);
	if (to != SPOOL_ACTIVE &&
	    rename_noreplace(sp->dirfd[SPOOL_ACTIVE], name, sp->dirfd[to], name) < 0)
		return -1;
	int rc = sync_dirs(sp, to, SPOOL_ACTIVE);
	int e = errno;
	close(c->fd);
	c->fd = -1;
	errno = e;
	return rc;
}

void spool_claim_drop(struct spool_claim *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

int spool_move(struct spool *sp, enum spool_status from, enum spool_status to, const char *id)
{
	char name[SPOOL_ID_MAX + 16];
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	file_name(id, name, sizeof name);
	if (rename_noreplace(sp->dirfd[from], name, sp->dirfd[to], name) < 0)
		return -1;
	return sync_dirs(sp, to, from);
}

int spool_remove(struct spool *sp, enum spool_status st, const char *id)
{
	char name[SPOOL_ID_MAX + 16];
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	file_name(id, name, sizeof name);
	return unlinkat(sp->dirfd[st], name, 0);
}

int spool_clean_tmp(struct spool *sp, time_t max_age)
{
	int fd = dup(sp->tmpfd);
	if (fd < 0)
		return -1;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -1;
	}
	rewinddir(d);
	time_t now = time(NULL);
	int removed = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		struct stat s;
		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		if (fstatat(sp->tmpfd, de->d_name, &s, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(s.st_mode) ||
		    now - s.st_mtime <= max_age)
			continue;
		/* A live sender's pooled inode keeps the mtime of the content it
		 * once held, which may be old: its lock says it is in use. */
		int lfd = -1;
		if (S_ISREG(s.st_mode)) {
			lfd = openat(sp->tmpfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) < 0) {
				close(lfd);
				continue;
			}
		}
		if (unlinkat(sp->tmpfd, de->d_name, 0) == 0)
			removed++;
		if (lfd >= 0)
			close(lfd);
	}
	closedir(d);
	return removed;
}

/* ---- message records ---- */

static int message_put(struct spool *sp, const char *id, const void *data, size_t len, bool exclusive)
{
	char tmpname[SPOOL_ID_MAX + 64], name[SPOOL_ID_MAX + 16];
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	file_name(id, name, sizeof name);
	unique_name(tmpname, sizeof tmpname, name, ".tmp");
	int fd = write_tmp(sp, tmpname, data, len, false, true);
	if (fd < 0)
		return -1;
	close(fd);
	int rc = exclusive ? rename_noreplace(sp->tmpfd, tmpname, sp->msgfd, name)
			   : renameat(sp->tmpfd, tmpname, sp->msgfd, name);
	if (rc < 0) {
		int e = errno;
		unlinkat(sp->tmpfd, tmpname, 0);
		errno = e;
		return -1;
	}
	return fsync(sp->msgfd);
}

int spool_message_create(struct spool *sp, const char *id, const void *data, size_t len)
{
	return message_put(sp, id, data, len, true);
}

int spool_message_write(struct spool *sp, const char *id, const void *data, size_t len)
{
	return message_put(sp, id, data, len, false);
}

static void staged_name(const char *id, const char *tag, char *buf, size_t n)
{
	snprintf(buf, n, "%s" SUFFIX ".%s.staged", id, tag);
}

int spool_stage(struct spool *sp, const char *id, const char *tag, const void *data, size_t len)
{
	char name[2 * SPOOL_ID_MAX + 32];
	if (!spool_id_valid(id) || !spool_id_valid(tag)) {
		errno = EINVAL;
		return -1;
	}
	staged_name(id, tag, name, sizeof name);
	int fd = openat(sp->tmpfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	if (util_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		int e = errno;
		close(fd);
		unlinkat(sp->tmpfd, name, 0);
		errno = e;
		return -1;
	}
	return close(fd);
}

int spool_publish(struct spool *sp, const char *id, const char *tag)
{
	char staged[2 * SPOOL_ID_MAX + 32], name[SPOOL_ID_MAX + 16];
	enum spool_status st;
	staged_name(id, tag, staged, sizeof staged);
	file_name(id, name, sizeof name);
	if (spool_locate(sp, id, &st) == 0) {
		errno = EEXIST;
		return -1;
	}
	return rename_noreplace(sp->tmpfd, staged, sp->dirfd[SPOOL_NEW], name);
}

int spool_unstage(struct spool *sp, const char *id, const char *tag)
{
	char staged[2 * SPOOL_ID_MAX + 32];
	staged_name(id, tag, staged, sizeof staged);
	return unlinkat(sp->tmpfd, staged, 0);
}

int spool_sync_new(struct spool *sp)
{
	return fsync(sp->dirfd[SPOOL_NEW]);
}

int spool_sync(struct spool *sp, enum spool_status st)
{
	return fsync(sp->dirfd[st]);
}

bool spool_message_exists(struct spool *sp, const char *id)
{
	char name[SPOOL_ID_MAX + 16];
	struct stat s;
	file_name(id, name, sizeof name);
	return spool_id_valid(id) && fstatat(sp->msgfd, name, &s, AT_SYMLINK_NOFOLLOW) == 0;
}

int spool_message_read(struct spool *sp, const char *id, size_t max, char **data, size_t *len)
{
	char name[SPOOL_ID_MAX + 16];
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	file_name(id, name, sizeof name);
	return read_named(sp->msgfd, name, max, data, len, NULL);
}

int spool_message_scan(struct spool *sp, int (*cb)(const char *id, void *ctx), void *ctx)
{
	return scan_dir(sp->msgfd, cb, ctx);
}

int spool_message_remove(struct spool *sp, const char *id)
{
	char name[SPOOL_ID_MAX + 16];
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	file_name(id, name, sizeof name);
	return unlinkat(sp->msgfd, name, 0);
}

int spool_message_stat(struct spool *sp, const char *id, struct stat *st)
{
	char name[SPOOL_ID_MAX + 16];
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	file_name(id, name, sizeof name);
	return fstatat(sp->msgfd, name, st, AT_SYMLINK_NOFOLLOW);
}

int spool_sync_messages(struct spool *sp)
{
	return fsync(sp->msgfd);
}
