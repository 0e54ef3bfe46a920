/* util: byte buffers, RFC 3339 times, careful I/O, reasons and escaping
 * shared by all modules. Owns no state and never knows the spool or its
 * paths; the rules it serves are written in spool-layout/README.md (times,
 * limits) and SECURITY.md (escaping). */
#include "config.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int util_buf_reserve(struct util_buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + extra + 1) {
		if (cap > ((size_t)-1) / 2) {
			errno = ENOMEM;
			return -1;
		}
		cap *= 2;
	}
	char *p = realloc(b->data, cap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int util_buf_add(struct util_buf *b, const void *p, size_t n)
{
	if (util_buf_reserve(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int util_buf_adds(struct util_buf *b, const char *s)
{
	return util_buf_add(b, s, strlen(s));
}

int util_buf_printf(struct util_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || util_buf_reserve(b, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

const char *util_buf_cstr(struct util_buf *b)
{
	if (!b->data && util_buf_reserve(b, 0) < 0)
		return "";
	b->data[b->len] = '\0';
	return b->data;
}

char *util_buf_steal(struct util_buf *b)
{
	util_buf_cstr(b);
	char *p = b->data;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

void util_buf_free(struct util_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void util_time_format(time_t t, char *buf)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, UTIL_TIME_LEN, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

time_t util_local_start(time_t now, enum util_period p, int days_back)
{
	struct tm tm;
	localtime_r(&now, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	if (p == UTIL_MONTH) {
		tm.tm_mday = 1;
	} else if (p == UTIL_YEAR) {
		tm.tm_mday = 1;
		tm.tm_mon = 0;
	} else {
		tm.tm_mday -= days_back;
	}
	return mktime(&tm);
}

const char *util_file_reason(int e)
{
	switch (e) {
	case EFBIG:
		return "larger than max_receiver_size";
	case ELOOP:
		return "a symbolic link (never followed)";
	case EINVAL:
		return "not a regular file";
	default:
		return strerror(e);
	}
}

static int digits(const char **s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if ((*s)[i] < '0' || (*s)[i] > '9')
			return -1;
		v = v * 10 + ((*s)[i] - '0');
	}
	*s += n;
	*out = v;
	return 0;
}

double util_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int util_time_parse(const char *s, time_t *out)
{
	int y, mo, d, h, mi, se;
	struct tm tm = {0};
	if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' ||
	    digits(&s, 2, &d) || (*s != 'T' && *s != 't' && *s != ' '))
		return -1;
	s++;
	if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi) || *s++ != ':' ||
	    digits(&s, 2, &se))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
		return -1;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return -1;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	long off = 0;
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		int sign = *s++ == '-' ? -1 : 1, oh, om;
		if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om) || oh > 23 || om > 59)
			return -1;
		off = sign * (oh * 3600L + om * 60L);
	} else {
		return -1;
	}
	if (*s)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = t - off;
	return 0;
}

void util_block_stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

void util_close_fds(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int util_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int util_read_fd(int fd, size_t max, char **out, size_t *outlen)
{
	struct util_buf b = {0};
	char chunk[65536];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			util_buf_free(&b);
			return -1;
		}
		if (r == 0)
			break;
		if (b.len + (size_t)r > max) {
			util_buf_free(&b);
			errno = EFBIG;
			return -1;
		}
		if (util_buf_add(&b, chunk, (size_t)r) < 0) {
			util_buf_free(&b);
			return -1;
		}
	}
	*outlen = b.len;
	*out = util_buf_steal(&b);
	return *out ? 0 : -1;
}

bool util_has_crlf(const char *s)
{
	return s && strpbrk(s, "\r\n") != NULL;
}

bool util_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	while (p < e) {
		unsigned c = *p;
		size_t k;
		unsigned min;
		if (c < 0x80) {
			p++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			k = 1; min = 0x80; c &= 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			k = 2; min = 0x800; c &= 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			k = 3; min = 0x10000; c &= 0x07;
		} else {
			return false;
		}
		if ((size_t)(e - p) <= k)
			return false;
		for (size_t i = 1; i <= k; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			c = (c << 6) | (p[i] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
		p += k + 1;
	}
	return true;
}

/* Length of the valid, printable UTF-8 sequence at p (C1 controls are
 * not printable), or 0. */
static size_t printable_seq(const unsigned char *p, const unsigned char *e)
{
	if (*p >= 0x20 && *p < 0x7f)
		return 1;
	if (*p < 0x80 || *p == 0x7f)
		return 0;
	size_t k = (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;
	if (!k || (size_t)(e - p) < k || !util_utf8_valid((const char *)p, k))
		return 0;
	if (p[0] == 0xc2 && p[1] < 0xa0)
		return 0;	/* U+0080..U+009F: C1 controls (CSI is U+009B) */
	return k;
}

bool util_is_printable(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	while (p < e) {
		size_t k = printable_seq(p, e);
		if (!k)
			return false;
		p += k;
	}
	return true;
}

/* keep_lines: newlines and tabs stay (bodies, transcripts). */
static int add_escaped(struct util_buf *b, const char *s, size_t n, bool keep_lines)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	while (p < e) {
		const unsigned char *run = p;
		size_t k;
		while (p < e && ((k = printable_seq(p, e)) != 0 || (keep_lines && (*p == '\n' || *p == '\t'))))
			p += k ? k : 1;
		if (p > run && util_buf_add(b, run, (size_t)(p - run)) < 0)
			return -1;
		if (p == e)
			break;
		char esc[4] = {'\\', 0, 0, 0};
		size_t len = 2;
		if (*p == '\n' || *p == '\t' || *p == '\r') {
			esc[1] = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
		} else {
			esc[1] = 'x';
			esc[2] = hex[*p >> 4];
			esc[3] = hex[*p & 15];
			len = 4;
		}
		if (util_buf_add(b, esc, len) < 0)
			return -1;
		p++;
	}
	return util_buf_reserve(b, 0);
}

int util_buf_add_escaped(struct util_buf *b, const char *s, size_t n)
{
	return add_escaped(b, s, n, false);
}

int util_buf_add_escaped_text(struct util_buf *b, const char *s, size_t n)
{
	return add_escaped(b, s, n, true);
}

void util_vformat_escaped(char *dst, size_t dstsz, const char *fmt, va_list ap)
{
	char raw[4096];
	int n = vsnprintf(raw, sizeof raw, fmt, ap);
	if (n < 0)
		raw[0] = '\0';
	if (util_is_printable(raw, strlen(raw)))
		snprintf(dst, dstsz, "%s", raw);
	else
		util_escape(raw, dst, dstsz);
}

char *util_escape(const char *s, char *dst, size_t dstsz)
{
	struct util_buf b = {0};
	if (!dstsz)
		return dst;
	dst[0] = '\0';
	if (!s || util_buf_add_escaped(&b, s, strlen(s)) < 0) {
		util_buf_free(&b);
		return dst;
	}
	size_t n = b.len < dstsz ? b.len : dstsz - 1;
	/* Never cut inside an escape or a UTF-8 sequence. */
	while (n < b.len && n > 0 && (((unsigned char)b.data[n] & 0xc0) == 0x80))
		n--;
	for (size_t i = n >= 3 ? n - 3 : 0; n < b.len && i < n; i++)
		if (b.data[i] == '\\' && i + (b.data[i + 1] == 'x' ? 4 : 2) > n) {
			n = i;
			break;
		}
	memcpy(dst, b.data, n);
	dst[n] = '\0';
	util_buf_free(&b);
	return dst;
}

char *util_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void *out_of_memory(void *p)
{
	if (!p) {
		fputs("msgspool: out of memory\n", stderr);
		abort();
	}
	return p;
}

void *util_xmalloc(size_t n)
{
	return out_of_memory(calloc(1, n ? n : 1));
}

void *util_xrealloc(void *p, size_t n)
{
	return out_of_memory(realloc(p, n ? n : 1));
}

char *util_xstrdup(const char *s)
{
	return out_of_memory(strdup(s));
}

static const char *test_stop;
static pthread_once_t test_stop_once = PTHREAD_ONCE_INIT;

static void test_stop_read(void)
{
	test_stop = getenv("MSGSPOOL_TEST_STOP");
}

void util_test_stop(const char *point)
{
	/* Read once: getenv walks the environment, and this is on the path of
	 * every claim and commit. */
	pthread_once(&test_stop_once, test_stop_read);
	const char *want = test_stop;
	if (want && !strcmp(want, point))
		_exit(99);
	/* "pause:POINT" stops the process there, all it holds held, until a
	 * SIGCONT (or the power cut a test makes meanwhile). */
	if (want && !strncmp(want, "pause:", 6) && !strcmp(want + 6, point))
		raise(SIGSTOP);
}

int util_read_fd_sized(int fd, size_t size, size_t max, char **out, size_t *outlen)
{
	if (max > ((size_t)-1) / 4)
		max = ((size_t)-1) / 4; /* so that max + 1 and twice a capacity never wrap */
	size_t cap = (size < max ? size : max) + 1, n = 0;
	char *buf = malloc(cap + 1);
	if (!buf)
		return -1;
	for (;;) {
		ssize_t r = pread(fd, buf + n, cap - n, (off_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (r > 0 && n + (size_t)r > max)) {
			int e = r < 0 ? errno : EFBIG;
			free(buf);
			errno = e;
			return -1;
		}
		n += (size_t)r;
		/* Short after the size we were told: the end of the file. */
		if (r == 0 || (n < cap && n >= size))
			break;
		if (n == cap) {
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			char *p = realloc(buf, cap + 1);
			if (!p) {
				free(buf);
				return -1;
			}
			buf = p;
		}
	}
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}
