#!/usr/bin/env bash
# make demo: three mock model upstreams on loopback and nginx with the
# module in the foreground, using conf-examples/demo.conf.  Ctrl-C stops
# everything this script started.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
nginx=${NGINX_BIN:-/usr/sbin/nginx}
run=$top/build/demo
pids=()

cleanup() {
    trap - EXIT INT TERM
    if [ ${#pids[@]} -gt 0 ]; then
        kill "${pids[@]}" 2>/dev/null || true
        wait 2>/dev/null || true
    fi
}
trap cleanup EXIT INT TERM

mkdir -p "$run/tmp"

for spec in stable:9101 canary:9102 fallback:9103; do
    name=${spec%%:*}
    port=${spec##*:}
    perl "$top/t/lib/mock_upstream.pl" --listen "127.0.0.1:$port" \
        --name "$name" --control "$run/upstream-$name" &
    pids+=($!)
done

"$nginx" -q -t -p "$top/" -c conf-examples/demo.conf

cat <<TXT

ngx_ai_release demo: nginx on http://127.0.0.1:8080, mock model upstreams
stable :9101, canary :9102, fallback :9103.  Workflow "support-drafts":
stable support-drafts@3, 5% canary support-drafts@4, sticky by X-User-Id.

Send a request (the X-AI-Release response header names the bundle):
  curl -si -H 'X-User-Id: alice' -H 'Content-Type: application/json' \\
       -d '{"messages":[{"role":"user","content":"Where is my order?"}]}' \\
       http://127.0.0.1:8080/v1/support/draft

See the 95/5 split over 1000 users:
  for i in \$(seq 1000); do curl -s -o /dev/null -H "X-User-Id: u\$i" \\
      -w '%header{x-ai-release}\\n' -d '{}' \\
      http://127.0.0.1:8080/v1/support/draft; done | sort | uniq -c

A streamed answer, event by event:
  curl -N -d '{"stream":true}' http://127.0.0.1:8080/v1/support/draft

Break the canary upstream: with "failover on" the clients still get
answers from stable, the canary trips after 5 errors in a row (see the
[warn] line), is probed after 10s and comes back once it is mended:
  echo status=500 > $run/upstream-canary
  for i in \$(seq 200); do curl -s -o /dev/null -H "X-User-Id: u\$i" \\
      -w '%{http_code} %header{x-ai-release}\\n' -d '{}' \\
      http://127.0.0.1:8080/v1/support/draft; done | sort | uniq -c
  rm $run/upstream-canary

See it and stop it: the dashboard, the JSON and the metrics
  http://127.0.0.1:8080/ai-release/status?format=html
  curl -s http://127.0.0.1:8080/ai-release/status
  curl -s 'http://127.0.0.1:8080/ai-release/status?format=prometheus'
  curl -s 'http://127.0.0.1:8080/ai-release/status?workflow=support-drafts'
roll the canary back with one request, and resume:
  curl -s -X POST -H 'Content-Type: application/json' \\
      http://127.0.0.1:8080/ai-release/api/workflows/support-drafts/rollback
  curl -s -X POST -H 'Content-Type: application/json' \\
      http://127.0.0.1:8080/ai-release/api/workflows/support-drafts/resume

Look at: the access log below (bundle, variant, model, digest per request),
conf-examples/demo.conf, conf-examples/bundles/.  Ctrl-C stops the demo.

TXT

"$nginx" -p "$top/" -c conf-examples/demo.conf -g 'daemon off;' &
pids+=($!)
wait "${pids[-1]}" || true
