# ngx_ai_release: build the dynamic module against the installed nginx,
# the plain-C core's unit tests, and run the test suite.
#
#   make            build build/nginx/objs/ngx_http_ai_release_module.so,
#                   the ai-release command-line tool and the unit tests
#   make cli        build build/ai-release only
#   make deps       install what is missing from Debian's packages (and
#                   the SDKs of t/50-sdk.t: make sdk-deps)
#   make test       deps + build + unit tests + the prove suite in t/
#   make demo       deps + build + nginx in the foreground with demo.conf
#   make bench-json instructions per byte of the JSON scanner, SSE parser
#                   and output contract checker
#   make deb        the Debian package libnginx-mod-http-ai-release_*.deb
#   NGINX_SRC=/path/to/nginx-1.x make   build against another nginx tree

SHELL      := /bin/bash
TOP        := $(CURDIR)
BUILD      := $(TOP)/build
NGX_BUILD  := $(BUILD)/nginx
MODULE_SO  := $(NGX_BUILD)/objs/ngx_http_ai_release_module.so
NGINX_BIN  ?= /usr/sbin/nginx
NGINX_SRC  ?=
DEBIAN_NGX := /usr/share/nginx/src
PROVE_JOBS ?= 2

CORE_SRCS  := ngx_ai_release_module/ai_release_sha256.c \
              ngx_ai_release_module/ai_release_util.c \
              ngx_ai_release_module/ai_release_yaml.c \
              ngx_ai_release_module/ai_release_schema.c \
              ngx_ai_release_module/ai_release_digest.c \
              ngx_ai_release_module/ai_release_bundle.c \
              ngx_ai_release_module/ai_release_window.c \
              ngx_ai_release_module/ai_release_gate.c \
              ngx_ai_release_module/ai_release_lock.c \
              ngx_ai_release_module/ai_release_api.c \
              ngx_ai_release_module/ai_release_state.c \
              ngx_ai_release_module/ai_release_json.c \
              ngx_ai_release_module/ai_release_sse.c \
              ngx_ai_release_module/ai_release_apply.c \
              ngx_ai_release_module/ai_release_contract.c \
              ngx_ai_release_module/ai_release_signals.c \
              ngx_ai_release_module/ai_release_drift.c \
              ngx_ai_release_module/ai_release_diff.c \
              ngx_ai_release_module/ai_release_feedback.c \
              ngx_ai_release_module/ai_release_pair.c
CORE_HDRS  := ngx_ai_release_module/ai_release_core.h \
              ngx_ai_release_module/ai_release_internal.h \
              ngx_ai_release_module/ai_release_json.h \
              ngx_ai_release_module/ai_release_apply.h \
              ngx_ai_release_module/ai_release_contract.h \
              ngx_ai_release_module/ai_release_signals.h \
              ngx_ai_release_module/ai_release_drift.h \
              ngx_ai_release_module/ai_release_diff.h \
              ngx_ai_release_module/ai_release_feedback.h \
              ngx_ai_release_module/ai_release_pair.h
