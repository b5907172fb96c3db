#!/usr/bin/env bash
# test-majors.sh: the body of `make test-majors`: the whole suite (`make
# test`) on other PostgreSQL majors than this machine's, each in a Debian
# chroot whose release ships that major.  Owns: building the roots with
# debootstrap (cached under $SR_MAJORS_CACHE, default
# /var/cache/sync_resolver-majors/<codename>, which `make clean` leaves
# alone; re-used when present), copying the tree into the root's /build,
# mounting /proc, /dev, /dev/pts and /dev/shm there for the run and unmounting them
# afterwards (also on failure or interrupt), and the closing lines: one
# "PostgreSQL N: N passed, N failed" per major, then "N passed, N failed"
# totalled.  Exits 1 on any failure.  Must run as root (debootstrap, chroot).
#
#   scripts/test-majors.sh [--prepare] [MAJOR ...]   default: $MAJORS, else "17 18"
#
# --prepare only builds the missing roots (no suite run).
#
# Environment: SR_MAJORS_CACHE (root cache dir), SR_DEBIAN_MIRROR (default
# http://deb.debian.org/debian).
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

cache=${SR_MAJORS_CACHE:-/var/cache/sync_resolver-majors}
mirror=${SR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
prepare_only=0
if [ "${1:-}" = "--prepare" ]; then
    prepare_only=1
    shift
fi
# shellcheck disable=SC2206
majors=(${*:-${MAJORS:-17 18}})

# The Debian release that ships each major as its default PostgreSQL.
codename_of() {
    case $1 in
        15) echo bookworm ;;
        17) echo trixie ;;
        18) echo sid ;;
        *) return 1 ;;
    esac
}

if [ "$(id -u)" -ne 0 ]; then
    echo "test-majors: must run as root (debootstrap and chroot)" >&2
    exit 1
fi

mounted=()
# Unmount everything mounted for a run, innermost first.
unmount_all() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" 2>/dev/null || true
    done
    mounted=()
}
trap unmount_all EXIT
trap 'unmount_all; exit 130' INT TERM

# mount_in ROOT: /proc, /dev with /dev/pts (the shell tests drive sync-push
# on a pseudo-terminal through script(1)) and a private /dev/shm inside ROOT.
mount_in() {
    local root=$1
    mount -t proc proc "$root/proc" && mounted+=("$root/proc") || return 1
    mount --bind /dev "$root/dev" && mounted+=("$root/dev") || return 1
    mount --bind /dev/pts "$root/dev/pts" && mounted+=("$root/dev/pts") || return 1
    mount -t tmpfs -o mode=1777 shm "$root/dev/shm" && mounted+=("$root/dev/shm") || return 1
}

# The packages a root needs for the suite (PostgreSQL MAJOR's server,
# headers and PL/Proxy, the build tools and the checkers the suite runs).
root_packages() {
    echo "postgresql-$1 postgresql-server-dev-$1 postgresql-$1-plproxy" \
        libjson-c-dev libpq-dev make gcc libc6-dev valgrind clang libclang-rt-dev
}

# install_in ROOT PACKAGES...: install PACKAGES inside ROOT (no services
# started), logging to ROOT.log; ROOT's special mounts are up only meanwhile.
install_in() {
    local root=$1 rc
    shift
    mount_in "$root" || { unmount_all; return 1; }
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Check-Valid-Until=false update -q >>"$root.log" 2>&1 &&
        chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends "$@" >>"$root.log" 2>&1
    rc=$?
    unmount_all
    if [ $rc -ne 0 ]; then
        tail -20 "$root.log" >&2
        return 1
    fi
    chroot "$root" apt-get clean
}

