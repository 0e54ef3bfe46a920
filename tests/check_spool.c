/* check_spool: directories, ids, the producer protocol, claims racing
 * between processes, durable commits, prefixes and hostile file types. */
#include "config.h"
#include "spool.h"
#include "spool_int.h" /* test_flush_order_whole sets the file system's mode */
#include "unit.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir;
static struct spool *sp;

/* The spool code's fsync is this one: the test program's definition wins
 * over libc's for the library linked into it. When watching, it notes how
 * many inodes were pooled when a directory was flushed, and can make that
 * flush fail as a dying disk would. */
static bool watching;
static int dirsync_errno;
static int pooled_at_dirsync = -1;

/* When nsynced >= 0, the inodes of the directories flushed, in order. */
static ino_t synced[16];
static int nsynced = -1;

int fsync(int fd)
{
	struct stat st;
	if (nsynced >= 0 && nsynced < 16 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
		synced[nsynced++] = st.st_ino;
	if (watching && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		if (spool_pool_count(sp) > pooled_at_dirsync)
			pooled_at_dirsync = spool_pool_count(sp);
		if (dirsync_errno) {
			errno = dirsync_errno;
			return -1;
		}
	}
	return (int)syscall(SYS_fsync, fd);
}

static void setup(void)
{
	/* The orders of rule 3 and 4 without a journal, whatever this
	 * machine's file system (test_flush_order_whole: the other). */
	setenv("MSGSPOOL_TEST_RENAMES", "fenced", 1);
	dir = unit_tmpdir();
	sp = unit_spool(dir);
}

static void teardown(void)
{
	spool_close(sp);
	unit_rmtree(dir);
	free(dir);
}

static int count_dir(enum spool_status st)
{
	char path[8400];
	snprintf(path, sizeof path, "%s/spool/%s", dir, spool_status_dir(st));
	char cmd[8600];
	snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", path);
	FILE *p = popen(cmd, "r");
	int n = -1;
	ck_assert_int_eq(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

static const struct {
	const char *id;
	bool valid;
} ids[] = {
	{"20261128T164517.123456Z-0011223344556677", true},
	{"my-app_receiver.42", true},
	{"a", true},
	{"", false},
	{".hidden", false},
	{"..", false},
	{"a..b", false},
	{"a/b", false},
	{"../etc/passwd", false},
	{"sp ace", false},
	{"new\nline", false},
	{"ø", false},
};

START_TEST(test_id_valid)
{
	ck_assert_msg(spool_id_valid(ids[_i].id) == ids[_i].valid, "id [%s]: got %d, want %d", ids[_i].id,
		      !ids[_i].valid, ids[_i].valid);
}
END_TEST

START_TEST(test_id_too_long)
{
	char id[SPOOL_ID_MAX + 2];
	memset(id, 'a', sizeof id - 1);
	id[sizeof id - 1] = '\0';
	ck_assert(!spool_id_valid(id));
	id[SPOOL_ID_MAX] = '\0';
	ck_assert(spool_id_valid(id));
}
END_TEST

START_TEST(test_name_to_id)
{
	char id[SPOOL_ID_MAX + 1];
	ck_assert(spool_name_to_id("abc.yaml", id, sizeof id));
	ck_assert_str_eq(id, "abc");
	ck_assert(!spool_name_to_id(".abc.yaml", id, sizeof id));
	ck_assert(!spool_name_to_id("abc.yaml~", id, sizeof id));
	ck_assert(!spool_name_to_id("abc.yml", id, sizeof id));
	ck_assert(!spool_name_to_id(".yaml", id, sizeof id));
	ck_assert(!spool_name_to_id("#abc.yaml#", id, sizeof id));
	ck_assert(!spool_name_to_id("abc.yaml.swp", id, sizeof id));
}
END_TEST

START_TEST(test_new_ids_unique_sorted)
{
	enum { N = 2000 };
	static char got[N][SPOOL_ID_MAX + 1];
	for (int i = 0; i < N; i++) {
		spool_new_id(got[i], sizeof got[i]);
		ck_assert_msg(spool_id_valid(got[i]), "id %s is not valid", got[i]);
		if (i)
			ck_assert_msg(strcmp(got[i - 1], got[i]) != 0, "duplicate id %s", got[i]);
	}
	/* Sorted by creation time: the timestamp prefix never goes back. */
	for (int i = 1; i < N; i++)
		ck_assert_msg(strncmp(got[i - 1], got[i], 23) <= 0, "%s sorts after %s", got[i - 1], got[i]);
}
END_TEST

START_TEST(test_init_modes)
{
	char path[8400];
	struct stat st;
	snprintf(path, sizeof path, "%s/spool/new", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 01700);
	/* With a group, producers may write tmp/ and new/ but not sent/, and
	 * (sticky) never rename or remove what is not theirs. */
	char root2[4200];
	snprintf(root2, sizeof root2, "%s/spool2", dir);
	ck_assert_int_eq(spool_init(root2, getgid()), 0);
	snprintf(path, sizeof path, "%s/new", root2);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 03770);
	snprintf(path, sizeof path, "%s/tmp", root2);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 03770);
	snprintf(path, sizeof path, "%s/sent", root2);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0750);
	ck_assert_int_eq(spool_init(root2, getgid()), 0); /* idempotent */
}
END_TEST

