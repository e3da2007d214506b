#!/bin/sh
# Installs Debian packages quietly, without recommends, and cleans apt's caches so the
# provisioned image stays small.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$@" >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/*
