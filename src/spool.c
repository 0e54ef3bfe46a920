/* spool: the claim and move rules, receiver ids, reading, and the tree.
 * It must never leave a receiver in two status directories or in none,
 * never overwrite an entry by a rename, never follow a link or block on a
 * FIFO in a directory producers can write. The rules are written in
 * spool-layout/README.md and SECURITY.md.
 *
 * Every state change is a rename; every rename that matters is followed by
 * an fsync of the directories it touched, and every file that is renamed
 * into place was fsynced first. Renames that must not overwrite use
 * renameat2(RENAME_NOREPLACE), falling back to link()+unlink() where the
 * file system lacks it (NFS), which is the Maildir way. Read the claims
 * first: they are the rules; the rest serves them.
 *
 * The only module that knows paths, with the files beneath it; the calls
 * run one way: spool.c (and spool_records.c, message records, staging and
 * the list cache's file; spool_check.c, the checks on a claimed file) over spool_commit.c (the group commit and inode
 * pool) over spool_fs.c (the file-system primitives and file names). */
#include "config.h"
#include "spool.h"
#include "spool_int.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static const char *const status_dirs[SPOOL_NSTATUS] = {
	"new", "active", "failed", "error", "sent", "corrupt", "hold"};
static const char *const status_names[SPOOL_NSTATUS] = {
	"not_sent", "active", "failed", "error", "sent", "corrupt", "held"};

const char *spool_status_name(enum spool_status st)
{
	return status_names[st];
}

/* ---- claims and moves: a receiver is in exactly one status directory ---- */

/* The claim without its flush: open, lock, check, rename into active/. */
static int claim_rename(struct spool *sp, enum spool_status from, const char *id, struct spool_claim *c)
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
	spool_file_name(id, name, sizeof name);
	int fd = spool_open_regular(sp->dirfd[from], name, &c->st);
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
	if (fstatat(sp->dirfd[from], name, &now, AT_SYMLINK_NOFOLLOW) < 0 || !spool_same_file(&now, &c->st)) {
		close(fd);
		return SPOOL_BUSY;
	}
	if (from != SPOOL_ACTIVE &&
	    spool_rename_noreplace(sp->dirfd[from], name, sp->dirfd[SPOOL_ACTIVE], name) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return (e == ENOENT || e == EEXIST) ? SPOOL_BUSY : -1;
	}
	c->fd = fd;
	if (from != SPOOL_ACTIVE)
		util_test_stop("claim-renamed");
	return SPOOL_CLAIMED;
}

int spool_claim(struct spool *sp, enum spool_status from, const char *id, struct spool_claim *c)
{
	/* Claimed already, with others, by spool_claim_ahead: handed over. */
	if (from != SPOOL_ACTIVE && spool_ahead_take(sp, from, id, c))
		return SPOOL_CLAIMED;
	if (from == SPOOL_ACTIVE || sp->renames_whole)
		return claim_rename(sp, from, id, c);
	/* Without a journal this rename is two directory writes, and a flush
	 * of the source (a producer's, for new/) may make the removal
	 * durable: active/ is flushed before the send, inside the claim's
	 * fence (spool_claim_begin), so that a cut leaves the name in active/,
	 * or two names of one inode (recovery's to resolve). The source is
	 * flushed when the claim ends. */
	spool_claim_begin(sp, from);
	int rc = claim_rename(sp, from, id, c);
	if (rc == SPOOL_CLAIMED && spool_sync_dir(sp, SPOOL_ACTIVE) < 0) {
		int e = errno;
		spool_claim_end(sp, from);
		spool_claim_drop(c); /* left in active/, unlocked: recovery's */
		errno = e;
		return -1;
	}
	spool_claim_end(sp, from);
	return rc;
}

