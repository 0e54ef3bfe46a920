/* spool_fs: the file-system primitives every spool file goes through:
 * opening one name beneath a directory descriptor without following links,
 * renaming without replacing, writing a new file in tmp/, names nobody else
 * picks, receiver file names, and cleaning tmp/. The bottom of the spool:
 * it calls no other spool file. It must never open or rename a name of
 * more than one component, never follow a symbolic link, never replace an
 * entry by a rename. Rules: spool-layout/README.md, SECURITY.md. */
#include "config.h"
#include "spool_int.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef SYS_openat2
#include <linux/openat2.h>
#endif

/* ID.yaml into buf; empty (a name no call finds) when it does not fit,
 * which valid ids never do. Called several times per delivery: no printf. */
void spool_file_name(const char *id, char *buf, size_t n)
{
	size_t l = strlen(id);
	if (l + SPOOL_SUFFIX_LEN + 1 > n) {
		if (n)
			buf[0] = '\0';
		return;
	}
	memcpy(buf, id, l);
	memcpy(buf + l, SPOOL_SUFFIX, SPOOL_SUFFIX_LEN + 1);
}

static bool one_component(const char *name)
{
	return *name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

int spool_openat(int dirfd, const char *name, int flags, mode_t mode)
{
	if (!one_component(name)) {
		errno = EINVAL;
		return -1;
	}
#ifdef SYS_openat2
	static int no_openat2; /* the kernel or a filter lacks it: ask once */
	if (!no_openat2) {
		struct open_how how = {.flags = (unsigned long long)(flags | O_NOFOLLOW),
				       .mode = flags & O_CREAT ? mode : 0,
				       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
		long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof how);
		/* EXDEV: the file was found, then renamed out of dirfd before the
		 * open completed (the kernel's final "still beneath" check), as a
		 * rival claim does: for one component that is "no longer here". */
		if (fd < 0 && errno == EXDEV)
			errno = ENOENT;
		if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
			return (int)fd;
		no_openat2 = 1;
	}
#endif
	return openat(dirfd, name, flags | O_NOFOLLOW, mode);
}

/* renameat2, except that MSGSPOOL_NO_RENAME_EXCHANGE=1 and
 * MSGSPOOL_NO_RENAME_NOREPLACE=1 make that flag fail with EINVAL, as on a
 * file system without it (NFS), so that the fallbacks can be run and
 * tested anywhere. Read at every call: a getenv costs little beside the
 * rename. */
int spool_renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned flags)
{
	const char *x = getenv("MSGSPOOL_NO_RENAME_EXCHANGE"), *n = getenv("MSGSPOOL_NO_RENAME_NOREPLACE");
	if (((flags & RENAME_EXCHANGE) && x && !strcmp(x, "1")) ||
	    ((flags & RENAME_NOREPLACE) && n && !strcmp(n, "1"))) {
		errno = EINVAL;
		return -1;
	}
	return renameat2(fromfd, from, tofd, to, flags);
}

