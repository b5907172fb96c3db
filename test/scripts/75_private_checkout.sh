#!/usr/bin/env bash
# 75_private_checkout.sh: shell test.  Owns: proving that the suite's server
# side never reads from the checkout, which the postgres OS user may not be
# able to read (a clone under root's home, or in a mode-700 mktemp -d
# folder, as CI and users make them).  Copies the tracked tree into a
# mode-700 directory and runs the valgrind check (the one part of the suite
# whose server read a file of the checkout) on one small test from there.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" -ne 0 ]; then
    echo "not root: the server runs as this user and reads the checkout anyway"
    exit 77
fi
if ! command -v valgrind >/dev/null; then
    echo "valgrind not found"
    exit 77
fi
private=$(mktemp -d)
trap 'rm -rf "$private"' EXIT
git ls-files -z 2>/dev/null | tar --null -T - -cf - | tar -C "$private" -xf - ||
    tar --exclude='./.git' -cf - . | tar -C "$private" -xf -
# after the copy: outside a git checkout the archive's "./" entry carries the
# tree's own mode onto $private
chmod 700 "$private"
cd "$private"
if runuser -u postgres -- test -r "$private/test/valgrind.supp"; then
    echo "FAIL: the postgres user can read $private; the test proves nothing"
    exit 1
fi
scripts/check-valgrind.sh batch