# the TAP lines of the unit test programs
TAP_SRCS   := t/unit/tap.c t/unit/tap.h
MOD_SRCS   := $(wildcard ngx_ai_release_module/*.c) \
              $(wildcard ngx_ai_release_module/*.h) config

CC         ?= cc
CORE_CFLAGS := -std=c99 -D_GNU_SOURCE -Wall -Wextra -Werror -g \
               -I ngx_ai_release_module
SAN_FLAGS  := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
              -fno-sanitize-recover=all
CORE_LIBS  := -lyaml -ljansson -lm
# the module's version, for "ai-release --version"
AIR_VERSION := $(shell sed -n 's/^\#define NGX_HTTP_AI_RELEASE_VERSION *"\([^"]*\)".*/\1/p' \
                   ngx_ai_release_module/ngx_http_ai_release_module.h)
CLI_BIN    := $(BUILD)/ai-release
CLI_CFLAGS := -O2 \
              $(if $(AIR_VERSION),-DAI_RELEASE_CLI_VERSION='"$(AIR_VERSION)"')

DEB_PKGS   := nginx nginx-dev libjansson-dev libyaml-dev gcc make perl \
              libpcre2-dev libssl-dev zlib1g-dev prometheus chromium \
              chromium-driver openssl ca-certificates \
              dpkg-dev debhelper lintian

# the official OpenAI and Anthropic Node SDKs that t/50-sdk.t drives, at the
# versions t/sdk/package-lock.json pins
SDK_DIR    := t/sdk
SDK_STAMP  := $(SDK_DIR)/node_modules/.installed

.PHONY: asan all module unit cli deps sdk-deps test test-unit test-t demo \
        clean deb deb-deps

all: module unit cli

module: $(MODULE_SO)

# configure once: copy the nginx source tree (Debian's nginx-dev tree by
# default, with the configure flags Debian recorded so the module's binary
# signature matches /usr/sbin/nginx), then build only the modules.
$(NGX_BUILD)/objs/Makefile: config
	@rm -rf $(NGX_BUILD)
	@mkdir -p $(BUILD)
	@if [ -n "$(NGINX_SRC)" ]; then \
	    cp -a "$(NGINX_SRC)" $(NGX_BUILD) && cd $(NGX_BUILD) && \
	    if [ -x ./configure ]; then cfg=./configure; \
	    else cfg=auto/configure; fi && \
	    $$cfg --with-compat --add-dynamic-module=$(TOP) \
	        > $(BUILD)/configure.log 2>&1 \
	    || { cat $(BUILD)/configure.log; exit 1; }; \
	elif [ -f $(DEBIAN_NGX)/conf_flags ]; then \
	    cp -a $(DEBIAN_NGX) $(NGX_BUILD) && cd $(NGX_BUILD) && \
	    . ./conf_flags && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" \
	        --with-cc-opt='-g -O2 -fPIC -fstack-protector-strong -Wformat -Werror=format-security -D_FORTIFY_SOURCE=2' \
	        --with-ld-opt='-Wl,-z,relro -Wl,-z,now -fPIC' \
	        --add-dynamic-module=$(TOP) \
	        > $(BUILD)/configure.log 2>&1 \
	    || { cat $(BUILD)/configure.log; exit 1; }; \
	else \
	    echo "nginx-dev is not installed (no $(DEBIAN_NGX)):"; \
	    echo "run 'make deps', or give an nginx source tree as NGINX_SRC=..."; \
	    exit 1; \
	fi

$(MODULE_SO): $(NGX_BUILD)/objs/Makefile $(MOD_SRCS)
	$(MAKE) -C $(NGX_BUILD) -f objs/Makefile modules

unit: $(BUILD)/unit_core $(BUILD)/unit_window $(BUILD)/unit_gate \
      $(BUILD)/unit_state $(BUILD)/unit_latency $(BUILD)/unit_json \
      $(BUILD)/unit_apply $(BUILD)/unit_contract $(BUILD)/unit_signals \
      $(BUILD)/unit_drift $(BUILD)/unit_diff $(BUILD)/unit_feedback \
      $(BUILD)/unit_pair

$(BUILD)/unit_core: $(CORE_SRCS) $(CORE_HDRS) $(TAP_SRCS) t/unit/test_core.c
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) $(SAN_FLAGS) $(CORE_SRCS) t/unit/tap.c t/unit/test_core.c \
	    $(CORE_LIBS) -o $@

$(BUILD)/unit_window: $(CORE_SRCS) $(CORE_HDRS) $(TAP_SRCS) t/unit/test_window.c
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) $(SAN_FLAGS) $(CORE_SRCS) t/unit/tap.c t/unit/test_window.c \
	    $(CORE_LIBS) -lpthread -o $@

$(BUILD)/unit_latency: $(CORE_SRCS) $(CORE_HDRS) $(TAP_SRCS) t/unit/test_latency.c
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) $(SAN_FLAGS) $(CORE_SRCS) t/unit/tap.c t/unit/test_latency.c \
	    $(CORE_LIBS) -o $@

$(BUILD)/unit_gate: $(CORE_SRCS) $(CORE_HDRS) $(TAP_SRCS) t/unit/test_gate.c
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) $(SAN_FLAGS) $(CORE_SRCS) t/unit/tap.c t/unit/test_gate.c \
	    $(CORE_LIBS) -o $@

$(BUILD)/unit_state: $(CORE_SRCS) $(CORE_HDRS) $(TAP_SRCS) t/unit/test_state.c
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) $(SAN_FLAGS) $(CORE_SRCS) t/unit/tap.c t/unit/test_state.c \
	    $(CORE_LIBS) -o $@

$(BUILD)/unit_json: $(CORE_SRCS) $(CORE_HDRS) $(TAP_SRCS) t/unit/test_json.c
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) $(SAN_FLAGS) $(CORE_SRCS) t/unit/tap.c t/unit/test_json.c \
	    $(CORE_LIBS) -o $@

