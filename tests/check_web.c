/* check_web: unit tests of msgspool-web's modules: the HTML escaper, the
 * session store, CSRF checks, lockout, the htpasswd reader, request
 * decoding and id checks, the spool's audit file, and the configuration's
 * web section. */
#include "config.h"
#include "conf.h"
#include "spool.h"
#include "unit.h"
#include "util.h"
#include "webauth.h"
#include "webhtml.h"
#include "webhttp.h"
#include "webpages.h"
#include "webpasswd.h"
#include "webspool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* From htpasswd -nbB -C 5 alice x-never-a-password. */
#define ALICE "alice:$2y$05$cXqZYKGQhJU1cl0wDg7cauBpLrjBR8Rex6QPZcLFtCGqosnyTAqZ."

static char *esc(const char *s)
{
	struct util_buf b = {0};
	webhtml_esc(&b, s);
	util_buf_cstr(&b);
	return b.data ? util_buf_steal(&b) : strdup("");
}

START_TEST(escape_markup)
{
	char *e = esc("<script>alert(\"x\")</script>&'");
	ck_assert_str_eq(e, "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;");
	free(e);
	/* An attribute cannot be left: no raw quote or angle bracket survives. */
	e = esc("\"><img src=x onerror=alert(1)>");
	ck_assert_ptr_null(strpbrk(e, "<>\"'"));
	free(e);
}
END_TEST

START_TEST(escape_bytes)
{
	char *e = esc("a\x01" "b\x7f" "c\td\ne");
	ck_assert_str_eq(e, "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\td\ne");
	free(e);
	e = esc("\xc3\xa6\xe2\x82\xac ok \xff\xc3(");
	ck_assert_str_eq(e, "\xc3\xa6\xe2\x82\xac ok \xef\xbf\xbd\xef\xbf\xbd(");
	free(e);
	e = esc("\xc0\xbc" "script"); /* an overlong '<' */
	ck_assert_ptr_null(strchr(e, '<'));
	free(e);
}
END_TEST

START_TEST(url_encoding)
{
	struct util_buf b = {0};
	webhtml_url(&b, "a b&c=d\"<>/%\xc3\xa6-_.~");
	ck_assert_str_eq(util_buf_cstr(&b), "a%20b%26c%3Dd%22%3C%3E%2F%25%C3%A6-_.~");
	util_buf_free(&b);
}
END_TEST

START_TEST(unescape)
{
	char a[] = "a%2fb", b[] = "x%00y", c[] = "q+r%zz%4", d[] = "%2E%2e";
	ck_assert_uint_eq(webhttp_unescape(a), 3);
	ck_assert_str_eq(a, "a/b");
	ck_assert_uint_eq(webhttp_unescape(b), 3);
	ck_assert_str_eq(b, "x\x01y");
	webhttp_unescape(c);
	ck_assert_str_eq(c, "q r%zz%4");
	webhttp_unescape(d);
	ck_assert_str_eq(d, "..");
}
END_TEST

START_TEST(form)
{
	struct webform f;
	const char body[] = "csrf=abc&id=one&id=two&empty=&flag&q=a+b%26c";
	ck_assert_int_eq(webform_parse(&f, body, strlen(body)), 0);
	ck_assert_uint_eq(f.n, 6);
	ck_assert_str_eq(webform_get(&f, "csrf"), "abc");
	ck_assert_str_eq(webform_get(&f, "id"), "one");
	ck_assert_str_eq(f.v[2], "two");
	ck_assert_str_eq(webform_get(&f, "empty"), "");
	ck_assert_str_eq(webform_get(&f, "flag"), "");
	ck_assert_str_eq(webform_get(&f, "q"), "a b&c");
	ck_assert_ptr_null(webform_get(&f, "nope"));
	webform_free(&f);
}
END_TEST

