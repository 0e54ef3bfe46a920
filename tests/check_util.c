/* check_util: the shared helpers: escaping for humans and logs, the hash,
 * file-error reasons and local calendar boundaries. */
#include "config.h"
#include "unit.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char *escaped(const char *s, size_t n)
{
	struct util_buf b = {0};
	ck_assert_int_eq(util_buf_add_escaped(&b, s, n), 0);
	return util_buf_steal(&b);
}

START_TEST(test_escape_controls)
{
	char *e = escaped("a\033[2Jb\nc\td\re\x7f", 13);
	ck_assert_str_eq(e, "a\\x1b[2Jb\\nc\\td\\re\\x7f");
	free(e);
	/* C1 CSI as UTF-8 and a lone 0x9b byte; é and € stay. */
	e = escaped("\xc2\x9b" "1m \x9b x \xc3\xa9\xe2\x82\xac", 14);
	ck_assert_str_eq(e, "\\xc2\\x9b1m \\x9b x \xc3\xa9\xe2\x82\xac");
	free(e);
	e = escaped("nul\0x", 5);
	ck_assert_str_eq(e, "nul\\x00x");
	free(e);
	ck_assert(util_is_printable("plain text \xc3\xa9", 13));
	ck_assert(!util_is_printable("a\nb", 3));
}
END_TEST

START_TEST(test_escape_fixed_buffer_cuts_whole_escapes)
{
	char buf[8];
	ck_assert_str_eq(util_escape("abcdef\nf", buf, sizeof buf), "abcdef");
	ck_assert_str_eq(util_escape("ab\x01" "cd", buf, sizeof buf), "ab\\x01c");
	ck_assert_str_eq(util_escape("abcdef\xc3\xa9", buf, sizeof buf), "abcdef");
	ck_assert_str_eq(util_escape(NULL, buf, sizeof buf), "");
}
END_TEST

START_TEST(test_fnv_and_reasons)
{
	/* The published FNV-1a test vector for "a". */
	ck_assert_uint_eq(util_fnv1a(UTIL_FNV_INIT, "a"), 0xe40c292cu);
	ck_assert_uint_eq(util_fnv1a_n(UTIL_FNV_INIT, "ab", 2), util_fnv1a(UTIL_FNV_INIT, "ab"));
	ck_assert_str_eq(util_file_reason(ELOOP), "a symbolic link (never followed)");
	ck_assert_str_eq(util_file_reason(EFBIG), "larger than max_receiver_size");
	ck_assert_str_eq(util_file_reason(EINVAL), "not a regular file");
	ck_assert_str_eq(util_file_reason(ENOENT), strerror(ENOENT));
}
END_TEST

START_TEST(test_local_start)
{
	setenv("TZ", "UTC", 1);
	tzset();
	time_t now = 1764430000; /* 2025-11-29T15:26:40Z */
	ck_assert_int_eq((long long)util_local_start(now, UTIL_DAY, 0), 1764374400LL);
	ck_assert_int_eq((long long)util_local_start(now, UTIL_DAY, 2), 1764374400LL - 2 * 86400);
	ck_assert_int_eq((long long)util_local_start(now, UTIL_MONTH, 0), 1761955200LL);
	ck_assert_int_eq((long long)util_local_start(now, UTIL_YEAR, 0), 1735689600LL);
}
END_TEST

/* A file read by its size: exact, grown or shrunk since the size was
 * taken, from its start whatever the offset, and over the limit refused. */
START_TEST(test_read_fd_sized)
{
	char *dir = unit_tmpdir(), path[4200], *data;
	size_t len;
	snprintf(path, sizeof path, "%s/f", dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("0123456789", f);
	fclose(f);
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(lseek(fd, 4, SEEK_SET), 4);
	size_t sizes[] = {10, 3, 40, 0};
	for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
		ck_assert_int_eq(util_read_fd_sized(fd, sizes[i], 100, &data, &len), 0);
		ck_assert_uint_eq(len, 10);
		ck_assert_str_eq(data, "0123456789");
		free(data);
	}
	errno = 0;
	ck_assert_int_eq(util_read_fd_sized(fd, 3, 9, &data, &len), -1);
	ck_assert_int_eq(errno, EFBIG);
	ck_assert_int_eq(util_read_fd_sized(fd, 10, 10, &data, &len), 0);
	free(data);
	close(fd);
	unit_rmtree(dir);
	free(dir);
}
END_TEST

Suite *suite_util(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_escape_controls);
	tcase_add_test(tc, test_escape_fixed_buffer_cuts_whole_escapes);
	tcase_add_test(tc, test_fnv_and_reasons);
	tcase_add_test(tc, test_local_start);
	tcase_add_test(tc, test_read_fd_sized);
	suite_add_tcase(s, tc);
	return s;
}
