#!/bin/bash
# make check: the reviewer gates for the series in build/linux.
#  1. checkpatch.pl --strict on every patch in series/
#  2. every patch builds on its own, x86_64 and arm64 (a worktree at
#     build/check/linux, incremental builds with ccache)
#  3. W=1 and sparse (C=1) on every kernel C file the series touches: no
#     warning that the base did not already have
#  4. kernel-doc -Wall on every touched kernel file: no new warning
#  5. the patches a distribution may leave out (DROPPABLE) really can be:
#     the series without each of them applies with "git am -3" on base
#     and builds for arm64
#  6. a distribution's build: for both arches, at the tip, the non-debug
#     kernel with iommufd, VFIO and vfio-pci as modules, no KUnit and
#     CONFIG_WERROR (configs/distro.config), and W=1 on the files the
#     series touches; CHECK_DISTRO=0 skips it
# Prints a report and exits non-zero when any gate fails.
#
# CHECK_FROM=REV limits gates 1-4 to the commits after REV (the patches a
# change touched, for a quick re-check); the report says so, and only a run
# without it checks the whole series. CHECK_COMMITS="REV..." builds only
# those commits in gate 2, and CHECK_ARCHS (default "x86_64 arm64") only
# for those architectures (for a patch split or changed in the middle of
# the series: every patch takes minutes per architecture).
set -uo pipefail
. "$(dirname "$0")/lib.sh"

[ -d "$linux/.git" ] || die "no build/linux: run 'make tree'"
"$top/scripts/series-check.sh" >/dev/null 2>&1 ||
	msg "warning: build/linux holds work series/ lacks; checking build/linux"

wt=$build/check/linux
rep=$build/check/report
mkdir -p "$build/check"
: >"$rep"
bad=0
gate() { # NAME STATUS DETAIL
	printf '%-10s %-4s %s\n' "$1" "$2" "$3" | tee -a "$rep"
	case $2 in ok) ;; skip) skipped=1 ;; *) bad=1 ;; esac
}
skipped=0

from=base
if [ -n "${CHECK_FROM:-}" ]; then
	from=$(git -C "$linux" rev-parse --verify -q "$CHECK_FROM^{commit}") ||
		die "CHECK_FROM=$CHECK_FROM is not a commit in build/linux"
	gate scope skip "only the $(git -C "$linux" rev-list --count "$from..HEAD") commits after CHECK_FROM=$CHECK_FROM"
fi
first=$(($(git -C "$linux" rev-list --count "base..$from") + 1))

# 1. checkpatch
n=0 f=0 i=0
while read -r p; do
	i=$((i + 1))
	[ "$i" -ge "$first" ] || continue
	n=$((n + 1))
	if ! "$top/scripts/checkpatch.sh" "$p" >"$build/check/cp.out" 2>&1; then
		f=$((f + 1))
		sed "s|^|  ${p##*/}: |" "$build/check/cp.out"
	fi
done < <(series_patches)
gate checkpatch "$([ $f = 0 ] && echo ok || echo FAIL)" "$f of $n patches with findings"

# A worktree for building commits without touching build/linux.
if [ ! -e "$wt/.git" ]; then
	git -C "$linux" worktree prune
	git -C "$linux" worktree add -q --detach "$wt" HEAD || die "worktree"
fi
wtco() { git -C "$wt" checkout -q -f --detach "$1" && git -C "$wt" clean -q -fdx; }

# The test kernel's configuration, afresh: olddefconfig on a revision that
# lacks an option the series adds (base, early patches) drops it, and on a
# later revision it would then fall back to its default, usually n, and the
# code behind it would silently go unbuilt.
cfg_reset() { # ARCH
	mkdir -p "$build/check/out-$1"
	cp "$build/out/$1/.config" "$build/check/out-$1/.config"
}

build_at() { # ARCH [make args...]: build in build/check/out-ARCH
	local arch=$1; shift
	local karch=$arch cross=
	[ "$arch" = arm64 ] && cross=aarch64-linux-gnu-
	make -s -C "$wt" O="$build/check/out-$arch" ARCH="$karch" \
		CROSS_COMPILE="$cross" CC="ccache ${cross}gcc" -j"$(nproc)" "$@"
}

# 2. every patch builds on its own (CHECK_BUILDS=0 skips this, to rerun the
# other gates quickly; the report then says so)
# Revisions are resolved in build/linux: inside the worktree HEAD is its own.
tip=$(git -C "$linux" rev-parse HEAD)
commits=$(git -C "$linux" rev-list --reverse "$from..$tip")
if [ -n "${CHECK_COMMITS:-}" ]; then
	commits=
	for r in $CHECK_COMMITS; do
		c=$(git -C "$linux" rev-parse --verify -q "$r^{commit}") ||
			die "CHECK_COMMITS: $r is not a commit in build/linux"
		commits+=" $c"
	done
	gate builds skip "only the commits in CHECK_COMMITS, for ${CHECK_ARCHS:-x86_64 arm64}"
