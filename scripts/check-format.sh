#!/usr/bin/env bash
# check-format.sh -- every C source and header of the project is formatted as
# .clang-format says (the tree was formatted once with it; new code follows).
#
#   scripts/check-format.sh          check; name each file that differs, exit 1
#   scripts/check-format.sh --fix    format those files in place
#
# Vendored and generated files (subprojects/, build directories) are not ours
# and are left alone. A table that reads better aligned by hand is wrapped in
# "/* clang-format off */ ... /* clang-format on */".
set -u
cd "$(dirname "$0")/.."

fix=0
[ "${1:-}" = "--fix" ] && fix=1
# One version: another clang-format may lay out the same code differently.
CF=${CLANG_FORMAT:-clang-format-14}
command -v "$CF" >/dev/null || { echo "check-format: $CF not found (Debian package clang-format-14)" >&2; exit 2; }

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files -- 'src/*.[ch]' 'include/*.h' 'tests/*.[ch]' 'examples/*.[ch]')
else
    mapfile -t files < <(find src include tests examples -name '*.[ch]' | sort)
fi

bad=0
for f in "${files[@]}"; do
    [ -f "$f" ] || continue
    if [ "$fix" = 1 ]; then
        "$CF" -i "$f"
    elif ! "$CF" "$f" | cmp -s - "$f"; then
        echo "check-format: $f is not formatted (scripts/check-format.sh --fix)" >&2
        bad=$((bad + 1))
    fi
done
if [ "$fix" = 0 ]; then
    echo "check-format: ${#files[@]} files, $bad not formatted ($("$CF" --version | sed 's/.*version \([0-9.]*\).*/clang-format \1/'))" >&2
fi
[ "$bad" -eq 0 ]