$(BUILD)/unit_apply: $(CORE_SRCS) $(CORE_HDRS) $(TAP_SRCS) t/unit/test_apply.c
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) $(SAN_FLAGS) $(CORE_SRCS) t/unit/tap.c t/unit/test_apply.c \
	    $(CORE_LIBS) -o $@

$(BUILD)/unit_contract: $(CORE_SRCS) $(CORE_HDRS) $(TAP_SRCS) \
                         t/unit/test_contract.c
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) $(SAN_FLAGS) $(CORE_SRCS) t/unit/tap.c \
	    t/unit/test_contract.c $(CORE_LIBS) -o $@

$(BUILD)/unit_signals: $(CORE_SRCS) $(CORE_HDRS) $(TAP_SRCS) \
                        t/unit/test_signals.c
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) $(SAN_FLAGS) $(CORE_SRCS) t/unit/tap.c \
	    t/unit/test_signals.c $(CORE_LIBS) -o $@

$(BUILD)/unit_drift: $(CORE_SRCS) $(CORE_HDRS) $(TAP_SRCS) \
                      t/unit/test_drift.c
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) $(SAN_FLAGS) $(CORE_SRCS) t/unit/tap.c \
	    t/unit/test_drift.c $(CORE_LIBS) -o $@

$(BUILD)/unit_diff: $(CORE_SRCS) $(CORE_HDRS) $(TAP_SRCS) t/unit/test_diff.c
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) $(SAN_FLAGS) $(CORE_SRCS) t/unit/tap.c \
	    t/unit/test_diff.c $(CORE_LIBS) -o $@

$(BUILD)/unit_feedback: $(CORE_SRCS) $(CORE_HDRS) $(TAP_SRCS) \
                        t/unit/test_feedback.c
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) $(SAN_FLAGS) $(CORE_SRCS) t/unit/tap.c \
	    t/unit/test_feedback.c $(CORE_LIBS) -o $@

$(BUILD)/unit_pair: $(CORE_SRCS) $(CORE_HDRS) $(TAP_SRCS) t/unit/test_pair.c
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) $(SAN_FLAGS) $(CORE_SRCS) t/unit/tap.c \
	    t/unit/test_pair.c $(CORE_LIBS) -o $@

# the command-line tool: the same core, a normal optimised build (with the
# CPPFLAGS, CFLAGS and LDFLAGS of the environment: debian/rules builds it as
# CLI_BIN=build/pkg/ai-release with dpkg-buildflags' hardening flags)
cli: $(CLI_BIN)

$(CLI_BIN): $(CORE_SRCS) $(CORE_HDRS) cli/ai-release.c \
            ngx_ai_release_module/ngx_http_ai_release_module.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CORE_CFLAGS) $(CLI_CFLAGS) $(LDFLAGS) \
	    $(CORE_SRCS) cli/ai-release.c $(CORE_LIBS) -o $@

deps:
	tools/apt-install $(DEB_PKGS)
	$(MAKE) sdk-deps

# node and npm from Debian, then the locked packages; npm runs only when
# the lock or package.json is newer than the last install, so a tree that
# has them needs no network
sdk-deps:
	tools/apt-install nodejs npm
	$(MAKE) $(SDK_STAMP)

$(SDK_STAMP): $(SDK_DIR)/package.json $(SDK_DIR)/package-lock.json
	npm ci --prefix $(SDK_DIR) --ignore-scripts --no-audit --no-fund
	touch $@

test: deps
	$(MAKE) all
	$(MAKE) test-unit test-t

test-unit: unit
	cd t/unit && $(BUILD)/unit_core && $(BUILD)/unit_window \
	    && $(BUILD)/unit_gate && $(BUILD)/unit_state \
	    && $(BUILD)/unit_latency && $(BUILD)/unit_json \
	    && $(BUILD)/unit_apply && $(BUILD)/unit_contract \
	    && $(BUILD)/unit_signals && $(BUILD)/unit_drift \
	    && $(BUILD)/unit_diff \
	    && $(BUILD)/unit_feedback && $(BUILD)/unit_pair \
	    && $(BUILD)/unit_fuzz_regress

test-t: module cli
	NGINX_BIN=$(NGINX_BIN) AIR_MODULE=$(MODULE_SO) \
	    prove -j$(PROVE_JOBS) -I t/lib t/

demo: deps
	$(MAKE) module
	NGINX_BIN=$(NGINX_BIN) ./conf-examples/demo.sh

clean:
	rm -rf $(BUILD)
	rm -f $(DEB_NAME)_*.deb

