# sync_resolver: PGXS build.  `make demo` and `make test` first install what
# the build needs (scripts/install-deps.sh), then build, install and run.
EXTENSION  = sync_resolver
EXTVERSION = $(shell sed -n "s/^default_version *= *'\([^']*\)'.*/\1/p" $(EXTENSION).control)
MODULE_big = $(EXTENSION)
OBJS       = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA       = $(sort $(wildcard $(EXTENSION)--*.sql))
PGFILEDESC = "sync_resolver - per-field conflict resolution for offline sync"
PG_CPPFLAGS = -DSR_EXTVERSION=\"$(EXTVERSION)\"
PG_CFLAGS  = -Wall -Wextra -Werror -Wno-unused-parameter

REGRESS        = catalog resolver create_delete batch batch_equivalence review hostile_input privileges search_path \
                 trust_catalog trust_values trust_changes trust_review \
                 house_review_values house_plan_rename memory trust_values_load \
                 change_record direct_paths text_forms \
                 resolver_custom resolver_groups resolver_priority resolver_clocks resolver_stats

ISOLATION      = concurrent_idempotency concurrent_dispatcher concurrent_changes concurrent_delete concurrent_batch concurrent_ddl review_concurrent trust_catalog_rename trust_catalog_inval trust_catalog_drop trust_batch_locks change_claim \
                 field_clocks review_notify
ISOLATION_OPTS = --inputdir=test

PG_CONFIG ?= $(shell scripts/find-pg-config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
endif

# The oldest supported major is 15: refuse an older server's PGXS clearly
# (VERSION_NUM comes from PGXS; pg_config --version where it is missing).
SR_MIN_PG_MAJOR = 15
SR_PG_MAJOR := $(if $(VERSION_NUM),$(shell expr $(VERSION_NUM) / 10000),$(shell $(PG_CONFIG) --version 2>/dev/null | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p'))
ifneq ($(SR_PG_MAJOR),)
ifeq ($(shell test $(SR_PG_MAJOR) -lt $(SR_MIN_PG_MAJOR) && echo old),old)
$(error sync_resolver needs PostgreSQL $(SR_MIN_PG_MAJOR) or later; $(PG_CONFIG) is PostgreSQL $(SR_PG_MAJOR))
endif
endif

SUDO = $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: deps demo test bench bench-callgrind test-majors
deps:
	@scripts/install-deps.sh $(filter bench,$(MAKECMDGOALS))
demo test bench bench-callgrind: deps
	$(MAKE) all
	$(SUDO) $(MAKE) install
	@scripts/$@.sh

# The same suite on other majors, each in a cached Debian chroot
# (scripts/test-majors.sh; needs root).  MAJORS="17 18" by default.
MAJORS ?= 17 18
test-majors:
	@scripts/test-majors.sh $(MAJORS)

# The client tool sync-push (client/, libpq + json-c): built and installed
# with the extension, into PostgreSQL's bindir.
ifneq ($(wildcard client/Makefile),)
all: client/sync-push
client/sync-push: $(wildcard client/*.c client/*.h) src/errclass.h client/Makefile
	$(MAKE) -C client PG_CONFIG=$(PG_CONFIG)
install: install-client
install-client: client/sync-push
	$(MAKE) -C client install PG_CONFIG=$(PG_CONFIG)
clean: clean-client
clean-client:
	-$(MAKE) -C client clean
.PHONY: install-client clean-client
endif

# The sharded deployment's SQL extensions (proxy/: sync_resolver_proxy,
# sync_resolver_shard), installed with the extension; `make demo-sharded`
# and `make bench-sharded` run a proxy and partitions (README, Scaling out).
install: install-proxy
install-proxy:
	$(MAKE) -C proxy install PG_CONFIG=$(PG_CONFIG)
demo-sharded bench-sharded: deps
	$(MAKE) all
	$(SUDO) $(MAKE) install
	@scripts/$@.sh
.PHONY: install-proxy demo-sharded bench-sharded

# `make indent`: format the C sources with clang-format and the checked-in
# .clang-format (an approximation of pgindent; client/ has its own, with
# spaces).  `make indent-check` only reports files that would change.
CLANG_FORMAT ?= clang-format
INDENT_FILES = $(sort $(wildcard src/*.c src/*.h client/*.c client/*.h))
.PHONY: indent indent-check
indent:
	$(CLANG_FORMAT) -i -style=file $(INDENT_FILES)
indent-check:
	@for f in $(INDENT_FILES); do \
		$(CLANG_FORMAT) -style=file $$f | cmp -s - $$f || echo "$$f"; \
	done

# The regression suite with the server under valgrind; fuzzing for longer.
.PHONY: check-valgrind fuzz print-regress
check-valgrind: deps
	$(MAKE) all
	$(SUDO) $(MAKE) install
	@scripts/check-valgrind.sh
fuzz:
	@test/fuzz/run.sh $(or $(FUZZ_SECONDS),300)
print-regress:
	@echo $(REGRESS)
