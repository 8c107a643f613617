/* run_suite.h - the one way the unit tests run their Check suite. */
#ifndef HS_RUN_SUITE_H
#define HS_RUN_SUITE_H

#include <check.h>
#include <stdlib.h>

/* Runs every test of s (each in its own process, Check's default) and
 * returns main's exit status. */
static inline int hs_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
