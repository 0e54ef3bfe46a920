/* msgid: the random bits of a Message-ID: drawn at enqueue, or derived
 * from a hand-written file under the spool's secret key (msgid.h), made by
 * msgspool init and msgspoold at start.
 * Owns: the content of SPOOL/.message-id-key (32 random bytes in hex, the
 * spool owner's, mode 0600), which the spool creates new in its root
 * (spool_secret_create: fsynced, renamed without replacing; producers
 * cannot write the root) and reads (spool_state_read_stat: no link
 * followed); trusted only when the owner of the root (or root) owns it
 * and nobody else may read or write it.
 * Never: uses a key another process may still replace (the first one
 * renamed in wins and every process reads that one); reveals the key;
 * derives bits without one (anyone who can stat the file could).
 * Rules: RFC 5322 3.6.4, spool-layout/README.md (the key's file). */
#include "config.h"
#include "msgid.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#define KEY_NAME ".message-id-key"
#define KEY_LEN 32

static const char hex[] = "0123456789abcdef";

static void to_hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
}

static int fill_random(unsigned char *b, size_t n)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = getrandom(b + got, n - got, 0);
		if (r < 0 && errno != EINTR)
			return -1;
		got += r > 0 ? (size_t)r : 0;
	}
	return 0;
}

int msgid_random(char out[MSGID_BITS_LEN + 1])
{
	unsigned char b[MSGID_BITS_LEN / 2];
	if (fill_random(b, sizeof b) < 0)
		return -1;
	to_hex(b, sizeof b, out);
	return 0;
}

static int unhex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The key file as it is, if its owner and mode can be trusted: 0, -1 with
 * errno ENOENT when there is none, EPERM when it cannot be trusted. */
static int key_read(struct spool *sp, unsigned char k[KEY_LEN])
{
	char *data;
	size_t len;
	struct stat st, root;
	if (spool_state_read_stat(sp, KEY_NAME, 256, &data, &len, &st) < 0)
		return -1;
	bool ok = spool_stat_root(sp, &root) == 0 && (st.st_uid == root.st_uid || st.st_uid == 0) &&
		  !(st.st_mode & 077) && len >= 2 * KEY_LEN;
	for (size_t i = 0; ok && i < KEY_LEN; i++) {
		int h = unhex(data[2 * i]), l = unhex(data[2 * i + 1]);
		ok = h >= 0 && l >= 0;
		k[i] = (unsigned char)(h << 4 | (l & 15));
	}
	explicit_bzero(data, len);
	free(data);
	if (!ok)
		errno = EPERM;
	return ok ? 0 : -1;
}

/* Makes a new key; the spool puts it in place without replacing one
 * another process put there first (spool_secret_create). */
static int key_create(struct spool *sp)
{
	unsigned char k[KEY_LEN];
	char text[2 * KEY_LEN + 2];
	if (fill_random(k, sizeof k) < 0)
		return -1;
	to_hex(k, sizeof k, text);
	explicit_bzero(k, sizeof k);
	strcat(text, "\n");
	int rc = spool_secret_create(sp, KEY_NAME, text, strlen(text));
	explicit_bzero(text, sizeof text);
	return rc;
}

/* The key of the spool this process uses, read once (created at first
 * need); the root it belongs to (device and inode) is kept beside it. */
static pthread_mutex_t key_mu = PTHREAD_MUTEX_INITIALIZER;
static bool key_set;
static dev_t key_dev;
static ino_t key_ino;
static unsigned char key[KEY_LEN];

static int spool_key(struct spool *sp, unsigned char k[KEY_LEN])
{
	struct stat root;
	if (spool_stat_root(sp, &root) < 0)
		return -1;
	int rc = 0;
	pthread_mutex_lock(&key_mu);
	if (!key_set || key_dev != root.st_dev || key_ino != root.st_ino) {
		rc = key_read(sp, key);
		if (rc < 0 && errno == ENOENT && key_create(sp) == 0)
			rc = key_read(sp, key);
		key_set = rc == 0;
		key_dev = root.st_dev;
		key_ino = root.st_ino;
	}
	if (rc == 0)
		memcpy(k, key, KEY_LEN);
	pthread_mutex_unlock(&key_mu);
	return rc;
}

int msgid_derive(struct spool *sp, int fd, const char *src, size_t len, char out[MSGID_BITS_LEN + 1])
{
	struct statx sx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_BTIME, &sx) < 0)
		return -1;
	/* What makes this file this file: born at, where, what it holds. The
	 * content goes in as a 64-bit digest: hashing all of it under the
	 * key was a sixth of the daemon's CPU for a 3 KB receiver, and the
	 * secrecy is the key's, not the digest's. */
	uint64_t id[6] = {sx.stx_mask & STATX_BTIME ? (uint64_t)sx.stx_btime.tv_sec : 0,
			  sx.stx_mask & STATX_BTIME ? sx.stx_btime.tv_nsec : 0,
			  ((uint64_t)sx.stx_dev_major << 32) | sx.stx_dev_minor, sx.stx_ino, len,
			  util_fnv1a64_n(UTIL_FNV64_INIT, src, len)};
	unsigned char k[KEY_LEN], mac[32];
	if (spool_key(sp, k) < 0)
		return 1;
	gnutls_hmac_hd_t h;
	int rc = gnutls_hmac_init(&h, GNUTLS_MAC_SHA256, k, sizeof k);
	explicit_bzero(k, sizeof k);
	if (rc < 0)
		return -1;
	static const char what[] = "msgspool Message-ID 1";
	gnutls_hmac(h, what, sizeof what);
	gnutls_hmac(h, id, sizeof id);
	gnutls_hmac_deinit(h, mac);
	to_hex(mac, MSGID_BITS_LEN / 2, out);
	return 0;
}

int msgid_key_make(struct spool *sp)
{
	unsigned char k[KEY_LEN];
	int rc = spool_key(sp, k);
	explicit_bzero(k, sizeof k);
	return rc;
}
