#!/bin/bash
# (Re)create build/linux: Debian's unpatched 6.12 source as commit/tag
# "base", then the series applied with "git am -3" on branch "series".
#
# An existing tree is reused when its base matches the installed Debian
# source; it is refused when it holds work series/ does not have (run
# "make series" first, or FORCE=1 to throw that work away).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -r "$src_tar" ] || die "$src_tar missing: run scripts/setup.sh"
version=$(dpkg-query -W -f='${Version}' "$src_pkg")

if [ -d "$linux/.git" ]; then
	if [ "${FORCE:-0}" != 1 ] && ! "$top/scripts/series-check.sh" >/dev/null 2>&1; then
		"$top/scripts/series-check.sh" || true
		die "build/linux holds unexported work; 'make series' or FORCE=1"
	fi
	have=$(git -C "$linux" config --get nesting.debian-version || true)
	if [ "$have" != "$version" ]; then
		msg "base is $have, Debian source is $version: recreating"
		rm -rf "$linux"
	fi
fi

if [ ! -d "$linux/.git" ]; then
	msg "unpacking $src_pkg $version"
	rm -rf "$linux.tmp" && mkdir -p "$linux.tmp"
	tar -xf "$src_tar" -C "$linux.tmp" --strip-components=1
	git -C "$linux.tmp" init -q -b "$branch"
	git -C "$linux.tmp" config nesting.debian-version "$version"
	git -C "$linux.tmp" config core.abbrev 12
	# Debian's .gitignore ends with "/*" and "!/debian/", which hides
	# every top-level entry: add by force so the base is complete.
	git -C "$linux.tmp" add -f -A
	(
		base_git_env
		git -C "$linux.tmp" commit -q -m "Debian $src_pkg $version" \
			-m "Unpatched source of Debian package $src_pkg, version $version."
	)
	git -C "$linux.tmp" tag -f base >/dev/null
	mv "$linux.tmp" "$linux"
fi

git_identity
cd "$linux"
git am --abort >/dev/null 2>&1 || true
git checkout -q -f -B "$branch" base
git clean -q -f -d -x

mapfile -t patches < <(series_patches)
if [ "${#patches[@]}" -gt 0 ]; then
	git am -q -3 "${patches[@]}"
fi

# The cover letter's subject and blurb become the branch description,
# which "make series" turns back into the cover letter. The blurb ends
# where format-patch's shortlog begins: the header of its first author,
# "Name (N):", which the applied commits tell exactly. Matching any line
# of that shape would cut the blurb at a heading such as "Tests (52):".
cover=$series/0000-cover-letter.patch
if [ -f "$cover" ] && [ "${#patches[@]}" -gt 0 ]; then
	# sed, not head: head may exit before shortlog is done, and pipefail
	# would then fail the script on its SIGPIPE
	header=$(git shortlog base..HEAD | sed -n 1p)
	desc=$(awk -v header="$header" '
		{ line[NR] = $0 }
		$0 == header { last = NR }
		END {
			for (i = 1; i < last; i++) {
				$0 = line[i]
				if (/^Subject: / && subj == "") {
					sub(/^Subject: (\[[^]]*\] )?/, ""); subj = $0; insub = 1; continue
				}
				if (insub && /^ /) { subj = subj $0; continue }
				insub = 0
				if (/^$/ && !body && subj != "") { body = 1; print subj; print ""; continue }
				if (body) print
			}
		}
	' "$cover")
	[ -n "$desc" ] || die "no cover letter body found in $cover"
	git config "branch.$branch.description" "$desc"
fi

msg "build/linux: $src_pkg $version + ${#patches[@]} patches on branch $branch"
