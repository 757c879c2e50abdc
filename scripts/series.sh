#!/bin/bash
# Export build/linux (commits above tag "base") into series/, or, with
# --check, compare such an export with series/ and fail on any difference.
# The output is stable: zero commit IDs, no signature, fixed abbrev, and
# the cover letter taken from the branch description.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

export_to() {
	local out=$1
	[ "$(git -C "$linux" rev-list --count base..HEAD)" -gt 0 ] || return 0
	git -C "$linux" -c core.abbrev=12 -c diff.noprefix=false \
		-c diff.mnemonicPrefix=false -c format.signOff=false \
		format-patch -q --zero-commit --no-signature --abbrev=12 \
		--cover-letter --cover-from-description=subject --base=base \
		-o "$out" base..HEAD
	# The cover letter is dated "now"; date it as the newest patch so
	# that exporting the same commits twice gives the same files.
	sed -i "1,/^\$/s/^Date: .*/Date: $(git -C "$linux" log -1 --format=%aD HEAD)/" \
		"$out/0000-cover-letter.patch"
}

[ -d "$linux/.git" ] || die "no build/linux: run 'make tree'"

if [ "${1:-}" = --check ]; then
	fail=0
	st=$(git -C "$linux" status --porcelain --untracked-files=no)
	# Debian's .gitignore hides new files from "git status"; list every
	# file git does not track, ignored or not (builds are out of tree).
	un=$(git -C "$linux" ls-files --others --directory | sed -n 1,20p)
	if [ -n "$st" ]; then
		echo "uncommitted edits in build/linux:"; echo "$st" | head -n 20
		fail=1
	fi
	if [ -n "$un" ]; then
		echo "files in build/linux that git does not track (git add -f them):"
		echo "$un"
		fail=1
	fi
	if ! git -C "$linux" rev-parse -q --verify HEAD >/dev/null ||
	   ! git -C "$linux" merge-base --is-ancestor base HEAD; then
		echo "build/linux HEAD does not descend from tag base"
		exit 1
	fi
	tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
	export_to "$tmp"
	if ! d=$(diff -r "$tmp" "$series" -x '.*' 2>&1); then
		echo "series/ differs from the commits in build/linux (make series):"
		echo "$d" | head -n 30
		fail=1
	fi
	exit $fail
fi

if [ -n "$(git -C "$linux" status --porcelain --untracked-files=no)" ]; then
	die "uncommitted edits in build/linux: commit them first"
fi
mkdir -p "$series"
rm -f "$series"/[0-9][0-9][0-9][0-9]-*.patch
export_to "$series"
msg "exported $(series_patches | wc -l) patches to series/"