elif [ -n "${CHECK_ARCHS:-}" ]; then
	gate builds skip "only for CHECK_ARCHS=$CHECK_ARCHS"
fi
[ "${CHECK_BUILDS:-1}" = 0 ] && gate builds skip "CHECK_BUILDS=0" && commits=
for arch in ${CHECK_ARCHS:-x86_64 arm64}; do
	[ -n "$commits" ] || break
	[ -e "$build/out/$arch/.config" ] ||
		"$top/scripts/build.sh" "$arch" kernel >/dev/null
	f=0 n=0
	for c in $commits; do
		n=$((n + 1))
		wtco "$c"
		cfg_reset "$arch"
		build_at "$arch" olddefconfig >/dev/null 2>&1
		if ! build_at "$arch" >"$build/check/build.out" 2>&1; then
			f=$((f + 1))
			echo "  $arch: $(git -C "$linux" log -1 --format='%h %s' "$c") does not build:"
			grep -E 'error|Error' "$build/check/build.out" | head -n 10 | sed 's/^/    /'
		fi
	done
	gate "build-$arch" "$([ $f = 0 ] && echo ok || echo FAIL)" "$((n - f)) of $n commits build"
done

# Kernel C files and headers the series touches (not tools/ or docs).
mapfile -t files < <(git -C "$linux" diff --name-only --diff-filter=AM "$from..$tip" |
	grep -E '\.(c|h)$' | grep -vE '^(tools|scripts|Documentation)/')

# 3. W=1 + sparse on touched .c files, tip against base
warnings() { # REV ARCH FILE.o -> normalised warning lines
	wtco "$1"
	cfg_reset "$2"
	build_at "$2" olddefconfig >/dev/null 2>&1
	build_at "$2" W=1 C=2 "$3" 2>&1 | grep -E 'warning:|error:' |
		sed -E 's/:[0-9]+:[0-9]+:/:/' | sort -u
}
f=0 n=0
for file in "${files[@]}"; do
	case $file in *.c) ;; *) continue ;; esac
	for arch in x86_64 arm64; do
		obj=${file%.c}.o
		# Kbuild compiles any single object on request; only the ones the
		# test kernel of this arch builds are in its configuration.
		if [ ! -e "$build/out/$arch/$obj" ]; then
			echo "  $file: not built in the $arch config"
			continue
		fi
		wtco "$tip"
		cfg_reset "$arch"
		build_at "$arch" olddefconfig >/dev/null 2>&1
		if ! build_at "$arch" "$obj" >"$build/check/obj.out" 2>&1; then
			f=$((f + 1))
			echo "  $arch $file: does not build at the tip:"
			grep -E 'error' "$build/check/obj.out" | head -n 5 |
				sed 's/^/    /'
			continue
		fi
		n=$((n + 1))
		# One after the other: both use the same worktree and output.
		warnings base "$arch" "$obj" >"$build/check/w.base"
		warnings "$tip" "$arch" "$obj" >"$build/check/w.head"
		new=$(comm -13 "$build/check/w.base" "$build/check/w.head")
		if [ -n "$new" ]; then
			f=$((f + 1))
			echo "  $arch $file:"; echo "$new" | sed 's/^/    /'
		fi
	done
done
gate "W=1+sparse" "$([ $f = 0 ] && echo ok || echo FAIL)" "$f of $n file builds with new warnings"

# 4. kernel-doc
f=0 n=0
kdoc() { # REV FILE -> normalised kernel-doc warnings of FILE at REV
	local in=$build/check/kdoc.in
	git -C "$linux" show "$1:$2" >"$in" 2>/dev/null || return 0
	"$linux/scripts/kernel-doc" -none -Wall "$in" 2>&1 |
		sed -E 's/^.*kdoc\.in:[0-9]+: //' | sort -u
}
for file in "${files[@]}"; do
	n=$((n + 1))
	kdoc base "$file" >"$build/check/k.base"
	kdoc "$tip" "$file" >"$build/check/k.tip"
	new=$(comm -13 "$build/check/k.base" "$build/check/k.tip")
	if [ -n "$new" ]; then
		f=$((f + 1))
		echo "  $file:"; echo "$new" | sed 's/^/    /'
	fi
done
gate kernel-doc "$([ $f = 0 ] && echo ok || echo FAIL)" "$f of $n files with new warnings"