# make deb: the Debian package, laid out like Debian's libnginx-mod-*
# packages (debian/rules: "make module cli", then debhelper with nginx-dev's
# dh_nginx), built by dpkg-buildpackage into build/deb/ and copied to the
# top directory for "apt install ./libnginx-mod-http-ai-release_*.deb".
# The package's version is debian/changelog's, which must be the module's.
DEB_NAME   := libnginx-mod-http-ai-release
DEB_ARCH   := $(shell dpkg --print-architecture 2>/dev/null)
DEB_DIR    := $(BUILD)/deb
DEB_BASE   := $(DEB_NAME)_$(AIR_VERSION)_$(DEB_ARCH)
DEB_FILE   := $(DEB_BASE).deb
DEB_PKGS_BUILD := dpkg-dev debhelper nginx nginx-dev libjansson-dev \
              libyaml-dev libpcre2-dev libssl-dev zlib1g-dev gcc make

deb-deps:
	tools/apt-install $(DEB_PKGS_BUILD)

deb: deb-deps
	@v=$$(dpkg-parsechangelog -S Version); \
	if [ "$$v" != "$(AIR_VERSION)" ]; then \
	    echo "debian/changelog is at $$v, the module at $(AIR_VERSION):"; \
	    echo "add a changelog entry: dch -v $(AIR_VERSION)"; \
	    exit 1; \
	fi
	@rm -rf $(DEB_DIR)
	@mkdir -p $(DEB_DIR)
	AIR_DEB_DIR=$(DEB_DIR) dpkg-buildpackage -b --no-sign \
	    --buildinfo-option=-u$(DEB_DIR) \
	    --buildinfo-file=$(DEB_DIR)/$(DEB_BASE).buildinfo \
	    --changes-option=-u$(DEB_DIR) \
	    --changes-file=$(DEB_DIR)/$(DEB_BASE).changes
	cp $(DEB_DIR)/$(DEB_FILE) $(TOP)/$(DEB_FILE)

# nginx itself from Debian's source package with ASan and UBSan and the
# module compiled in; the whole suite runs on it, and the harness fails a
# test on any sanitizer report in error.log
ASAN_DIR   := $(BUILD)/asan
ASAN_NGINX := $(ASAN_DIR)/src/objs/nginx
SAN_ENV    := ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 \
              UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=0

asan: deps
	$(MAKE) unit cli
	tools/build-asan-nginx $(TOP) $(ASAN_DIR)
	$(SAN_ENV) NGINX_BIN=$(ASAN_NGINX) AIR_MODULE= \
	    prove -j$(PROVE_JOBS) -I t/lib t/

# fuzzing (fuzz/README.md): a libFuzzer target per parser of outside input
# in the plain-C core, built with clang; "make fuzz" runs each for
# FUZZ_SECONDS on a copy of its seed corpus in build/fuzz/corpus and fails
# when one crashed; "make fuzz-smoke" is the short run for CI.  The crashes
# found are replayed by build/unit_fuzz_regress in "make test-unit".
FUZZ_TARGETS := manifest report lock params api_body state json apply \
                contract signals feedback
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := $(BUILD)/fuzz
FUZZ_CFLAGS  := -g -O1 -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined \
                -D_GNU_SOURCE -Wall -Wextra -I ngx_ai_release_module
FUZZ_BINS    := $(addprefix $(FUZZ_BUILD)/,$(FUZZ_TARGETS))
FUZZ_SRCS    := $(patsubst %,fuzz/fuzz_%.c,$(FUZZ_TARGETS))

.PHONY: fuzz-build fuzz fuzz-smoke deps-fuzz

fuzz-build: deps-fuzz
	$(MAKE) $(FUZZ_BINS)

# clang and its libFuzzer runtime, from Debian's packages
deps-fuzz:
	tools/apt-install clang libclang-rt-14-dev

$(FUZZ_BINS): $(FUZZ_BUILD)/%: fuzz/fuzz_%.c fuzz/fuzz.h $(CORE_SRCS) \
              $(CORE_HDRS)
	@mkdir -p $(FUZZ_BUILD)
	$(FUZZ_CC) $(FUZZ_CFLAGS) fuzz/fuzz_$*.c $(CORE_SRCS) $(CORE_LIBS) \
	    -o $@

fuzz: fuzz-build
	fuzz/run-fuzzers.sh $(FUZZ_SECONDS) $(FUZZ_BUILD) $(FUZZ_TARGETS)

fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=10

