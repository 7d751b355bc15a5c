# resql benchmark (issue 5). Included by the top Makefile; relies on its
# B, CC, CFLAGS, WARNINGS, STATIC, LIBS and Q, and on its rule for $(STATIC).
#
#   make bench            the full benchmark (default scale 1, 3 rounds), prints the table
#   make bench-smoke      a tiny run of every workload and configuration, checked (part of make test)
#   make bench-callgrind  instruction counts under callgrind at a small scale
#   make bench-report     runs the benchmark and callgrind, writes bench/REPORT.md and bench/ratios.png
#
# BENCH_ARGS passes options to the benchmark, e.g.
#   make bench BENCH_ARGS="--only W1 --configs bare,changes-same --rounds 5"
# CALLGRIND_SCALE sets the scale of the callgrind runs (default 0.01).

BENCH_BIN       := $(B)/bench/bench
BENCH_ARGS      ?=
CALLGRIND_SCALE ?= 0.01
# The counting malloc wrapper (see bench.c): resql's calls to these go
# through __wrap_*; SQLite (a shared library) is not affected.
BENCH_WRAP      := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=strdup,--wrap=strndup

.PHONY: bench bench-smoke bench-callgrind bench-report

# valgrind gives valgrind/callgrind.h (instrumentation on the timed part only).
$(B)/.deps-bench: $(B)/.deps-build
	$(Q)tools/need-debs valgrind
	$(Q)touch $@

$(BENCH_BIN): bench/bench.c core/include/resql.h $(STATIC) $(B)/.deps-bench
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -std=c99 -D_GNU_SOURCE -Icore/include $(WARNINGS) -o $@ $< $(STATIC) $(BENCH_WRAP) $(LIBS)

bench: $(BENCH_BIN)
	@echo "  BENCH   $(BENCH_BIN) $(BENCH_ARGS)"
	$(Q)$(BENCH_BIN) $(BENCH_ARGS)

bench-smoke: $(BENCH_BIN)
	@echo "  BENCH   smoke run: every workload and configuration at scale 0.002, checked"
	$(Q)$(BENCH_BIN) --scale 0.002 --rounds 1 --quiet >$(B)/bench/smoke.log 2>&1 || { cat $(B)/bench/smoke.log; exit 1; }

bench-callgrind: $(BENCH_BIN)
	@echo "  BENCH   callgrind instruction counts at scale $(CALLGRIND_SCALE)"
	$(Q)bench/callgrind.sh $(BENCH_BIN) $(CALLGRIND_SCALE) $(B)/bench/callgrind

bench-report: $(BENCH_BIN)
	$(Q)tools/need-debs gnuplot-nox
	@echo "  BENCH   bench/REPORT.md and bench/ratios.png (benchmark, memory check, callgrind)"
	$(Q)CC="$(CC)" CFLAGS="$(CFLAGS)" bench/report.sh $(BENCH_BIN) $(CALLGRIND_SCALE) $(B)/bench
