/* unit: the helpers the Check programs share (check_unit's suites and
 * check_web): scratch directories, files of the source tree, and a check
 * run in another process. */
#include "config.h"
#include "unit.h"
#include "spool.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

char *unit_tmpdir(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char *p = malloc(strlen(base) + 32);
	sprintf(p, "%s/msgspool-unit.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(p));
	return p;
}

void unit_rmtree(const char *path)
{
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", path);
}

struct spool *unit_spool(const char *dir)
{
	char root[4200];
	struct spool *sp;
	snprintf(root, sizeof root, "%s/spool", dir);
	ck_assert_int_eq(spool_init(root, (gid_t)-1), 0);
	ck_assert_int_eq(spool_open(&sp, root), 0);
	return sp;
}

char *unit_slurp(const char *relpath, size_t *len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", SRCDIR, relpath);
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	struct util_buf b = {0};
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		util_buf_add(&b, chunk, n);
	fclose(f);
	*len = b.len;
	return util_buf_steal(&b);
}

bool unit_in_child(bool (*fn)(void *arg), void *arg)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(fn(arg) ? 0 : 1);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}
