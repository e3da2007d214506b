#!/bin/sh
# Service discovery for nginx, confd-style: render the upstream config from the etcd key
# the app registered, start nginx, then re-render and reload on every change of the key.
set -eu
KEY="${UPSTREAM_KEY:-/services/app/upstream}"
TEMPLATE=/etc/envctl-demo/upstream.conf.tmpl
TARGET=/etc/nginx/conf.d/app.conf

render() {
    sed -e "s|{{upstream}}|$1|g" -e "s|\${UPSTREAM_KEY}|$KEY|g" "$TEMPLATE" > "$TARGET.new"
    mv "$TARGET.new" "$TARGET"
    echo "rendered $TARGET with upstream $1"
}

upstream=""
while [ -z "$upstream" ]; do
    upstream=$(etcdctl get "$KEY" --print-value-only 2>/dev/null || true)
    [ -n "$upstream" ] || { echo "waiting for $KEY in etcd"; sleep 0.5; }
done
render "$upstream"
nginx -g 'daemon off;' &
nginx_pid=$!

etcdctl watch "$KEY" | while read -r line; do
    case "$line" in
        PUT|DELETE|"$KEY") ;;
        *) render "$line" && nginx -s reload ;;
    esac
done &

wait "$nginx_pid"
