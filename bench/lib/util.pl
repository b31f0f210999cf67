#!/usr/bin/perl
# Small helpers of bench/run, in core Perl:
#
#   util.pl ports N               N free TCP ports on 127.0.0.1, one a line
#   util.pl wait-port PORT SECS   wait until 127.0.0.1:PORT accepts
#   util.pl get PORT PATH         GET, print the body (exit 1 unless 200)
#   util.pl head PORT PATH        POST a chat request, print status line
#                                 and headers
#   util.pl reload MASTER PORT    HUP the nginx master, print the ms until
#                                 a worker other than the old one answers
#   util.pl mem PID...            VmRSS and RssShmem (kB) of each pid
#   util.pl zone PORT             the zone object of /status
#   util.pl now                   the time in seconds, with fractions
use strict;
use warnings;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);

my $cmd = shift // '';

sub request {
    my ($port, $method, $path, $body, $hdrs) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5) or return;
    binmode $s;
    my $req = "$method $path HTTP/1.1\r\nHost: bench.local\r\n"
            . "Connection: close\r\n" . ($hdrs // '');
    $req .= "Content-Type: application/json\r\nContent-Length: "
          . length($body) . "\r\n" if defined $body;
    $req .= "\r\n" . ($body // '');
    print $s $req;
    local $/;
    my $resp = <$s>;
    close $s;
    return unless defined $resp;
    my ($head, $content) = split /\r\n\r\n/, $resp, 2;
    my ($status) = $head =~ m{^HTTP/1\.\d (\d{3})} or return;
    return ($status, $head, $content // '');
}

sub can_connect {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

if ($cmd eq 'ports') {
    my $n = shift // 1;
    my (%seen, @p);
    my $low = 32768;
    if (open my $fh, '<', '/proc/sys/net/ipv4/ip_local_port_range') {
        ($low) = (<$fh> // '') =~ /^\s*(\d+)/;
        $low ||= 32768;
    }
    # below the ephemeral range, so that no outgoing connection takes one
    while (@p < $n) {
        my $port = 10000 + int(rand($low - 10000));
        next if $seen{$port}++;
        my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $port, Proto => 'tcp',
                                      Listen => 1, ReuseAddr => 0) or next;
        close $l;
        push @p, $port;
    }
    print "$_\n" for @p;

} elsif ($cmd eq 'wait-port') {
    my ($port, $secs) = @ARGV;
    my $deadline = time + ($secs // 10);
    while (time < $deadline) {
        exit 0 if can_connect($port);
        sleep 0.05;
    }
    exit 1;

} elsif ($cmd eq 'get') {
    my ($port, $path) = @ARGV;
    my ($status, $head, $content) = request($port, 'GET', $path);
    exit 1 unless $status;
    print $content;
    exit($status == 200 ? 0 : 1);

} elsif ($cmd eq 'head') {
    my ($port, $path) = @ARGV;
    my ($status, $head) = request($port, 'POST', $path,
        '{"messages":[{"role":"user","content":"hi"}]}',
        "X-User-Id: probe-1\r\n");
    exit 1 unless $status;
    $head =~ s/\r//g;
    print "$head\n";
    exit($status == 200 ? 0 : 1);

} elsif ($cmd eq 'reload') {
    my ($master, $port) = @ARGV;
    my ($st, undef, $old) = request($port, 'GET', '/pid');
    die "no answer from 127.0.0.1:$port/pid\n" unless $st && $st == 200;
    $old =~ s/\s+//g;
    my $t0 = time;
    kill 'HUP', $master or die "kill HUP $master: $!\n";
    while (time - $t0 < 120) {
        my ($s, undef, $pid) = request($port, 'GET', '/pid');
        if ($s && $s == 200) {
            $pid =~ s/\s+//g;
            if ($pid ne $old) {
                printf "reload_ms=%.1f old_worker=%s new_worker=%s\n",
                       (time - $t0) * 1000, $old, $pid;
                exit 0;
            }
        }
        sleep 0.002;
    }
    die "no new worker answered within 120 s\n";

} elsif ($cmd eq 'mem') {
    for my $pid (@ARGV) {
        my %v = (VmRSS => 0, RssShmem => 0);
        if (open my $fh, '<', "/proc/$pid/status") {
            while (<$fh>) {
                $v{$1} = $2 if /^(VmRSS|RssShmem):\s+(\d+)/;
            }
        }
        print "$pid $v{VmRSS} $v{RssShmem}\n";
    }

} elsif ($cmd eq q(zone)) {
    # the "zone" object near the top of the status JSON; reads no more of it
    # (with many workflows the whole document is tens of megabytes)
    my ($port) = @ARGV;
    my $s = IO::Socket::INET->new(PeerAddr => q(127.0.0.1), PeerPort => $port,
                                  Proto => q(tcp), Timeout => 5)
        or die "connect: $!\n";
    print $s "GET /status?format=json HTTP/1.1\r\nHost: bench.local\r\n"
           . "Connection: close\r\n\r\n";
    my $buf = q();
    while (length $buf < 1_000_000) {
        my $r = sysread($s, $buf, 65536, length $buf);
        last unless $r;
        if ($buf =~ /"zone"\s*:\s*(\{[^}]*\})/) {
            my $z = $1;
            my %z = $z =~ /"(\w+)"\s*:\s*"?([^",}]*)"?/g;
            close $s;
            print join(q( ), map { "$_=$z{$_}" } qw(name size used slots)), "\n";
            exit 0;
        }
    }
    die "no zone in the status of 127.0.0.1:$port\n";

} elsif ($cmd eq 'now') {
    printf "%.6f\n", time;

} else {
    die "usage: util.pl ports|wait-port|get|head|reload|mem|now ...\n";
}
