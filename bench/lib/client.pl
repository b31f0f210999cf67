#!/usr/bin/perl
# A keep-alive HTTP/1.1 client for the instruction counts: sends exactly N
# chat POSTs (the same body as chat.lua, a different X-User-Id each) one
# after the other on one connection, and checks every answer is a 200.
#
#   client.pl PORT N [PATH [PREFIX]]
#
# Prints "requests=N ok=N other=N" and how many answers named each model
# ("model:NAME=COUNT": which model server answered); exits 1 if any answer
# was not 200 or the connection broke.  PREFIX (default "c-") starts the
# user ids.
use strict;
use warnings;
use IO::Socket::INET;

my ($port, $n, $path, $prefix) = @ARGV;
die "usage: $0 PORT N [PATH [PREFIX]]\n" unless defined $n && $n =~ /^\d+$/;
$path //= '/v1/chat/completions';
$prefix //= 'c-';
my %model;

my $body = '{"model":"gpt-bench","messages":['
  . '{"role":"system","content":"You write short, polite replies to customer support tickets."},'
  . '{"role":"user","content":"Hello, I ordered a pair of boots last week and the tracking page has not changed since Monday. Where is my order?"}'
  . '],"temperature":0.2,"max_tokens":300}';

my ($ok, $other) = (0, 0);
if ($n == 0) {
    print "requests=0 ok=0 other=0\n";
    exit 0;
}

my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                              Proto => 'tcp', Timeout => 30)
    or die "connect 127.0.0.1:$port: $!\n";
binmode $s;
my $buf = '';

sub fill {
    my $r = sysread($s, $buf, 65536, length $buf);
    die "read: $!\n" unless defined $r;
    die "connection closed by the server\n" if $r == 0;
}

for my $i (1 .. $n) {
    my $req = "POST $path HTTP/1.1\r\nHost: bench.local\r\n"
            . "Content-Type: application/json\r\n"
            . "X-User-Id: $prefix$i\r\n"
            . "Content-Length: " . length($body) . "\r\n\r\n" . $body;
    my $off = 0;
    while ($off < length $req) {
        my $w = syswrite($s, $req, length($req) - $off, $off);
        die "write: $!\n" unless defined $w;
        $off += $w;
    }
    my $end;
    fill() until ($end = index($buf, "\r\n\r\n")) >= 0;
    my $head = substr($buf, 0, $end + 4, '');
    my ($status) = $head =~ m{^HTTP/1\.\d (\d{3})};
    die "bad response: $head\n" unless $status;
    if ($head =~ /^Content-Length:\s*(\d+)/mi) {
        my $len = $1;
        fill() while length $buf < $len;
        my $b = substr($buf, 0, $len, '');
        $model{$1}++ if $b =~ /"model":"([^"]*)"/;
    } elsif ($head =~ /^Transfer-Encoding:\s*chunked/mi) {
        while (1) {
            my $e;
            fill() until ($e = index($buf, "\r\n")) >= 0;
            my $size = hex substr($buf, 0, $e + 2, '');
            fill() while length $buf < $size + 2;
            my $b = substr($buf, 0, $size + 2, '');
            $model{$1}++ if $b =~ /"model":"([^"]*)"/;
            last if $size == 0;
        }
    } else {
        die "response without length: $head\n";
    }
    $status == 200 ? $ok++ : $other++;
    die "the server closed the connection after request $i\n"
        if $head =~ /^Connection:\s*close/mi && $i < $n;
}
close $s;
print "requests=$n ok=$ok other=$other",
      (map { " model:$_=$model{$_}" } sort keys %model), "\n";
exit($other ? 1 : 0);
