/* addr: RFC 5322 mailboxes as producers write them ("Name <a@b>",
 * "\"Doe, J.\" <a@b>", "a@b (comment)", "\"x y\"@b", UTF-8 per RFC 6532)
 * parsed into a display name, a local part and a domain; the domain in
 * its A-label form (IDNA 2008, libidn2, UTS 46 non-transitional).
 * Owns: the address grammar and libidn2 (the only module that knows it).
 * Never: keeps a comment, accepts a line break or a control character,
 * or hands on a domain that is not ASCII.
 * Rules: RFC 5322 3.4 (mailbox, addr-spec), 3.2 (quoted-string, comments),
 * RFC 5321 4.5.3.1 (lengths), RFC 6531/6532 (UTF-8), RFC 5890-5893 (IDNA);
 * man/msgspool-receiver.5. */
#include "config.h"
#include "addr.h"

#include <idn2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cur {
	const char *p;
	char *err;
	size_t errsz;
};

static int fail(struct cur *c, const char *why)
{
	if (c->err && !c->err[0])
		snprintf(c->err, c->errsz, "%s", why);
	return -1;
}

static bool is_atext(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch >= 0x80 || (ch && strchr("!#$%&'*+-/=?^_`{|}~", ch));
}

/* Skips whitespace and comments (nested, with quoted pairs). */
static int skip_cfws(struct cur *c)
{
	for (;;) {
		while (*c->p == ' ' || *c->p == '\t')
			c->p++;
		if (*c->p != '(')
			return 0;
		int depth = 0;
		do {
			if (!*c->p)
				return fail(c, "a comment is not closed");
			if (*c->p == '\\' && c->p[1])
				c->p++;
			else if (*c->p == '(')
				depth++;
			else if (*c->p == ')')
				depth--;
			c->p++;
		} while (depth > 0);
	}
}

/* A quoted-string's content, unescaped, appended to out. */
static int quoted(struct cur *c, struct util_buf *out)
{
	c->p++;
	while (*c->p != '"') {
		if (!*c->p)
			return fail(c, "a quoted string is not closed");
		if (*c->p == '\\' && c->p[1])
			c->p++;
		if ((unsigned char)*c->p < 0x20 && *c->p != '\t')
			return fail(c, "a control character in a quoted string");
		util_buf_add(out, c->p, 1);
		c->p++;
	}
	c->p++;
	return 0;
}

/* A display name: its words, joined by single spaces (RFC 5322 3.2.5:
 * whitespace between words is folding), quoted-strings kept exactly. */
static int phrase(struct cur *c, struct util_buf *name)
{
	bool any = false;
	for (;;) {
		const char *before = c->p;
		if (skip_cfws(c) < 0)
			return -1;
		if (*c->p != '"' && !is_atext((unsigned char)*c->p) && *c->p != '.')
			return any ? 0 : fail(c, "no display name before '<'");
		if (any && c->p != before)
			util_buf_add(name, " ", 1);
		if (*c->p == '"') {
			if (quoted(c, name) < 0)
				return -1;
		} else {
			const char *s = c->p;
			while (is_atext((unsigned char)*c->p) || *c->p == '.') /* obs-phrase allows dots */
				c->p++;
			util_buf_add(name, s, (size_t)(c->p - s));
		}
		any = true;
	}
}

static bool dot_atom(const char *s, size_t n)
{
	if (n == 0 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(is_atext((unsigned char)s[i]) || (s[i] == '.' && s[i + 1] != '.')))
			return false;
	return true;
}

/* The local part as it goes on the wire: a dot-atom as it is, anything
 * else as a quoted-string with only the escapes it needs. */
static int local_part(struct cur *c, struct util_buf *out)
{
	struct util_buf raw = {0};
	int rc = 0;
	if (*c->p == '"') {
		rc = quoted(c, &raw);
	} else {
		const char *s = c->p;
		while (is_atext((unsigned char)*c->p) || *c->p == '.')
			c->p++;
		util_buf_add(&raw, s, (size_t)(c->p - s));
		if (!dot_atom(s, (size_t)(c->p - s)))
			rc = fail(c, "the local part is not a dot-atom or a quoted string");
	}
	const char *r = util_buf_cstr(&raw);
	if (rc == 0 && dot_atom(r, raw.len)) {
		util_buf_add(out, r, raw.len);
	} else if (rc == 0) {
		util_buf_add(out, "\"", 1);
		for (const char *q = r; *q; q++) {
			if (*q == '"' || *q == '\\')
				util_buf_add(out, "\\", 1);
			util_buf_add(out, q, 1);
		}
		util_buf_add(out, "\"", 1);
	}
	util_buf_free(&raw);
	return rc;
}

/* IDNA 2008 with UTS 46 mapping, transitional off; STD3: what the mapping
 * gives must be letters, digits and hyphens (U+2000 would map to a space,
 * '+' would stay), as a host name on the wire must be. */
#define IDNA_FLAGS (IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT | IDN2_USE_STD3_ASCII_RULES)

/* A host name as RFC 5321 wants it: labels of 1 to 63 letters, digits and
 * hyphens, no hyphen at either end. */
