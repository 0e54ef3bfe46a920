/* webauth: sessions, CSRF and lockout in fixed-size tables: a flood of
 * login pages or wrong passwords evicts the oldest entries and never grows
 * memory. Tokens come from getrandom(2); comparisons take constant time.
 * The rules are in man/msgspool-web.8 (SECURITY). */
#include "config.h"
#include "webauth.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define MAX_ADDRS 256
#define ADDR_MAX 64

struct addr_entry {
	char addr[ADDR_MAX];
	time_t fails[WEBAUTH_FAILS];	/* times of the last wrong passwords, a ring */
	unsigned next;
	time_t locked_until;
	time_t last;
	unsigned checking;		/* passwords from it being checked now */
};

struct webauth {
	struct webauth_session s[WEBAUTH_MAX_SESSIONS];
	struct addr_entry a[MAX_ADDRS];
};

struct webauth *webauth_new(void)
{
	return calloc(1, sizeof(struct webauth));
}

void webauth_free(struct webauth *a)
{
	if (a)
		explicit_bzero(a, sizeof *a);
	free(a);
}

int webauth_token(char out[WEBAUTH_TOKEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[WEBAUTH_TOKEN / 2];
	size_t got = 0;
	while (got < sizeof r) {
		ssize_t n = getrandom(r + got, sizeof r - got, 0);
		if (n < 0 && errno != EINTR)
			return -1;
		if (n > 0)
			got += (size_t)n;
	}
	for (size_t i = 0; i < sizeof r; i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[WEBAUTH_TOKEN] = '\0';
	return 0;
}

bool webauth_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;
	for (size_t i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i % (lb ? lb : 1)]);
	return d == 0 && lb > 0;
}

static bool live(const struct webauth_session *s, time_t now)
{
	return s->id[0] && now - s->last < WEBAUTH_IDLE && now >= s->last - 60;
}

const struct webauth_session *webauth_create(struct webauth *a, const char *user, time_t now)
{
	/* A free or expired slot, else the least recently used. */
	struct webauth_session *slot = &a->s[0];
	for (size_t i = 0; i < WEBAUTH_MAX_SESSIONS; i++) {
		struct webauth_session *s = &a->s[i];
		if (!live(s, now)) {
			slot = s;
			break;
		}
		if (s->last < slot->last)
			slot = s;
	}
	memset(slot, 0, sizeof *slot);
	if (strlen(user) > WEBAUTH_USER_MAX || webauth_token(slot->id) < 0 || webauth_token(slot->csrf) < 0) {
		memset(slot, 0, sizeof *slot);
		return NULL;
	}
	strcpy(slot->user, user);
	slot->last = now;
	return slot;
}

const struct webauth_session *webauth_find(struct webauth *a, const char *id, time_t now)
{
	if (!id || strlen(id) != WEBAUTH_TOKEN)
		return NULL;
	struct webauth_session *found = NULL;
	/* Every slot is compared, so timing does not tell where a match is. */
	for (size_t i = 0; i < WEBAUTH_MAX_SESSIONS; i++)
		if (a->s[i].id[0] && webauth_equal(a->s[i].id, id))
			found = &a->s[i];
	if (!found)
		return NULL;
	if (!live(found, now)) {
		memset(found, 0, sizeof *found);
		return NULL;
	}
	found->last = now;
	return found;
}

void webauth_drop(struct webauth *a, const char *id)
{
	for (size_t i = 0; id && i < WEBAUTH_MAX_SESSIONS; i++)
		if (a->s[i].id[0] && webauth_equal(a->s[i].id, id))
			memset(&a->s[i], 0, sizeof a->s[i]);
}

bool webauth_csrf_ok(const struct webauth_session *s, const char *token)
{
	return s && token && s->csrf[0] && webauth_equal(s->csrf, token);
}

static struct addr_entry *addr_find(struct webauth *a, const char *addr, bool create, time_t now)
{
	struct addr_entry *old = &a->a[0];
	for (size_t i = 0; i < MAX_ADDRS; i++) {
		if (a->a[i].addr[0] && !strncmp(a->a[i].addr, addr, ADDR_MAX - 1))
			return &a->a[i];
		if (a->a[i].last < old->last)
			old = &a->a[i];
	}
	if (!create)
		return NULL;
	memset(old, 0, sizeof *old);
	snprintf(old->addr, sizeof old->addr, "%s", addr);
	old->last = now;
	return old;
}

bool webauth_locked(struct webauth *a, const char *addr, time_t now)
{
	struct addr_entry *e = addr_find(a, addr, false, now);
	return e && now < e->locked_until;
}

/* Wrong passwords within the window, the ring's entries that are recent. */
static unsigned recent_fails(const struct addr_entry *e, time_t now)
{
	unsigned n = 0;
	for (unsigned i = 0; i < WEBAUTH_FAILS; i++)
		n += e->fails[i] && now - e->fails[i] < WEBAUTH_WINDOW;
	return n;
}

enum webauth_try webauth_try_begin(struct webauth *a, const char *addr, time_t now)
{
	struct addr_entry *e = addr_find(a, addr, true, now);
	if (now < e->locked_until)
		return WEBAUTH_TRY_LOCKED;
	/* Checks side by side count as wrong until they are known: never more
	 * guesses under way than wrong ones left before the lockout. */
	if (recent_fails(e, now) + e->checking >= WEBAUTH_FAILS)
		return WEBAUTH_TRY_WAIT;
	e->checking++;
	e->last = now;
	return WEBAUTH_TRY_GO;
}

void webauth_try_end(struct webauth *a, const char *addr, bool ok, time_t now)
{
	struct addr_entry *e = addr_find(a, addr, true, now);
	if (e->checking) /* an entry evicted meanwhile starts at 0 */
		e->checking--;
	if (ok) {
		memset(e->fails, 0, sizeof e->fails);
		e->locked_until = 0;
	} else
		webauth_failed(a, addr, now);
}

void webauth_failed(struct webauth *a, const char *addr, time_t now)
{
	struct addr_entry *e = addr_find(a, addr, true, now);
	e->last = now;
	e->fails[e->next] = now;
	e->next = (e->next + 1) % WEBAUTH_FAILS;
	/* The oldest of the last five is the next slot: all five within the window? */
	time_t oldest = e->fails[e->next];
	if (oldest && now - oldest < WEBAUTH_WINDOW)
		e->locked_until = now + WEBAUTH_LOCK;
}