# the fuzz targets' entry points with gcc, ASan and UBSan, replaying
# t/unit/fixtures/fuzz-regressions/ and the seeds
unit: $(BUILD)/unit_fuzz_regress

$(BUILD)/unit_fuzz_regress: $(CORE_SRCS) $(CORE_HDRS) $(FUZZ_SRCS) \
                            $(TAP_SRCS) fuzz/fuzz.h t/unit/test_fuzz_regress.c
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) $(SAN_FLAGS) -fsanitize=float-cast-overflow \
	    -DAI_RELEASE_NO_LIBFUZZER_MAIN \
	    -I fuzz $(CORE_SRCS) $(FUZZ_SRCS) t/unit/tap.c \
	    t/unit/test_fuzz_regress.c \
	    $(CORE_LIBS) -o $@

# make bench: the benchmark suite (bench/README.md): builds the module,
# installs what is missing of wrk, haproxy and valgrind, runs every
# contender on loopback and writes the table to bench/results/.
# BENCH_QUICK=1 make bench is a one-minute smoke run.
BENCH_PKGS := nginx nginx-dev libjansson-dev libyaml-dev gcc make perl \
              libpcre2-dev libssl-dev zlib1g-dev wrk haproxy valgrind \
              util-linux

# make bench-json: instructions per byte of the JSON scanner, the SSE
# parser and the output contract checker (bench/json_cost.c), counted by
# callgrind inside json_cost_run()
JSON_COST  := $(BUILD)/json_cost
JSON_COSTS := chat chat-noop chat-splice sse sse-content sse-only \
              answer answer-contract sse-contract sse-end

$(JSON_COST): bench/json_cost.c $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) -O2 bench/json_cost.c $(CORE_SRCS) \
	    $(CORE_LIBS) -o $@

.PHONY: bench-json
bench-json: $(JSON_COST)
	tools/apt-install valgrind
	@for s in $(JSON_COSTS); do \
	    out=$(BUILD)/json_cost.$$s.callgrind; \
	    valgrind --tool=callgrind --toggle-collect=json_cost_run \
	        --callgrind-out-file=$$out $(JSON_COST) $$s > /dev/null 2>&1 \
	    || { echo "json_cost $$s failed"; exit 1; }; \
	    ir=$$(sed -n 's/^summary: *//p' $$out); \
	    bytes=$$($(JSON_COST) $$s -n); \
	    reps=$$($(JSON_COST) $$s -r); \
	    awk -v s=$$s -v ir=$$ir -v b=$$bytes -v r=$$reps 'BEGIN { \
	        printf "%-16s %8d bytes %10d instructions %6.2f per byte" \
	               " %8d per pass\n", s, b / r, ir / r, ir / b, ir / r }'; \
	done

# make bench-signals: instructions per byte of behaviour signals
# (bench/signals_cost.c) beside the scanner alone on the same input
SIGNALS_COST  := $(BUILD)/signals_cost
SIGNALS_COSTS := answer answer-noop answer-signals sse sse-noop \
                 sse-signals anthropic anthropic-noop anthropic-signals

$(SIGNALS_COST): bench/signals_cost.c $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(BUILD)
	$(CC) $(CORE_CFLAGS) -O2 bench/signals_cost.c $(CORE_SRCS) \
	    $(CORE_LIBS) -o $@

.PHONY: bench-signals
bench-signals: $(SIGNALS_COST)
	tools/apt-install valgrind
	@for s in $(SIGNALS_COSTS); do \
	    out=$(BUILD)/signals_cost.$$s.callgrind; \
	    valgrind --tool=callgrind --toggle-collect=signals_cost_run \
	        --callgrind-out-file=$$out $(SIGNALS_COST) $$s > /dev/null 2>&1 \
	    || { echo "signals_cost $$s failed"; exit 1; }; \
	    ir=$$(sed -n 's/^summary: *//p' $$out); \
	    bytes=$$($(SIGNALS_COST) $$s -n); \
	    reps=$$($(SIGNALS_COST) $$s -r); \
	    awk -v s=$$s -v ir=$$ir -v b=$$bytes -v r=$$reps 'BEGIN { \
	        printf "%-18s %6d bytes %9d instructions %6.2f per byte\n", \
	               s, b / r, ir / r, ir / b }'; \
	done

.PHONY: bench
bench:
	tools/apt-install $(BENCH_PKGS)
	$(MAKE) module
	NGINX_BIN=$(NGINX_BIN) AIR_MODULE=$(MODULE_SO) ./bench/run