size_t spool_claim_ahead(struct spool *sp, enum spool_status from, const char *const *ids, size_t n)
{
	struct spool_claim c[SPOOL_AHEAD_MAX];
	size_t got = 0;
	bool fenced = !sp->renames_whole;
	if (from == SPOOL_ACTIVE)
		return 0;
	if (fenced)
		spool_claim_begin(sp, from);
	for (size_t i = 0; i < n && got < SPOOL_AHEAD_MAX; i++)
		if (claim_rename(sp, from, ids[i], &c[got]) == SPOOL_CLAIMED)
			got++;
	/* Rule 3's flush of active/, once for all of them, before any is sent. */
	int flushed = fenced && got ? spool_sync_dir(sp, SPOOL_ACTIVE) : 0;
	if (fenced)
		spool_claim_end(sp, from);
	if (flushed < 0) {
		for (size_t i = 0; i < got; i++)
			spool_claim_drop(&c[i]); /* in active/, unlocked: recovery's */
		return 0;
	}
	size_t kept = 0;
	for (size_t i = 0; i < got; i++)
		if (spool_ahead_put(sp, &c[i]) == 0)
			kept++;
		else if (spool_release(sp, &c[i], from) < 0)
			spool_claim_drop(&c[i]);
	return kept;
}

void spool_claim_ahead_give_back(struct spool *sp, enum spool_status from, const char *id)
{
	struct spool_claim c;
	if (spool_ahead_take(sp, from, id, &c) && spool_release(sp, &c, from) < 0)
		spool_claim_drop(&c); /* in active/, unlocked: recovery's */
}

