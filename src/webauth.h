/* webauth: msgspool-web's sessions, CSRF tokens and login lockout, all in
 * memory (a restart logs everyone out). It knows nothing of HTTP: callers
 * pass the cookie value, the form token and the client's address. */
#ifndef MSGSPOOL_WEBAUTH_H
#define MSGSPOOL_WEBAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define WEBAUTH_TOKEN 32		/* hex digits of a 128-bit random value */
#define WEBAUTH_IDLE (12 * 3600)	/* a session expires after this long unused */
#define WEBAUTH_MAX_SESSIONS 1024	/* the oldest goes first beyond this */
#define WEBAUTH_FAILS 5			/* wrong passwords from one address ... */
#define WEBAUTH_WINDOW 60		/* ... within this many seconds ... */
#define WEBAUTH_LOCK 60			/* ... lock it out this long */
#define WEBAUTH_USER_MAX 64

/* A session before login has user[0] == 0: it only carries the login
 * form's CSRF token. */
struct webauth_session {
	char id[WEBAUTH_TOKEN + 1];
	char csrf[WEBAUTH_TOKEN + 1];
	char user[WEBAUTH_USER_MAX + 1];
	time_t last;
};

struct webauth;

struct webauth *webauth_new(void);
void webauth_free(struct webauth *a);
/* A new session with fresh random id and token; NULL when the random
 * source fails. user may be "" (the login form's session). */
const struct webauth_session *webauth_create(struct webauth *a, const char *user, time_t now);
/* The live session with this id (touched), or NULL. */
const struct webauth_session *webauth_find(struct webauth *a, const char *id, time_t now);
void webauth_drop(struct webauth *a, const char *id);
/* The token a form carried against the session's, in constant time. */
bool webauth_csrf_ok(const struct webauth_session *s, const char *token);

/* Lockout by client address. */
bool webauth_locked(struct webauth *a, const char *addr, time_t now);
void webauth_failed(struct webauth *a, const char *addr, time_t now);
/* A password check from addr: GO (counted as under way until
 * webauth_try_end), LOCKED, or WAIT while as many checks are under way
 * as wrong passwords are left before the lockout (try again when one
 * ends, webhttp_password polls): side by side, no more guesses than one
 * after the other. */
enum webauth_try { WEBAUTH_TRY_GO, WEBAUTH_TRY_LOCKED, WEBAUTH_TRY_WAIT };
enum webauth_try webauth_try_begin(struct webauth *a, const char *addr, time_t now);
/* Ends a check webauth_try_begin let go: a wrong password counts, a right
 * one clears the address's wrong ones. */
void webauth_try_end(struct webauth *a, const char *addr, bool ok, time_t now);

/* 128 random bits as 32 hex digits; -1 when getrandom fails. */
int webauth_token(char out[WEBAUTH_TOKEN + 1]);
/* Compares two strings in time that depends only on their lengths. */
bool webauth_equal(const char *a, const char *b);

#endif
