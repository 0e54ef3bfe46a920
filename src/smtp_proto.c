/* smtp_proto: SMTP commands and replies written and read over libetpan's
 * stream (libetpan 1.9.4 exports no way to send a command of our own, nor
 * to choose the EHLO name), the EHLO extensions, and the EHLO name; the
 * MAIL command with its parameters, a reply on one line and transcript
 * lines, which need no session of smtp.c's.
 * Owns: the reply grammar (RFC 5321 4.2) and the extension keywords.
 * Never: takes a line that is not a reply for one (it is kept, so the
 * failure can say what came), or waits longer than the stream's timeout.
 * Rules: RFC 5321 4.1.1.1 and 4.2, RFC 1870, 2920, 3030, 6531;
 * man/msgspool.yaml.5 (smtp.helo). */
#include "config.h"
#include "smtp_proto.h"
#include "hdr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* This host's fully qualified name, looked up once per process: the host
 * name when it has a dot, else its canonical name (DNS or /etc/hosts). */
static pthread_once_t fqdn_once = PTHREAD_ONCE_INIT;
static char fqdn[256], short_name[256];
static void find_fqdn(void)
{
	struct addrinfo hints = {.ai_flags = AI_CANONNAME}, *ai = NULL;
	if (gethostname(short_name, sizeof short_name - 1) < 0)
		return;
	if (strchr(short_name, '.')) {
		snprintf(fqdn, sizeof fqdn, "%s", short_name);
		return;
	}
	if (getaddrinfo(short_name, NULL, &hints, &ai) == 0) {
		if (ai->ai_canonname && strchr(ai->ai_canonname, '.'))
			snprintf(fqdn, sizeof fqdn, "%s", ai->ai_canonname);
		freeaddrinfo(ai);
	}
}

/* A name EHLO may carry (RFC 5321 4.1.1.1): a domain of at least two
 * labels, or an address literal. */
