# heapscope build. `make` builds build/libheapscope.so and build/heapscope.
# Sources are picked up by wildcard so that new modules need no Makefile edit.
CC ?= gcc
PREFIX ?= /usr/local
BUILD := build

WARN := -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wformat=2 -Wundef -Wvla
BASE_CFLAGS := -O2 -g $(WARN) -D_GNU_SOURCE
# Include walls: each side sees common/ and its own directory, never the
# other's, so a wrong include fails the build. common/ sees only itself.
COMMON_INC := -Icommon
LIB_INC := -Icommon -Iinterposer
CLI_INC := -Icommon -Ianalyzer
CFLAGS ?=
UNWIND_CFLAGS := $(shell pkg-config --cflags libunwind 2>/dev/null)
UNWIND_LIBS := $(shell pkg-config --libs libunwind 2>/dev/null || echo -lunwind)

# The interposer: hidden visibility, initial-exec TLS, no builtin malloc
# folding, every undefined symbol resolved at link time (-z defs).
LIB_CFLAGS := $(BASE_CFLAGS) $(UNWIND_CFLAGS) -fPIC -fvisibility=hidden -ftls-model=initial-exec \
        -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc -fno-builtin-realloc \
        -fno-semantic-interposition -pthread -DUNW_LOCAL_ONLY
LIB_LDFLAGS := -shared -Wl,-z,defs -Wl,-z,now -pthread
LIB_LIBS := $(UNWIND_LIBS) -ldl -lm

