# CAI — one library (libcai), one CLI (cai), tests and benchmarks linked against the library.
# Sources are found by wildcard: adding a file under src/ adds it to libcai; tests/unit/test_X.c becomes
# build/tests/test_X; bench/bench_X.c becomes build/bench/bench_X; fuzz/fuzz_X.c a libFuzzer target.
#
#   make            release build (build/cai)
#   make demo       install what is missing, build, run the end-to-end demo on the local engine
#   make test       install what is missing, build with ASan+UBSan, run every test
#   make test-fast  the same tests on the release build
#   make bench      benchmarks (see BENCHMARKS.md)
#   make fuzz       build the fuzzers and run each briefly
#   make install    install (PREFIX=/usr/local, DESTDIR=) the binary, cai.1, libcai.a, headers, cai.pc;
#                   make uninstall removes exactly those
#   make deb        a Debian package (dpkg-buildpackage) in build/deb/
#   make format-check   clang-format over the tree would change nothing
#   make funclen-check  fails on a function over 150 lines (scripts/funclen.py; FUNCLEN_STRICT=0 only lists)

SHELL   := /bin/bash
BUILD   ?= build
CC      ?= gcc
# x86-64-v3 = AVX2+FMA: every current Lambda x86 host and this machine have it. oneDNN picks its own
# kernels at run time (JIT), so this only affects our own small kernels.
ARCH    ?= -march=x86-64-v3 -mtune=generic
OPT     ?= -O2
CFLAGS  ?=
WERROR  ?= -Werror
CFLAGS  += -std=gnu11 $(OPT) -g $(ARCH) -fopenmp -Wall -Wextra $(WERROR) -Wno-unused-parameter \
           -Wshadow -Wstrict-prototypes -Wmissing-prototypes -fno-strict-aliasing -pthread \
           -I src -I/usr/include/cjson $(HDF5_INC)
LDLIBS  += -ldnnl -lcurl -lcjson -lcfitsio -L/usr/lib/x86_64-linux-gnu/hdf5/serial -lhdf5 -lcrypto -lz -lm -lpthread \
           -fopenmp
SAN     ?=
# Debian's libhdf5-dev (serial flavour) keeps its headers and library outside the default paths.
HDF5_INC := -I/usr/include/hdf5/serial

# src/engine/mpi*.c is the MPI engine: its own binary (cai-mpi, built with mpicc), never in libcai, so that
# cai and the Lambda package carry no MPI.
LIB_SRC   := $(shell find src -name '*.c' ! -path 'src/cli/*' ! -path 'src/engine/mpi*' | sort)
MPI_SRC   := $(sort $(wildcard src/engine/mpi*.c))
MPICC     ?= mpicc
CLI_SRC   := $(sort $(wildcard src/cli/*.c))
TEST_SRC  := $(sort $(wildcard tests/unit/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
# The version lives in src/common/version.h only.
VERSION   := $(shell sed -n 's/^\#define CAI_VERSION_STRING "\(.*\)"/\1/p' src/common/version.h)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TESTS   := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCHES := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all programs deps deps-test demo test test-fast asan bench fuzz clean lambda-package format format-check funclen-check \
        check-deps valgrind install uninstall deb
all: programs $(TESTS) $(BENCHES)
# What `make install` needs (and all a package build compiles: no tests, no benchmarks).
programs: $(BUILD)/cai $(BUILD)/cai-mpi $(BUILD)/libcai.a $(BUILD)/cai.1

# -MMD -MP: each object depends on the headers it actually includes (build/obj/**/*.d), not on all of them.
# An object whose .d is missing (e.g. built before this rule) is rebuilt, so it cannot miss a header change.
DEPFLAGS = -MMD -MP
$(BUILD)/obj/%.d: ;
.PRECIOUS: $(BUILD)/obj/%.d
$(BUILD)/obj/%.o: %.c $(BUILD)/obj/%.d
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN) $(DEPFLAGS) -c $< -o $@

$(BUILD)/libcai.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/cai: $(CLI_OBJ) $(BUILD)/libcai.a
	$(CC) $(CFLAGS) $(SAN) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libcai.a $(LDLIBS)

# OMPI_CC: mpicc wraps $(CC), so the sanitizer build uses the same compiler and flags. It compiles its
# sources itself, so it depends on every header (MPI_HDRS) rather than on .d files.
MPI_HDRS := $(shell find src -name '*.h')
$(BUILD)/cai-mpi: $(MPI_SRC) $(BUILD)/libcai.a $(MPI_HDRS)
	OMPI_CC=$(CC) $(MPICC) $(CPPFLAGS) $(CFLAGS) $(SAN) $(LDFLAGS) -o $@ $(MPI_SRC) $(BUILD)/libcai.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libcai.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN) $(DEPFLAGS) $(LDFLAGS) -I tests -o $@ $< $(BUILD)/libcai.a $(LDLIBS) -lcmocka

$(BUILD)/bench/%: bench/%.c $(BUILD)/libcai.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN) $(DEPFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libcai.a $(LDLIBS)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TESTS:=.d) $(BENCHES:=.d)

# The man page is generated from the commands' own --help (scripts/man.sh), so it cannot drift from them.
$(BUILD)/cai.1: $(BUILD)/cai scripts/man.sh
	scripts/man.sh $(BUILD)/cai > $@.tmp && mv $@.tmp $@

