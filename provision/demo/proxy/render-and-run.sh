#!/bin/sh
# Service discovery for nginx, confd-style: render the upstream config from the live
# keys in etcd, start nginx, then re-render and reload on every change of the keys.
set -eu
PREFIX="${SERVICE_PREFIX:-/services/app}"

until render-upstream; do
    echo "waiting for $PREFIX/upstream in etcd"
    sleep 0.5
done
nginx -g 'daemon off;' &
nginx_pid=$!

etcdctl watch "$PREFIX/upstream" | while read -r line; do
    case "$line" in
        PUT|DELETE|"$PREFIX/upstream") ;;
        *) render-upstream --reload || echo "re-rendering failed; nginx keeps its config" ;;
    esac
done &

wait "$nginx_pid"
