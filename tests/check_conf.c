/* check_conf: the configuration file: defaults, every key, and errors that
 * name file, line and key. */
#include "config.h"
#include "conf.h"
#include "unit.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *write_conf(const char *dir, const char *text)
{
	char *path = malloc(strlen(dir) + 32);
	sprintf(path, "%s/msgspool.yaml", dir);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	chmod(path, 0640);
	return path;
}

START_TEST(test_defaults)
{
	struct conf c;
	conf_defaults(&c);
	ck_assert_int_eq(c.resend_limit, 2);
	ck_assert_int_eq(c.transport, CONF_TRANSPORT_MAILDIR);
	ck_assert_int_eq(c.smtp.port, 25);
	ck_assert(c.smtp.verify);
	ck_assert_int_eq(c.smtp.timeout, 30);
	ck_assert_int_eq(c.smtp.connections, 40);
	ck_assert_int_eq(c.smtp.connections_min, 4);
	ck_assert_int_eq(c.smtp.messages_per_connection, 100);
	conf_free(&c);
}
END_TEST

START_TEST(test_example_file)
{
	struct conf c;
	char err[512];
	char path[4096];
	snprintf(path, sizeof path, "%s/examples/msgspool.yaml", SRCDIR);
	conf_defaults(&c);
	ck_assert_msg(conf_load(&c, path, err, sizeof err) == 0, "got '%s'", err);
	ck_assert_str_eq(c.spool, "/var/spool/msgspool");
	ck_assert_str_eq(c.subject_prefix, "[Devilry] ");
	ck_assert_int_eq(c.transport, CONF_TRANSPORT_SMTP);
	ck_assert_int_eq(c.smtp.tls, CONF_TLS_STARTTLS);
	ck_assert_str_eq(c.smtp.username, "msgspool");
	ck_assert_str_eq(c.daemon.user, "msgspool");
	conf_free(&c);
}
END_TEST

static const struct {
	const char *text;
	const char *want;
} bad[] = {
	{"spool: /s\nbogus: 1\n", ":2: bogus: unknown key"},
	{"smtp:\n  host: h\n  prot: 25\n", ":3: smtp.prot: unknown key"},
	{"resend_limit: many\n", ":1: resend_limit: 'many' is not a whole number from 0 to 1000"},
	{"resend_limit: -1\n", ":1: resend_limit: '-1' is not a whole number"},
	{"smtp:\n  port: 70000\n", ":2: smtp.port: '70000' is not a whole number from 1 to 65535"},
	{"smtp:\n  tls: yes-please\n", ":2: smtp.tls: 'yes-please' is not one of none, starttls, tls"},
	{"smtp:\n  verify: maybe\n", ":2: smtp.verify: 'maybe' is not true or false"},
	{"transport: pigeon\n", ":1: transport: 'pigeon' is not one of smtp, maildir"},
	{"spool: relative/path\n", ":1: spool: must be an absolute path"},
	{"smtp: 25\n", ":1: smtp: must be a mapping"},
	{"spool: [a]\n", ":1: spool: must be a single value"},
	{"- a\n", "must be a YAML mapping"},
	{"a: [\n", "msgspool.yaml:2:"},
	{"smtp:\n  connections: {min: 5, max: 2}\n", ":2: smtp.connections: min 5 is above max 2"},
	{"smtp:\n  connections: {min: 2}\n", ":2: smtp.connections: needs both min and max"},
	{"smtp:\n  connections: {min: 0, max: 2}\n", ":2: smtp.connections.min: '0' is not a whole number from 1 to 64"},
	{"smtp:\n  connections: {min: 1, max: 2, step: 1}\n", ":2: smtp.connections.step: unknown key"},
	{"smtp:\n  connections: [1, 2]\n", ":2: smtp.connections: must be a whole number or {min: N, max: N}"},
	{"smtp:\n  connections: 65\n", ":2: smtp.connections: '65' is not a whole number from 1 to 64"},
};

START_TEST(test_bad_values)
{
	char *dir = unit_tmpdir(), err[512] = "";
	char *path = write_conf(dir, bad[_i].text);
	struct conf c;
	conf_defaults(&c);
	ck_assert_int_eq(conf_load(&c, path, err, sizeof err), -1);
	ck_assert_msg(strstr(err, bad[_i].want) && !strncmp(err, path, strlen(path)),
		      "[%s]: got '%s', want '%s' after the path", bad[_i].text, err, bad[_i].want);
	conf_free(&c);
	unit_rmtree(dir);
	free(dir);
	free(path);
}
END_TEST

/* smtp.connections: a number is a fixed count, a mapping a range the
 * daemon adapts within. */
START_TEST(test_connections_forms)
{
	static const struct {
		const char *text;
		long min, max;
	} forms[] = {
		{"smtp:\n  connections: 7\n", 7, 7},
		{"smtp:\n  connections: {min: 2, max: 20}\n", 2, 20},
		{"smtp:\n  connections:\n    max: 9\n    min: 3\n", 3, 9},
		{"smtp:\n  connections: {min: 4, max: 4}\n", 4, 4},
	};
	for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
		char *dir = unit_tmpdir(), err[512] = "";
		char *path = write_conf(dir, forms[i].text);
		struct conf c;
		conf_defaults(&c);
		ck_assert_msg(conf_load(&c, path, err, sizeof err) == 0, "[%s]: %s", forms[i].text, err);
		ck_assert_int_eq(c.smtp.connections_min, forms[i].min);
		ck_assert_int_eq(c.smtp.connections, forms[i].max);
		conf_free(&c);
		unit_rmtree(dir);
		free(dir);
		free(path);
	}
}
END_TEST

START_TEST(test_world_writable_refused)
{
	char *dir = unit_tmpdir(), err[512];
	char *path = write_conf(dir, "spool: /s\n");
	chmod(path, 0666);
	struct conf c;
	conf_defaults(&c);
	ck_assert_int_eq(conf_load(&c, path, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "writable by others"), "got '%s'", err);
	conf_free(&c);
	unit_rmtree(dir);
	free(dir);
	free(path);
}
END_TEST

START_TEST(test_missing_file)
{
	char err[512];
	struct conf c;
	conf_defaults(&c);
	ck_assert_int_eq(conf_load(&c, "/nonexistent/msgspool.yaml", err, sizeof err), -1);
	ck_assert_str_eq(err, "/nonexistent/msgspool.yaml: No such file or directory");
	conf_free(&c);
}
END_TEST

Suite *suite_conf(void)
{
	Suite *s = suite_create("conf");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_example_file);
	tcase_add_loop_test(tc, test_bad_values, 0, sizeof bad / sizeof *bad);
	tcase_add_test(tc, test_connections_forms);
	tcase_add_test(tc, test_world_writable_refused);
	tcase_add_test(tc, test_missing_file);
	suite_add_tcase(s, tc);
	return s;
}
