/* spool_commit: the machinery under spool_commit: the group commit (many
 * claims written, flushed and renamed together, each directory flushed
 * once) and the pool of inodes reused instead of freed. It must keep
 * spool.c's rules: a receiver is in one status directory at every instant,
 * old or new content, and an inode is reused only once no entry that a
 * crash could bring back names it. It sits above spool_fs.c and below
 * spool.c: it calls the primitives, never the rules. Rules:
 * spool-layout/README.md, BENCHMARKS.md for why inodes are pooled. */
#include "config.h"
#include "spool_int.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h> /* LOCK_EX, LOCK_SH: the fence's modes */
#include <time.h>
#include <unistd.h>

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
	/* Each pooled inode's identity, from the fstat that let it in: the
	 * check that its tmp/ name still names it needs no second one. */
	dev_t pool_dev[SPOOL_POOL_MAX];
	ino_t pool_ino[SPOOL_POOL_MAX];
	/* Whose inodes are ours to pool: the user that opened the spool (a
	 * later change of user only pools less, never a stranger's file). */
	uid_t euid;
	/* Moves out of active/ whose targets are not flushed yet: no flush of
	 * active/ starts meanwhile (spool_out_begin). */
	unsigned moving_out;
	pthread_cond_t out_cv;
	/* Claims inside their window (spool_claim_begin), and moves out of
	 * active/ waiting for them to end. */
	unsigned claiming, out_waiting;
	/* The cross-process fence on each status directory: this process
	 * holds its flock in one mode (LOCK_EX for claims, LOCK_SH for
	 * flushes) for all its users of that mode at once. */
	struct fence {
		int mode;
		unsigned users;
		bool busy, held;
		time_t skip_until;
	} fence[SPOOL_NSTATUS];
	pthread_cond_t fence_cv;
	/* Claims made ahead (spool_claim_ahead) until their spool_claim. */
	struct spool_claim *ahead;
	size_t nahead;
};

/* Enough for every worker's claims ahead: 64 workers (the most
 * connections conf allows) holding 7 each besides the one they send. */
#define AHEAD_TABLE 512

int spool_commit_init(struct spool *sp)
{
	sp->shared = calloc(1, sizeof *sp->shared);
	if (!sp->shared)
		return -1;
	pthread_mutex_init(&sp->shared->mu, NULL);
	pthread_cond_init(&sp->shared->out_cv, NULL);
	pthread_cond_init(&sp->shared->fence_cv, NULL);
	sp->shared->euid = geteuid();
	for (int i = 0; i < SPOOL_NSTATUS; i++)
		pthread_cond_init(&sp->shared->dir[i].cv, NULL);
	return 0;
}

void spool_commit_fini(struct spool *sp)
{
	/* Pooled inodes are spare copies in tmp/: give them back. */
	for (int i = 0; i < sp->pool.n; i++) {
		if (sp->tmpfd >= 0)
			unlinkat(sp->tmpfd, sp->pool.name[i], 0);
		close(sp->pool.fd[i]);
	}
	sp->pool.n = 0;
	if (sp->shared) {
		free(sp->shared->ahead);
		pthread_cond_destroy(&sp->shared->out_cv);
		pthread_cond_destroy(&sp->shared->fence_cv);
		for (int i = 0; i < SPOOL_NSTATUS; i++)
			pthread_cond_destroy(&sp->shared->dir[i].cv);
		pthread_mutex_destroy(&sp->shared->mu);
		free(sp->shared);
		sp->shared = NULL;
	}
}

int spool_ahead_put(struct spool *sp, const struct spool_claim *c)
{
	struct spool_shared *sh = sp->shared;
	int rc = -1;
	pthread_mutex_lock(&sh->mu);
	if (!sh->ahead)
		sh->ahead = calloc(AHEAD_TABLE, sizeof *sh->ahead);
	if (sh->ahead && sh->nahead < AHEAD_TABLE) {
		sh->ahead[sh->nahead++] = *c;
		rc = 0;
	}
	pthread_mutex_unlock(&sh->mu);
	return rc;
}