COMMON_SRCS := $(wildcard common/*.c)
# The common modules the library links (the rest serve only the analyzer).
LIB_COMMON_SRCS := common/hs_codec.c common/hs_leak.c common/hs_options.c common/hs_template.c common/hs_text.c common/hs_pprof.c common/hs_prom.c common/hs_prom_process.c \
                   common/hs_alert.c common/hs_report_json.c common/hs_frames.c
# interposer/preload/ holds every file that defines an exported symbol
# (malloc & co., pthread_create, dlclose, read, pipe2) or the constructor;
# the unit tests link every other interposer module, so nothing outside
# preload/ may call into it (scripts/audit-deps.sh checks).
LIB_SRCS := $(wildcard interposer/*.c interposer/preload/*.c) $(LIB_COMMON_SRCS)
LIB_HEADERS := $(wildcard common/*.h interposer/*.h interposer/preload/*.h)
CLI_SRCS := $(wildcard analyzer/*.c) $(COMMON_SRCS)
UNIT_LIB_SRCS := $(wildcard interposer/*.c)
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(wildcard tests/unit/test_*.c))
PROGS := $(patsubst tests/progs/%.c,$(BUILD)/progs/%,$(wildcard tests/progs/*.c)) \
         $(patsubst tests/progs/%.cc,$(BUILD)/progs/%,$(wildcard tests/progs/*.cc))
# Shared objects the victims dlopen (tests/plugins/NAME.c -> libNAME.so).
PLUGINS := $(patsubst tests/plugins/%.c,$(BUILD)/plugins/lib%.so,$(wildcard tests/plugins/*.c))
LEAK_PROGS := $(patsubst tests/leaks/%.c,$(BUILD)/leaks/%,$(wildcard tests/leaks/*.c)) \
              $(patsubst tests/leaks/%.cc,$(BUILD)/leaks/%,$(wildcard tests/leaks/*.cc))
BENCH_PROGS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(filter-out tests/bench/passthrough.c,$(wildcard tests/bench/*.c)))

# `make V=1` shows the full command lines.
Q := $(if $(V),,@)
say = $(if $(V),,@echo "  $(1) $@";)

LIB := $(BUILD)/libheapscope.so
CLI := $(BUILD)/heapscope

.PHONY: all deps check test unit asan bench demo install clean format format-check lint fuzz leakeval progs
.PHONY: deps-real check-real
all: $(LIB) $(CLI)

$(BUILD)/lib/interposer/%.o: interposer/%.c $(LIB_HEADERS)
	@mkdir -p $(dir $@)
	$(call say,CC)$(CC) $(LIB_CFLAGS) $(LIB_INC) $(CFLAGS) -c $< -o $@

$(BUILD)/lib/common/%.o: common/%.c $(wildcard common/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC)$(CC) $(LIB_CFLAGS) $(COMMON_INC) $(CFLAGS) -c $< -o $@

$(LIB): $(patsubst %.c,$(BUILD)/lib/%.o,$(LIB_SRCS))
	$(call say,CC)$(CC) $(LIB_LDFLAGS) -o $@ $^ $(LIB_LIBS)

$(BUILD)/cli/analyzer/%.o: analyzer/%.c $(wildcard common/*.h analyzer/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC)$(CC) $(BASE_CFLAGS) $(CLI_INC) $(CFLAGS) -c $< -o $@

$(BUILD)/cli/common/%.o: common/%.c $(wildcard common/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC)$(CC) $(BASE_CFLAGS) $(COMMON_INC) $(CFLAGS) -c $< -o $@

$(CLI): $(patsubst %.c,$(BUILD)/cli/%.o,$(CLI_SRCS))
	$(call say,CC)$(CC) $(CFLAGS) -o $@ $^ -ldw -lelf -lz -lm

# Unit tests link the modules they test as objects compiled once (compiling
# every module into every test took most of a clean build): all of common/,
# every interposer module outside preload/, and every analyzer module but
# main.c (the CLI's entry point), from two archives, so that a test pulls in
# only what it calls and the two sides' modules never meet in one link. A
# test sees common/, interposer/ and analyzer/.
UNIT_LIB_OBJS := $(patsubst %.c,$(BUILD)/unitobj/%.o,$(COMMON_SRCS) $(UNIT_LIB_SRCS))
UNIT_CLI_OBJS := $(patsubst %.c,$(BUILD)/unitobj/%.o,$(filter-out analyzer/main.c,$(wildcard analyzer/*.c)))
UNIT_OBJS := $(UNIT_LIB_OBJS) $(UNIT_CLI_OBJS)
UNIT_ARCHIVES := $(BUILD)/unitobj/libunit_lib.a $(BUILD)/unitobj/libunit_cli.a
UNIT_COMPILE = $(CC) $(BASE_CFLAGS) $(UNWIND_CFLAGS) -DUNW_LOCAL_ONLY -pthread $(UNIT_CFLAGS) $(CFLAGS)
.SECONDARY: $(UNIT_OBJS) $(UNIT_ARCHIVES)

$(BUILD)/unitobj/libunit_lib.a: $(UNIT_LIB_OBJS)
	$(call say,AR)rm -f $@ && ar rcs $@ $^

$(BUILD)/unitobj/libunit_cli.a: $(UNIT_CLI_OBJS)
	$(call say,AR)rm -f $@ && ar rcs $@ $^

$(BUILD)/unitobj/analyzer/%.o: analyzer/%.c $(wildcard common/*.h analyzer/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC)$(UNIT_COMPILE) $(CLI_INC) -c $< -o $@

$(BUILD)/unitobj/interposer/%.o: interposer/%.c $(LIB_HEADERS)
	@mkdir -p $(dir $@)
	$(call say,CC)$(UNIT_COMPILE) $(LIB_INC) -c $< -o $@

$(BUILD)/unitobj/common/%.o: common/%.c $(wildcard common/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC)$(UNIT_COMPILE) $(COMMON_INC) -c $< -o $@

$(BUILD)/unit/%: tests/unit/%.c $(UNIT_ARCHIVES) $(LIB_HEADERS) $(wildcard analyzer/*.h tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC)$(UNIT_COMPILE) $(LIB_INC) -Ianalyzer -Itests/unit -o $@ $< -Wl,--start-group $(UNIT_ARCHIVES) -Wl,--end-group \
	    $$(pkg-config --cflags --libs check) $(UNWIND_LIBS) -ldw -lelf -ldl -lm -lz

# Victim and helper programs for integration tests: plain C, as users build.
$(BUILD)/progs/%: tests/progs/%.c
	@mkdir -p $(dir $@)
	$(call say,CC)$(CC) -O1 -g -fno-omit-frame-pointer -std=gnu11 -Wall -Werror -pthread -o $@ $< -ldl -lm
$(BUILD)/progs/%: tests/progs/%.cc
	@mkdir -p $(dir $@)
	$(call say,CC)g++ -O1 -g -fno-omit-frame-pointer -Wall -Werror -pthread -o $@ $<

$(BUILD)/bench/%: tests/bench/%.c common/hs_codec.c
	@mkdir -p $(dir $@)
	$(call say,CC)$(CC) -O2 -g -std=gnu11 -Wall -Werror -pthread -D_GNU_SOURCE -Icommon -o $@ $< common/hs_codec.c -lm
# The floor any interposer pays: forwards every entry point through dlsym(RTLD_NEXT).
$(BUILD)/bench/libpassthrough.so: tests/bench/passthrough.c
	@mkdir -p $(dir $@)
	$(call say,CC)$(CC) -O2 -g -std=gnu11 -Wall -Werror -fPIC -shared -fvisibility=hidden -ftls-model=initial-exec \
	    -fno-builtin-malloc -fno-builtin-free -o $@ $< -ldl

$(BUILD)/plugins/lib%.so: tests/plugins/%.c
	@mkdir -p $(dir $@)
	$(call say,CC)$(CC) -O1 -g -fno-omit-frame-pointer -std=gnu11 -Wall -Werror -fPIC -shared -o $@ $<

# The leak-evaluation corpus (make leakeval): built like users build.
$(BUILD)/leaks/%: tests/leaks/%.c
	@mkdir -p $(dir $@)
	$(call say,CC)$(CC) -O1 -g -fno-omit-frame-pointer -std=gnu11 -Wall -Werror -pthread -o $@ $< -lm
$(BUILD)/leaks/%: tests/leaks/%.cc
	@mkdir -p $(dir $@)
	$(call say,CC)g++ -O1 -g -fno-omit-frame-pointer -Wall -Werror -pthread -o $@ $<

progs: $(PROGS) $(LEAK_PROGS) $(PLUGINS)
deps:
	@sh scripts/deps.sh

unit: $(UNIT_TESTS)

check: deps
	$(MAKE) -j$$(nproc) all unit progs
	@sh scripts/run-tests.sh

test: check

# Real programs (redis-server, nginx, sqlite3, python3, java, node, git)
# under heapscope record, each checked by its own answers and by the report
# (tests/real/, scripts/run-tests.sh real; about 2 minutes).
deps-real:
	@sh scripts/deps.sh real

check-real: deps deps-real
	$(MAKE) -j$$(nproc) all progs
	@BUILD=$(BUILD) sh scripts/run-tests.sh real

asan:
	@sh scripts/deps.sh
	$(MAKE) BUILD=build/asan CFLAGS="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" unit
	@for t in build/asan/unit/test_*; do echo "== $$t"; ASAN_OPTIONS=detect_leaks=1 $$t || exit 1; done

bench: deps
	$(MAKE) all $(BENCH_PROGS) $(BUILD)/bench/libpassthrough.so $(BUILD)/progs/cpu_burn
	@sh scripts/deps.sh bench
	@sh tests/bench/run.sh
	@BUILD=$(BUILD) sh tests/bench/compare.sh
	@BUILD=$(BUILD) sh tests/bench/redis.sh
	@sh tests/bench/analyzer.sh

leakeval: deps
	$(MAKE) all progs
	@sh scripts/leakeval.sh

demo: deps
	$(MAKE) all progs
	@sh scripts/demo.sh

# libFuzzer over the dump reader and the model (tests/fuzz/fuzz_dump.c): seeds
# are fresh dumps of build/progs; the corpus persists in $(BUILD)/fuzz/corpus
# and crashing inputs land in $(BUILD)/fuzz/. Fails on a crash, leak or OOM.
# The live service's request parser (tests/fuzz/fuzz_http.c) shares the
# time: FUZZ_SECONDS/2 (at least 1), its corpus in $(BUILD)/fuzz/corpus-http
# and its crashing inputs named $(BUILD)/fuzz/http-*.
FUZZ_SECONDS ?= 60
FUZZ_SRCS := common/hs_codec.c common/hs_reader.c analyzer/model.c analyzer/program_name.c tests/fuzz/fuzz_dump.c
FUZZ_HTTP_SRCS := interposer/http_request.c tests/fuzz/fuzz_http.c
FUZZ_CC = clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -D_GNU_SOURCE
$(BUILD)/fuzz/fuzz_dump: $(FUZZ_SRCS) $(wildcard common/*.h analyzer/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC)$(FUZZ_CC) -Icommon -Ianalyzer -o $@ $(FUZZ_SRCS) -lz

$(BUILD)/fuzz/fuzz_http: $(FUZZ_HTTP_SRCS) interposer/http_request.h
	@mkdir -p $(dir $@)
	$(call say,CC)$(FUZZ_CC) -Iinterposer -o $@ $(FUZZ_HTTP_SRCS)

fuzz: deps
	$(MAKE) $(LIB) progs $(BUILD)/fuzz/fuzz_dump $(BUILD)/fuzz/fuzz_http
	@sh tests/fuzz/seeds.sh $(BUILD)/fuzz/seeds
	@sh tests/fuzz/http_seeds.sh $(BUILD)/fuzz/seeds-http
	@mkdir -p $(BUILD)/fuzz/corpus $(BUILD)/fuzz/corpus-http
	$(BUILD)/fuzz/fuzz_dump -max_total_time=$$(( $(FUZZ_SECONDS) - $(FUZZ_SECONDS) / 2 )) -timeout=10 -rss_limit_mb=512 \
	    -malloc_limit_mb=128 -artifact_prefix=$(BUILD)/fuzz/ -print_final_stats=1 $(BUILD)/fuzz/corpus $(BUILD)/fuzz/seeds
	$(BUILD)/fuzz/fuzz_http -max_total_time=$$(( $(FUZZ_SECONDS) / 2 > 0 ? $(FUZZ_SECONDS) / 2 : 1 )) -timeout=10 \
	    -rss_limit_mb=512 -malloc_limit_mb=128 -max_len=12288 -dict=tests/fuzz/http.dict -artifact_prefix=$(BUILD)/fuzz/http- \
	    -print_final_stats=1 $(BUILD)/fuzz/corpus-http $(BUILD)/fuzz/seeds-http

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/heapscope
	install -m 0755 $(CLI) $(DESTDIR)$(PREFIX)/bin/heapscope
	install -m 0644 $(LIB) $(DESTDIR)$(PREFIX)/lib/heapscope/libheapscope.so

# The style is .clang-format's (clang-format 14, Debian's clang-format package).
format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	@bad=$$(for f in $$(git ls-files '*.c' '*.h'); do clang-format "$$f" | cmp -s "$$f" - || echo "$$f"; done); \
	if [ -n "$$bad" ]; then echo "format-check: not in .clang-format's style (make format):" $$bad >&2; exit 1; fi; \
	echo "format-check: $$(git ls-files '*.c' '*.h' | wc -l) files in .clang-format's style"

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability -Icommon -Iinterposer -Ianalyzer common interposer analyzer
	shellcheck scripts/*.sh tests/integration/*.sh tests/bench/*.sh .ci/run

clean:
	rm -rf $(BUILD)
