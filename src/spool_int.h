/* spool_int: what spool.c and the files beside and beneath it (spool_fs.c,
 * spool_commit.c, spool_records.c, spool_owner.c) share and nothing else
 * may see: the spool's descriptors and the helpers that work on them.
 * Everything outside spool*.c uses spool.h. */
#ifndef MSGSPOOL_SPOOL_INT_H
#define MSGSPOOL_SPOOL_INT_H

#include "spool_types.h"

#include <dirent.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

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
	int fencefd;	/* SPOOL/.fence, for the claims' fence (spool_commit.c); -1 without */
	bool renames_whole;	/* renames reach the disk whole and in order: no fence, one flush a group */
	const char *fs_name;	/* what spool_fs_renames found, for the log */
	struct spool_pool pool;
	struct spool_shared *shared;	/* the pool's lock and group fsync: commits come from many threads */
};

#define SPOOL_SUFFIX ".yaml"
#define SPOOL_SUFFIX_LEN 5

static inline bool spool_same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* ID.yaml into buf; empty (a name no call finds) when it does not fit. */
void spool_file_name(const char *id, char *buf, size_t n);
/* Opens NAME, which must be one component, beneath dirfd and never through
 * a symbolic link: openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS where
 * the kernel has it, else openat with O_NOFOLLOW (for one component the
 * same). Every open inside the spool goes through it. */
int spool_openat(int dirfd, const char *name, int flags, mode_t mode);
/* Opens SPOOL/.fence, the file whose byte-range locks fence claims
 * against flushes across processes: read-write for the spool's owner (who
 * creates it, 0644, where it is missing), read-only for the producers, so
 * that only the owner can take it exclusively. -1 when it is missing or
 * not the owner's own, unwritable file: then nothing is fenced. */
int spool_fence_file(int rootfd);
/* Whether a rename on the file system of FD reaches the disk whole or not
 * at all (*whole), and the file system's name for the log. */
const char *spool_fs_renames(int fd, bool *whole);
/* rename that never replaces: renameat2, or link+unlink where unsupported. */
int spool_rename_noreplace(int fromfd, const char *from, int tofd, const char *to);
/* renameat2, with the flags an environment switch turns off failing EINVAL. */
int spool_renameat2(int fromfd, const char *from, int tofd, const char *to, unsigned flags);
/* Writes a new file tmp/NAME, fsynced when asked; returns its fd (locked
 * when asked). */
int spool_write_tmp(struct spool *sp, const char *name, const void *data, size_t len, bool lock, bool sync);
/* Puts a new file NAME into tofd: written and fsynced in tmp/, renamed
 * (exclusive: never over an entry), then tofd fsynced. */
int spool_put_file(struct spool *sp, int tofd, const char *name, const void *data, size_t len, bool exclusive);
/* A name in tmp/ no other process or host picks: PREFIX.PID.RANDOM+SUFFIX. */
void spool_unique_name(char *name, size_t namesz, const char *prefix, const char *suffix);
/* Opens a spool file for reading: never follows a link, never blocks on a
 * FIFO, and refuses anything but a regular file. */
int spool_open_regular(int dirfd, const char *name, struct stat *stp);
int spool_read_named(int dirfd, const char *name, size_t max, char **data, size_t *len, struct stat *stp);
/* A directory stream of its own over a directory the spool holds open,
 * from its start (closedir leaves dirfd open). */
DIR *spool_opendir(int dirfd);
int spool_scan_dir(int dirfd, int (*cb)(const char *id, void *ctx), void *ctx);

/* spool_commit.c: the group commit and the inode pool. */
int spool_commit_init(struct spool *sp);
/* Gives the pooled inodes back and frees the shared state. */
void spool_commit_fini(struct spool *sp);
/* Makes the changes so far to a status directory durable, sharing the
 * fsync with any thread that needs the same. */
int spool_sync_dir(struct spool *sp, enum spool_status st);
int spool_sync_dirs(struct spool *sp, enum spool_status a, enum spool_status b);
/* Fence a move out of active/ (spool_commit.c says why): between begin
 * and end (after the move's targets are flushed) no flush of active/
 * starts in this process. */
void spool_out_begin(struct spool *sp);
void spool_out_end(struct spool *sp);
/* A claim's window, from its rename out of `from` to the end of its flush
 * of active/ (spool_commit.c says why): no flush of `from` by this or
 * another msgspool process runs inside it, and no move out of active/. */
void spool_claim_begin(struct spool *sp, enum spool_status from);
void spool_claim_end(struct spool *sp, enum spool_status from);
/* The claims spool_claim_ahead holds for their spool_claim: put one (-1
 * when the table is full), take the one of from/ID (false if none; with
 * from SPOOL_NSTATUS and id NULL, any). */
int spool_ahead_put(struct spool *sp, const struct spool_claim *c);
bool spool_ahead_take(struct spool *sp, enum spool_status from, const char *id, struct spool_claim *c);

#endif
