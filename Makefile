# resql: the one entry point. `make` builds the libraries, `make test` runs
# every test, `make demo` runs the demo. Each target prints one line per step.

VERSION     := 0.1.0
ABI_MAJOR   := 1
PREFIX      ?= /usr/local

CC          ?= cc
CFLAGS      ?= -O2 -g
WARNINGS    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CORE_FLAGS  := -std=c99 -D_POSIX_C_SOURCE=200809L -DSQLITE_ENABLE_PREUPDATE_HOOK \
               -fPIC -fvisibility=hidden -Icore/include -Icore/src $(WARNINGS)
LIBS        := -lsqlite3 -lm -lpthread

B           := build
CORE_SRC    := $(wildcard core/src/*.c)
CORE_OBJ    := $(patsubst core/src/%.c,$(B)/core/%.o,$(CORE_SRC))
SONAME      := libresql.so.$(ABI_MAJOR)
SHARED      := $(B)/libresql.so.$(VERSION)
STATIC      := $(B)/libresql.a
TEST_SRC    := $(wildcard tests/test_*.c)
TEST_BIN    := $(patsubst tests/%.c,$(B)/tests/%,$(TEST_SRC))

# Lua: the module is built for each interpreter, into $(B)/<lua>/resql/core.so.
LUAS        := lua5.4 luajit
LUA_INC_lua5.4 := -I/usr/include/lua5.4
LUA_INC_luajit := -I/usr/include/luajit-2.1
LUA_DEBS    := lua5.4 liblua5.4-dev luajit libluajit-5.1-dev lua-busted luarocks
LUA_MODULES := $(foreach l,$(LUAS),$(B)/$(l)/resql/core.so $(B)/$(l)/resql_test_helper.so)

Q := @
.PHONY: all deps test demo demo-c clean check-exports lua test-c test-lua test-rock valgrind-lua install test-install check-abi abi-baseline test-host valgrind-c

all: $(B)/libresql.so $(STATIC)

# --- dependencies -----------------------------------------------------------
$(B)/.deps-build:
	$(Q)mkdir -p $(B)
	$(Q)tools/need-debs gcc make libsqlite3-dev
	$(Q)touch $@

$(B)/.deps-test: $(B)/.deps-build
	$(Q)tools/need-debs libcmocka-dev binutils pkg-config valgrind
	$(Q)touch $@

$(B)/.deps-lua: $(B)/.deps-build
	$(Q)tools/need-debs $(LUA_DEBS)
	$(Q)touch $@

deps: $(B)/.deps-test $(B)/.deps-lua

# The system SQLite must have the preupdate hook (SQLITE_ENABLE_PREUPDATE_HOOK).
$(B)/.sqlite-ok: tools/check-sqlite.c $(B)/.deps-build
	@echo "  CHECK   system SQLite has the preupdate hook"
	$(Q)$(CC) -o $(B)/check-sqlite $< $(LIBS) 2>$(B)/check-sqlite.log && $(B)/check-sqlite || { \
	  echo "error: the system libsqlite3 lacks sqlite3_preupdate_hook (built without" >&2; \
	  echo "       SQLITE_ENABLE_PREUPDATE_HOOK) or is older than 3.35; resql needs both." >&2; \
	  echo "       On Debian: apt-get install -y libsqlite3-dev (Debian's build has it)." >&2; \
	  cat $(B)/check-sqlite.log >&2; exit 1; }
	$(Q)touch $@

# --- the library ------------------------------------------------------------
$(B)/core/%.o: core/src/%.c $(wildcard core/src/*.h) core/include/resql.h $(B)/.sqlite-ok
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) $(CORE_FLAGS) -DRESQL_BUILDING -c -o $@ $<

$(SHARED): $(CORE_OBJ)
	@echo "  LD      $@ (soname $(SONAME))"
	$(Q)$(CC) $(CFLAGS) -shared -Wl,-soname,$(SONAME) -o $@ $(CORE_OBJ) $(LIBS)

$(B)/libresql.so: $(SHARED)
	$(Q)ln -sf libresql.so.$(VERSION) $(B)/$(SONAME)
	$(Q)ln -sf $(SONAME) $@

$(STATIC): $(CORE_OBJ)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $(CORE_OBJ)

# --- tests ------------------------------------------------------------------
$(B)/tests/%: tests/%.c tests/testutil.h $(STATIC) $(B)/.deps-test
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -std=c99 -D_POSIX_C_SOURCE=200809L -DSQLITE_ENABLE_PREUPDATE_HOOK \
	  -Icore/include -Icore/src $(WARNINGS) -o $@ $< $(STATIC) -lcmocka $(LIBS)

check-exports: $(B)/libresql.so $(B)/.deps-test
	@echo "  CHECK   exported symbols of $(SHARED) match resql.h"
	$(Q)tests/check_exports.sh $(SHARED) core/include/resql.h

# --- the Lua module ---------------------------------------------------------
LCORE_SRC   := $(wildcard lua/core/*.c)
$(B)/%/resql/core.so: $(LCORE_SRC) lua/core/lcore.h lua/compat.h $(CORE_OBJ) $(B)/.deps-lua
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) $(CORE_FLAGS) -Ilua -Ilua/core $(LUA_INC_$*) -shared -o $@ $(LCORE_SRC) $(CORE_OBJ) $(LIBS)

$(B)/%/resql_test_helper.so: tests/lua_helper.c $(B)/.deps-lua
	@mkdir -p $(dir $@)
	@echo "  CC      $@"
	$(Q)$(CC) $(CFLAGS) -std=c99 -fPIC -fvisibility=hidden $(WARNINGS) $(LUA_INC_$*) -shared -o $@ $< -lsqlite3

lua: $(LUA_MODULES)

# --- tests ------------------------------------------------------------------
# ABI stability: the built library against the baseline in abi/. Additions
# pass; an incompatible change fails with abidiff's report. To change the
# ABI on purpose: bump RESQL_ABI_VERSION/ABI_MAJOR, then `make abi-baseline`.
ABIDIFF_FLAGS := --headers-dir1 core/include --headers-dir2 core/include
check-abi: $(SHARED) $(B)/.deps-test
	@echo "  CHECK   ABI of $(SHARED) against abi/libresql.abi"
	$(Q)tools/need-debs abigail-tools
	$(Q)rc=0; abidiff $(ABIDIFF_FLAGS) abi/libresql.abi $(SHARED) > $(B)/abidiff.txt || rc=$$?; \
	if [ $$((rc & 11)) -ne 0 ]; then cat $(B)/abidiff.txt; echo "error: incompatible ABI change (abidiff exit $$rc)"; exit 1; fi; \
	if [ $$rc -ne 0 ]; then echo "  NOTE    compatible ABI additions:"; grep -E "^  \[A\]" $(B)/abidiff.txt || true; fi

abi-baseline: $(SHARED)
	@echo "  ABI     abi/libresql.abi from $(SHARED)"
	$(Q)abidw --headers-dir core/include --out-file abi/libresql.abi $(SHARED)

# The C tests under valgrind (the volume test and the codec's brute-force
# test are left out: too slow there, and they exercise nothing new).
VALGRIND_TESTS := $(filter-out $(B)/tests/test_query_log_volume $(B)/tests/test_value_json,$(TEST_BIN))
valgrind-c: $(VALGRIND_TESTS) $(B)/.deps-test
	$(Q)for t in $(VALGRIND_TESTS); do echo "  VALGRIND $$t"; \
	  valgrind -q --log-file=$(B)/valgrind.log --error-exitcode=1 --leak-check=full \
	    --errors-for-leak-kinds=definite $$t >$(B)/valgrind.out 2>&1 || { cat $(B)/valgrind.out $(B)/valgrind.log; exit 1; }; done

test-c: $(TEST_BIN) check-exports check-abi
	$(Q)set -e; for t in $(TEST_BIN); do echo "  TEST    $$t"; $$t; done

test-lua: $(LUA_MODULES)
	$(Q)set -e; for l in $(LUAS); do \
	  echo "  SPEC    busted on $$l"; \
	  $$l /usr/bin/busted --lpath="lua/?.lua" --cpath="$(B)/$$l/?.so" -o plainTerminal spec/; \
	done

# The specs under valgrind (Lua 5.4): no invalid access, no definite leak,
# also where loggers and connections are left to the garbage collector.
valgrind-lua: $(B)/lua5.4/resql/core.so
	$(Q)tools/need-debs valgrind
	@echo "  VALGRIND busted on lua5.4"
	$(Q)valgrind -q --error-exitcode=1 --keep-debuginfo=yes --leak-check=full --errors-for-leak-kinds=definite \
	  lua5.4 /usr/bin/busted --lpath="lua/?.lua" --cpath="$(B)/lua5.4/?.so" -o plainTerminal spec/

test-rock: $(B)/.deps-lua
	@echo "  ROCK    luarocks make into a temporary tree"
	$(Q)tools/test-rock 5.4

test: test-c valgrind-c test-lua test-rock valgrind-lua test-install test-host bench-smoke
	@echo "  OK      all tests passed"

# --- demo -------------------------------------------------------------------
$(B)/demo: examples/demo.c $(STATIC)
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -std=c99 -D_POSIX_C_SOURCE=200809L -Icore/include $(WARNINGS) -o $@ $< $(STATIC) $(LIBS)

# The main demo is the Lua one; demo-c is the same story through the C ABI.
demo: $(B)/lua5.4/resql/core.so
	@echo "  RUN     examples/demo.lua (Lua 5.4)"
	$(Q)mkdir -p $(B)/demo-lua && cd $(B)/demo-lua && \
	  LUA_PATH="$(CURDIR)/lua/?.lua;;" LUA_CPATH="$(CURDIR)/$(B)/lua5.4/?.so;;" lua5.4 $(CURDIR)/examples/demo.lua

demo-c: $(B)/demo
	@echo "  RUN     $<"
	$(Q)cd $(B) && rm -f demo.db* demo-audit.db* demo-queries.db* && ./demo

include bindings/python/python.mk
include bench/bench.mk

# --- install ----------------------------------------------------------------
# The header, both libraries (with the soname links), resql.pc, the Lua module
# for Lua 5.4 and LuaJIT (5.1), and the `resql` command-line tool.
LUA_ABI_lua5.4 := 5.4
LUA_ABI_luajit := 5.1
DEST := $(DESTDIR)$(PREFIX)

install: all lua
	@echo "  INSTALL $(DEST)"
	$(Q)install -d $(DEST)/include $(DEST)/lib/pkgconfig $(DEST)/bin
	$(Q)install -m 644 core/include/resql.h lua/resql_lua.h $(DEST)/include/
	$(Q)install -m 755 $(SHARED) $(DEST)/lib/
	$(Q)ln -sf libresql.so.$(VERSION) $(DEST)/lib/$(SONAME)
	$(Q)ln -sf $(SONAME) $(DEST)/lib/libresql.so
	$(Q)install -m 644 $(STATIC) $(DEST)/lib/
	$(Q)sed 's|@PREFIX@|$(PREFIX)|; s|@VERSION@|$(VERSION)|' tools/resql.pc.in > $(DEST)/lib/pkgconfig/resql.pc
	$(Q)for l in $(LUAS); do v=$$(case $$l in lua5.4) echo 5.4;; *) echo 5.1;; esac); \
	  install -d $(DEST)/lib/lua/$$v/resql $(DEST)/share/lua/$$v; \
	  install -m 755 $(B)/$$l/resql/core.so $(DEST)/lib/lua/$$v/resql/; \
	  install -m 644 lua/resql.lua $(DEST)/share/lua/$$v/; \
	done
	$(Q){ echo '#!/usr/bin/env lua5.4'; \
	  echo 'package.path = "$(PREFIX)/share/lua/5.4/?.lua;" .. package.path'; \
	  echo 'package.cpath = "$(PREFIX)/lib/lua/5.4/?.so;" .. package.cpath'; \
	  cat lua/resql-cli.lua; } > $(DEST)/bin/resql && chmod 755 $(DEST)/bin/resql

# --- the host example: C application + Lua config script -------------------------
$(B)/host: examples/host/host.c lua/resql_lua.h $(B)/.deps-lua
	@echo "  CC      $<"
	$(Q)$(CC) $(CFLAGS) -std=c99 $(WARNINGS) -Ilua $(LUA_INC_lua5.4) -o $@ $< -llua5.4 -lsqlite3

test-host: $(B)/host $(B)/lua5.4/resql/core.so
	@echo "  HOST    examples/host with its Lua config scripts"
	$(Q)tools/test-host

test-install: $(B)/.deps-lua
	@echo "  INSTALL into a temporary prefix, build against it with pkg-config"
	$(Q)tools/test-install

clean:
	@echo "  CLEAN   $(B)"
	$(Q)rm -rf $(B)
