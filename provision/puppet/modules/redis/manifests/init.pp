# Redis from Debian's package, configured from a template, enabled and running.
class redis (
  String  $bind      = '0.0.0.0',
  Integer $port      = 6379,
  String  $maxmemory = '128mb',
) {
  package { 'redis-server':
    ensure => installed,
  }

  file { '/etc/redis/redis.conf':
    ensure  => file,
    owner   => 'redis',
    group   => 'redis',
    mode    => '0640',
    content => epp('redis/redis.conf.epp', {
      'bind'      => $bind,
      'port'      => $port,
      'maxmemory' => $maxmemory,
    }),
    require => Package['redis-server'],
    notify  => Service['redis-server'],
  }

  # Redis asks for overcommit so background saves do not fail under memory pressure.
  sysctl::conf { 'vm.overcommit_memory':
    value => '1',
  }

  service { 'redis-server':
    ensure => running,
    enable => true,
  }
}