# 5. droppable patches: the series applies and builds without each one
DROPPABLE=${DROPPABLE:-"Allow assuming coherent DMA for vIOMMUs"}
while IFS= read -r subj; do
	[ -n "$subj" ] || continue
	# Subjects are folded over lines in the patch files: unfold them.
	drop=
	for p in $(series_patches); do
		awk '/^Subject:/ { s = $0; getline; while (/^ /) { s = s $0; getline } print s; exit }' "$p" |
			grep -q -F "$subj" && drop=$p && break
	done
	if [ -z "$drop" ]; then
		gate droppable FAIL "no patch in series/ is \"$subj\""
		continue
	fi
	wtco base
	if ! git -C "$wt" am -3 -q $(series_patches | grep -v -F "$drop") \
		>"$build/check/am.out" 2>&1; then
		git -C "$wt" am --abort >/dev/null 2>&1
		sed 's/^/  /' "$build/check/am.out" | head -n 20
		gate droppable FAIL "series does not apply without ${drop##*/}"
		continue
	fi
	if [ "${CHECK_BUILDS:-1}" = 0 ]; then
		gate droppable ok "applies without ${drop##*/} (build skipped: CHECK_BUILDS=0)"
		continue
	fi
	cfg_reset arm64
	build_at arm64 olddefconfig >/dev/null 2>&1
	if build_at arm64 >"$build/check/build.out" 2>&1; then
		gate droppable ok "applies and builds (arm64) without ${drop##*/}"
	else
		grep -E 'error|Error' "$build/check/build.out" | head -n 10 |
			sed 's/^/  /'
		gate droppable FAIL "does not build without ${drop##*/}"
	fi
done <<<"$DROPPABLE"

# 6. the distribution build
distro() { # ARCH -> 0 if it builds with the modules there
	local arch=$1 out=$build/check/distro-$1 sym tmp obj
	local frags=("$top/configs/common.config" "$top/configs/$arch.config"
		     "$top/configs/bench.config" "$top/configs/distro.config")
	local karch=$arch cross=
	[ "$arch" = arm64 ] && cross=aarch64-linux-gnu-
	dmake() {
		make -s -C "$wt" O="$out" ARCH="$karch" CROSS_COMPILE="$cross" \
			CC="ccache ${cross}gcc" -j"$(nproc)" "$@"
	}
	mkdir -p "$out"
	tmp=$out/.config.new
	dmake KCONFIG_CONFIG=.config.new tinyconfig >/dev/null || return 1
	KCONFIG_CONFIG=$tmp "$wt/scripts/kconfig/merge_config.sh" -m -Q \
		-O "$out" "$tmp" "${frags[@]}" >/dev/null || return 1
	dmake KCONFIG_CONFIG=.config.new olddefconfig >/dev/null || return 1
	cmp -s "$tmp" "$out/.config" || mv "$tmp" "$out/.config"
	for sym in CONFIG_IOMMUFD=m CONFIG_VFIO=m CONFIG_VFIO_PCI=m CONFIG_WERROR=y; do
		grep -qx "$sym" "$out/.config" || { echo "  $arch: $sym not set"; return 1; }
	done
	if grep -qx 'CONFIG_KUNIT=y' "$out/.config"; then
		echo "  $arch: CONFIG_KUNIT still set"; return 1
	fi
	dmake >"$build/check/distro.out" 2>&1 &&
		dmake modules >>"$build/check/distro.out" 2>&1 || {
		grep -E 'error|Error' "$build/check/distro.out" | head -n 10 |
			sed "s/^/  $arch: /"
		return 1
	}
	for obj in drivers/iommu/iommufd/iommufd.ko drivers/vfio/vfio.ko \
		   drivers/vfio/pci/vfio-pci.ko; do
		[ -e "$out/$obj" ] || { echo "  $arch: no $obj"; return 1; }
	done
	# W=1 (with -Werror) on each touched file this configuration builds
	for file in "${files[@]}"; do
		case $file in *.c) ;; *) continue ;; esac
		obj=${file%.c}.o
		[ -e "$out/$obj" ] || continue
		touch "$wt/$file"
		dmake W=1 "$obj" >"$build/check/distro.out" 2>&1 || {
			echo "  $arch $file: W=1 with -Werror:"
			grep -E 'error' "$build/check/distro.out" | head -n 5 |
				sed 's/^/    /'
			return 1
		}
	done
}
if [ "${CHECK_DISTRO:-1}" = 0 ]; then
	gate distro skip "CHECK_DISTRO=0"
else
	wtco "$tip"
	for arch in x86_64 arm64; do
		if distro "$arch"; then
			gate "distro-$arch" ok "modules iommufd, vfio, vfio-pci; KUNIT=n, WERROR, W=1 on the touched files"
		else
			gate "distro-$arch" FAIL "the distribution build fails"
		fi
	done
fi

wtco "$tip"
echo
cat "$rep"
if [ "$bad" != 0 ]; then
	echo "make check: FAILED"
elif [ "$skipped" != 0 ]; then
	echo "make check: passed, with gates skipped"
else
	echo "make check: all gates passed"
fi
exit $bad
