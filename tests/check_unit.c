/* check_unit: runs every Check suite of msgspool's modules. */
#include "config.h"
#include "unit.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
	SRunner *sr = srunner_create(suite_ydoc());
	srunner_add_suite(sr, suite_spool());
	srunner_add_suite(sr, suite_receiver());
	srunner_add_suite(sr, suite_conf());
	srunner_add_suite(sr, suite_mime());
	srunner_add_suite(sr, suite_util());
	srunner_add_suite(sr, suite_conns());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
