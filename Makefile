# iommufd vIOMMU nesting with ARM SMMUv3 for Linux 6.12: entry points.
# Each target is a small script in scripts/; see README.md.

ARCHES := x86_64 arm64

.PHONY: all setup tree series series-check build build-x86_64 build-arm64 \
	vm-x86_64 vm-arm64 test demo check bench fuzz coverage clean help \
	upstream-selftests

all: help

help:
	@echo "make demo          boot the arm64 VM: the SMMUv3, its devices, DMA through nested translation"
	@echo "make test          build both kernels, run both VMs and checkpatch (CI)"
	@echo "make tree          (re)create build/linux: Debian 6.12 + series/"
	@echo "make series        export build/linux commits above 'base' to series/"
	@echo "make series-check  fail if build/linux holds work series/ lacks"
	@echo "make build         build both test kernels and their userspace"
	@echo "make check         reviewer gates: checkpatch, per-patch builds, W=1, sparse, kernel-doc"
	@echo "make upstream-selftests  mainline's iommufd selftests (Debian's newest linux-source) against the series, x86_64 VM"
	@echo "make bench         what nesting costs and saves: non-debug kernels, figures in build/bench/"
	@echo "make fuzz          the ioctl fuzzer on both drivers under the kernel's checkers (FUZZ_SECONDS, FUZZ_SEED)"
	@echo "make coverage      gcov line coverage of the iommufd code by make test's suites, in build/coverage/"
	@echo "make setup         install what the targets need (Debian packages)"

setup:
	scripts/setup.sh

tree: setup
	scripts/tree.sh

series:
	scripts/series.sh

series-check:
	scripts/series-check.sh

build/linux/.git:
	$(MAKE) tree

build: build-x86_64 build-arm64

# Static pattern rules: make does not look up implicit rules for the
# phony targets these are.
$(ARCHES:%=build-%): build-%: setup build/linux/.git
	scripts/build.sh $*

$(ARCHES:%=vm-%): vm-%: build-%
	scripts/run-vm.sh $*

test:
	scripts/test.sh

demo:
	scripts/demo.sh

check: setup build/linux/.git
	scripts/check.sh

upstream-selftests: build-x86_64
	scripts/upstream-selftests.sh

bench:
	scripts/bench.sh

fuzz:
	scripts/fuzz.sh

coverage:
	scripts/coverage.sh

clean:
	rm -rf build/out build/logs build/bench build/fuzz build/cov build/coverage