START_TEST(sessions)
{
	struct webauth *a = webauth_new();
	const struct webauth_session *s = webauth_create(a, "alice", 1000);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(strlen(s->id), WEBAUTH_TOKEN);
	ck_assert_uint_eq(strspn(s->id, "0123456789abcdef"), WEBAUTH_TOKEN);
	ck_assert_str_ne(s->id, s->csrf);
	char id[WEBAUTH_TOKEN + 1];
	strcpy(id, s->id);
	ck_assert_ptr_eq(webauth_find(a, id, 2000), s);
	ck_assert_str_eq(webauth_find(a, id, 2000)->user, "alice");
	id[0] = id[0] == 'a' ? 'b' : 'a';
	ck_assert_ptr_null(webauth_find(a, id, 2000));
	ck_assert_ptr_null(webauth_find(a, "", 2000));
	ck_assert_ptr_null(webauth_find(a, NULL, 2000));
	id[0] = s->id[0];
	/* Idle for 12 hours: gone. Used in between: kept. */
	ck_assert_ptr_nonnull(webauth_find(a, id, 2000 + WEBAUTH_IDLE - 1));
	ck_assert_ptr_null(webauth_find(a, id, 2000 + 2 * WEBAUTH_IDLE));
	s = webauth_create(a, "bob", 5000);
	strcpy(id, s->id);
	webauth_drop(a, id);
	ck_assert_ptr_null(webauth_find(a, id, 5000));
	webauth_free(a);
}
END_TEST

START_TEST(sessions_bounded)
{
	struct webauth *a = webauth_new();
	char first[WEBAUTH_TOKEN + 1];
	strcpy(first, webauth_create(a, "alice", 100)->id);
	for (int i = 0; i < WEBAUTH_MAX_SESSIONS; i++)
		ck_assert_ptr_nonnull(webauth_create(a, "", 200 + i));
	/* A flood of login pages evicted the oldest, nothing grew. */
	ck_assert_ptr_null(webauth_find(a, first, 300));
	ck_assert_ptr_null(webauth_create(a, "a-user-name-longer-than-sixty-four-bytes-is-refused-by-the-store-x", 400));
	webauth_free(a);
}
END_TEST

START_TEST(csrf)
{
	struct webauth *a = webauth_new();
	const struct webauth_session *s = webauth_create(a, "alice", 1000);
	char tok[WEBAUTH_TOKEN + 1];
	strcpy(tok, s->csrf);
	ck_assert(webauth_csrf_ok(s, tok));
	ck_assert(!webauth_csrf_ok(s, NULL));
	ck_assert(!webauth_csrf_ok(s, ""));
	ck_assert(!webauth_csrf_ok(NULL, tok));
	tok[WEBAUTH_TOKEN - 1] = '\0';
	ck_assert(!webauth_csrf_ok(s, tok)); /* a prefix */
	strcpy(tok, s->csrf);
	tok[5] ^= 1;
	ck_assert(!webauth_csrf_ok(s, tok));
	/* Another session's token is not this one's. */
	const struct webauth_session *t = webauth_create(a, "bob", 1000);
	ck_assert(!webauth_csrf_ok(s, t->csrf));
	webauth_free(a);
}
END_TEST

START_TEST(lockout)
{
	struct webauth *a = webauth_new();
	for (int i = 0; i < WEBAUTH_FAILS - 1; i++)
		webauth_failed(a, "192.0.2.1", 1000 + i);
	ck_assert(!webauth_locked(a, "192.0.2.1", 1010));
	webauth_failed(a, "192.0.2.1", 1010);
	ck_assert(webauth_locked(a, "192.0.2.1", 1010));
	ck_assert(webauth_locked(a, "192.0.2.1", 1010 + WEBAUTH_LOCK - 1));
	ck_assert(!webauth_locked(a, "192.0.2.2", 1010));
	ck_assert(!webauth_locked(a, "192.0.2.1", 1010 + WEBAUTH_LOCK));
	/* Five in more than a minute: no lock. */
	for (int i = 0; i < WEBAUTH_FAILS; i++)
		webauth_failed(a, "192.0.2.3", 2000 + i * 20);
	ck_assert(!webauth_locked(a, "192.0.2.3", 2100));
	/* A good login clears the count. */
	for (int i = 0; i < WEBAUTH_FAILS - 1; i++)
		webauth_failed(a, "192.0.2.4", 3000);
	ck_assert_int_eq(webauth_try_begin(a, "192.0.2.4", 3000), WEBAUTH_TRY_GO);
	webauth_try_end(a, "192.0.2.4", true, 3000);
	webauth_failed(a, "192.0.2.4", 3001);
	ck_assert(!webauth_locked(a, "192.0.2.4", 3001));
	/* Checks side by side: no more under way than wrong ones are left;
	 * the next waits, and goes once one of them is known. */
	for (int i = 0; i < WEBAUTH_FAILS; i++)
		ck_assert_int_eq(webauth_try_begin(a, "192.0.2.5", 4000), WEBAUTH_TRY_GO);
	ck_assert_int_eq(webauth_try_begin(a, "192.0.2.5", 4000), WEBAUTH_TRY_WAIT);
	ck_assert(!webauth_locked(a, "192.0.2.5", 4000));
	webauth_try_end(a, "192.0.2.5", true, 4001);
	ck_assert_int_eq(webauth_try_begin(a, "192.0.2.5", 4001), WEBAUTH_TRY_GO);
	/* All of them wrong: locked, as five in turn would be. */
	for (int i = 0; i < WEBAUTH_FAILS; i++)
		webauth_try_end(a, "192.0.2.5", false, 4002);
	ck_assert_int_eq(webauth_try_begin(a, "192.0.2.5", 4002), WEBAUTH_TRY_LOCKED);
	webauth_free(a);
}
END_TEST

