/* util: small helpers every module shares: a growable byte buffer, RFC 3339
 * UTC timestamps, and write-everything I/O. Nothing here knows the spool. */
#ifndef MSGSPOOL_UTIL_H
#define MSGSPOOL_UTIL_H

#include <stddef.h>
#include <stdbool.h>
#include <time.h>

struct util_buf {
	char *data;	/* always NUL-terminated when len > 0 or after util_buf_cstr */
	size_t len;
	size_t cap;
};

int util_buf_add(struct util_buf *b, const void *p, size_t n);
/* One byte, inline: encoders call this per byte (see BENCHMARKS.md). */
static inline int util_buf_putc(struct util_buf *b, char c)
{
	if (b->len + 2 <= b->cap) {
		b->data[b->len++] = c;
		b->data[b->len] = '\0';
		return 0;
	}
	return util_buf_add(b, &c, 1);
}
/* Room for `extra` more bytes and the NUL, for writers that fill data
 * directly and then set len. */
int util_buf_reserve(struct util_buf *b, size_t extra);
int util_buf_adds(struct util_buf *b, const char *s);
int util_buf_printf(struct util_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *util_buf_cstr(struct util_buf *b);
char *util_buf_steal(struct util_buf *b);
void util_buf_free(struct util_buf *b);

/* "2026-11-28T16:45:17Z"; buf needs UTIL_TIME_LEN bytes. */
#define UTIL_TIME_LEN 32
void util_time_format(time_t t, char *buf);
/* Microsecond precision, for records whose order matters. */
void util_time_format_us(const struct timespec *ts, char *buf);
/* Parses RFC 3339 (Z or +hh:mm offsets, optional fraction); -1 on error. */
int util_time_parse(const char *s, time_t *out);

int util_write_all(int fd, const void *p, size_t n);
/* Reads a whole fd up to max bytes; -1 with errno EFBIG when larger. */
int util_read_fd(int fd, size_t max, char **out, size_t *outlen);

bool util_has_crlf(const char *s);
bool util_utf8_valid(const char *s, size_t n);
char *util_strdup(const char *s);
/* Test seam for crash tests: exits at once (status 99, like a kill) when
 * $MSGSPOOL_TEST_STOP names this point. Costs one getenv per call. */
void util_test_stop(const char *point);
void *util_xmalloc(size_t n);

#endif
