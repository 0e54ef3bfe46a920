/* msgid: the random bits of a Message-ID: drawn at enqueue, or derived
 * from a hand-written file under the spool's secret key (msgid.h).
 * Owns: SPOOL/.message-id-key (32 random bytes in hex, the spool owner's,
 * mode 0600), created new (O_EXCL, fsynced, renamed without replacing) in
 * the spool's root, which producers cannot write, and read through
 * spool_state_read_stat (spool_openat: no link followed), trusted only when
 * the owner of the root (or root) owns it and nobody else may read or
 * write it.
 * Never: uses a key another process may still replace (the first one
 * renamed in wins and every process reads that one); reveals the key.
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
#include <unistd.h>

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

/* Writes a new key under a name of this process, then renames it into
 * place without replacing one that another process put there first. */
static int key_create(struct spool *sp)
{
	unsigned char k[KEY_LEN];
	char text[2 * KEY_LEN + 2], tmp[64];
	int rootfd = open(spool_root(sp), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rootfd < 0)
		return -1;
	if (fill_random(k, sizeof k) < 0) {
		close(rootfd);
		return -1;
	}
	to_hex(k, sizeof k, text);
	explicit_bzero(k, sizeof k);
	strcat(text, "\n");
	snprintf(tmp, sizeof tmp, "%s.%ld.new", KEY_NAME, (long)getpid());
	unlinkat(rootfd, tmp, 0); /* one a crash of this pid left */
	int fd = openat(rootfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int rc = -1;
	if (fd >= 0) {
		size_t n = strlen(text);
		rc = write(fd, text, n) == (ssize_t)n && fsync(fd) == 0 ? 0 : -1;
		rc |= close(fd);
		if (rc == 0 && renameat2(rootfd, tmp, rootfd, KEY_NAME, RENAME_NOREPLACE) < 0) {
			/* EEXIST: another process was first; its key counts.
			 * No RENAME_NOREPLACE (NFS): link, which never replaces. */
			if (errno == EINVAL || errno == ENOSYS)
				rc = linkat(rootfd, tmp, rootfd, KEY_NAME, 0) < 0 && errno != EEXIST ? -1 : 0;
			else if (errno != EEXIST)
				rc = -1;
		}
		unlinkat(rootfd, tmp, 0);
		if (rc == 0)
			fsync(rootfd);
	}
	explicit_bzero(text, sizeof text);
	close(rootfd);
	return rc;
}

/* The key of the spool this process uses, read once (created at first
 * need); the root it belongs to is kept beside it. */
static pthread_mutex_t key_mu = PTHREAD_MUTEX_INITIALIZER;
static char key_root[4096];
static unsigned char key[KEY_LEN];

static int spool_key(struct spool *sp, unsigned char k[KEY_LEN])
{
	int rc = 0;
	pthread_mutex_lock(&key_mu);
	if (strcmp(key_root, spool_root(sp))) {
		rc = key_read(sp, key);
		if (rc < 0 && errno == ENOENT && key_create(sp) == 0)
			rc = key_read(sp, key);
		if (rc == 0)
			snprintf(key_root, sizeof key_root, "%s", spool_root(sp));
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
	int keyed = spool_key(sp, k) == 0;
	if (!keyed)
		memset(k, 0, sizeof k);
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
	return keyed ? 0 : 1;
}