START_TEST(test_enqueue_read)
{
	const char *data = "msgspool: 1\n";
	char *got;
	size_t len;
	ck_assert_int_eq(spool_enqueue(sp, "r1", data, strlen(data)), 0);
	ck_assert_int_eq(spool_read(sp, SPOOL_NEW, "r1", 1000, &got, &len, NULL), 0);
	ck_assert_str_eq(got, data);
	free(got);
	ck_assert_int_eq(count_dir(SPOOL_NEW), 1);
	ck_assert_int_eq(count_dir(SPOOL_NEW) + 0, 1);
	/* The same id again, in any status, is refused and changes nothing. */
	ck_assert_int_eq(spool_enqueue(sp, "r1", "x", 1), -1);
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_int_eq(spool_move(sp, SPOOL_NEW, SPOOL_SENT, "r1"), 0);
	ck_assert_int_eq(spool_enqueue(sp, "r1", "x", 1), -1);
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_int_eq(spool_enqueue(sp, "../x", "x", 1), -1);
	ck_assert_int_eq(errno, EINVAL);
	/* Nothing is left behind in tmp/. */
	char cmd[8600];
	snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s/spool/tmp')\"", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_read_limits)
{
	char path[8400], *got;
	size_t len;
	ck_assert_int_eq(spool_enqueue(sp, "big", "0123456789", 10), 0);
	ck_assert_int_eq(spool_read(sp, SPOOL_NEW, "big", 5, &got, &len, NULL), -1);
	ck_assert_int_eq(errno, EFBIG);
	/* A symlink to a secret is never followed. */
	snprintf(path, sizeof path, "%s/spool/new/link.yaml", dir);
	ck_assert_int_eq(symlink("/etc/passwd", path), 0);
	ck_assert_int_eq(spool_read(sp, SPOOL_NEW, "link", 100000, &got, &len, NULL), -1);
	ck_assert_int_eq(errno, ELOOP);
	/* A FIFO is refused without blocking. */
	snprintf(path, sizeof path, "%s/spool/new/fifo.yaml", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(spool_read(sp, SPOOL_NEW, "fifo", 100000, &got, &len, NULL), -1);
	ck_assert_int_eq(errno, EINVAL);
	struct spool_claim c;
	ck_assert_int_eq(spool_claim(sp, SPOOL_NEW, "fifo", &c), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(spool_claim(sp, SPOOL_NEW, "link", &c), -1);
	ck_assert_int_eq(errno, ELOOP);
}
END_TEST

START_TEST(test_claim_commit)
{
	struct spool_claim c;
	char *got;
	size_t len;
	ck_assert_int_eq(spool_enqueue(sp, "r2", "old", 3), 0);
	ck_assert_int_eq(spool_claim(sp, SPOOL_NEW, "r2", &c), SPOOL_CLAIMED);
	ck_assert_int_eq(count_dir(SPOOL_NEW), 0);
	ck_assert_int_eq(count_dir(SPOOL_ACTIVE), 1);
	ck_assert_int_eq(spool_claim_read(&c, 100, &got, &len), 0);
	ck_assert_str_eq(got, "old");
	free(got);
	/* A second claimer, here or from active/, finds it busy. */
	struct spool_claim c2;
	ck_assert_int_eq(spool_claim(sp, SPOOL_NEW, "r2", &c2), SPOOL_BUSY);
	ck_assert_int_eq(spool_claim(sp, SPOOL_ACTIVE, "r2", &c2), SPOOL_BUSY);
	ck_assert_int_eq(spool_commit(sp, &c, "new content", 11, SPOOL_FAILED), 0);
	ck_assert_int_eq(count_dir(SPOOL_ACTIVE), 0);
	ck_assert_int_eq(spool_read(sp, SPOOL_FAILED, "r2", 100, &got, &len, NULL), 0);
	ck_assert_str_eq(got, "new content");
	free(got);
	enum spool_status st;
	ck_assert_int_eq(spool_locate(sp, "r2", &st), 0);
	ck_assert_int_eq(st, SPOOL_FAILED);
}
END_TEST

/* A group commit: each commit stands alone. One whose id is taken in
 * sent/ fails and keeps its claim in active/ (new content, still locked);
 * the others land with their new content; replaced inodes are kept in the
 * pool (tmp/pool.*) and reused by the next group, whatever their sizes. */
START_TEST(test_commit_batch)
{
	enum { N = 5 };
	struct spool_claim c[N];
	struct spool_commit jobs[N];
	char id[N][8], body[N][96];
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			snprintf(id[i], sizeof id[i], "b%d%d", round, i);
			ck_assert_int_eq(spool_enqueue(sp, id[i], "a rather longer original content", 33), 0);
			ck_assert_int_eq(spool_claim(sp, SPOOL_NEW, id[i], &c[i]), SPOOL_CLAIMED);
			/* Shorter and longer than what a pooled inode held. */
			snprintf(body[i], sizeof body[i], "%s %.*s", id[i], i * 10, "0123456789012345678901234567890123456789");
			jobs[i] = (struct spool_commit){&c[i], body[i], strlen(body[i]), SPOOL_SENT, 0, 0};
		}
		/* The id of job 2 is already taken in sent/. */
		char path[8400];
		snprintf(path, sizeof path, "%s/spool/sent/%s.yaml", dir, id[2]);
		FILE *f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		fputs("already here", f);
		fclose(f);

		ck_assert_uint_eq(spool_commit_batch(sp, jobs, N), 1);
		for (int i = 0; i < N; i++) {
			char *got;
			size_t len;
			if (i == 2) {
				ck_assert_int_eq(jobs[i].rc, -1);
				ck_assert_int_eq(jobs[i].err, EEXIST);
				ck_assert_int_ge(c[i].fd, 0);
				ck_assert_int_eq(spool_read(sp, SPOOL_ACTIVE, id[i], 100, &got, &len, NULL), 0);
				ck_assert_str_eq(got, body[i]);
				free(got);
				ck_assert_int_eq(spool_read(sp, SPOOL_SENT, id[i], 100, &got, &len, NULL), 0);
				ck_assert_str_eq(got, "already here");
				free(got);
				ck_assert_int_eq(spool_release(sp, &c[i], SPOOL_FAILED), 0);
				continue;
			}
			ck_assert_int_eq(jobs[i].rc, 0);
			ck_assert_int_eq(c[i].fd, -1);
			ck_assert_int_eq(spool_read(sp, SPOOL_SENT, id[i], 100, &got, &len, NULL), 0);
			ck_assert_str_eq(got, body[i]);
			free(got);
		}
		ck_assert_int_eq(count_dir(SPOOL_ACTIVE), 0);
	}
	/* Every replaced inode pooled, and the second group reused them. */
	ck_assert_int_eq(spool_pool_count(sp), N);
	ck_assert_int_eq(count_dir(SPOOL_SENT), 2 * N);
}
END_TEST

/* The inode a commit swaps out of active/ is reused only once active/ is
 * flushed: before that, a crash could bring back active/ID naming it, and
 * a reuse would have overwritten that receiver with another's record. */
static void claim_original(const char *id, struct spool_claim *c)
{
	ck_assert_int_eq(spool_enqueue(sp, id, "original", 8), 0);
	ck_assert_int_eq(spool_claim(sp, SPOOL_NEW, id, c), SPOOL_CLAIMED);
	watching = true;
}

START_TEST(test_pool_after_dirsync)
{
	struct spool_claim c;
	claim_original("p1", &c);
	ck_assert_int_eq(spool_commit(sp, &c, "recorded", 8, SPOOL_SENT), 0);
	watching = false;
	ck_assert_int_eq(pooled_at_dirsync, 0);
	ck_assert_int_eq(spool_pool_count(sp), 1);
}
END_TEST

/* A producer's inode (not the spool owner's) is never reused: it could
 * write into it later, and another receiver's record would be its file. */
START_TEST(test_pool_not_producers_inode)
{
	struct spool_claim c;
	char path[4300];
	ck_assert_int_eq(spool_enqueue(sp, "p3", "original", 8), 0);
	spool_path(sp, SPOOL_NEW, "p3", path, sizeof path);
	ck_assert_int_eq(chown(path, 65534, (gid_t)-1), 0);
	ck_assert_int_eq(spool_claim(sp, SPOOL_NEW, "p3", &c), SPOOL_CLAIMED);
	ck_assert_int_eq(spool_commit(sp, &c, "recorded", 8, SPOOL_SENT), 0);
	ck_assert_int_eq(spool_pool_count(sp), 0);
}
END_TEST

/* A pooled inode is written through the descriptor the spool holds, never
 * reopened by name: a FIFO put in its place must not block the commit. */
START_TEST(test_pool_not_reopened_by_name)
{
	struct spool_claim c;
	claim_original("p4", &c);
	ck_assert_int_eq(spool_commit(sp, &c, "recorded", 8, SPOOL_SENT), 0);
	watching = false;
	ck_assert_int_eq(spool_pool_count(sp), 1);
	char tmpdir[4300], cmd[4400];
	spool_path(sp, SPOOL_NEW, NULL, tmpdir, sizeof tmpdir);
	strcpy(tmpdir + strlen(tmpdir) - 3, "tmp");
	snprintf(cmd, sizeof cmd, "cd '%s' && for f in pool.*; do rm \"$f\" && mkfifo \"$f\"; done", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(spool_enqueue(sp, "p5", "original", 8), 0);
	ck_assert_int_eq(spool_claim(sp, SPOOL_NEW, "p5", &c), SPOOL_CLAIMED);
	ck_assert_int_eq(spool_commit(sp, &c, "second", 6, SPOOL_SENT), 0);
	char *got;
	size_t len;
	ck_assert_int_eq(spool_read(sp, SPOOL_SENT, "p5", 100, &got, &len, NULL), 0);
	ck_assert_str_eq(got, "second");
	free(got);
}
END_TEST

/* A directory flush that fails: the commit reports it, and the swapped-out
 * inode is not reused (it stays in tmp/ for the cleaner). */
START_TEST(test_pool_dirsync_fails)
{
	struct spool_claim c;
	claim_original("p2", &c);
	dirsync_errno = EIO;
	errno = 0;
	ck_assert_int_eq(spool_commit(sp, &c, "recorded", 8, SPOOL_SENT), -1);
	ck_assert_int_eq(errno, EIO);
	watching = false;
	dirsync_errno = 0;
	ck_assert_int_eq(spool_pool_count(sp), 0);
	ck_assert_int_eq(c.fd, -1);
	char *got;
	size_t len;
	ck_assert_int_eq(spool_read(sp, SPOOL_SENT, "p2", 100, &got, &len, NULL), 0);
	ck_assert_str_eq(got, "recorded");
	free(got);
	char cmd[8600];
	snprintf(cmd, sizeof cmd, "grep -qx original '%s'/spool/tmp/pool.*", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static bool claim_busy(void *id)
{
	struct spool_claim c;
	return spool_claim(sp, SPOOL_ACTIVE, id, &c) == SPOOL_BUSY;
}

START_TEST(test_claim_locked_by_other_process)
{
	struct spool_claim c;
	ck_assert_int_eq(spool_enqueue(sp, "r3", "x", 1), 0);
	ck_assert_int_eq(spool_claim(sp, SPOOL_NEW, "r3", &c), SPOOL_CLAIMED);
	ck_assert_msg(unit_in_child(claim_busy, "r3"), "another process could lock a live claim in active/");
	ck_assert_int_eq(spool_release(sp, &c, SPOOL_NEW), 0);
}
END_TEST

/* Many processes race to claim hundreds of files: each file is claimed by
 * exactly one of them, and every file ends up in sent/ exactly once. */
START_TEST(test_claim_race)
{
	enum { FILES = 400, PROCS = 6 };
	char id[32];
	for (int i = 0; i < FILES; i++) {
		snprintf(id, sizeof id, "race%03d", i);
		ck_assert_int_eq(spool_enqueue(sp, id, "x", 1), 0);
	}
	int fds[PROCS][2];
	for (int p = 0; p < PROCS; p++) {
		ck_assert_int_eq(pipe(fds[p]), 0);
		if (fork() == 0) {
			struct spool *s2;
			char root[4200];
			snprintf(root, sizeof root, "%s/spool", dir);
			if (spool_open(&s2, root) < 0)
				_exit(2);
			int won = 0;
			/* Each starts at a different place to make the race real. */
			for (int k = 0; k < FILES; k++) {
				int i = (k + p * 37) % FILES;
				struct spool_claim c;
				char cid[32], body[32];
				snprintf(cid, sizeof cid, "race%03d", i);
				int r = spool_claim(s2, SPOOL_NEW, cid, &c);
				if (r == SPOOL_CLAIMED) {
					snprintf(body, sizeof body, "%d", (int)getpid());
					if (spool_commit(s2, &c, body, strlen(body), SPOOL_SENT) < 0)
						_exit(3);
					won++;
				} else if (r < 0) {
					_exit(errno < 100 ? 100 + errno : 4); /* the status says which errno */
				}
			}
			if (write(fds[p][1], &won, sizeof won) != (ssize_t)sizeof won)
				_exit(5);
			_exit(0);
		}
		close(fds[p][1]);
	}
	int total = 0;
	for (int p = 0; p < PROCS; p++) {
		int status, won = 0;
		ssize_t got = read(fds[p][0], &won, sizeof won);
		if (got != (ssize_t)sizeof won) {
			wait(&status);
			ck_abort_msg("racer %d wrote nothing; a racer's status %d", p, status);
		}
		close(fds[p][0]);
		wait(&status);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a racer failed: status %d", status);
		total += won;
	}
	ck_assert_int_eq(total, FILES);
	ck_assert_int_eq(count_dir(SPOOL_SENT), FILES);
	ck_assert_int_eq(count_dir(SPOOL_NEW), 0);
	ck_assert_int_eq(count_dir(SPOOL_ACTIVE), 0);
}
END_TEST

START_TEST(test_find_prefix)
{
	char id[SPOOL_ID_MAX + 1];
	enum spool_status st;
	ck_assert_int_eq(spool_enqueue(sp, "abc123", "x", 1), 0);
	ck_assert_int_eq(spool_enqueue(sp, "abc456", "x", 1), 0);
	ck_assert_int_eq(spool_enqueue(sp, "abc", "x", 1), 0);
	ck_assert_int_eq(spool_move(sp, SPOOL_NEW, SPOOL_ERROR, "abc456"), 0);
	ck_assert_int_eq(spool_find(sp, "abc4", &st, id, sizeof id), SPOOL_FOUND);
	ck_assert_str_eq(id, "abc456");
	ck_assert_int_eq(st, SPOOL_ERROR);
	ck_assert_int_eq(spool_find(sp, "abc", &st, id, sizeof id), SPOOL_FOUND); /* exact wins */
	ck_assert_str_eq(id, "abc");
	ck_assert_int_eq(spool_find(sp, "ab", &st, id, sizeof id), SPOOL_AMBIGUOUS);
	ck_assert_int_eq(spool_find(sp, "zzz", &st, id, sizeof id), SPOOL_NOT_FOUND);
	ck_assert_int_eq(spool_find(sp, "../", &st, id, sizeof id), SPOOL_NOT_FOUND);
	ck_assert_int_eq(spool_find(sp, "", &st, id, sizeof id), SPOOL_NOT_FOUND);
}
END_TEST

START_TEST(test_move_never_overwrites)
{
	ck_assert_int_eq(spool_enqueue(sp, "dup", "one", 3), 0);
	ck_assert_int_eq(spool_move(sp, SPOOL_NEW, SPOOL_FAILED, "dup"), 0);
	char path[8400];
	snprintf(path, sizeof path, "%s/spool/new/dup.yaml", dir);
	FILE *f = fopen(path, "w");
	fputs("two", f);
	fclose(f);
	ck_assert_int_eq(spool_move(sp, SPOOL_NEW, SPOOL_FAILED, "dup"), -1);
	ck_assert_int_eq(errno, EEXIST);
	char *got;
	size_t len;
	ck_assert_int_eq(spool_read(sp, SPOOL_FAILED, "dup", 100, &got, &len, NULL), 0);
	ck_assert_str_eq(got, "one");
	free(got);
}
END_TEST

/* A pool file a crashed sender left (no lock, content a minute old or
 * more) is reclaimed at once, not after tmp/'s 36 hours. */
START_TEST(test_clean_tmp_pool_leftovers)
{
	char path[8400], young[8400];
	snprintf(path, sizeof path, "%s/spool/tmp/pool.1.aabbccddeeff", dir);
	snprintf(young, sizeof young, "%s/spool/tmp/pool.1.a0b0c0d0e0f0", dir);
	fclose(fopen(path, "w"));
	fclose(fopen(young, "w"));
	struct timespec old[2] = {{time(NULL) - 120, 0}, {time(NULL) - 120, 0}};
	ck_assert_int_eq(utimensat(AT_FDCWD, path, old, 0), 0);
	ck_assert_int_eq(spool_clean_tmp(sp, 36 * 3600), 1);
	ck_assert_int_eq(access(path, F_OK), -1);
	ck_assert_int_eq(access(young, F_OK), 0); /* may be being created */
}
END_TEST

/* Staging never opens a name that exists (a FIFO or a producer's file). */
START_TEST(test_stage_exclusive)
{
	ck_assert_int_eq(spool_stage(sp, "s1", "t1", "x", 1), 0);
	errno = 0;
	ck_assert_int_eq(spool_stage(sp, "s1", "t1", "y", 1), -1);
	ck_assert_int_eq(errno, EEXIST);
}
END_TEST

static bool cleans_one(void *unused)
{
	(void)unused;
	return spool_clean_tmp(sp, 36 * 3600) == 1;
}

START_TEST(test_clean_tmp)
{
	char path[8400];
	snprintf(path, sizeof path, "%s/spool/tmp/old.yaml.1.tmp", dir);
	FILE *f = fopen(path, "w");
	fclose(f);
	struct timespec old[2] = {{time(NULL) - 40 * 3600, 0}, {time(NULL) - 40 * 3600, 0}};
	ck_assert_int_eq(utimensat(AT_FDCWD, path, old, 0), 0);
	/* Old too, but locked: a live sender's pooled inode. */
	char held[8400];
	snprintf(held, sizeof held, "%s/spool/tmp/pool.1.2", dir);
	int hfd = open(held, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(hfd, 0);
	ck_assert_int_eq(flock(hfd, LOCK_EX), 0);
	ck_assert_int_eq(utimensat(AT_FDCWD, held, old, 0), 0);
	snprintf(path, sizeof path, "%s/spool/tmp/fresh.yaml.1.tmp", dir);
	f = fopen(path, "w");
	fclose(f);
	/* A lock taken in another process, as another sender's would be. */
	ck_assert(unit_in_child(cleans_one, NULL));
	ck_assert_int_eq(access(path, F_OK), 0);
	ck_assert_int_eq(access(held, F_OK), 0);
	/* Its holder gone, it is removed. */
	close(hfd);
	ck_assert_int_eq(spool_clean_tmp(sp, 36 * 3600), 1);
	ck_assert_int_eq(access(held, F_OK), -1);
}
END_TEST

START_TEST(test_status_names)
{
	enum spool_status st;
	ck_assert_str_eq(spool_status_name(SPOOL_NEW), "not_sent");
	ck_assert_str_eq(spool_status_dir(SPOOL_NEW), "new");
	ck_assert_int_eq(spool_status_parse("not_sent", &st), 0);
	ck_assert_int_eq(st, SPOOL_NEW);
	ck_assert_int_eq(spool_status_parse("new", &st), 0);
	ck_assert_int_eq(spool_status_parse("corrupt", &st), 0);
	ck_assert_int_eq(st, SPOOL_CORRUPT);
	ck_assert_int_eq(spool_status_parse("held", &st), 0);
	ck_assert_int_eq(st, SPOOL_HOLD);
	ck_assert_str_eq(spool_status_dir(SPOOL_HOLD), "hold");
	ck_assert_int_eq(spool_status_parse("bogus", &st), -1);
}
END_TEST

/* The status directories flushed since nsynced was set to 0, by name. */
static const char *synced_dirs(char *buf, size_t n)
{
	buf[0] = '\0';
	for (int i = 0; i < nsynced; i++) {
		const char *name = "?";
		for (int s = 0; s < SPOOL_NSTATUS; s++) {
			char path[8600];
			struct stat st;
			snprintf(path, sizeof path, "%s/spool/%s", dir, spool_status_dir((enum spool_status)s));
			if (stat(path, &st) == 0 && st.st_ino == synced[i])
				name = spool_status_dir((enum spool_status)s);
		}
		snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", i ? " " : "", name);
	}
	return buf;
}

/* Without a journal a rename between directories is two directory writes,
 * and a producer's flush of new/ may make a claim's removal durable at any
 * time: the claim flushes active/ before the send; a commit flushes the
 * claim's source, active/ after the swap, the target, then active/, so
 * that a power cut between two flushes leaves two names of one inode,
 * never none and never an old copy beside the new one. */
START_TEST(test_flush_order)
{
	struct spool_claim c;
	char got[256];
	ck_assert_int_eq(spool_enqueue(sp, "o1", "x", 1), 0);
	nsynced = 0;
	ck_assert_int_eq(spool_claim(sp, SPOOL_NEW, "o1", &c), SPOOL_CLAIMED);
	ck_assert_str_eq(synced_dirs(got, sizeof got), "active");
	nsynced = 0;
	ck_assert_int_eq(spool_commit(sp, &c, "y", 1, SPOOL_SENT), 0);
	ck_assert_str_eq(synced_dirs(got, sizeof got), "new active sent active");
	/* A release (a failure recorded without a commit, or a claim put back)
	 * flushes the source first too. */
	ck_assert_int_eq(spool_enqueue(sp, "o2", "x", 1), 0);
	ck_assert_int_eq(spool_claim(sp, SPOOL_NEW, "o2", &c), SPOOL_CLAIMED);
	nsynced = 0;
	ck_assert_int_eq(spool_release(sp, &c, SPOOL_ERROR), 0);
	ck_assert_str_eq(synced_dirs(got, sizeof got), "new error active");
	nsynced = -1;
}
END_TEST

/* Where renames reach the disk whole and in order (a journal), a claim
 * flushes nothing, and a commit or a release flushes its target alone:
 * that flush makes every earlier step durable. */
START_TEST(test_flush_order_whole)
{
	struct spool_claim c;
	char got[256];
	sp->renames_whole = true; /* as spool_open sets it on ext4 with its journal, xfs, tmpfs */
	ck_assert_int_eq(spool_enqueue(sp, "w1", "x", 1), 0);
	nsynced = 0;
	ck_assert_int_eq(spool_claim(sp, SPOOL_NEW, "w1", &c), SPOOL_CLAIMED);
	ck_assert_str_eq(synced_dirs(got, sizeof got), "");
	ck_assert_int_eq(spool_commit(sp, &c, "y", 1, SPOOL_SENT), 0);
	ck_assert_str_eq(synced_dirs(got, sizeof got), "sent");
	ck_assert_int_eq(count_dir(SPOOL_SENT), 1);
	ck_assert_int_eq(count_dir(SPOOL_ACTIVE), 0);
	nsynced = -1;
}
END_TEST

/* Claims ahead: several receivers renamed into active/ with one flush of
 * active/ for all (rule 3) before any of them is handed over; each
 * spool_claim of one of them then takes the claim made ahead and flushes
 * nothing; an id that could not be claimed ahead (gone) is claimed, or
 * found busy, as always; one not asked for goes back to new/ (give back,
 * or spool_close), and another process finds those held locked. */
START_TEST(test_claim_ahead)
{
	const char *ahead[] = {"a1", "a2", "gone", "a3", "a4"};
	char got[256];
	for (int i = 0; i < 5; i++)
		if (strcmp(ahead[i], "gone") != 0)
			ck_assert_int_eq(spool_enqueue(sp, ahead[i], "x", 1), 0);
	nsynced = 0;
	ck_assert_uint_eq(spool_claim_ahead(sp, SPOOL_NEW, ahead, 5), 4);
	ck_assert_str_eq(synced_dirs(got, sizeof got), "active");
	ck_assert_int_eq(count_dir(SPOOL_NEW), 0);
	ck_assert_int_eq(count_dir(SPOOL_ACTIVE), 4);
	ck_assert_msg(unit_in_child(claim_busy, "a2"), "another process could lock a claim made ahead");
	struct spool_claim c;
	nsynced = 0;
	ck_assert_int_eq(spool_claim(sp, SPOOL_NEW, "a1", &c), SPOOL_CLAIMED);
	ck_assert_str_eq(synced_dirs(got, sizeof got), "");
	ck_assert_str_eq(c.id, "a1");
	ck_assert_int_eq(c.from, SPOOL_NEW);
	char *data;
	size_t len;
	ck_assert_int_eq(spool_claim_read(&c, 100, &data, &len), 0);
	ck_assert_str_eq(data, "x");
	free(data);
	ck_assert_int_eq(spool_commit(sp, &c, "y", 1, SPOOL_SENT), 0);
	ck_assert_str_eq(synced_dirs(got, sizeof got), "new active sent active");
	/* Handed over once only. */
	ck_assert_int_eq(spool_claim(sp, SPOOL_NEW, "a1", &c), SPOOL_BUSY);
	ck_assert_int_eq(spool_claim(sp, SPOOL_NEW, "gone", &c), SPOOL_BUSY);
	nsynced = -1;
	spool_claim_ahead_give_back(sp, SPOOL_NEW, "a2");
	spool_claim_ahead_give_back(sp, SPOOL_NEW, "a2"); /* no longer held: nothing */
	ck_assert_int_eq(count_dir(SPOOL_NEW), 1);
	ck_assert_int_eq(count_dir(SPOOL_ACTIVE), 2);
	/* The rest go back when the spool is closed. */
	char root[4200];
	snprintf(root, sizeof root, "%s/spool", dir);
	spool_close(sp);
	sp = NULL;
	ck_assert_int_eq(spool_open(&sp, root), 0);
	ck_assert_int_eq(count_dir(SPOOL_NEW), 3);
	ck_assert_int_eq(count_dir(SPOOL_ACTIVE), 0);
	ck_assert_int_eq(count_dir(SPOOL_SENT), 1);
}
END_TEST

/* Recovery of what a cut between two flushes left: one inode named in
 * active/ and in another status directory. The name in active/ goes,
 * whatever the recovery's own target; the other stays. */
START_TEST(test_recover_twin)
{
	const char *twin[] = {"t1", "t2"};
	const enum spool_status other[] = {SPOOL_NEW, SPOOL_SENT};
	for (int i = 0; i < 2; i++) {
		char a[8600], b[8600];
		ck_assert_int_eq(spool_enqueue(sp, twin[i], "x", 1), 0);
		if (other[i] != SPOOL_NEW)
			ck_assert_int_eq(spool_move(sp, SPOOL_NEW, other[i], twin[i]), 0);
		snprintf(a, sizeof a, "%s/spool/%s/%s.yaml", dir, spool_status_dir(other[i]), twin[i]);
		snprintf(b, sizeof b, "%s/spool/active/%s.yaml", dir, twin[i]);
		ck_assert_int_eq(link(a, b), 0);
		struct spool_claim c;
		ck_assert_int_eq(spool_claim(sp, SPOOL_ACTIVE, twin[i], &c), SPOOL_CLAIMED);
		ck_assert_int_eq(spool_release(sp, &c, SPOOL_NEW), 0);
		ck_assert_int_eq(count_dir(SPOOL_ACTIVE), 0);
		ck_assert_int_eq(spool_exists(sp, other[i], twin[i]), true);
	}
	ck_assert_int_eq(count_dir(SPOOL_NEW), 1);
	ck_assert_int_eq(count_dir(SPOOL_SENT), 1);
}
END_TEST

/* RENAME_EXCHANGE switched off (as on NFS): a commit replaces the claim's
 * file instead, the same outcome with no inode pooled. RENAME_NOREPLACE
 * switched off: moves go by link and unlink, and still never replace. */
START_TEST(test_rename_switches)
{
	struct spool_claim c;
	char cmd[8700];
	setenv("MSGSPOOL_NO_RENAME_EXCHANGE", "1", 1);
	setenv("MSGSPOOL_NO_RENAME_NOREPLACE", "1", 1);
	claim_original("s1", &c);
	watching = false;
	ck_assert_int_eq(spool_commit(sp, &c, "new", 3, SPOOL_SENT), 0);
	ck_assert_int_eq(spool_pool_count(sp), 0);
	snprintf(cmd, sizeof cmd, "grep -qx new '%s/spool/sent/s1.yaml'", dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(count_dir(SPOOL_ACTIVE) + count_dir(SPOOL_NEW), 0);
	snprintf(cmd, sizeof cmd, "cp '%s/spool/sent/s1.yaml' '%s/spool/new/s1.yaml'", dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	errno = 0;
	ck_assert_int_eq(spool_move(sp, SPOOL_NEW, SPOOL_SENT, "s1"), -1);
	ck_assert_int_eq(errno, EEXIST);
	ck_assert_int_eq(count_dir(SPOOL_NEW) + count_dir(SPOOL_SENT), 2);
	unsetenv("MSGSPOOL_NO_RENAME_EXCHANGE");
	unsetenv("MSGSPOOL_NO_RENAME_NOREPLACE");
}
END_TEST

Suite *suite_spool(void)
{
	Suite *s = suite_create("spool");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_id_valid, 0, sizeof ids / sizeof *ids);
	tcase_add_test(tc, test_id_too_long);
	tcase_add_test(tc, test_name_to_id);
	tcase_add_test(tc, test_new_ids_unique_sorted);
	tcase_add_test(tc, test_init_modes);
	tcase_add_test(tc, test_enqueue_read);
	tcase_add_test(tc, test_read_limits);
	tcase_add_test(tc, test_claim_commit);
	tcase_add_test(tc, test_commit_batch);
	tcase_add_test(tc, test_pool_after_dirsync);
	tcase_add_test(tc, test_pool_dirsync_fails);
	tcase_add_test(tc, test_claim_locked_by_other_process);
	tcase_add_test(tc, test_claim_race);
	tcase_add_test(tc, test_find_prefix);
	tcase_add_test(tc, test_move_never_overwrites);
	tcase_add_test(tc, test_clean_tmp);
	tcase_add_test(tc, test_clean_tmp_pool_leftovers);
	tcase_add_test(tc, test_stage_exclusive);
	tcase_add_test(tc, test_pool_not_producers_inode);
	tcase_add_test(tc, test_pool_not_reopened_by_name);
	tcase_add_test(tc, test_status_names);
	tcase_add_test(tc, test_flush_order);
	tcase_add_test(tc, test_flush_order_whole);
	tcase_add_test(tc, test_claim_ahead);
	tcase_add_test(tc, test_recover_twin);
	tcase_add_test(tc, test_rename_switches);
	suite_add_tcase(s, tc);
	return s;
}
