#!/bin/sh
# Install what the benchmark needs (idempotent: apt runs only when something is missing)
# and free the cgroup v2 hierarchy for crun on cgroup v1 hybrid hosts.
set -eu

if [ "$(id -u)" != 0 ]; then
    echo "bench: must run as root (it starts dockerd, podman and a registry)" >&2
    exit 1
fi

PACKAGES="docker.io podman crun runc conmon containernetworking-plugins docker-registry
busybox-static debootstrap iperf3 iproute2 tar gzip ca-certificates python3"

missing=""
for pkg in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $pkg"
    fi
done
if [ -n "$missing" ]; then
    echo "bench: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    apt-get install -y --no-install-recommends $missing
fi

# crun refuses to run on a hybrid host while the cgroup2 mount holds a controller;
# here that is hugetlb. Mounting it as a v1 hierarchy moves it off (DESIGN §11).
if grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null; then
    mkdir -p /sys/fs/cgroup/hugetlb
    if ! mountpoint -q /sys/fs/cgroup/hugetlb; then
        mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
    fi
fi
