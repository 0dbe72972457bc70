#!/usr/bin/env bash
# Succeed when Redis answers on 127.0.0.1:6379 (rate-limit storage tests); start it once if not.
set -uo pipefail
ping() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2>/dev/null; }
ping && exit 0
if command -v redis-server >/dev/null 2>&1; then
  mkdir -p /tmp/sankaku-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/sankaku-redis >/dev/null 2>&1 || true
  for _ in $(seq 1 20); do ping && exit 0; sleep 0.25; done
fi
echo "error: Redis is not answering on 127.0.0.1:6379 (needed by the rate-limit tests)" >&2
exit 1
