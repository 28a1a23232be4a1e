#!/usr/bin/env bash
# Install (when root and missing) and start what the test suite needs: PostgreSQL, Redis and the
# container tools. Prints the environment variables the suite should use, and in WHARF_STARTED_SERVICES what
# it started itself (scripts/test.sh stops those again when the suite is done).
set -euo pipefail

need=()
started=()
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
command -v podman >/dev/null || need+=(podman)
command -v buildah >/dev/null || need+=(buildah)
command -v skopeo >/dev/null || need+=(skopeo)
command -v chromium >/dev/null || need+=(chromium)   # the browser tests drive it through Playwright
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)   # the proxy in front of two web nodes
command -v git >/dev/null || need+=(git)   # builds clone with it (through gitpython)
command -v unshare >/dev/null || need+=(util-linux)   # a build without network runs in its own namespace
# The build tests make a base image with a shell FROM scratch: a static busybox is all it holds.
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v rpmbuild >/dev/null || need+=(rpm)   # the scanning tests make a real rpm database
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq "${need[@]}" fuse-overlayfs uidmap >&2
  else
    echo "missing ${need[*]}: install them or run as root" >&2
  fi
fi

if [ "$(id -u)" = 0 ] && command -v pg_ctlcluster >/dev/null; then
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  if ! pg_lsclusters -h | grep -q "^$version main .* online"; then
    pg_lsclusters -h | grep -q "^$version main" || pg_createcluster "$version" main >&2
    pg_ctlcluster "$version" main start >&2
    started+=("postgresql:$version")
  fi
  for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 && break; sleep 0.2; done
  su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='wharf'\"" | grep -q 1 ||
    su postgres -c "psql -qc \"CREATE ROLE wharf LOGIN SUPERUSER PASSWORD 'wharf'\"" >&2
  su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='wharf'\"" | grep -q 1 ||
    su postgres -c "createdb -O wharf wharf" >&2
  echo "export DATABASE_URL=\${DATABASE_URL:-postgresql://wharf:wharf@127.0.0.1:5432/wharf}"
fi

if command -v redis-server >/dev/null; then
  if ! redis-cli -p 6379 ping >/dev/null 2>&1; then
    redis-server --port 6379 --bind 127.0.0.1 --save "" --appendonly no --daemonize yes >&2
    started+=(redis)
    for _ in $(seq 50); do redis-cli -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  echo "export REDIS_URL=\${REDIS_URL:-redis://127.0.0.1:6379/0}"
fi

# CI runs the whole suite on the real services; a machine that cannot provide them is a failure there.
if [ "${CI:-}" = "true" ]; then
  for tool in pg_ctlcluster redis-server podman buildah skopeo chromium git unshare busybox rpm rpmbuild; do
    command -v "$tool" >/dev/null || { echo "CI needs $tool" >&2; exit 1; }
  done
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "CI needs nginx" >&2; exit 1; }
fi
echo "export WHARF_STARTED_SERVICES='${started[*]}'"
