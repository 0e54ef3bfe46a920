/* util: small helpers every module shares: a growable byte buffer, RFC 3339
 * UTC timestamps, local calendar boundaries, write-everything I/O, the FNV-1a
 * hash, reasons for file errors and control-character escaping. Nothing here
 * knows the spool. (The string value of a mapping key is ydoc_get_str.) */
#ifndef MSGSPOOL_UTIL_H
#define MSGSPOOL_UTIL_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <signal.h>
#include <stdarg.h>
#include <time.h>

/* Where the library's modules write log lines (the daemon's log, a
 * command's standard error): priority is syslog's. */
typedef void msgspool_log_fn(void *ctx, int priority, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

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
/* Parses RFC 3339 (Z or +hh:mm offsets, optional fraction); -1 on error. */
int util_time_parse(const char *s, time_t *out);
/* Milliseconds on the monotonic clock, to the microsecond (an attempt on
 * loopback takes less than one). */
double util_now_ms(void);

/* Local midnight that starts the day `days_back` days before `now`, or
 * the first local midnight of now's month or year. */
enum util_period { UTIL_DAY, UTIL_MONTH, UTIL_YEAR };
time_t util_local_start(time_t now, enum util_period p, int days_back);

/* FNV-1a: start with UTIL_FNV_INIT (optionally mixed with a small salt). */
#define UTIL_FNV_INIT 2166136261u
static inline unsigned util_fnv1a(unsigned h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}
static inline unsigned util_fnv1a_n(unsigned h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 16777619u;
	return h;
}
/* FNV-1a over 64-bit words (the tail bytewise): a digest where no key or
 * secrecy is needed, at a small part of SHA-256's cost. */
#define UTIL_FNV64_INIT 0xcbf29ce484222325u
static inline uint64_t util_fnv1a64_n(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, c + i, sizeof w);
		h = (h ^ w) * 0x100000001b3u;
	}
	for (; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3u;
	return h;
}

/* Why a receiver file could not be opened or read, from the errno that
 * spool_read/spool_claim set: their refusals in words, else strerror. */
const char *util_file_reason(int e);

/* Control characters (C0, DEL, C1) and bytes that are not UTF-8 as \n, \t,
 * \r or \xNN, so that a producer's text cannot drive a terminal or split a
 * log line. A backslash stays as it is: the output is for humans only. */
int util_buf_add_escaped(struct util_buf *b, const char *s, size_t n);
/* The same, but newlines and tabs stay: for bodies and transcripts. */
int util_buf_add_escaped_text(struct util_buf *b, const char *s, size_t n);
/* vsnprintf, then escaped: one log or message line, whatever its
 * arguments hold (cut when it does not fit). */
void util_vformat_escaped(char *dst, size_t dstsz, const char *fmt, va_list ap);
/* Into a fixed buffer, cut (on a whole escape) when it does not fit;
 * returns dst. */
char *util_escape(const char *s, char *dst, size_t dstsz);
/* True when s holds nothing util_buf_add_escaped would change. */
bool util_is_printable(const char *s, size_t n);

int util_write_all(int fd, const void *p, size_t n);
/* Blocks SIGTERM, SIGINT and SIGHUP in the calling thread and in every
 * thread it starts later (set receives them, for sigwait or a signalfd),
 * and ignores SIGPIPE: a peer gone away is an error return, not a death. */
void util_block_stop_signals(sigset_t *set);
/* Closes each of the n descriptors that is open (not negative): for the
 * teardown of a struct that may be only half set up. */
void util_close_fds(const int *fds, size_t n);
/* Reads a whole fd up to max bytes; -1 with errno EFBIG when larger. */
int util_read_fd(int fd, size_t max, char **out, size_t *outlen);
/* The same for a regular file of about `size` bytes (its fstat), from its
 * start whatever the offset: one pread when the size holds. */
int util_read_fd_sized(int fd, size_t size, size_t max, char **out, size_t *outlen);

bool util_has_crlf(const char *s);
bool util_utf8_valid(const char *s, size_t n);
char *util_strdup(const char *s);
/* Test seam for crash tests: exits at once (status 99, like a kill) when
 * $MSGSPOOL_TEST_STOP names this point, stops (SIGSTOP) when it names
 * "pause:" and this point. The variable is read at the first call. */
void util_test_stop(const char *point);
/* Allocators whose failure ends the process with a message: for small,
 * bounded allocations and in commands, where there is nothing to unwind. */
void *util_xmalloc(size_t n);
void *util_xrealloc(void *p, size_t n);
char *util_xstrdup(const char *s);

#endif