static bool ldh_domain(const char *d)
{
	size_t label = 0;
	for (const char *p = d;; p++) {
		if (*p == '.' || !*p) {
			if (label == 0 || p[-1] == '-')
				return false;
			if (!*p)
				return true;
			label = 0;
		} else if (((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') || (*p >= '0' && *p <= '9') ||
			   (*p == '-' && label > 0)) {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
}

/* The domain, converted to A-labels when it holds U-labels (and those,
 * as libidn2 gives them back from the A-labels, in *ulabels). */
static int domain(struct cur *c, struct util_buf *out, char **ulabels)
{
	const char *s = c->p;
	if (*c->p == '[') {
		while (*c->p && *c->p != ']' && *c->p != '[' && *c->p != '\\' && (unsigned char)*c->p > ' ')
			c->p++;
		if (*c->p != ']')
			return fail(c, "an address literal is not closed");
		c->p++;
		return util_buf_add(out, s, (size_t)(c->p - s));
	}
	bool ascii = true;
	while (is_atext((unsigned char)*c->p) || *c->p == '.')
		ascii &= (unsigned char)*c->p++ < 0x80;
	size_t n = (size_t)(c->p - s);
	if (!dot_atom(s, n))
		return fail(c, "the domain is not a dot-atom");
	if (ascii)
		return util_buf_add(out, s, n);
	char *u = strndup(s, n), *a = NULL;
	int r = u ? idn2_to_ascii_8z(u, &a, IDNA_FLAGS) : IDN2_MALLOC;
	free(u);
	if (r == IDN2_OK && !ldh_domain(a))
		r = IDN2_DISALLOWED; /* what the mapping left is no host name */
	if (r != IDN2_OK) {
		if (c->err && !c->err[0])
			snprintf(c->err, c->errsz, "the domain is not a valid internationalised domain name: %s",
				 idn2_strerror(r));
		idn2_free(a);
		return -1;
	}
	util_buf_adds(out, a);
	char *back = NULL;
	if (idn2_to_unicode_8z8z(a, &back, 0) == IDN2_OK)
		*ulabels = strdup(back);
	idn2_free(back);
	idn2_free(a);
	return 0;
}

static int addr_spec(struct cur *c, struct addr *a)
{
	struct util_buf l = {0}, d = {0};
	if (skip_cfws(c) < 0 || local_part(c, &l) < 0 || (skip_cfws(c), *c->p != '@')) {
		util_buf_free(&l);
		return fail(c, "no '@' after the local part");
	}
	c->p++;
	if (skip_cfws(c) < 0 || domain(c, &d, &a->domain_u) < 0 || skip_cfws(c) < 0) {
		util_buf_free(&l);
		util_buf_free(&d);
		return -1;
	}
	a->local = util_buf_steal(&l);
	a->domain = util_buf_steal(&d);
	return 0;
}

static bool clean(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return false;
	return true;
}

static int parse(struct cur *c, bool allow_name, struct addr *a)
{
	const char *lt = strchr(c->p, '<');
	if (lt && allow_name) {
		struct util_buf name = {0};
		if (skip_cfws(c) < 0 || (*c->p != '<' && phrase(c, &name) < 0)) {
			util_buf_free(&name);
			return -1;
		}
		a->display = name.len ? util_buf_steal(&name) : NULL;
		util_buf_free(&name);
		if (skip_cfws(c) < 0 || *c->p != '<')
			return fail(c, "expected '<' after the display name");
		c->p++;
		if (addr_spec(c, a) < 0)
			return -1;
		if (*c->p != '>')
			return fail(c, "expected '>' after the address");
		c->p++;
	} else if (addr_spec(c, a) < 0) {
		return -1;
	}
	if (skip_cfws(c) < 0 || *c->p)
		return fail(c, "unexpected text after the address");
	size_t ll = strlen(a->local), dl = strlen(a->domain);
	if (ll > 64 || ll + dl + 1 > 254)
		return fail(c, "the address is longer than SMTP allows (64 octets before '@', 254 in all)");
	for (const unsigned char *p = (const unsigned char *)a->local; *p; p++)
		a->utf8_local |= *p >= 0x80;
	return 0;
}

int addr_parse(const char *s, bool allow_name, struct addr *a, char *err, size_t errsz)
{
	memset(a, 0, sizeof *a);
	struct cur c = {s, err, errsz};
	if (err && errsz)
		err[0] = '\0';
	if (!clean(s)) {
		fail(&c, "a control character or line break");
		return -1;
	}
	if (parse(&c, allow_name, a) < 0) {
		addr_free(a);
		return -1;
	}
	return 0;
}

void addr_free(struct addr *a)
{
	free(a->display);
	free(a->local);
	free(a->domain);
	free(a->domain_u);
	memset(a, 0, sizeof *a);
}

char *addr_spec_of(const struct addr *a)
{
	struct util_buf b = {0};
	util_buf_printf(&b, "%s@%s", a->local, a->domain);
	return util_buf_steal(&b);
}

char *addr_spec_utf8(const struct addr *a)
{
	struct util_buf b = {0};
	util_buf_printf(&b, "%s@%s", a->local, a->domain_u ? a->domain_u : a->domain);
	return util_buf_steal(&b);
}

bool addr_valid(const char *s, bool allow_name)
{
	struct addr a;
	if (addr_parse(s, allow_name, &a, NULL, 0) < 0)
		return false;
	addr_free(&a);
	return true;
}

char *addr_domain_ascii(const char *d)
{
	char *a = NULL;
	bool ascii = true;
	for (const unsigned char *p = (const unsigned char *)d; *p; p++)
		ascii &= *p < 0x80;
	if (ascii)
		return strdup(d);
	if (idn2_to_ascii_8z(d, &a, IDNA_FLAGS) != IDN2_OK || !ldh_domain(a)) {
		idn2_free(a);
		return NULL;
	}
	char *r = strdup(a);
	idn2_free(a);
	return r;
}
