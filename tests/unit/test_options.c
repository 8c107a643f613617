/* test_options.c - the settings table (common/hs_options.c) and its grammars,
 * and the library's reading of it (interposer/config.c): what each grammar
 * accepts and refuses, every default valid within its own bounds, numbers
 * written back in a form that parses to the same value, the "must be" texts,
 * hs_config_load from the environment and hs_config_print from the table. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "hs_options.h"
#include "run_suite.h"

static uint64_t size_of(const char *s)
{
    uint64_t v = 12345;
    ck_assert_msg(hs_opt_parse_size(s, &v) == 0, "size '%s' refused", s);
    return v;
}

static uint64_t ms_of(const char *s)
{
    uint64_t v = 12345;
    ck_assert_msg(hs_opt_parse_seconds_ms(s, &v) == 0, "seconds '%s' refused", s);
    return v;
}

static int signal_of(const char *s)
{
    int v = -1;
    ck_assert_msg(hs_opt_parse_signal(s, &v) == 0, "signal '%s' refused", s);
    return v;
}

/* Option `env` takes `text`, as the number `want`. */
static void takes(const char *env, const char *text, uint64_t want)
{
    const hs_option_t *o = hs_opt_by_env(env);
    uint64_t v = 0;
    ck_assert_ptr_nonnull(o);
    ck_assert_msg(hs_opt_parse(o, text, &v) == 0, "%s='%s' refused", env, text);
    ck_assert_msg(v == want, "%s='%s' gave %llu, not %llu", env, text, (unsigned long long)v, (unsigned long long)want);
}

static void refuses(const char *env, const char *text)
{
    const hs_option_t *o = hs_opt_by_env(env);
    uint64_t v;
    ck_assert_ptr_nonnull(o);
    ck_assert_msg(hs_opt_parse(o, text, &v) != 0, "%s='%s' taken", env, text);
}

