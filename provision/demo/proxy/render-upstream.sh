#!/bin/sh
# Renders nginx's upstream config from the live keys in etcd (the colour and its
# address, and the preview address of a colour being promoted); with --reload, checks the config and reloads nginx gracefully. Used by
# render-and-run on every change and by `envctl promote` as the switch's reload.
set -eu
PREFIX="${SERVICE_PREFIX:-/services/app}"
TEMPLATE=/etc/envctl-demo/upstream.conf.tmpl
TARGET=/etc/nginx/conf.d/app.conf

upstream=$(etcdctl get "$PREFIX/upstream" --print-value-only)
colour=$(etcdctl get "$PREFIX/colour" --print-value-only)
preview=$(etcdctl get "$PREFIX/preview" --print-value-only)
if [ -z "$upstream" ]; then
    echo "no $PREFIX/upstream in etcd" >&2
    exit 1
fi
sed -e "s|{{upstream}}|$upstream|g" -e "s|{{colour}}|${colour:-unknown}|g" \
    -e "s|{{preview}}|${preview:-$upstream}|g" \
    -e "s|{{prefix}}|$PREFIX|g" "$TEMPLATE" > "$TARGET.new.$$"
mv "$TARGET.new.$$" "$TARGET"
echo "rendered $TARGET with upstream $upstream ($colour)"
if [ "${1:-}" = "--reload" ]; then
    nginx -t -q
    nginx -s reload
fi