static bool helo_valid(const char *h)
{
	size_t n = strlen(h);
	if (n == 0 || n > 253)
		return false;
	if (h[0] == '[')
		return n > 2 && h[n - 1] == ']' && strspn(h + 1, "0123456789abcdefABCDEF:.IPv6") == n - 2;
	if (!strchr(h, '.') || h[0] == '.' || h[0] == '-' || h[n - 1] == '.' || h[n - 1] == '-' || strstr(h, ".."))
		return false;
	for (const char *p = h; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.')
			return false;
	return true;
}

int smtp_proto_helo_name(const char *configured, char *out, size_t n, char *err, size_t errsz)
{
	const char *h = configured;
	if (h && !helo_valid(h)) {
		snprintf(err, errsz, "smtp.helo: '%s' is neither a fully qualified domain name nor an address literal", h);
		return -1;
	}
	if (!h) {
		pthread_once(&fqdn_once, find_fqdn);
		if (!fqdn[0] || !helo_valid(fqdn)) {
			snprintf(err, errsz, "smtp: cannot find this host's fully qualified name (the host name is '%s'); set smtp.helo",
				 short_name);
			return -1;
		}
		h = fqdn;
	}
	snprintf(out, n, "%s", h);
	return 0;
}

/* Writes one command and reads its reply; 0 when the stream failed. */
int smtp_proto_command(mailsmtp *m, const char *cmd)
{
	size_t n = strlen(cmd);
	m->response_code = 0;
	if (!m->stream)
		return 0;
	mailstream_set_privacy(m->stream, 1);
	if (mailstream_write(m->stream, cmd, n) != (ssize_t)n || mailstream_flush(m->stream) != 0)
		return 0;
	return smtp_proto_reply(m);
}

/* The extensions of an EHLO reply (its lines after the first), into the
 * session's flags where libetpan reads them (STARTTLS, AUTH, SIZE) and ours. */
void smtp_proto_extensions(mailsmtp *m, bool *smtputf8, bool *chunking)
{
	static const struct { const char *kw; int flag; } esmtp[] = {
		{"PIPELINING", MAILSMTP_ESMTP_PIPELINING}, {"8BITMIME", MAILSMTP_ESMTP_8BITMIME},
		{"SIZE", MAILSMTP_ESMTP_SIZE}, {"STARTTLS", MAILSMTP_ESMTP_STARTTLS}, {"DSN", MAILSMTP_ESMTP_DSN}};
	static const struct { const char *mech; int flag; } auth[] = {
		{"PLAIN", MAILSMTP_AUTH_PLAIN}, {"LOGIN", MAILSMTP_AUTH_LOGIN}, {"CRAM-MD5", MAILSMTP_AUTH_CRAM_MD5},
		{"DIGEST-MD5", MAILSMTP_AUTH_DIGEST_MD5}, {"GSSAPI", MAILSMTP_AUTH_GSSAPI}, {"NTLM", MAILSMTP_AUTH_NTLM}};
	m->esmtp = MAILSMTP_ESMTP;
	m->auth = MAILSMTP_AUTH_CHECKED;
	m->smtp_max_msg_size = 0;
	*smtputf8 = *chunking = false;
	for (const char *l = strchr(m->response ? m->response : "", '\n'); l && l[1]; l = strchr(l, '\n')) {
		l++;
		size_t kl = strcspn(l, " =\n");
		char kw[32];
		snprintf(kw, sizeof kw, "%.*s", (int)(kl < sizeof kw ? kl : sizeof kw - 1), l);
		for (size_t i = 0; i < sizeof esmtp / sizeof *esmtp; i++)
			if (!strcasecmp(kw, esmtp[i].kw))
				m->esmtp |= esmtp[i].flag;
		if (!strcasecmp(kw, "SIZE") && l[kl] == ' ')
			m->smtp_max_msg_size = strtoul(l + kl + 1, NULL, 10);
		*smtputf8 |= !strcasecmp(kw, "SMTPUTF8");
		*chunking |= !strcasecmp(kw, "CHUNKING");
		if (strcasecmp(kw, "AUTH"))
			continue;
		for (const char *w = l + kl; *w && *w != '\n';) {
			w += strspn(w, " =");
			size_t wl = strcspn(w, " \n");
			for (size_t i = 0; i < sizeof auth / sizeof *auth; i++)
				if (wl == strlen(auth[i].mech) && !strncasecmp(w, auth[i].mech, wl))
					m->auth |= auth[i].flag;
			w += wl;
		}
	}
}

/* One reply, all its lines, into the session's response and code as
 * libetpan's own reader leaves them; 0 when the stream failed (response
 * empty) or the server did not speak SMTP (response the line it sent). */
int smtp_proto_reply(mailsmtp *m)
{
	mmap_string_assign(m->response_buffer, "");
	int code;
	bool more;
	do {
		const char *line = mailstream_read_line_remove_eol(m->stream, m->line_buffer);
		bool digits = line && line[0] >= '2' && line[0] <= '5' && line[1] >= '0' && line[1] <= '9' &&
			      line[2] >= '0' && line[2] <= '9' && (!line[3] || line[3] == ' ' || line[3] == '-');
		if (!digits) {
			/* Kept, so the failure says what came instead of a reply. */
			mmap_string_assign(m->response_buffer, line ? line : "");
			code = 0;
			break;
		}
		code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		more = line[3] == '-';
		mmap_string_append(m->response_buffer, line[3] ? line + 4 : "");
		mmap_string_append_c(m->response_buffer, '\n');
	} while (more);
	m->response = m->response_buffer->str;
	m->response_code = code;
	return code;
}

bool smtp_proto_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (!strcmp(host, "localhost"))
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

void smtp_proto_append_lines(struct util_buf *b, const char *prefix, const char *str, size_t size)
{
	while (size) {
		const char *nl = memchr(str, '\n', size);
		size_t l = nl ? (size_t)(nl - str) + 1 : size;
		size_t t = l;
		while (t && (str[t - 1] == '\n' || str[t - 1] == '\r'))
			t--;
		util_buf_adds(b, prefix);
		util_buf_add(b, str, t);
		util_buf_add(b, "\n", 1);
		str += l;
		size -= l;
	}
}

/* "451 4.3.0 try later": the reply on one line, whatever the server sent. */
void smtp_proto_reply_line(const mailsmtp *m, char *buf, size_t n, const char *prefix)
{
	snprintf(buf, n, "%s%d %s", prefix, m->response_code, m->response ? m->response : "");
	for (char *p = buf; *p; p++)
		if (*p == '\r' || *p == '\n')
			*p = ' ';
	size_t l = strlen(buf);
	while (l && buf[l - 1] == ' ')
		buf[--l] = '\0';
}

/* Whether the message has a byte over 127 (an 8bit part, UTF-8 headers);
 * eight bytes at a time, as every message of 7 bits is read to its end. */
bool smtp_proto_has_8bit(const char *msg, size_t len)
{
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, msg + i, sizeof w);
		if (w & 0x8080808080808080u)
			return true;
	}
	for (; i < len; i++)
		if ((unsigned char)msg[i] >= 0x80)
			return true;
	return false;
}

/* "MAIL FROM:<a>" with the parameters the message needs and the server
 * offers: SIZE (RFC 1870), SMTPUTF8 (RFC 6531) with BODY=8BITMIME. */
int smtp_proto_mail_command(const mailsmtp *m, const char *from, const char *rcpt, size_t len, bool eight,
			    char *cmd, size_t n)
{
	bool utf8 = !hdr_is_ascii(from) || !hdr_is_ascii(rcpt);
	int w = snprintf(cmd, n, "MAIL FROM:<%s>", from);
	if (m->esmtp & MAILSMTP_ESMTP_SIZE)
		w += snprintf(cmd + w, n - (size_t)w, " SIZE=%zu", len);
	if (utf8)
		w += snprintf(cmd + w, n - (size_t)w, " SMTPUTF8");
	if ((utf8 || eight) && (m->esmtp & MAILSMTP_ESMTP_8BITMIME))
		w += snprintf(cmd + w, n - (size_t)w, " BODY=8BITMIME");
	return w;
}
