# One kernel parameter in its own /etc/sysctl.d file, applied at the next boot (or by
# `sysctl --system`).
define sysctl::conf (
  String $value,
  String $key = $title,
  Integer $priority = 30,
) {
  include sysctl

  file { "/etc/sysctl.d/${priority}-${key}.conf":
    ensure  => file,
    owner   => 'root',
    group   => 'root',
    mode    => '0644',
    content => "${key} = ${value}\n",
    require => File['/etc/sysctl.d'],
  }
}