bool spool_ahead_take(struct spool *sp, enum spool_status from, const char *id, struct spool_claim *c)
{
	struct spool_shared *sh = sp->shared;
	bool found = false;
	pthread_mutex_lock(&sh->mu);
	for (size_t i = 0; i < sh->nahead; i++) {
		if ((from != SPOOL_NSTATUS || id) && (sh->ahead[i].from != from || strcmp(sh->ahead[i].id, id) != 0))
			continue;
		*c = sh->ahead[i];
		sh->ahead[i] = sh->ahead[--sh->nahead];
		found = true;
		break;
	}
	pthread_mutex_unlock(&sh->mu);
	return found;
}

int spool_pool_count(struct spool *sp)
{
	return sp->pool.n;
}

/* A rename out of active/ is two directory writes without a journal, and
 * a flush of active/ between the rename and the flush of its target would
 * make the removal durable first: a cut then, and the receiver is named
 * nowhere. Claims flush active/ all the time, so within this process such
 * moves are fenced: spool_out_begin waits for the claims in their window
 * and a flush of active/ that is running (it may see the rename), and
 * keeps new ones from starting until spool_out_end, called once the
 * targets are flushed. (Another process's flush of active/, msgspool send
 * beside the daemon, is not fenced.) */
void spool_out_begin(struct spool *sp)
{
	struct spool_shared *sh = sp->shared;
	pthread_mutex_lock(&sh->mu);
	sh->out_waiting++;
	for (;;) {
		if (sh->dir[SPOOL_ACTIVE].running)
			pthread_cond_wait(&sh->dir[SPOOL_ACTIVE].cv, &sh->mu);
		else if (sh->claiming)
			pthread_cond_wait(&sh->out_cv, &sh->mu);
		else
			break;
	}
	sh->out_waiting--;
	sh->moving_out++;
	pthread_mutex_unlock(&sh->mu);
}

void spool_out_end(struct spool *sp)
{
	struct spool_shared *sh = sp->shared;
	pthread_mutex_lock(&sh->mu);
	if (--sh->moving_out == 0)
		pthread_cond_broadcast(&sh->out_cv);
	pthread_mutex_unlock(&sh->mu);
}

/* How long a fence waits for another process's lock before it goes on
 * without it, and how long it then tries only once. A claim waits for
 * flushes, and a producer may hold its shared lock forever: that must not
 * stop the queue. A flush waits only for claims, which only the spool's
 * owner can make (the producers' file is read-only: no exclusive lock). */
#define FENCE_WAIT_CLAIM_NS 1000000000L
#define FENCE_WAIT_FLUSH_NS 10000000000L
#define FENCE_SKIP_S 30

/* One byte-range lock of SPOOL/.fence (open file description locks: one
 * holder per open, as flock, but only a writer of the file may take one
 * exclusively). 1 held, 0 given up (held by another past the wait, or
 * `quick`), -1 where there is no lock to take. */
static int fence_range(int fd, short type, off_t byte, bool quick)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1};
	long long waited = 0, wait = type == F_WRLCK ? FENCE_WAIT_CLAIM_NS : FENCE_WAIT_FLUSH_NS;
	long step = 500000;
	for (;;) {
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
			return 1;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EACCES)
			return -1;
		if (quick || waited >= wait)
			return 0;
		nanosleep(&(struct timespec){0, step}, NULL);
		waited += step;
		step = step < 20000000 ? step * 2 : step;
	}
}

static void fence_unlock(int fd, off_t byte)
{
	struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1};
	fcntl(fd, F_OFD_SETLK, &fl);
}

/* A status directory's fence: byte 2*st, and byte 2*st+1 the turnstile
 * that a claim holds while it waits, so a stream of flushes that overlap
 * cannot starve it (a flush passes the turnstile on its way in). */
