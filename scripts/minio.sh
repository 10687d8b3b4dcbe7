# shellcheck shell=bash
# Sourced by scripts/test.sh: installs (once) and starts a MinIO server for
# the S3 tests, as its own process on a random loopback port with a temp
# dir, and exports SYNCD_TEST_S3_ENDPOINT / _ACCESS_KEY / _SECRET_KEY.
# The server is never linked into syncd. stop_minio (set as an EXIT trap by
# the caller) stops it and removes its data.

MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
MINIO_PID=""
MINIO_DIR=""

install_minio() {
  local bin
  bin="$(go env GOPATH)/bin/minio"
  if [ -n "${MINIO_BIN:-}" ] && [ -x "$MINIO_BIN" ]; then
    return 0
  fi
  if [ -x "$bin" ]; then
    MINIO_BIN="$bin"
    return 0
  fi
  if command -v minio >/dev/null 2>&1; then
    MINIO_BIN="$(command -v minio)"
    return 0
  fi
  echo "-- installing MinIO server ($MINIO_VERSION; a few minutes on a cold cache)"
  if ! go install "github.com/minio/minio@$MINIO_VERSION"; then
    echo "FAIL: could not build the MinIO server (go install github.com/minio/minio@$MINIO_VERSION); the S3 tests need it" >&2
    return 1
  fi
  MINIO_BIN="$bin"
}

# free_port prints a free loopback port below the kernel's ephemeral range:
# MinIO refuses to listen on a port inside it ("Specified port is already in
# use"), and staying out of it also avoids colliding with outgoing sockets.
free_port() {
  local p lo=32768
  if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
    lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
  fi
  [ "$lo" -gt 12000 ] || lo=32768
  for _ in $(seq 1 50); do
    p=$((10000 + RANDOM % (lo - 10000)))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

start_minio() {
  install_minio || return 1
  MINIO_DIR="$(mktemp -d "${TMPDIR:-/tmp}/syncd-minio.XXXXXX")"
  local user="syncdtest" pass
  pass="$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  local attempt port cport
  for attempt in 1 2 3; do
    port="$(free_port)" && cport="$(free_port)" || { echo "FAIL: no free port for MinIO" >&2; return 1; }
    MINIO_ROOT_USER="$user" MINIO_ROOT_PASSWORD="$pass" MINIO_BROWSER=off \
      "$MINIO_BIN" server --quiet --address "127.0.0.1:$port" --console-address "127.0.0.1:$cport" \
      "$MINIO_DIR/data" >"$MINIO_DIR/minio.log" 2>&1 &
    MINIO_PID=$!
    for _ in $(seq 1 150); do
      if ! kill -0 "$MINIO_PID" 2>/dev/null; then
        break
      fi
      if curl -fsS -o /dev/null "http://127.0.0.1:$port/minio/health/ready" 2>/dev/null; then
        export SYNCD_TEST_S3_ENDPOINT="127.0.0.1:$port"
        export SYNCD_TEST_S3_ACCESS_KEY="$user"
        export SYNCD_TEST_S3_SECRET_KEY="$pass"
        echo "-- MinIO ready on $SYNCD_TEST_S3_ENDPOINT (pid $MINIO_PID)"
        return 0
      fi
      sleep 0.2
    done
    echo "-- MinIO did not become ready on port $port (attempt $attempt):" >&2
    tail -5 "$MINIO_DIR/minio.log" >&2 || true
    kill "$MINIO_PID" 2>/dev/null || true
    wait "$MINIO_PID" 2>/dev/null || true
    MINIO_PID=""
  done
  echo "FAIL: could not start MinIO" >&2
  return 1
}

stop_minio() {
  if [ -n "$MINIO_PID" ]; then
    kill "$MINIO_PID" 2>/dev/null || true
    wait "$MINIO_PID" 2>/dev/null || true
    MINIO_PID=""
  fi
  if [ -n "$MINIO_DIR" ]; then
    rm -rf "$MINIO_DIR"
    MINIO_DIR=""
  fi
}
