# The directory the parameter files live in (minimal images may not have it).
class sysctl {
  file { '/etc/sysctl.d':
    ensure => directory,
    owner  => 'root',
    group  => 'root',
    mode   => '0755',
  }
}