static int fence_lock(struct spool *sp, enum spool_status st, int op, bool quick)
{
	int fd = sp->fencefd;
	off_t b = 2 * (off_t)st;
	if (fd < 0)
		return -1;
	short type = op == LOCK_EX ? F_WRLCK : F_RDLCK;
	int got = fence_range(fd, type, b + 1, quick);
	if (got == 1) {
		got = fence_range(fd, type, b, quick);
		if (got != 1 || op != LOCK_EX)
			fence_unlock(fd, b + 1);
	}
	return got;
}

static void fence_release(struct spool *sp, enum spool_status st, int op)
{
	fence_unlock(sp->fencefd, 2 * (off_t)st);
	if (op == LOCK_EX)
		fence_unlock(sp->fencefd, 2 * (off_t)st + 1);
}

/* Takes the fence on a status directory: LOCK_EX for a claim's window,
 * LOCK_SH for a flush. Users of one mode share it; the other mode waits. */
static void fence_take(struct spool *sp, enum spool_status st, int op)
{
	struct spool_shared *sh = sp->shared;
	struct fence *f = &sh->fence[st];
	pthread_mutex_lock(&sh->mu);
	while (f->busy || (f->users && f->mode != op))
		pthread_cond_wait(&sh->fence_cv, &sh->mu);
	if (f->users++ == 0) {
		f->busy = true;
		f->mode = op;
		time_t now = time(NULL);
		bool quick = now < f->skip_until;
		pthread_mutex_unlock(&sh->mu);
		int got = fence_lock(sp, st, op, quick);
		pthread_mutex_lock(&sh->mu);
		f->busy = false;
		f->held = got == 1;
		if (got == 0 && !quick)
			f->skip_until = now + FENCE_SKIP_S;
		pthread_cond_broadcast(&sh->fence_cv);
	}
	pthread_mutex_unlock(&sh->mu);
}

static void fence_give(struct spool *sp, enum spool_status st)
{
	struct spool_shared *sh = sp->shared;
	struct fence *f = &sh->fence[st];
	pthread_mutex_lock(&sh->mu);
	if (--f->users == 0) {
		if (f->held)
			fence_release(sp, st, f->mode);
		f->held = false;
		f->mode = 0;
		pthread_cond_broadcast(&sh->fence_cv);
	}
	pthread_mutex_unlock(&sh->mu);
}

/* Without a journal a claim's rename is two directory writes, and a flush
 * of its source before the claim's flush of active/ would make the removal
 * durable alone: a cut then, and the receiver is named nowhere. So from
 * the rename to the end of that flush the claim holds its source's fence
 * exclusively, which every msgspool process's flush of that directory
 * (spool_sync_dir: the daemon's own, enqueue's, compose's) takes shared;
 * and no move out of active/ runs in this process meanwhile, since the
 * claim's flush of active/ must not wait for one (it may wait for this
 * fence). spool-layout/README.md rule 3 says what it cannot fence. */
void spool_claim_begin(struct spool *sp, enum spool_status from)
{
	struct spool_shared *sh = sp->shared;
	pthread_mutex_lock(&sh->mu);
	while (sh->moving_out || sh->out_waiting)
		pthread_cond_wait(&sh->out_cv, &sh->mu);
	sh->claiming++;
	pthread_mutex_unlock(&sh->mu);
	fence_take(sp, from, LOCK_EX);
}

void spool_claim_end(struct spool *sp, enum spool_status from)
{
	struct spool_shared *sh = sp->shared;
	fence_give(sp, from);
	pthread_mutex_lock(&sh->mu);
	if (--sh->claiming == 0)
		pthread_cond_broadcast(&sh->out_cv);
	pthread_mutex_unlock(&sh->mu);
}

/* Makes the changes so far to a status directory durable, sharing the
 * fsync with any thread that needs the same. */
