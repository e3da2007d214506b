# Production's site manifest: every cache host runs redis under systemd.
node default {
  class { 'redis':
    maxmemory => '64mb',
  }
}
