#!/bin/sh
# Writes the site's marker file. Usage: site.sh TEXT
set -eu
mkdir -p /srv/www
printf '%s\n' "$1" > /srv/www/marker.txt
chmod 0640 /srv/www/marker.txt
