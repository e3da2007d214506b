#!/bin/sh
# Authorizes the key given in ENVCTL_SSH_KEY for the vagrant user, then runs sshd.
set -e
if [ -n "${ENVCTL_SSH_KEY:-}" ] && [ ! -s /home/vagrant/.ssh/authorized_keys ]; then
    printf '%s\n' "$ENVCTL_SSH_KEY" > /home/vagrant/.ssh/authorized_keys
    chown vagrant:vagrant /home/vagrant/.ssh/authorized_keys
    chmod 0600 /home/vagrant/.ssh/authorized_keys
fi
ssh-keygen -A >/dev/null
exec /usr/sbin/sshd -D -e
