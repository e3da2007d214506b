#!/usr/bin/perl
# A tiny HTTP server for tests, using only perl-base (present in Debian's minbase):
#   /            -> 200 "hello from $GREETING"
#   /status/NNN  -> NNN
#   /slow        -> answers after 30 s
use strict;
use warnings;
use IO::Socket::INET;

my $port = $ENV{PORT} || 8080;
my $greeting = $ENV{GREETING} || "fixture";
my $server = IO::Socket::INET->new(LocalPort => $port, Listen => 64, ReuseAddr => 1, Proto => 'tcp')
    or die "cannot listen on $port: $!";
$| = 1;
print "listening on $port\n";
while (my $client = $server->accept) {
    my $request = <$client> // '';
    while (my $line = <$client>) { last if $line =~ /^\r?\n$/; }
    my ($path) = $request =~ m{^\S+\s+(\S+)};
    $path //= '/';
    my ($status, $body) = (200, "hello from $greeting\n");
    if ($path =~ m{^/status/(\d{3})$}) { ($status, $body) = ($1, "status $1\n"); }
    if ($path eq '/slow') { sleep 30; }
    print $client "HTTP/1.0 $status X\r\nContent-Type: text/plain\r\nContent-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body";
    close $client;
}
