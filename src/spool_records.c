/* spool_records: message records (messages/), the staging of compose
 * batches in tmp/ and their publishing into new/, the list cache's file,
 * the unflushed move of a batch (spool_batch.h), the daemon's state files
 * and the spool's secrets (the Message-ID key). Same id rules and
 * durability as receivers; it must never publish over an existing
 * receiver, and never trust a name a producer chose without the id rule.
 * Rules: spool-layout/README.md, SECURITY.md. */
#include "config.h"
#include "spool.h"
#include "spool_batch.h"
#include "spool_int.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <dirent.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CACHE_NAME ".list-cache"

/* Trusted only when the spool's owner (or root) wrote it and nobody else
 * may: a forged `created` would make delete-receivers delete. Opened, never
 * read whole: the caller maps or streams it. */
int spool_cache_open(struct spool *sp, struct stat *st)
{
	struct stat root;
	int fd = spool_open_regular(sp->rootfd, CACHE_NAME, st);
	if (fd < 0)
		return -1;
	if (fstat(sp->rootfd, &root) < 0 || (st->st_uid != root.st_uid && st->st_uid != 0) ||
	    (st->st_mode & 022)) {
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

/* Written in the spool's root, which only its owner may write (never in
 * tmp/, where a producer could plant a FIFO or a file of its own under the
 * name), created new under `name` (SPOOL_CACHE_TMP bytes), then renamed
 * over the old by spool_cache_commit. */
int spool_cache_create(struct spool *sp, char *name)
{
	spool_unique_name(name, SPOOL_CACHE_TMP, CACHE_NAME, ".new");
	return spool_openat(sp->rootfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
}

/* Removes new cache files a crash left (".list-cache.PID.RANDOM.new"):
 * regular files of the spool's owner not written for a minute (a live
 * writer writes its file as its scan goes). Called before writing one. */
void spool_cache_clean(struct spool *sp)
{
	struct stat root, s;
	DIR *d = spool_opendir(sp->rootfd);
	if (!d)
		return;
	bool owned = fstat(sp->rootfd, &root) == 0;
	time_t old = time(NULL) - 60;
	size_t plen = strlen(CACHE_NAME ".");
	for (struct dirent *e; owned && (e = readdir(d));) {
		size_t n = strlen(e->d_name);
		if (n <= plen + 4 || strncmp(e->d_name, CACHE_NAME ".", plen) || strcmp(e->d_name + n - 4, ".new"))
			continue;
		if (fstatat(sp->rootfd, e->d_name, &s, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(s.st_mode) &&
		    s.st_uid == root.st_uid && s.st_mtime < old)
			unlinkat(sp->rootfd, e->d_name, 0);
	}
	closedir(d);
}

/* Closes a cache made by spool_cache_create and puts it in place when
 * `keep`, else removes it. No fsync: losing the cache in a crash costs one
 * slow listing, no more. */
int spool_cache_commit(struct spool *sp, int fd, const char *name, bool keep)
{
	int rc = keep ? 0 : -1;
	if (close(fd) < 0)
		rc = -1;
	if (rc == 0)
		rc = renameat(sp->rootfd, name, sp->rootfd, CACHE_NAME);
	if (rc < 0)
		unlinkat(sp->rootfd, name, 0);
	return rc;
}

/* A status directory's stat: the list cache trusts a directory whose
 * times did not change since it read it whole. */
int spool_dir_stat(struct spool *sp, enum spool_status st, struct stat *s)
{
	return fstat(sp->dirfd[st], s);
}

static int message_put(struct spool *sp, const char *id, const void *data, size_t len, bool exclusive)
{
	char name[SPOOL_ID_MAX + 16];
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	spool_file_name(id, name, sizeof name);
	if (spool_put_file(sp, sp->msgfd, name, data, len, exclusive) < 0)
		return -1;
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

/* ID.yaml.TAG.staged; both parts follow the id rule (a record a producer
 * wrote names them), so the name is one component inside tmp/. */
static int staged_name(const char *id, const char *tag, char *buf, size_t n)
{
	if (!spool_id_valid(id) || !spool_id_valid(tag)) {
		errno = EINVAL;
		return -1;
	}
	snprintf(buf, n, "%s" SPOOL_SUFFIX ".%s.staged", id, tag);
	return 0;
}

int spool_stage(struct spool *sp, const char *id, const char *tag, const void *data, size_t len)
{
	char name[2 * SPOOL_ID_MAX + 32];
	if (staged_name(id, tag, name, sizeof name) < 0)
		return -1;
	/* A new file only: the tag is this run's, so the name never exists
	 * unless someone planted it (a FIFO, or a file it could rewrite). */
	int fd = spool_openat(sp->tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
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
	if (staged_name(id, tag, staged, sizeof staged) < 0)
		return -1;
	spool_file_name(id, name, sizeof name);
	if (spool_locate(sp, id, &st) == 0) {
		errno = EEXIST;
		return -1;
	}
	return spool_rename_noreplace(sp->tmpfd, staged, sp->dirfd[SPOOL_NEW], name);
}

int spool_unstage(struct spool *sp, const char *id, const char *tag)
{
	char staged[2 * SPOOL_ID_MAX + 32];
	if (staged_name(id, tag, staged, sizeof staged) < 0)
		return -1;
	return unlinkat(sp->tmpfd, staged, 0);
}

bool spool_message_exists(struct spool *sp, const char *id)
{
	char name[SPOOL_ID_MAX + 16];
	struct stat s;
	spool_file_name(id, name, sizeof name);
	return spool_id_valid(id) && fstatat(sp->msgfd, name, &s, AT_SYMLINK_NOFOLLOW) == 0;
}

int spool_message_read(struct spool *sp, const char *id, size_t max, char **data, size_t *len)
{
	char name[SPOOL_ID_MAX + 16];
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	spool_file_name(id, name, sizeof name);
	return spool_read_named(sp->msgfd, name, max, data, len, NULL);
}

int spool_message_scan(struct spool *sp, int (*cb)(const char *id, void *ctx), void *ctx)
{
	return spool_scan_dir(sp->msgfd, cb, ctx);
}

int spool_message_remove(struct spool *sp, const char *id)
{
	char name[SPOOL_ID_MAX + 16];
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	spool_file_name(id, name, sizeof name);
	return unlinkat(sp->msgfd, name, 0);
}

int spool_message_stat(struct spool *sp, const char *id, struct stat *st)
{
	char name[SPOOL_ID_MAX + 16];
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	spool_file_name(id, name, sizeof name);
	return fstatat(sp->msgfd, name, st, AT_SYMLINK_NOFOLLOW);
}

int spool_sync_messages(struct spool *sp)
{
	return fsync(sp->msgfd);
}

/* The daemon's small state files in the root (the rate counts): written
 * whole through a temporary name and a rename, without a flush: losing
 * the last counts to a power cut is allowed, a torn file is not. */
int spool_state_write(struct spool *sp, const char *name, const void *data, size_t len)
{
	char tmp[128];
	snprintf(tmp, sizeof tmp, ".%s.%ld", name, (long)getpid());
	int fd = openat(sp->rootfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	int rc = util_write_all(fd, data, len);
	if (close(fd) < 0 || rc < 0 || renameat(sp->rootfd, tmp, sp->rootfd, name) < 0) {
		int e = errno;
		unlinkat(sp->rootfd, tmp, 0);
		errno = e;
		return -1;
	}
	return 0;
}

int spool_state_read(struct spool *sp, const char *name, size_t max, char **data, size_t *len)
{
	return spool_read_named(sp->rootfd, name, max, data, len, NULL);
}

int spool_state_read_stat(struct spool *sp, const char *name, size_t max, char **data, size_t *len,
			  struct stat *st)
{
	return spool_read_named(sp->rootfd, name, max, data, len, st);
}

/* A secret in the root, which only the owner may write: written new under
 * a name of this process (one a crash of this pid left is removed first),
 * owner-only, fsynced, then renamed in without replacing (or linked where
 * the file system cannot), so the first one made wins; the root is
 * flushed after. Never through a link. */
int spool_secret_create(struct spool *sp, const char *name, const void *data, size_t len)
{
	char tmp[128];
	if (snprintf(tmp, sizeof tmp, "%s.%ld.new", name, (long)getpid()) >= (int)sizeof tmp) {
		errno = ENAMETOOLONG;
		return -1;
	}
	unlinkat(sp->rootfd, tmp, 0);
	int fd = spool_openat(sp->rootfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	int rc = util_write_all(fd, data, len) == 0 && fsync(fd) == 0 ? 0 : -1;
	rc |= close(fd);
	if (rc == 0 && spool_rename_noreplace(sp->rootfd, tmp, sp->rootfd, name) < 0 && errno != EEXIST)
		rc = -1; /* EEXIST: another process was first; its secret counts */
	int e = errno;
	unlinkat(sp->rootfd, tmp, 0);
	if (rc == 0)
		fsync(sp->rootfd);
	errno = e;
	return rc;
}
