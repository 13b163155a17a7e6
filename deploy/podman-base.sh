#!/usr/bin/env bash
# Make this machine able to build and run deploy/Dockerfile with podman, with no image registry:
# a Debian root file system (debootstrap) imported as the image the Dockerfile starts FROM.
#
#   bash deploy/podman-base.sh            # idempotent: the base image is cached between runs
#   MLRUN_BASE_REBUILD=1 bash deploy/podman-base.sh
#
# Installs podman, runc, debootstrap and catatonit when missing (Debian/Ubuntu, as root), writes a
# containers.conf.d file for VMs whose cgroup layout crun refuses and whose rlimits runc cannot raise,
# and copies the host's extra CA certificates into the base image (HTTPS from inside a build).
# Prints the base image's name. Exit status 3: podman cannot run here.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE="$(awk 'toupper($1) == "FROM" {print $2; exit}' deploy/Dockerfile)"
case "$BASE_IMAGE" in */*) ;; *) BASE_IMAGE="docker.io/library/$BASE_IMAGE" ;; esac  # what FROM resolves to
SUITE="${MLRUN_BASE_SUITE:-bookworm}"
CACHE="${MLRUN_BASE_CACHE:-/var/cache/mlrun-podman-base}"
log() { echo "podman-base: $*" >&2; }

install_packages() {
    local missing=()
    command -v podman >/dev/null || missing+=(podman)
    command -v runc >/dev/null || missing+=(runc)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v catatonit >/dev/null || [ -x /usr/libexec/podman/catatonit ] || missing+=(catatonit)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        log "missing ${missing[*]} and cannot install them (needs root and apt-get)"; exit 3
    fi
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

configure() {
    # crun refuses the hybrid cgroup layout of these VMs; runc cannot raise rlimits to podman's defaults
    local conf=/etc/containers/containers.conf.d/50-mlrun.conf
    if [ "$(id -u)" = 0 ] && [ ! -f "$conf" ]; then
        mkdir -p "$(dirname "$conf")"
        printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n\n[engine]\nruntime = "runc"\n' \
            >"$conf"
    fi
}

apt_mirror() {
    # the mirror apt already uses (deb822 .sources files or a one-line sources.list)
    local uri
    uri="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {print $2}' | grep -v security | head -1)"
    [ -n "$uri" ] || uri="$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; exit}}' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1)"
    echo "${uri:-http://deb.debian.org/debian}"
}

build_base() {
    local rootfs="$CACHE/rootfs-$SUITE" mirror
    mirror="$(apt_mirror)"
    if [ ! -x "$rootfs/usr/bin/python3" ]; then
        rm -rf "$rootfs" && mkdir -p "$CACHE"
        log "debootstrap $SUITE from $mirror (about a minute)"
        debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
            "$SUITE" "$rootfs" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
            || { log "debootstrap failed (see $CACHE/debootstrap.log)"; rm -rf "$rootfs"; exit 1; }
        # pip inside a build goes through whatever intercepts HTTPS here: trust what the host trusts
        if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
            cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
            chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
        fi
        chroot "$rootfs" apt-get clean
    fi
    log "importing $rootfs as $BASE_IMAGE"
    tar -C "$rootfs" -c . | podman import -q - "$BASE_IMAGE" >/dev/null
}

install_packages
configure
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9  # two builds at once (tests in parallel, several checkouts) make the base image once
podman info >/dev/null 2>&1 || { log "podman cannot run here: $(podman info 2>&1 | tail -1)"; exit 3; }
if [ -n "${MLRUN_BASE_REBUILD:-}" ] || ! podman image exists "$BASE_IMAGE"; then
    [ -n "${MLRUN_BASE_REBUILD:-}" ] && rm -rf "$CACHE/rootfs-$SUITE"
    build_base
fi
echo "$BASE_IMAGE"