# prepare_root MAJOR ROOT: debootstrap a minbase root of the release that
# ships MAJOR and install the build and test packages, unless ROOT already
# holds a finished one.  ROOT/.sync_resolver-ready lists the packages it
# was given: a cached root made for an older list gets the missing ones.
prepare_root() {
    local major=$1 root=$2 codename tmp packages
    packages=$(root_packages "$major")
    if [ -f "$root/.sync_resolver-ready" ]; then
        [ "$(cat "$root/.sync_resolver-ready")" = "$packages" ] && return 0
        echo "test-majors: adding packages to the cached root $root"
        # shellcheck disable=SC2086
        install_in "$root" $packages || return 1
        echo "$packages" >"$root/.sync_resolver-ready"
        return 0
    fi
    codename=$(codename_of "$major")
    tmp="$root.tmp"
    rm -rf "$tmp"
    mkdir -p "$(dirname "$root")"
    echo "test-majors: building the $codename root for PostgreSQL $major in $root"
    command -v debootstrap >/dev/null ||
        { apt-get update -q && apt-get install -y -q debootstrap; } || return 1
    debootstrap --variant=minbase "$codename" "$tmp" "$mirror" >"$tmp.log" 2>&1 || {
        tail -20 "$tmp.log" >&2
        return 1
    }
    # No services started inside, and no default cluster created.
    printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
    chmod +x "$tmp/usr/sbin/policy-rc.d"
    mkdir -p "$tmp/etc/postgresql-common"
    echo "create_main_cluster = false" >"$tmp/etc/postgresql-common/createcluster.conf"
    # shellcheck disable=SC2086
    install_in "$tmp" $packages || return 1
    echo "$packages" >"$tmp/.sync_resolver-ready"
    rm -rf "$root"
    mv "$tmp" "$root"
    mv "$tmp.log" "$root.log"
}

# copy_tree ROOT: the tree as it is now (HEAD plus uncommitted and untracked
# files, not ignored ones) into ROOT/build, replacing an earlier copy.
copy_tree() {
    local root=$1
    rm -rf "$root/build"
    mkdir -p "$root/build"
    if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$top" ls-files -z --cached --others --exclude-standard |
            (cd "$top" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
            tar -C "$top" --null -T - -cf - | tar -C "$root/build" -xf -
    else
        tar -C "$top" --exclude=./.git -cf - . | tar -C "$root/build" -xf -
    fi
}

total_passed=0
total_failed=0
results=()
for major in "${majors[@]}"; do
    start=$(date +%s)
    if ! codename=$(codename_of "$major"); then
        echo "test-majors: no Debian release known for PostgreSQL $major" >&2
        results+=("PostgreSQL $major: 0 passed, 1 failed (no Debian release known)")
        total_failed=$((total_failed + 1))
        continue
    fi
    root="$cache/$codename"
    log="$cache/$codename-test.log"
    if ! prepare_root "$major" "$root"; then
        unmount_all
        results+=("PostgreSQL $major: 0 passed, 1 failed (root not built)")
        total_failed=$((total_failed + 1))
        continue
    fi
    prepared=$(date +%s)
    if [ $prepare_only -eq 1 ]; then
        echo "PostgreSQL $major: root $root ready ($((prepared - start)) s)"
        continue
    fi
    copy_tree "$root"
    echo "=== PostgreSQL $major ($codename root $root): make test"
    rc=0
    if mount_in "$root"; then
        chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
            HOME=/root LANG=C.UTF-8 TMPDIR=/tmp \
            PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" \
            sh -c 'cd /build && make -s test' </dev/null 2>&1 | tee "$log" | sed 's/^/    /'
        rc=${PIPESTATUS[0]}
    else
        rc=1
    fi
    unmount_all
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    if [ -n "$line" ]; then
        p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
        f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
    else
        p=0
        f=0
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        line="$p passed, $f failed (make test exited with status $rc)"
    fi
    end=$(date +%s)
    echo "test-majors: PostgreSQL $major: root $((prepared - start)) s, suite $((end - prepared)) s"
    results+=("PostgreSQL $major: $line")
    total_passed=$((total_passed + p))
    total_failed=$((total_failed + f))
done

if [ $prepare_only -eq 1 ]; then
    [ "$total_failed" -eq 0 ] || echo "test-majors: $total_failed root(s) not built" >&2
    [ "$total_failed" -eq 0 ]
    exit
fi
for r in "${results[@]}"; do
    echo "$r"
done
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