# ---- install ---------------------------------------------------------------------------------------
# GNU directory variables. To install one more thing, add it to one of the INSTALL_* lists (a new binary,
# such as an MPI launcher, goes in INSTALL_BINS; a man page in INSTALL_MAN1); uninstall follows the lists.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
MANDIR      ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
INSTALL     ?= install
INSTALL_BINS  := $(BUILD)/cai $(BUILD)/cai-mpi
INSTALL_MAN1  := $(BUILD)/cai.1
INSTALL_LIBS  := $(BUILD)/libcai.a
# Public headers: the library's, by layer (include/cai/<layer>/x.h, so their "../common/err.h" includes
# still resolve), except the *_internal.h ones.
INSTALL_HDRS  := $(sort $(filter-out %_internal.h,$(shell find src -name '*.h' ! -path 'src/cli/*')))

# cai.pc is written at install time: it records the install paths (without DESTDIR).
install: programs
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 755 $(INSTALL_BINS) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 644 $(INSTALL_MAN1) $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 644 $(INSTALL_LIBS) $(DESTDIR)$(LIBDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' packaging/cai.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/cai.pc
	for h in $(INSTALL_HDRS); do \
	  $(INSTALL) -D -m 644 $$h $(DESTDIR)$(INCLUDEDIR)/cai/$${h#src/} || exit 1; done

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(INSTALL_BINS))) \
	      $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(INSTALL_MAN1))) \
	      $(addprefix $(DESTDIR)$(LIBDIR)/,$(notdir $(INSTALL_LIBS))) \
	      $(DESTDIR)$(PKGCONFIGDIR)/cai.pc
	rm -rf $(DESTDIR)$(INCLUDEDIR)/cai

# A .deb from debian/ with dpkg-buildpackage, built in a copy of the tree under build/deb/ (the packages
# land in build/deb/, not beside the repository). The copy is what git tracks, plus untracked files git
# does not ignore.
DEB_DIR ?= build/deb
deb:
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/cai-$(VERSION)
	if git rev-parse --git-dir >/dev/null 2>&1; then \
	  git ls-files -z -co --exclude-standard | xargs -0 -I{} sh -c 'test -e "{}" && echo "{}"' | \
	    tar -cf - -T - | tar -xf - -C $(DEB_DIR)/cai-$(VERSION); \
	else tar --exclude=./build --exclude=./.git -cf - . | tar -xf - -C $(DEB_DIR)/cai-$(VERSION); fi
	cd $(DEB_DIR)/cai-$(VERSION) && dpkg-buildpackage -b -us -uc
	@ls $(DEB_DIR)/*.deb

deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

# Sanitizer build: a separate tree so release objects are never mixed in.
ASAN_BUILD ?= build/asan
asan:
	$(MAKE) BUILD=$(ASAN_BUILD) OPT=-O1 SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" all

demo: deps
	$(MAKE) all
	scripts/demo.sh

# FUZZ_SECONDS: tests/run.sh also runs each fuzzer this long (CI: "each for a short while").
test: deps-test
	$(MAKE) asan
	$(MAKE) fuzz-build
	CAI_BUILD=$(ASAN_BUILD) FUZZ_SECONDS=$${FUZZ_SECONDS:-15} tests/run.sh

test-fast: deps-test
	$(MAKE) all
	CAI_BUILD=build tests/run.sh

# Now and then: the unit tests under valgrind (memcheck), a second opinion beside ASan. test_model is left
# out (oneDNN's JIT under valgrind takes far too long) and test_s3 needs an endpoint.
VALGRIND_TESTS := $(filter-out $(BUILD)/tests/test_model $(BUILD)/tests/test_s3,$(TESTS))
valgrind: all
	@for t in $(VALGRIND_TESTS); do echo "valgrind $$t"; \
	  valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite $$t >/dev/null || exit 1; done

bench: deps-test
	$(MAKE) all
	bench/run.sh

FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZERS  := $(FUZZ_SRC:fuzz/%.c=build/fuzz/%)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=build/fuzz/obj/%.o)
build/fuzz/obj/%.d: ;
.PRECIOUS: build/fuzz/obj/%.d
build/fuzz/obj/%.o: %.c build/fuzz/obj/%.d
	@mkdir -p $(dir $@)
	clang -std=gnu11 -O1 -g $(ARCH) -fopenmp -Wall -Wextra -Werror -Wno-unused-parameter -Wno-pass-failed -I src -I/usr/include/cjson $(HDF5_INC) \
	  -fsanitize=fuzzer-no-link,address,undefined $(DEPFLAGS) -c $< -o $@
-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZERS:=.d)
build/fuzz/%: fuzz/%.c $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	clang -std=gnu11 -O1 -g $(ARCH) -fopenmp -I src -I/usr/include/cjson $(HDF5_INC) -fsanitize=fuzzer,address,undefined \
	  $(DEPFLAGS) -o $@ $< $(FUZZ_LIB_OBJ) $(LDLIBS)
# Keep the fuzzers' objects (make would delete them as intermediates and rebuild all of them next time).
.SECONDARY: $(FUZZ_LIB_OBJ)
.PHONY: fuzz-build
fuzz-build: $(FUZZERS)
fuzz: deps-test fuzz-build
	FUZZ_SECONDS=$${FUZZ_SECONDS:-60} fuzz/run.sh

lambda-package: deps
	$(MAKE) all
	scripts/lambda-package.sh

# .clang-format describes the tree's style: `make format-check` fails (and shows the diff) if clang-format
# would change any file; `make format` applies it.
FORMAT_SRC = $(shell find src tests bench fuzz -name '*.[ch]' | sort)
format:
	clang-format -i $(FORMAT_SRC)

format-check:
	@scripts/format-check.sh $(FORMAT_SRC)

# No function over 150 lines but the pickle VM's opcode switch: a long function is a list of steps that
# wants names. FUNCLEN_STRICT=0 lists them without failing.
FUNCLEN_STRICT ?= 1
funclen-check:
	@scripts/funclen.py $(if $(filter 0,$(FUNCLEN_STRICT)),,--strict) 150

clean:
	rm -rf build