int spool_claim_read(struct spool_claim *c, size_t max, char **data, size_t *len)
{
	if ((size_t)c->st.st_size > max) {
		errno = EFBIG;
		return -1;
	}
	return util_read_fd_sized(c->fd, (size_t)c->st.st_size, max, data, len);
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

/* A power cut between the two flushes of a rename (no journal) can leave
 * one inode under two names; recovery (a claim from active/) then drops
 * the name in active/ and keeps the other. */
static bool named_elsewhere(struct spool *sp, const struct spool_claim *c, const char *name)
{
	struct stat s;
	for (int i = 0; i < SPOOL_NSTATUS; i++)
		if (i != SPOOL_ACTIVE && fstatat(sp->dirfd[i], name, &s, AT_SYMLINK_NOFOLLOW) == 0 &&
		    spool_same_file(&s, &c->st))
			return true;
	return false;
}

int spool_release(struct spool *sp, struct spool_claim *c, enum spool_status to)
{
	char name[SPOOL_ID_MAX + 16];
	spool_file_name(c->id, name, sizeof name);
	bool out = to != SPOOL_ACTIVE;
	/* The claim's source first (outside the fence of moves out of active/,
	 * which must not wait for a claim's fence), then at most active/ and
	 * `to` name the inode on disk, and recovery resolves that
	 * (spool_commit_batch). */
	int rc = c->from != SPOOL_ACTIVE && c->from != to ? spool_sync_dir(sp, c->from) : 0;
	if (rc < 0)
		return -1;
	if (out)
		spool_out_begin(sp); /* no flush of active/ before `to`'s */
	if (c->from == SPOOL_ACTIVE && out && named_elsewhere(sp, c, name)) {
		if (unlinkat(sp->dirfd[SPOOL_ACTIVE], name, 0) < 0) {
			spool_out_end(sp);
			return -1;
		}
	} else if (out && spool_rename_noreplace(sp->dirfd[SPOOL_ACTIVE], name, sp->dirfd[to], name) < 0) {
		int e = errno;
		spool_out_end(sp);
		errno = e;
		return -1;
	}
	if (out)
		rc = spool_sync_dir(sp, to);
	if (out)
		spool_out_end(sp);
	if (rc == 0)
		rc = spool_sync_dir(sp, SPOOL_ACTIVE);
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

int spool_move_unflushed(struct spool *sp, enum spool_status from, enum spool_status to, const char *id)
{
	char name[SPOOL_ID_MAX + 16];
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	spool_file_name(id, name, sizeof name);
	return spool_rename_noreplace(sp->dirfd[from], name, sp->dirfd[to], name);
}

int spool_move(struct spool *sp, enum spool_status from, enum spool_status to, const char *id)
{
	if (spool_move_unflushed(sp, from, to, id) < 0)
		return -1;
	return spool_sync_dirs(sp, to, from);
}

int spool_remove(struct spool *sp, enum spool_status st, const char *id)
{
	char name[SPOOL_ID_MAX + 16];
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	spool_file_name(id, name, sizeof name);
	return unlinkat(sp->dirfd[st], name, 0);
}

int spool_enqueue(struct spool *sp, const char *id, const void *data, size_t len)
{
	char name[SPOOL_ID_MAX + 16];
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
	spool_file_name(id, name, sizeof name);
	if (spool_put_file(sp, sp->dirfd[SPOOL_NEW], name, data, len, true) < 0)
		return -1;
	return spool_sync_dir(sp, SPOOL_NEW); /* fenced against claims */
}

/* ---- ids and names ---- */

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
	if (n <= SPOOL_SUFFIX_LEN || strcmp(name + n - SPOOL_SUFFIX_LEN, SPOOL_SUFFIX) != 0)
		return false;
	n -= SPOOL_SUFFIX_LEN;
	if (n >= idsz || n > SPOOL_ID_MAX)
		return false;
	memcpy(id, name, n);
	id[n] = '\0';
	return spool_id_valid(id);
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
		snprintf(buf, n, "%s/%s/%s" SPOOL_SUFFIX, sp->root, status_dirs[st], id);
	else
		snprintf(buf, n, "%s/%s", sp->root, status_dirs[st]);
}

/* ---- reading and scanning ---- */

/* Opens a spool file for reading: never follows a link, never blocks on a
 * FIFO, and refuses anything but a regular file. */
int spool_open_regular(int dirfd, const char *name, struct stat *stp)
{
	int fd = spool_openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0);
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

int spool_read_named(int dirfd, const char *name, size_t max, char **data, size_t *len,
		      struct stat *stp)
{
	struct stat s;
	int fd = spool_open_regular(dirfd, name, stp ? stp : &s);
	if (fd < 0)
		return -1;
	if ((size_t)(stp ? stp : &s)->st_size > max) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	int rc = util_read_fd_sized(fd, (size_t)(stp ? stp : &s)->st_size, max, data, len);
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
	spool_file_name(id, name, sizeof name);
	return spool_read_named(sp->dirfd[st], name, max, data, len, stp);
}

int spool_stat(struct spool *sp, enum spool_status st, const char *id, struct stat *s)
{
	char name[SPOOL_ID_MAX + 16];
	spool_file_name(id, name, sizeof name);
	return fstatat(sp->dirfd[st], name, s, AT_SYMLINK_NOFOLLOW);
}

bool spool_exists(struct spool *sp, enum spool_status st, const char *id)
{
	char name[SPOOL_ID_MAX + 16];
	struct stat s;
	spool_file_name(id, name, sizeof name);
	return fstatat(sp->dirfd[st], name, &s, AT_SYMLINK_NOFOLLOW) == 0;
}

int spool_locate(struct spool *sp, const char *id, enum spool_status *st)
{
	char name[SPOOL_ID_MAX + 16];
	struct stat s;
	spool_file_name(id, name, sizeof name);
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

int spool_scan_dir(int dirfd, int (*cb)(const char *id, void *ctx), void *ctx)
{
	DIR *d = spool_opendir(dirfd);
	if (!d)
		return -1;
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
	return spool_scan_dir(sp->dirfd[st], cb, ctx);
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

/* ---- the tree ---- */

static int mkdir_mode(int parent, const char *name, mode_t mode, gid_t group)
{
	if (mkdirat(parent, name, mode) < 0 && errno != EEXIST)
		return -1;
	int fd = spool_openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
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
	mode_t prod = grp ? 03770 : 01700, own = grp ? 0750 : 0700;
	const char *names[] = {"tmp", "new", "messages", "active", "failed", "error", "sent", "corrupt", "hold"};
	for (size_t i = 0; rc == 0 && i < sizeof names / sizeof *names; i++)
		rc = mkdir_mode(rootfd, names[i], i < 3 ? prod : own, group);
	if (rc == 0)
		rc = fsync(rootfd);
	int e = errno;
	close(rootfd);
	errno = e;
	return rc;
}

static int open_tree(struct spool *sp, const char *root);

/* A spool made before hold/ existed gets it on first use, with active/'s
 * mode and group; who cannot create it (a producer) is told to run init. */
static int add_hold(struct spool *sp)
{
	struct stat st;
	if (fstat(sp->dirfd[SPOOL_ACTIVE], &st) < 0)
		return -1;
	gid_t g = st.st_gid == getegid() ? (gid_t)-1 : st.st_gid;
	if (mkdir_mode(sp->rootfd, status_dirs[SPOOL_HOLD], st.st_mode & 07777, g) < 0)
		return -1;
	return spool_openat(sp->rootfd, status_dirs[SPOOL_HOLD], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
}

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
	sp->rootfd = sp->tmpfd = sp->msgfd = sp->fencefd = -1;
	for (int i = 0; i < SPOOL_NSTATUS; i++)
		sp->dirfd[i] = -1;
	sp->root = strdup(root);
	if (!sp->root || spool_commit_init(sp) < 0)
		return -1;
	sp->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->rootfd < 0)
		return -1;
	for (int i = 0; i < SPOOL_NSTATUS; i++) {
		sp->dirfd[i] = spool_openat(sp->rootfd, status_dirs[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
		if (sp->dirfd[i] < 0 && errno == ENOENT && i == SPOOL_HOLD)
			sp->dirfd[i] = add_hold(sp);
		if (sp->dirfd[i] < 0)
			return -1;
	}
	sp->tmpfd = spool_openat(sp->rootfd, "tmp", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
	sp->msgfd = spool_openat(sp->rootfd, "messages", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
	sp->fencefd = spool_fence_file(sp->rootfd);
	sp->fs_name = spool_fs_renames(sp->rootfd, &sp->renames_whole);
	return sp->tmpfd < 0 || sp->msgfd < 0 ? -1 : 0;
}

void spool_close(struct spool *sp)
{
	if (!sp)
		return;
	/* Claims made ahead that nobody asked for go back where they were. */
	struct spool_claim c;
	while (sp->shared && spool_ahead_take(sp, SPOOL_NSTATUS, NULL, &c))
		if (spool_release(sp, &c, c.from) < 0)
			spool_claim_drop(&c);
	spool_commit_fini(sp);
	util_close_fds(sp->dirfd, SPOOL_NSTATUS);
	util_close_fds((int[]){sp->tmpfd, sp->msgfd, sp->rootfd, sp->fencefd}, 4);
	free(sp->root);
	free(sp);
}

const char *spool_root(const struct spool *sp)
{
	return sp->root;
}

void spool_unsafe_dirs(struct spool *sp, char *buf, size_t n)
{
	static const char *const names[] = {"tmp/", "new/", "messages/"};
	int fds[] = {sp->tmpfd, sp->dirfd[SPOOL_NEW], sp->msgfd};
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < 3; i++) {
		struct stat st;
		if (fstat(fds[i], &st) == 0 && (st.st_mode & 022) && !(st.st_mode & S_ISVTX) && len < n)
			len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? " " : "", names[i]);
	}
}

const char *spool_fs_name(struct spool *sp, bool *renames_whole)
{
	*renames_whole = sp->renames_whole;
	return sp->fs_name;
}

int spool_stat_root(struct spool *sp, struct stat *st)
{
	return fstat(sp->rootfd, st);
}

int spool_sync(struct spool *sp, enum spool_status st)
{
	return spool_sync_dir(sp, st);
}

int spool_sync_new(struct spool *sp)
{
	return spool_sync_dir(sp, SPOOL_NEW);
}

int spool_sync_staged(struct spool *sp)
{
	return fsync(sp->tmpfd);
}


int spool_scan_strays(struct spool *sp, enum spool_status st, int (*cb)(const char *name, void *ctx), void *ctx)
{
	/* A descriptor of its own: the directory's offset is not shared. */
	int fd = openat(sp->dirfd[st], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	if (fd < 0 || !(d = fdopendir(fd)))
		return fd < 0 ? -1 : (close(fd), -1);
	struct dirent *de;
	char id[SPOOL_ID_MAX + 1];
	int rc = 0;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		if ((n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2]))) || spool_name_to_id(n, id, sizeof id))
			continue;
		if ((rc = cb(n, ctx)) != 0)
			break;
	}
	closedir(d);
	return rc;
}