int spool_sync_dir(struct spool *sp, enum spool_status st)
{
	bool fenced = st != SPOOL_ACTIVE && !sp->renames_whole;
	if (fenced)
		fence_take(sp, st, LOCK_SH);
	struct dir_sync *ds = &sp->shared->dir[st];
	pthread_mutex_lock(&sp->shared->mu);
	while (st == SPOOL_ACTIVE && sp->shared->moving_out)
		pthread_cond_wait(&sp->shared->out_cv, &sp->shared->mu);
	/* One running now may have started before our change. */
	unsigned long need = ds->started + 1;
	while (ds->done < need) {
		if (ds->running) {
			pthread_cond_wait(&ds->cv, &sp->shared->mu);
			continue;
		}
		if (st == SPOOL_ACTIVE && sp->shared->moving_out) {
			pthread_cond_wait(&sp->shared->out_cv, &sp->shared->mu);
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
	if (fenced)
		fence_give(sp, st);
	if (rc < 0)
		errno = e;
	return rc;
}

int spool_sync_dirs(struct spool *sp, enum spool_status a, enum spool_status b)
{
	if (spool_sync_dir(sp, a) < 0)
		return -1;
	if (a != b && spool_sync_dir(sp, b) < 0)
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
	struct stat held, named;
	pthread_mutex_lock(&sp->shared->mu);
	if (sp->pool.n > 0) {
		sp->pool.n--;
		fd = sp->pool.fd[sp->pool.n];
		size = sp->pool.size[sp->pool.n];
		held.st_dev = sp->shared->pool_dev[sp->pool.n];
		held.st_ino = sp->shared->pool_ino[sp->pool.n];
		snprintf(name, namesz, "%s", sp->pool.name[sp->pool.n]);
	}
	pthread_mutex_unlock(&sp->shared->mu);
	if (fd < 0)
		return -1;
	/* The name must still be our inode (the exchange into active/ goes by
	 * name; tmp/'s sticky bit keeps producers from replacing it), and the
	 * inode is written through a descriptor of ours, never reopened by
	 * name: claims are read-only, so /proc reopens the one we hold. */
	char self[64];
	snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
	int wfd = -1;
	if (fstatat(sp->tmpfd, name, &named, AT_SYMLINK_NOFOLLOW) < 0 ||
	    held.st_dev != named.st_dev || held.st_ino != named.st_ino) {
		close(fd); /* not ours any more: leave the name alone */
		return -1;
	}
	wfd = open(self, O_WRONLY | O_CLOEXEC);
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
 * locked by fd) for the next commit; frees it when the pool is full or it
 * is not a plain file of ours with this one name (a producer's file could
 * be written by its owner later, whatever it then holds). */
static void pool_add(struct spool *sp, int fd, const char *name, off_t size)
{
	struct stat st;
	bool ours = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == sp->shared->euid && st.st_nlink == 1 &&
		    !(st.st_mode & 002);
	pthread_mutex_lock(&sp->shared->mu);
	if (ours && sp->pool.n < SPOOL_POOL_MAX) {
		sp->shared->pool_dev[sp->pool.n] = st.st_dev;
		sp->shared->pool_ino[sp->pool.n] = st.st_ino;
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

enum { BATCH_MAX = 64 };

/* One group's state across its phases. */
struct batch {
	struct spool *sp;
	struct spool_commit *jobs;
	size_t n;
	char tmpname[BATCH_MAX][48];
	int fd[BATCH_MAX];
	char name[BATCH_MAX][SPOOL_ID_MAX + 16];
	int old_fd[BATCH_MAX];
	off_t old_size[BATCH_MAX];
	bool dirty[SPOOL_NSTATUS], moved[BATCH_MAX];
	int dir_err[SPOOL_NSTATUS];
};

/* Writes every file, then starts all their writeback at once, then waits
 * for each: the disk sees them together instead of one at a time. */
static void batch_write(struct batch *b)
{
	struct spool *sp = b->sp;
	for (size_t i = 0; i < b->n; i++) {
		struct spool_commit *j = &b->jobs[i];
		j->rc = 0;
		j->err = 0;
		b->fd[i] = pool_write(sp, j->data, j->len, b->tmpname[i], sizeof b->tmpname[i]);
		if (b->fd[i] < 0) {
			spool_unique_name(b->tmpname[i], sizeof b->tmpname[i], "pool", "");
			b->fd[i] = spool_write_tmp(sp, b->tmpname[i], j->data, j->len, true, false);
		}
		if (b->fd[i] < 0)
			job_fail(j, -1, sp, NULL);
	}
	for (size_t i = 0; i < b->n; i++)
		if (b->jobs[i].rc == 0)
			sync_file_range(b->fd[i], 0, 0, SYNC_FILE_RANGE_WRITE);
	for (size_t i = 0; i < b->n; i++)
		if (b->jobs[i].rc == 0 && fsync(b->fd[i]) < 0)
			job_fail(&b->jobs[i], b->fd[i], sp, b->tmpname[i]);
}

/* Swaps each new content into active/ in one step: at every instant a
 * receiver is in exactly one status directory, old or new content, and
 * the old inode lands in tmp/ under the pool name, not freed (freeing
 * and allocating ext4 inodes cost more than the rest of a delivery). */
static void batch_swap(struct batch *b)
{
	struct spool *sp = b->sp;
	for (size_t i = 0; i < b->n; i++) {
		struct spool_commit *j = &b->jobs[i];
		b->old_fd[i] = -1;
		spool_file_name(j->c->id, b->name[i], sizeof b->name[i]);
		if (j->rc < 0)
			continue;
		bool swapped = spool_renameat2(sp->tmpfd, b->tmpname[i], sp->dirfd[SPOOL_ACTIVE], b->name[i],
					       RENAME_EXCHANGE) == 0;
		/* No exchange here (NFS): a plain replace, which frees the old inode. */
		if (!swapped && ((errno != EINVAL && errno != ENOSYS) ||
				 renameat(sp->tmpfd, b->tmpname[i], sp->dirfd[SPOOL_ACTIVE], b->name[i]) < 0)) {
			job_fail(j, b->fd[i], sp, b->tmpname[i]);
			continue;
		}
		/* The old inode is pooled only once active/ is flushed: until
		 * then a crash could bring back the entry that names it. */
		if (swapped) {
			b->old_fd[i] = j->c->fd;
			b->old_size[i] = j->c->st.st_size;
			b->dirty[SPOOL_ACTIVE] = true;
		} else
			close(j->c->fd);
		j->c->fd = b->fd[i];
		j->c->st.st_size = (off_t)j->len; /* what pooling it later needs */
	}
}

/* Before anything moves on, the claims' sources and then active/ are
 * flushed: without a journal a claim's rename is two directory writes,
 * and until its source is flushed the disk may still name the old inode
 * there, beside the new content. After this, a cut between the later
 * flushes leaves at most one inode under two names, one in active/, which
 * recovery resolves; and the old inode is named nowhere on disk. */
static void batch_settle(struct batch *b)
{
	/* Where a rename reaches the disk whole, the disk holds a prefix of
	 * these steps after a crash, and batch_finish's flush covers them. */
	if (b->sp->renames_whole)
		return;
	bool source[SPOOL_NSTATUS] = {false};
	for (size_t i = 0; i < b->n; i++)
		if (b->jobs[i].rc == 0 && b->jobs[i].c->from != SPOOL_ACTIVE)
			source[b->jobs[i].c->from] = true;
	for (int s = 0; s < SPOOL_NSTATUS; s++)
		if (source[s] && spool_sync_dir(b->sp, (enum spool_status)s) < 0)
			b->dir_err[SPOOL_ACTIVE] = errno ? errno : EIO; /* fails them all, pools nothing */
	if (b->dirty[SPOOL_ACTIVE] && !b->dir_err[SPOOL_ACTIVE] && spool_sync_dir(b->sp, SPOOL_ACTIVE) < 0)
		b->dir_err[SPOOL_ACTIVE] = errno ? errno : EIO;
}

/* Moves each committed file from active/ into its status. */
static void batch_move(struct batch *b)
{
	struct spool *sp = b->sp;
	for (size_t i = 0; i < b->n; i++) {
		struct spool_commit *j = &b->jobs[i];
		if (j->rc < 0)
			continue;
		if (j->to != SPOOL_ACTIVE &&
		    spool_rename_noreplace(sp->dirfd[SPOOL_ACTIVE], b->name[i], sp->dirfd[j->to], b->name[i]) < 0) {
			j->rc = -1;
			j->err = errno;
			continue;
		}
		b->dirty[j->to] = b->dirty[SPOOL_ACTIVE] = b->moved[i] = true;
	}
}

/* One flush per directory for the whole group, then each commit's outcome,
 * and the swapped-out inodes into the pool; returns how many failed. */
static size_t batch_finish(struct batch *b)
{
	/* Targets first, then active/: a rename between directories is two
	 * directory writes where there is no journal, and a cut between these
	 * flushes must leave a receiver named twice (one inode: recovery drops
	 * the name in active/), never nowhere. */
	bool flushed = false;
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			spool_out_end(b->sp); /* the targets are durable: active/ may be flushed */
		/* With a journal, the flush of a target made every earlier step
		 * of the group durable, active/'s among them. */
		if (pass == 1 && flushed && b->sp->renames_whole)
			break;
		for (int s = 0; s < SPOOL_NSTATUS; s++)
			if (b->dirty[s] && (s == SPOOL_ACTIVE) == (pass == 1)) {
				if (spool_sync_dir(b->sp, (enum spool_status)s) < 0)
					b->dir_err[s] = errno ? errno : EIO;
				else
					flushed = true;
			}
	}
	size_t failed = 0;
	for (size_t i = 0; i < b->n; i++) {
		struct spool_commit *j = &b->jobs[i];
		if (j->rc == 0 && (b->dir_err[j->to] || b->dir_err[SPOOL_ACTIVE])) {
			j->rc = -1;
			j->err = b->dir_err[j->to] ? b->dir_err[j->to] : b->dir_err[SPOOL_ACTIVE];
		}
		/* Moved, flushed or not, the claim is over (as in spool_release);
		 * a commit that did not get that far keeps it for the caller. */
		if (b->moved[i]) {
			close(j->c->fd);
			j->c->fd = -1;
		}
		failed += j->rc < 0;
		if (b->old_fd[i] < 0)
			continue;
		/* batch_settle flushed its source (or, where renames reach the
		 * disk in order, the targets' flush covered it): only active/
		 * could name it. */
		if (b->dir_err[SPOOL_ACTIVE] == 0)
			pool_add(b->sp, b->old_fd[i], b->tmpname[i], b->old_size[i]);
		else
			close(b->old_fd[i]); /* left in tmp/ for its cleaner: active/ may still name it */
	}
	return failed;
}

size_t spool_commit_batch(struct spool *sp, struct spool_commit *jobs, size_t n)
{
	if (n > BATCH_MAX) {
		size_t failed = spool_commit_batch(sp, jobs + BATCH_MAX, n - BATCH_MAX);
		return failed + spool_commit_batch(sp, jobs, BATCH_MAX);
	}
	/* On the stack, and only the flags cleared: the names are written
	 * before they are read, and a commit is on the hot path. */
	struct batch b;
	b.sp = sp;
	b.jobs = jobs;
	b.n = n;
	memset(b.dirty, 0, sizeof b.dirty);
	memset(b.moved, 0, sizeof b.moved);
	memset(b.dir_err, 0, sizeof b.dir_err);
	batch_write(&b);
	batch_swap(&b);
	batch_settle(&b);
	util_test_stop("commit-between-renames");
	spool_out_begin(sp);
	batch_move(&b);
	return batch_finish(&b);
}
