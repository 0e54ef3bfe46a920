/* unit: shared declarations of the Check unit tests (helpers in unit.c). */
#ifndef MSGSPOOL_UNIT_H
#define MSGSPOOL_UNIT_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>

Suite *suite_ydoc(void);
Suite *suite_spool(void);
Suite *suite_receiver(void);
Suite *suite_conf(void);
Suite *suite_mime(void);
Suite *suite_util(void);
Suite *suite_conns(void);
Suite *suite_ratelimit(void);

/* A fresh directory under $TMPDIR, removed by unit_rmtree. */
char *unit_tmpdir(void);
void unit_rmtree(const char *path);
/* A fresh spool, DIR/spool, opened. */
struct spool *unit_spool(const char *dir);
/* Reads a file from the source tree (spool-layout/, tests/data/). */
char *unit_slurp(const char *relpath, size_t *len);
/* Runs fn(arg) in a forked child, another process as far as locks go;
 * true when it returned true there. */
bool unit_in_child(bool (*fn)(void *arg), void *arg);

#endif