/* rename that never replaces: renameat2, or link+unlink where unsupported. */
int spool_rename_noreplace(int fromfd, const char *from, int tofd, const char *to)
{
	if (!one_component(from) || !one_component(to)) {
		errno = EINVAL;
		return -1;
	}
	if (spool_renameat2(fromfd, from, tofd, to, RENAME_NOREPLACE) == 0)
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
int spool_write_tmp(struct spool *sp, const char *name, const void *data, size_t len, bool lock, bool sync)
{
	int fd = spool_openat(sp->tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
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
void spool_unique_name(char *name, size_t namesz, const char *prefix, const char *suffix)
{
	unsigned char r[6];
	if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
		memset(r, 0, sizeof r);
	snprintf(name, namesz, "%s.%ld.%02x%02x%02x%02x%02x%02x%s", prefix, (long)getpid(), r[0], r[1], r[2], r[3],
		 r[4], r[5], suffix);
}

/* Puts a new file NAME into tofd the crash-safe way: written and fsynced in
 * tmp/, renamed (exclusive: never over an entry); the caller flushes tofd
 * (a status directory through spool_sync_dir, which fences claims). */
int spool_put_file(struct spool *sp, int tofd, const char *name, const void *data, size_t len, bool exclusive)
{
	char tmpname[SPOOL_ID_MAX + 64];
	spool_unique_name(tmpname, sizeof tmpname, name, ".tmp");
	int fd = spool_write_tmp(sp, tmpname, data, len, false, true);
	if (fd < 0)
		return -1;
	close(fd);
	int rc = exclusive ? spool_rename_noreplace(sp->tmpfd, tmpname, tofd, name)
			   : renameat(sp->tmpfd, tmpname, tofd, name);
	if (rc < 0) {
		int e = errno;
		unlinkat(sp->tmpfd, tmpname, 0);
		errno = e;
		return -1;
	}
	return 0;
}

DIR *spool_opendir(int dirfd)
{
	int fd = dup(dirfd);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		errno = e;
		return NULL;
	}
	rewinddir(d);
	return d;
}

/* Removes what tmp/ holds that nobody needs: files older than max_age,
 * and a crashed sender's pool files. */
int spool_clean_tmp(struct spool *sp, time_t max_age)
{
	DIR *d = spool_opendir(sp->tmpfd);
	if (!d)
		return -1;
	time_t now = time(NULL);
	int removed = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		struct stat s;
		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		/* A pool file nobody holds locked is a crashed sender's leftover:
		 * reclaimed after a minute (a new one is locked at once). */
		time_t age = !strncmp(de->d_name, "pool.", 5) && max_age > 60 ? 60 : max_age;
		if (fstatat(sp->tmpfd, de->d_name, &s, AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(s.st_mode) ||
		    now - s.st_mtime <= age)
			continue;
		/* A live sender's pooled inode keeps the mtime of the content it
		 * once held, which may be old: its lock says it is in use. */
		int lfd = -1;
		if (S_ISREG(s.st_mode)) {
			lfd = spool_openat(sp->tmpfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0);
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

/* A state file's lock among processes (the daemon and a send from cron
 * both counting smtp.rate): ".NAME.lock" beside it, never replaced, so
 * that read, count and write happen under one lock. Closing the
 * descriptor unlocks. */
int spool_state_lock(struct spool *sp, const char *name)
{
	char lk[128];
	snprintf(lk, sizeof lk, ".%s.lock", name);
	int fd = spool_openat(sp->rootfd, lk, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd >= 0 && flock(fd, LOCK_EX) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int spool_fence_file(int rootfd)
{
	struct stat root, st;
	if (fstat(rootfd, &root) < 0)
		return -1;
	int fd = spool_openat(rootfd, ".fence", O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
	if (fd < 0 && errno == EACCES)
		fd = spool_openat(rootfd, ".fence", O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
	uid_t me = geteuid();
	if (fd < 0 && errno == ENOENT && (me == root.st_uid || me == 0)) {
		/* Readable by all who reach the root (the producers): the
		 * owner's group may not be theirs, and only readers' locks are
		 * shared ones. */
		fd = spool_openat(rootfd, ".fence", O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd >= 0 && ((me == 0 && fchown(fd, root.st_uid, root.st_gid) < 0) || fchmod(fd, 0644) < 0)) {
			close(fd);
			return -1;
		}
		if (fd < 0 && errno == EEXIST)
			fd = spool_openat(rootfd, ".fence", O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
	}
	if (fd < 0)
		return -1;
	/* Anyone else's file, or one others may write, fences nothing. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != root.st_uid || (st.st_mode & 022)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* An ext4 whose journal the kernel runs. /sys/fs/ext4/DEVICE/journal_task
 * names its journal thread ("<none>" without one); kernels without that
 * file list a running journal as DEVICE-INODE in /proc/fs/jbd2. Anything
 * unclear (a name cut short, no /sys) counts as no journal: fenced. */
static bool ext4_journalled(dev_t dev)
{
	char link[64], target[512];
	snprintf(link, sizeof link, "/sys/dev/block/%u:%u", major(dev), minor(dev));
	ssize_t n = readlink(link, target, sizeof target);
	if (n <= 0 || (size_t)n >= sizeof target)
		return false;
	target[n] = '\0';
	const char *name = strrchr(target, '/');
	name = name ? name + 1 : target;
	size_t len = strlen(name);
	char path[128], task[32];
	if (len == 0 || len > 64)
		return false;
	snprintf(path, sizeof path, "/sys/fs/ext4/%s/journal_task", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t got = read(fd, task, sizeof task - 1);
		close(fd);
		return got > 0 && task[0] >= '0' && task[0] <= '9';
	}
	DIR *d = opendir("/proc/fs/jbd2");
	if (!d)
		return false;
	bool found = false;
	struct dirent *e;
	while (!found && (e = readdir(d)))
		found = strncmp(e->d_name, name, len) == 0 && e->d_name[len] == '-';
	closedir(d);
	return found;
}

/* ext4's journal and xfs's log commit a rename as one transaction, and
 * recover a prefix of the transactions in order, so the flush of one
 * directory makes every earlier change durable; tmpfs has no disk to
 * reach. btrfs renames whole too, but a directory's fsync there logs that
 * directory alone: it is treated as unknown. Anywhere else (ext2, ext4
 * made without a journal, FUSE, NFS) a rename may reach the disk as two
 * directory writes: claims are fenced and every directory is flushed in
 * rule 4's order (spool_commit.c). MSGSPOOL_TEST_RENAMES=fenced does so
 * anyway, for the tests of those orders on any machine; nothing turns
 * them off where the file system is not known to need it. */
const char *spool_fs_renames(int fd, bool *whole)
{
	static const struct { unsigned long magic; bool whole; const char *name; } known[] = {
		{0x58465342UL, true, "xfs"},
		{0x9123683EUL, false, "btrfs"},
		{0x01021994UL, true, "tmpfs"},
		{0x65735546UL, false, "fuse"},
		{0x6969UL, false, "nfs"},
	};
	struct statfs sf;
	struct stat st;
	const char *test = getenv("MSGSPOOL_TEST_RENAMES");
	*whole = false;
	if (fstatfs(fd, &sf) < 0 || fstat(fd, &st) < 0)
		return "an unknown file system";
	const char *name = "a file system not known to keep renames whole";
	if ((unsigned long)sf.f_type == 0xEF53UL) {
		*whole = ext4_journalled(st.st_dev);
		name = *whole ? "ext4 with a journal" : "ext2/ext4 without a journal";
	}
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if ((unsigned long)sf.f_type == known[i].magic) {
			*whole = known[i].whole;
			name = known[i].name;
		}
	if (test && strcmp(test, "fenced") == 0) {
		*whole = false;
		name = "a file system fenced for a test (MSGSPOOL_TEST_RENAMES)";
	}
	return name;
}