START_TEST(size_grammar)
{
    uint64_t v;
    ck_assert_uint_eq(size_of("524288"), 524288);
    ck_assert_uint_eq(size_of("0"), 0);
    ck_assert_uint_eq(size_of("512K"), 524288);
    ck_assert_uint_eq(size_of("512k"), 524288);
    ck_assert_uint_eq(size_of("2MiB"), 2u << 20);
    ck_assert_uint_eq(size_of("2mib"), 2u << 20);
    ck_assert_uint_eq(size_of("4KB"), 4096);
    ck_assert_uint_eq(size_of("1g"), 1u << 30);
    ck_assert_uint_eq(size_of("1.5M"), 3u << 19);
    ck_assert_uint_eq(size_of(".5K"), 512);
    ck_assert_uint_eq(size_of("0.1K"), 102); /* whole bytes, rounded down */
    ck_assert_uint_eq(size_of("17179869183G"), (((uint64_t)1 << 34) - 1) << 30);
    ck_assert_uint_eq(size_of("18446744073709551615"), UINT64_MAX);
    const char *bad[] = {"",
                         "abc",
                         "12x",
                         "-5",
                         "+5",
                         " 5",
                         "5 ",
                         "1e3",
                         "0x10",
                         "1.5",
                         "1.K",
                         "1.",
                         ".",
                         ".K",
                         "K",
                         "5B",
                         "5iB",
                         "5KBi",
                         "5KK",
                         "99999999999999999999999",
                         "17179869184G",
                         "18446744073709551616"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(hs_opt_parse_size(bad[i], &v) != 0, "size '%s' taken", bad[i]);
}
END_TEST

START_TEST(seconds_grammar)
{
    uint64_t v;
    ck_assert_uint_eq(ms_of("0.2"), 200);
    ck_assert_uint_eq(ms_of("30"), 30000);
    ck_assert_uint_eq(ms_of("1.5s"), 1500);
    ck_assert_uint_eq(ms_of(".5"), 500);
    ck_assert_uint_eq(ms_of("5."), 5000);
    ck_assert_uint_eq(ms_of("0.0129"), 12); /* past the third decimal: ignored */
    ck_assert_uint_eq(ms_of("0"), 0);
    const char *bad[] = {"", "fast", ".", "s", "1e3", "-1", "+1", "1.5ss", "1 s", "inf", "1,5", "10000000000"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(hs_opt_parse_seconds_ms(bad[i], &v) != 0, "seconds '%s' taken", bad[i]);
}
END_TEST

START_TEST(bool_grammar)
{
    const char *yes[] = {"1", "true", "yes", "on", "TRUE", "Yes", "ON"};
    const char *no[] = {"0", "false", "no", "off", "FALSE", "No", "OFF"};
    const char *bad[] = {"", "maybe", "2", "yes ", "y", "tru", "onn"};
    int b;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        b = -1;
        ck_assert_int_eq(hs_opt_parse_bool(yes[i], &b), 0);
        ck_assert_int_eq(b, 1);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        b = -1;
        ck_assert_int_eq(hs_opt_parse_bool(no[i], &b), 0);
        ck_assert_int_eq(b, 0);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(hs_opt_parse_bool(bad[i], &b) != 0, "bool '%s' taken", bad[i]);
}
END_TEST

START_TEST(signal_grammar)
{
    int b;
    ck_assert_int_eq(signal_of("SIGUSR2"), SIGUSR2);
    ck_assert_int_eq(signal_of("usr1"), SIGUSR1);
    ck_assert_int_eq(signal_of("SigTerm"), SIGTERM);
    ck_assert_int_eq(signal_of("INT"), SIGINT);
    ck_assert_int_eq(signal_of("vtalrm"), SIGVTALRM);
    ck_assert_int_eq(signal_of("SIGSYS"), SIGSYS);
    ck_assert_int_eq(signal_of("12"), 12);
    ck_assert_int_eq(signal_of("6"), 6); /* any number that can be caught, as before */
    ck_assert_int_eq(signal_of("34"), 34);
    ck_assert_int_eq(signal_of("off"), 0);
    ck_assert_int_eq(signal_of("OFF"), 0);
    ck_assert_int_eq(signal_of("0"), 0);
    ck_assert_int_eq(signal_of(""), 0);
    char max[16];
    snprintf(max, sizeof(max), "%d", SIGRTMAX);
    ck_assert_int_eq(signal_of(max), SIGRTMAX);
    snprintf(max, sizeof(max), "%d", SIGRTMAX + 1);
    const char *bad[] = {"9",       "19",  "11",  "7",   "8",  "4",   "KILL",  "SIGSTOP",    "SEGV",
                         "SIGNOPE", "SIG", "sig", "999", "-1", "12x", "USR2 ", "SIGSIGUSR2", max};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(hs_opt_parse_signal(bad[i], &b) != 0, "signal '%s' taken", bad[i]);
}
END_TEST

START_TEST(table_is_whole_and_its_defaults_valid)
{
    for (int i = 0; i < HS_OPT_COUNT; i++) {
        const hs_option_t *o = &hs_options[i];
        uint64_t v;
        ck_assert_msg(o->env && strncmp(o->env, "HEAPSCOPE_", 10) == 0, "option %d: no HEAPSCOPE_ name", i);
        ck_assert_msg(o->doc && o->doc[0], "%s: no doc", o->env);
        ck_assert_msg(!strchr(o->doc, '\n') && !strchr(o->doc, '|'), "%s: doc is not one table cell", o->env);
        ck_assert_msg(o->def != NULL, "%s: no default", o->env);
        ck_assert_msg(hs_opt_parse(o, o->def, &v) == 0, "%s: default '%s' is not valid", o->env, o->def);
        ck_assert_msg(!o->def[0] == (o->def_shown != NULL), "%s: def_shown must say what an empty default means",
                      o->env);
        ck_assert_msg(o->min <= o->max || o->kind == HS_KIND_BOOL || o->kind == HS_KIND_SIGNAL, "%s: bounds", o->env);
        ck_assert_ptr_eq(hs_opt_by_env(o->env), o);
        if (o->flag) {
            ck_assert_msg(strncmp(o->flag, "--", 2) == 0 && o->arg && o->arg[0], "%s: flag %s", o->env, o->flag);
            ck_assert_ptr_eq(hs_opt_by_flag(o->flag), o);
        }
        if (o->kind == HS_KIND_STRING)
            ck_assert_uint_lt(o->max, HS_PATH_MAX);
    }
    ck_assert_ptr_null(hs_opt_by_env("HEAPSCOPE_NOPE"));
    ck_assert_ptr_null(hs_opt_by_flag("--nope"));
    ck_assert_ptr_eq(hs_opt_by_flag("--rate"), &hs_options[HS_OPT_SAMPLE_RATE]);
}
END_TEST

START_TEST(bounds)
{
    takes("HEAPSCOPE_SAMPLE_RATE", "1", 1);
    takes("HEAPSCOPE_SAMPLE_RATE", "4KB", 4096);
    takes("HEAPSCOPE_SAMPLE_RATE", "1024G", (uint64_t)1 << 40);
    refuses("HEAPSCOPE_SAMPLE_RATE", "0");
    refuses("HEAPSCOPE_SAMPLE_RATE", "1025G");
    takes("HEAPSCOPE_MAX_DEPTH", "256", 256);
    takes("HEAPSCOPE_MAX_DEPTH", "064", 64);
    refuses("HEAPSCOPE_MAX_DEPTH", "0");
    refuses("HEAPSCOPE_MAX_DEPTH", "257");
    refuses("HEAPSCOPE_MAX_DEPTH", "1K");
    refuses("HEAPSCOPE_MAX_DEPTH", "0.25K");
    takes("HEAPSCOPE_INTERVAL", "0.01", 10);
    takes("HEAPSCOPE_INTERVAL", "86400", 86400000);
    refuses("HEAPSCOPE_INTERVAL", "0.009");
    refuses("HEAPSCOPE_INTERVAL", "0");
    refuses("HEAPSCOPE_INTERVAL", "86400.001");
    takes("HEAPSCOPE_LEAK_WINDOW", "0", 0);
    takes("HEAPSCOPE_LEAK_WINDOW", "0.001", 1);
    refuses("HEAPSCOPE_LEAK_WINDOW", "86401");
    takes("HEAPSCOPE_LEAK_THRESHOLD", "10M", 10u << 20);
    takes("HEAPSCOPE_LEAK_THRESHOLD", "1048576G", (uint64_t)1 << 50);
    refuses("HEAPSCOPE_LEAK_THRESHOLD", "0");
    refuses("HEAPSCOPE_LEAK_THRESHOLD", "1048577G");
    takes("HEAPSCOPE_SEED", "0", 0);
    takes("HEAPSCOPE_SEED", "1K", 1024);
    takes("HEAPSCOPE_SEED", "18446744073709551615", UINT64_MAX);
    takes("HEAPSCOPE_SIGNAL", "USR2", SIGUSR2);
    takes("HEAPSCOPE_DISABLE", "on", 1);
    refuses("HEAPSCOPE_DISABLE", "2");
    char path[HS_PATH_MAX + 1];
    memset(path, 'a', sizeof(path));
    path[HS_PATH_MAX - 1] = '\0';
    takes("HEAPSCOPE_OUTPUT", path, HS_PATH_MAX - 1);
    path[HS_PATH_MAX - 1] = 'a';
    path[HS_PATH_MAX] = '\0';
    refuses("HEAPSCOPE_OUTPUT", path);
    takes("HEAPSCOPE_ONLY", "", 0);
}
END_TEST

START_TEST(formats_parse_back)
{
    static const struct {
        hs_opt_id_t id;
        uint64_t v;
        const char *text;
    } cases[] = {
        {HS_OPT_SAMPLE_RATE, 524288, "524288"},
        {HS_OPT_SAMPLE_RATE, (uint64_t)1 << 40, "1099511627776"},
        {HS_OPT_MAX_DEPTH, 16, "16"},
        {HS_OPT_INTERVAL, 30000, "30"},
        {HS_OPT_INTERVAL, 500, "0.500"},
        {HS_OPT_INTERVAL, 10, "0.010"},
        {HS_OPT_INTERVAL, 1250, "1.250"},
        {HS_OPT_LEAK_WINDOW, 0, "0"},
        {HS_OPT_SIGNAL, 12, "12"},
        {HS_OPT_SIGNAL, 0, "off"},
        {HS_OPT_DISABLE, 1, "1"},
        {HS_OPT_SEED, UINT64_MAX, "18446744073709551615"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const hs_option_t *o = &hs_options[cases[i].id];
        char buf[32];
        uint64_t back;
        ck_assert_uint_eq(hs_opt_format(o, cases[i].v, buf, sizeof(buf)), strlen(cases[i].text));
        ck_assert_str_eq(buf, cases[i].text);
        ck_assert_msg(hs_opt_parse(o, buf, &back) == 0 && back == cases[i].v, "%s: '%s' does not parse back", o->env,
                      buf);
    }
    char small[4];
    ck_assert_uint_eq(hs_opt_format(&hs_options[HS_OPT_SAMPLE_RATE], 524288, small, sizeof(small)), 6);
    ck_assert_str_eq(small, "524");
}
END_TEST

START_TEST(describes_bounds)
{
    static const struct {
        hs_opt_id_t id;
        const char *want;
    } cases[] = {
        {HS_OPT_SAMPLE_RATE, "a positive number of bytes (K, M or G suffix), at most 1024G"},
        {HS_OPT_LEAK_THRESHOLD, "a positive number of bytes (K, M or G suffix), at most 1048576G"},
        {HS_OPT_MAX_DEPTH, "a whole number from 1 to 256"},
        {HS_OPT_SEED, "a whole number"},
        {HS_OPT_INTERVAL, "a number of seconds from 0.01 to 86400"},
        {HS_OPT_LEAK_WINDOW, "0 (off) or a number of seconds up to 86400"},
        {HS_OPT_DISABLE, "1, true, yes or on, or 0, false, no or off"},
        {HS_OPT_OUTPUT, "at most 1023 bytes long"},
    };
    char buf[160];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        hs_opt_describe(&hs_options[cases[i].id], buf, sizeof(buf));
        ck_assert_str_eq(buf, cases[i].want);
    }
    char small[8];
    hs_opt_describe(&hs_options[HS_OPT_MAX_DEPTH], small, sizeof(small));
    ck_assert_str_eq(small, "a whole");
    ck_assert_str_eq(hs_opt_default_shown(&hs_options[HS_OPT_LOG]), "stderr");
    ck_assert_str_eq(hs_opt_default_shown(&hs_options[HS_OPT_ONLY]), "all");
    ck_assert_str_eq(hs_opt_default_shown(&hs_options[HS_OPT_LEAK_THRESHOLD]), "10M");
}
END_TEST

static void clear_env(void)
{
    for (int i = 0; i < HS_OPT_COUNT; i++)
        unsetenv(hs_options[i].env);
}

START_TEST(load_takes_defaults)
{
    hs_config_t cfg;
    clear_env();
    hs_config_load(&cfg);
    ck_assert_uint_eq(cfg.sample_rate, 524288);
    ck_assert_uint_eq(cfg.max_depth, 64);
    ck_assert_uint_eq(cfg.interval_ms, 30000);
    ck_assert_str_eq(cfg.output, "heapscope.%e.%p.hsd");
    ck_assert_int_eq(cfg.signal, 0);
    ck_assert_int_eq(cfg.disable, 0);
    ck_assert_int_eq(cfg.follow_exec, 1);
    ck_assert_str_eq(cfg.only, "");
    ck_assert_uint_eq(cfg.seed, 0);
    ck_assert_uint_eq(cfg.leak_window_ms, 300000);
    ck_assert_uint_eq(cfg.leak_threshold, 10u << 20);
    ck_assert_str_eq(cfg.log, "");
    ck_assert_int_eq(cfg.empty_dumps, 0);
    ck_assert_int_eq(cfg.verbose, 0);
}
END_TEST

START_TEST(load_takes_every_setting)
{
    hs_config_t cfg;
    clear_env();
    setenv("HEAPSCOPE_SAMPLE_RATE", "64K", 1);
    setenv("HEAPSCOPE_MAX_DEPTH", "16", 1);
    setenv("HEAPSCOPE_INTERVAL", "0.25", 1);
    setenv("HEAPSCOPE_OUTPUT", "/tmp/x.%p.hsd", 1);
    setenv("HEAPSCOPE_SIGNAL", "SIGUSR1", 1);
    setenv("HEAPSCOPE_DISABLE", "yes", 1);
    setenv("HEAPSCOPE_FOLLOW_EXEC", "off", 1);
    setenv("HEAPSCOPE_ONLY", "redis-server,nginx", 1);
    setenv("HEAPSCOPE_SEED", "42", 1);
    setenv("HEAPSCOPE_LEAK_WINDOW", "0", 1);
    setenv("HEAPSCOPE_LEAK_THRESHOLD", "1.5M", 1);
    setenv("HEAPSCOPE_LOG", "/tmp/leaks.log", 1);
    setenv("HEAPSCOPE_EMPTY_DUMPS", "true", 1);
    setenv("HEAPSCOPE_VERBOSE", "1", 1);
    hs_config_load(&cfg);
    ck_assert_uint_eq(cfg.sample_rate, 65536);
    ck_assert_uint_eq(cfg.max_depth, 16);
    ck_assert_uint_eq(cfg.interval_ms, 250);
    ck_assert_str_eq(cfg.output, "/tmp/x.%p.hsd");
    ck_assert_int_eq(cfg.signal, SIGUSR1);
    ck_assert_int_eq(cfg.disable, 1);
    ck_assert_int_eq(cfg.follow_exec, 0);
    ck_assert_str_eq(cfg.only, "redis-server,nginx");
    ck_assert_uint_eq(cfg.seed, 42);
    ck_assert_uint_eq(cfg.leak_window_ms, 0);
    ck_assert_uint_eq(cfg.leak_threshold, 3u << 19);
    ck_assert_str_eq(cfg.log, "/tmp/leaks.log");
    ck_assert_int_eq(cfg.empty_dumps, 1);
    ck_assert_int_eq(cfg.verbose, 1);
    clear_env();
}
END_TEST

/* Runs fn with descriptor 2 on a fresh file and returns what was written. */
static void capture_stderr(void (*fn)(void *), void *arg, char *out, size_t n)
{
    char path[] = "/tmp/test_options.XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    int saved = dup(2);
    dup2(fd, 2);
    fn(arg);
    dup2(saved, 2);
    close(saved);
    ssize_t len = pread(fd, out, n - 1, 0);
    close(fd);
    out[len > 0 ? len : 0] = '\0';
}

static void load(void *cfg) { hs_config_load(cfg); }

static void print(void *cfg) { hs_config_print(cfg); }

START_TEST(load_warns_once_and_keeps_defaults)
{
    /* Check runs each test in its own process: descriptor 2's identity is
     * recorded here, on the capture file, by the first line. */
    hs_config_t cfg;
    char err[4096];
    clear_env();
    setenv("HEAPSCOPE_SAMPLE_RATE", "lots", 1);
    setenv("HEAPSCOPE_INTERVAL", "0.25", 1);
    setenv("HEAPSCOPE_MAX_DEPTH", "1000", 1);
    setenv("HEAPSCOPE_LOG", "", 1);
    setenv("HEAPSCOPE_OUTPUT", "", 1);
    capture_stderr(load, &cfg, err, sizeof(err));
    ck_assert_uint_eq(cfg.sample_rate, 524288);
    ck_assert_uint_eq(cfg.interval_ms, 250);
    ck_assert_uint_eq(cfg.max_depth, 64);
    ck_assert_str_eq(cfg.output, "heapscope.%e.%p.hsd");
    ck_assert_int_eq(cfg.follow_exec, 1);
    ck_assert_str_eq(err, "heapscope: warning: HEAPSCOPE_SAMPLE_RATE='lots' is not valid (must be a positive number "
                          "of bytes (K, M or G suffix), at most 1024G); using the default '524288'\n"
                          "heapscope: warning: HEAPSCOPE_MAX_DEPTH='1000' is not valid (must be a whole number "
                          "from 1 to 256); using the default '64'\n");
    clear_env();
}
END_TEST

START_TEST(print_is_one_line_per_option)
{
    hs_config_t cfg;
    char err[8192], want[256];
    clear_env();
    setenv("HEAPSCOPE_INTERVAL", "0.25", 1);
    setenv("HEAPSCOPE_SIGNAL", "USR2", 1);
    hs_config_load(&cfg);
    capture_stderr(print, &cfg, err, sizeof(err));
    const char *line = err;
    for (int i = 0; i < HS_OPT_COUNT; i++) {
        ck_assert_msg(strncmp(line, "heapscope: config ", 18) == 0, "line %d: %.60s", i, line);
        ck_assert_msg(strncmp(line + 18, hs_options[i].env, strlen(hs_options[i].env)) == 0, "line %d: %.60s", i, line);
        line = strchr(line, '\n') + 1;
    }
    ck_assert_msg(strncmp(line, "heapscope: config TMPDIR=", 25) == 0, "last line: %s", line);
    const char *expect[] = {"HEAPSCOPE_SAMPLE_RATE=524288",
                            "HEAPSCOPE_INTERVAL=0.250",
                            "HEAPSCOPE_SIGNAL=12",
                            "HEAPSCOPE_ONLY=(all)",
                            "HEAPSCOPE_LOG=(stderr)",
                            "HEAPSCOPE_LEAK_THRESHOLD=10485760",
                            "HEAPSCOPE_OUTPUT=heapscope.%e.%p.hsd",
                            "HEAPSCOPE_FOLLOW_EXEC=1"};
    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        snprintf(want, sizeof(want), "heapscope: config %s\n", expect[i]);
        ck_assert_msg(strstr(err, want), "no '%s' in:\n%s", expect[i], err);
    }
    clear_env();
}
END_TEST

START_TEST(name_matches)
{
    ck_assert(hs_config_name_matches("", "anything"));
    ck_assert(hs_config_name_matches("redis-server,nginx", "nginx"));
    ck_assert(hs_config_name_matches("redis-server,nginx", "redis-server"));
    ck_assert(!hs_config_name_matches("redis-server,nginx", "redis"));
    ck_assert(!hs_config_name_matches("redis-server,nginx", "ngin"));
    ck_assert(!hs_config_name_matches("a,,b", ""));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("options");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, size_grammar);
    tcase_add_test(tc, seconds_grammar);
    tcase_add_test(tc, bool_grammar);
    tcase_add_test(tc, signal_grammar);
    tcase_add_test(tc, table_is_whole_and_its_defaults_valid);
    tcase_add_test(tc, bounds);
    tcase_add_test(tc, formats_parse_back);
    tcase_add_test(tc, describes_bounds);
    tcase_add_test(tc, load_takes_defaults);
    tcase_add_test(tc, load_takes_every_setting);
    tcase_add_test(tc, load_warns_once_and_keeps_defaults);
    tcase_add_test(tc, print_is_one_line_per_option);
    tcase_add_test(tc, name_matches);
    suite_add_tcase(s, tc);
    return hs_run_suite(s);
}
