# Common settings for the scripts behind the Makefile. Sourced, not run.
# shellcheck shell=bash

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$top/build
linux=$build/linux
series=$top/series
src_pkg=linux-source-6.12
src_tar=/usr/src/$src_pkg.tar.xz
# Branch in build/linux that carries the series above tag "base".
branch=series
# Where kernels are built: the debug test kernels in build/out, the
# non-debug benchmark kernels of make bench (FLAVOR=bench) in
# build/bench/out, the test kernels with gcov of make coverage
# (FLAVOR=cov) in build/cov/out, so that no build disturbs another.
flavor=${FLAVOR:-test}
case $flavor in
test) outdir=$build/out ;;
bench) outdir=$build/bench/out ;;
cov) outdir=$build/cov/out ;;
*) echo "unknown FLAVOR $flavor" >&2; exit 1 ;;
esac

die() { echo "${0##*/}: $*" >&2; exit 1; }
msg() { echo "${0##*/}: $*"; }

# The patches of the series, in order, without the cover letter.
series_patches() {
	find "$series" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' \
		! -name '0000-*' | sort
}

# Fixed identity and dates for the base commit, so that the same Debian
# source gives the same commit ID on every machine and the exported
# series (index lines, base-commit) stays stable.
base_git_env() {
	export GIT_AUTHOR_NAME="Debian $src_pkg"
	export GIT_AUTHOR_EMAIL="nobody@localhost"
	export GIT_AUTHOR_DATE="2000-01-01T00:00:00Z"
	export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME"
	export GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
	export GIT_COMMITTER_DATE="$GIT_AUTHOR_DATE"
}

# Identity for commits made by the scripts when the user has none.
git_identity() {
	git -C "$linux" config user.email >/dev/null ||
		git -C "$linux" config user.email "iommufd-nesting@localhost"
	git -C "$linux" config user.name >/dev/null ||
		git -C "$linux" config user.name "iommufd nesting developer"
}