START_TEST(htpasswd_parse)
{
	struct webpasswd pw;
	char err[256];
	const char ok[] = "# users\n" ALICE "\r\n\n";
	ck_assert_msg(webpasswd_parse(&pw, ok, strlen(ok), "pw", err, sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(pw.n, 1);
	ck_assert(webpasswd_check(&pw, "alice", "x-never-a-password"));
	ck_assert(!webpasswd_check(&pw, "alice", "x-never-a-passwordx"));
	ck_assert(!webpasswd_check(&pw, "alice", ""));
	ck_assert(!webpasswd_check(&pw, "bob", "x-never-a-password"));
	ck_assert(!webpasswd_check(&pw, NULL, "x"));
	webpasswd_free(&pw);
	static const char *const bad[] = {
		"", "# nobody\n", "alice\n", ":$2y$05$abc\n", "bob:$apr1$xyz$0123456789012345678901\n",
		"bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", "bob:plain\n", ALICE "\n" ALICE "\n"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		ck_assert_msg(webpasswd_parse(&pw, bad[i], strlen(bad[i]), "pw", err, sizeof err) < 0, "%zu accepted", i);
	ck_assert_str_eq(err, "pw:2: user given twice");
}
END_TEST

static char *write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	char *p = malloc(strlen(dir) + strlen(name) + 2);
	sprintf(p, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	fputs(text, f);
	fclose(f);
	chmod(p, mode);
	return p;
}

START_TEST(htpasswd_file)
{
	char err[512];
	char *dir = unit_tmpdir();
	struct webpasswd pw;
	char *good = write_file(dir, "good", ALICE "\n", 0640);
	char *world = write_file(dir, "world", ALICE "\n", 0644);
	char *empty = write_file(dir, "empty", "", 0600);
	char missing[300];
	snprintf(missing, sizeof missing, "%s/missing", dir);
	ck_assert_msg(webpasswd_load(&pw, good, err, sizeof err) == 0, "%s", err);
	webpasswd_free(&pw);
	ck_assert_int_lt(webpasswd_load(&pw, world, err, sizeof err), 0);
	ck_assert_ptr_nonnull(strstr(err, "readable or writable by others"));
	ck_assert_int_lt(webpasswd_load(&pw, empty, err, sizeof err), 0);
	ck_assert_ptr_nonnull(strstr(err, "empty"));
	ck_assert_int_lt(webpasswd_load(&pw, missing, err, sizeof err), 0);
	ck_assert_ptr_nonnull(strstr(err, "No such file"));
	unit_rmtree(dir);
	free(good), free(world), free(empty), free(dir);
}
END_TEST

START_TEST(id_checks)
{
	char *dir = unit_tmpdir();
	struct spool *sp = unit_spool(dir);
	const char yaml[] = "msgspool: 1\nsend_to: a@example.org\nsubject: s\ntext: t\n";
	ck_assert_int_eq(spool_enqueue(sp, "good-id.1", yaml, strlen(yaml)), 0);
	enum spool_status st;
	ck_assert_int_eq(webspool_locate(sp, "good-id.1", &st), 0);
	ck_assert_int_eq(st, SPOOL_NEW);
	char slash[] = "..%2fnew%2fgood-id.1", nul[] = "good-id.1%00.yaml";
	webhttp_unescape(slash);
	webhttp_unescape(nul);
	const char *bad[] = {"..", "../new/good-id.1", "new/good-id.1", slash, nul, "", ".good", "a b",
			     "good-id.1\n", "good-id.1.yaml/..", NULL};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		errno = 0;
		ck_assert_msg(webspool_locate(sp, bad[i], &st) < 0 && errno == EINVAL, "bad id %zu accepted", i);
	}
	/* A prefix is not an id here: links carry whole ids. */
	ck_assert_int_lt(webspool_locate(sp, "good-id", &st), 0);
	ck_assert_int_eq(errno, ENOENT);
	spool_close(sp);
	unit_rmtree(dir);
	free(dir);
}
END_TEST

/* Ids in URLs and forms as `msgspool show` takes them: a whole id (itself
 * even when it starts another), a unique prefix, or for an ambiguous one
 * the candidates and nothing done. */
START_TEST(id_prefixes)
{
	char *dir = unit_tmpdir(), root[4200], id[SPOOL_ID_MAX + 1];
	snprintf(root, sizeof root, "%s/spool", dir);
	struct webapp app;
	memset(&app, 0, sizeof app);
	ck_assert_int_eq(spool_init(root, (gid_t)-1), 0);
	ck_assert_int_eq(spool_open(&app.sp, root), 0);
	const char yaml[] = "msgspool: 1\nsend_to: a@example.org\nsubject: s\ntext: t\n";
	const char *names[] = {"abc-12", "abc-1", "abd-1"};
	for (size_t i = 0; i < 3; i++)
		ck_assert_int_eq(spool_enqueue(app.sp, names[i], yaml, strlen(yaml)), 0);
	struct webauth_session sess = {.csrf = "0123456789abcdef0123456789abcdef"};
	struct web_req r = {.app = &app, .method = "POST", .path = "/receivers/hold", .sess = &sess, .user = "alice"};
	enum spool_status st;
	ck_assert_int_eq(webpages_find(&r, "abc-1", id, &st), WEBPAGES_FOUND);
	ck_assert_str_eq(id, "abc-1");
	ck_assert_int_eq(webpages_find(&r, "abd", id, &st), WEBPAGES_FOUND);
	ck_assert_str_eq(id, "abd-1");
	ck_assert_int_eq(st, SPOOL_NEW);
	ck_assert_int_eq(webpages_find(&r, "abc", id, &st), WEBPAGES_AMBIGUOUS);
	ck_assert_int_eq(webpages_find(&r, "abe", id, &st), WEBPAGES_NONE);
	ck_assert_int_eq(webpages_find(&r, "..", id, &st), WEBPAGES_BAD);
	ck_assert_int_eq(webpages_find(&r, "a/b", id, &st), WEBPAGES_BAD);
	struct webpages_candidate c[WEBPAGES_CANDIDATES];
	ck_assert_uint_eq(webpages_candidates(&r, "abc", c), 2);
	ck_assert_str_eq(c[0].id, "abc-1");
	ck_assert_str_eq(c[1].id, "abc-12");
	/* An action's ids: prefixes made whole, unknown ones left to refuse. */
	char a0[] = "abd", a1[] = "abc-12", a2[] = "nope";
	char *ids[] = {a0, a1, a2}, *store;
	ck_assert(webpages_resolve_ids(&r, ids, 3, &store));
	ck_assert_str_eq(ids[0], "abd-1");
	ck_assert_str_eq(ids[1], "abc-12");
	ck_assert_str_eq(ids[2], "nope");
	ck_assert_uint_eq(r.out.len, 0);
	free(store);
	/* One ambiguous prefix among them: 409, the candidates, nothing resolved for use. */
	char b0[] = "abd", b1[] = "abc";
	char *ids2[] = {b0, b1};
	ck_assert(!webpages_resolve_ids(&r, ids2, 2, &store));
	free(store);
	ck_assert_uint_eq(r.status, 409);
	ck_assert_ptr_nonnull(strstr(util_buf_cstr(&r.out), "Nothing was done"));
	ck_assert_ptr_nonnull(strstr(util_buf_cstr(&r.out), "<a href=\"/receivers/abc-1\">abc-1</a>"));
	ck_assert_ptr_nonnull(strstr(util_buf_cstr(&r.out), "<a href=\"/receivers/abc-12\">abc-12</a>"));
	ck_assert_ptr_null(strstr(util_buf_cstr(&r.out), "abd-1"));
	util_buf_free(&r.out);
	spool_close(app.sp);
	unit_rmtree(dir);
	free(dir);
}
END_TEST

/* SPOOL/audit: one line an action, appended; never through a link. */
START_TEST(audit_file)
{
	char *dir = unit_tmpdir(), root[4200], path[4300], other[4300];
	snprintf(root, sizeof root, "%s/spool", dir);
	snprintf(path, sizeof path, "%s/audit", root);
	snprintf(other, sizeof other, "%s/other", dir);
	struct spool *sp;
	ck_assert_int_eq(spool_init(root, (gid_t)-1), 0);
	ck_assert_int_eq(spool_open(&sp, root), 0);
	ck_assert_int_eq(spool_audit(sp, "delete", "id-1", SPOOL_FAILED, "al ice\n", "web", 86400), 0);
	ck_assert_int_eq(spool_audit(sp, "hold", "id-2", SPOOL_NEW, "bob", "web", 86401), 0);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	char buf[512] = "";
	ck_assert_uint_gt(fread(buf, 1, sizeof buf - 1, f), 0);
	fclose(f);
	ck_assert_str_eq(buf, "1970-01-02T00:00:00Z delete id-1 failed/ al?ice? web\n"
			      "1970-01-02T00:00:01Z hold id-2 new/ bob web\n");
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0640);
	/* A link in its place, symbolic or hard, is never written through. */
	f = fopen(other, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(symlink(other, path), 0);
	ck_assert_int_lt(spool_audit(sp, "delete", "id-3", SPOOL_NEW, "bob", "web", 86402), 0);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(link(other, path), 0);
	ck_assert_int_lt(spool_audit(sp, "delete", "id-3", SPOOL_NEW, "bob", "web", 86402), 0);
	ck_assert_int_eq(errno, EPERM);
	ck_assert_int_eq(stat(other, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	spool_close(sp);
	unit_rmtree(dir);
	free(dir);
}
END_TEST

START_TEST(conf_web)
{
	struct conf c;
	char err[512];
	conf_defaults(&c);
	ck_assert_str_eq(c.web.listen, "127.0.0.1:8025");
	ck_assert_ptr_null(c.web.tls_cert);
	const char ok[] = "web:\n  listen: '[::1]:9000'\n  htpasswd: /etc/x.htpasswd\n  tls_cert: /c\n  tls_key: /k\n";
	ck_assert_msg(conf_parse(&c, ok, strlen(ok), "m.yaml", err, sizeof err) == 0, "%s", err);
	ck_assert_str_eq(c.web.listen, "[::1]:9000");
	ck_assert_str_eq(c.web.htpasswd, "/etc/x.htpasswd");
	ck_assert_str_eq(c.web.tls_key, "/k");
	const char rel[] = "web:\n  htpasswd: web.htpasswd\n";
	ck_assert_int_lt(conf_parse(&c, rel, strlen(rel), "m.yaml", err, sizeof err), 0);
	ck_assert_str_eq(err, "m.yaml:2: web.htpasswd: must be an absolute path");
	const char unknown[] = "web:\n  port: 80\n";
	ck_assert_int_lt(conf_parse(&c, unknown, strlen(unknown), "m.yaml", err, sizeof err), 0);
	ck_assert_str_eq(err, "m.yaml:2: web.port: unknown key");
	conf_free(&c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("web");
	TCase *tc = tcase_create("web");
	const TTest *const tests[] = {escape_markup, escape_bytes, url_encoding, unescape, form, sessions,
				sessions_bounded, csrf, lockout, htpasswd_parse, htpasswd_file, id_checks, id_prefixes,
				audit_file, conf_web};
	for (size_t i = 0; i < sizeof tests / sizeof *tests; i++)
		tcase_add_test(tc, tests[i]);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
