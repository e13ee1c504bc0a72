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
HDRS      := $(shell find src -name '*.h')

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TESTS   := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCHES := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps deps-test demo test test-fast asan bench fuzz clean lambda-package format check-deps valgrind
all: $(BUILD)/cai $(BUILD)/cai-mpi $(TESTS) $(BENCHES)

$(BUILD)/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -c $< -o $@

$(BUILD)/libcai.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/cai: $(CLI_OBJ) $(BUILD)/libcai.a
	$(CC) $(CFLAGS) $(SAN) -o $@ $(CLI_OBJ) $(BUILD)/libcai.a $(LDLIBS)

# OMPI_CC: mpicc wraps $(CC), so the sanitizer build uses the same compiler and flags.
$(BUILD)/cai-mpi: $(MPI_SRC) $(BUILD)/libcai.a $(HDRS)
	OMPI_CC=$(CC) $(MPICC) $(CFLAGS) $(SAN) -o $@ $(MPI_SRC) $(BUILD)/libcai.a $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libcai.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -I tests -o $@ $< $(BUILD)/libcai.a $(LDLIBS) -lcmocka

$(BUILD)/bench/%: bench/%.c $(BUILD)/libcai.a $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN) -o $@ $< $(BUILD)/libcai.a $(LDLIBS)

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
build/fuzz/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	clang -std=gnu11 -O1 -g $(ARCH) -fopenmp -Wall -Wextra -Werror -Wno-unused-parameter -Wno-pass-failed -I src -I/usr/include/cjson $(HDF5_INC) \
	  -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@
build/fuzz/%: fuzz/%.c $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	clang -std=gnu11 -O1 -g $(ARCH) -fopenmp -I src -I/usr/include/cjson $(HDF5_INC) -fsanitize=fuzzer,address,undefined \
	  -o $@ $< $(FUZZ_LIB_OBJ) $(LDLIBS)
# Keep the fuzzers' objects (make would delete them as intermediates and rebuild all of them next time).
.SECONDARY: $(FUZZ_LIB_OBJ)
.PHONY: fuzz-build
fuzz-build: $(FUZZERS)
fuzz: deps-test fuzz-build
	FUZZ_SECONDS=$${FUZZ_SECONDS:-60} fuzz/run.sh

lambda-package: deps
	$(MAKE) all
	scripts/lambda-package.sh

format:
	clang-format -i $$(find src tests bench fuzz -name '*.[ch]')

clean:
	rm -rf build
