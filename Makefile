# queuecast — entry points for everything.
#
#   make              build the extension (PGXS) and the daemon (CMake, into build/)
#   make install      install the extension into PostgreSQL and queuecastd into $(BINDIR)
#   make check        every test suite against a throwaway PostgreSQL cluster
#   make demo         a live demo: cluster, workers, queuecastd, dashboard URL
#   make bench        benchmarks; figures go to bench/RESULTS.md
#   make format       clang-format every C++ source
#   make lint         what CI checks besides the tests: clang-tidy (.clang-tidy's
#                     checks, tests/tidy/run.sh) and clang-format, both failing on
#                     any finding
#
# check, demo and bench first install missing Debian packages
# (tools/install-deps.sh), so they must work before pg_config exists: they
# build by calling make again. PGXS is included only for the other goals (it
# would also define a `check` of its own).

EXTENSION = queuecast
MODULE_big = queuecast
OBJS = $(patsubst %.cpp,%.o,$(wildcard extension/*.cpp))
DATA = $(wildcard sql/queuecast--*.sql)
PG_CXXFLAGS = -std=c++20 -Wall -Wextra -Wno-register -Wno-missing-field-initializers \
              -fno-omit-frame-pointer
SHLIB_LINK += -lstdc++
EXTRA_CLEAN = build

# PGXS would also compile LLVM bitcode with clang for JIT inlining; a trigger
# extension gains nothing from it, and it breaks machines without clang. Must
# come before the include: Makefile.global resets a plain assignment.
override with_llvm = no

PG_CONFIG ?= pg_config
BUILD_TYPE ?= RelWithDebInfo
# -Werror for the daemon's build: off for users (a newer compiler's new
# warning must not break a build from source), on for `make check`.
WERROR ?= OFF
BINDIR ?= /usr/local/bin
OUR_GOALS = check demo bench deps format lint

.PHONY: $(OUR_GOALS) daemon install-daemon

ifeq ($(filter $(OUR_GOALS),$(MAKECMDGOALS)),)

PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifeq ($(PGXS),)
$(error pg_config not found: run "make deps" (as root) or "make check", which install it)
endif
# PostgreSQL's headers as system headers: their warnings are not ours.
PG_CPPFLAGS = -isystem $(shell $(PG_CONFIG) --includedir-server)
# The library refuses SQL objects of another version (extension/version_check.cpp).
QUEUECAST_VERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" queuecast.control)
PG_CPPFLAGS += -DQUEUECAST_VERSION='"$(QUEUECAST_VERSION)"'

include $(PGXS)

all: daemon

extension/version_check.o: queuecast.control

daemon:
	@if [ -f CMakeLists.txt ]; then \
	  cmake -S . -B build -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DQUEUECAST_WERROR=$(WERROR) >/dev/null && \
	  cmake --build build -j2; fi

install: install-daemon
install-daemon: daemon
	@if [ -x build/queuecastd ]; then \
	  install -d $(DESTDIR)$(BINDIR) && install -m 755 build/queuecastd $(DESTDIR)$(BINDIR)/; fi

else

deps:
	@tools/install-deps.sh

check: deps
	$(MAKE) install WERROR=ON
	tests/run.sh

demo: deps
	$(MAKE) install
	demo/run.sh

bench: deps
	$(MAKE) install
	bench/run.sh

CXX_SOURCES = $$(find extension daemon tests bench -name '*.cpp' -o -name '*.hpp' 2>/dev/null)

format:
	clang-format -i $(CXX_SOURCES)

lint: deps
	$(MAKE) daemon WERROR=ON
	tests/tidy/run.sh
	clang-format --dry-run --Werror $(CXX_SOURCES)

endif
