#!/bin/sh
# One CI job's work with envctl, the same on GitHub Actions, GitLab CI and Jenkins (the
# files beside this one call it):
#
#   examples/ci/envctl-ci.sh ENV
#
# 1. loads the images ENV needs from the cache directory, when a run with the same
#    `envctl cache key` saved them (then nothing is provisioned: a warm run);
# 2. runs `envctl test ENV` with JUnit and JSON reports in reports/ and, when it fails,
#    the failure bundle in reports/bundle/ (each node's output, provisioning logs...);
# 3. saves the images for the next job when the cache did not have them.
#
# ENVCTL_CACHE_DIR is the directory the CI system keeps between jobs (default
# .envctl-cache). Runners that should share one cache set ENVCTL_MACHINE_KEY to the
# same secret value (docs/images.md#portable-caches-for-ci). The exit code is
# `envctl test`'s (docs/cli.md#exit-codes).
set -eu

env="${1:?usage: envctl-ci.sh ENV}"
cache="${ENVCTL_CACHE_DIR:-.envctl-cache}"
key="$(envctl cache key "$env")"
file="$cache/$key.tar"

if [ -f "$file" ]; then
    echo "cache: loading $file"
    envctl image load "$file"
else
    echo "cache: no $file; this run provisions"
fi

status=0
envctl test "$env" --junit reports/junit.xml --json reports/report.json \
    --artifacts reports/bundle || status=$?

if [ "$status" -eq 0 ] && [ ! -f "$file" ]; then
    mkdir -p "$cache"
    # Older keys' files are of no more use: the cache holds one environment's images.
    find "$cache" -maxdepth 1 -name "envctl-$env-*.tar" -delete
    envctl image save "$env" "$file"
    echo "cache: saved $file"
fi
exit "$status"
