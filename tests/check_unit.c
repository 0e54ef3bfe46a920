/* check_unit: runs every Check suite of msgspool's modules. */
#include "config.h"
#include "unit.h"

#include <stdlib.h>

int main(void)
{
	SRunner *sr = srunner_create(suite_ydoc());
	srunner_add_suite(sr, suite_spool());
	srunner_add_suite(sr, suite_receiver());
	srunner_add_suite(sr, suite_conf());
	srunner_add_suite(sr, suite_mime());
	srunner_add_suite(sr, suite_util());
	srunner_add_suite(sr, suite_conns());
	srunner_add_suite(sr, suite_ratelimit());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
