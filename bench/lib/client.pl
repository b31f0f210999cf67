#!/usr/bin/perl
# A keep-alive HTTP/1.1 client for the instruction counts: sends exactly N
# chat POSTs (the same body as chat.lua, a different X-User-Id each) one
# after the other on one connection, and checks every answer is a 200.
#
#   client.pl PORT N [PATH [PREFIX [BYTES]]]
#   client.pl body BYTES
#
# Prints "requests=N ok=N other=N", the bytes of all answers' bodies
# ("body_bytes=B", chunked framing not counted) and how many answers named
# each model ("model:NAME=COUNT": which model server answered, counted once
# an answer or chunk); exits 1 if any answer
# was not 200 or the connection broke.  PREFIX (default "c-") starts the
# user ids.  BYTES (at least 512) sends instead a longer conversation of
# exactly that many bytes: the same system message, then user and
# assistant turns of support chat text that grow longer as the
# conversation goes on (escaped newlines and quotes, some UTF-8), a last
# user turn that fills it to the size, and the same temperature and
# max_tokens.  "client.pl body BYTES" prints that body.
use strict;
use warnings;
use IO::Socket::INET;

my $head = '{"model":"gpt-bench","messages":['
  . '{"role":"system","content":"You write short, polite replies to customer support tickets."}';
my $tail = '],"temperature":0.2,"max_tokens":300}';

# the text of the turns: JSON string content, escapes included, in pieces
# that are cut only where they are plain ASCII (bytes, not characters)
my @pieces = map { split /(?<= )/ } (
    'Hello, I ordered a pair of winter boots (order 48213) last week and the tracking page has not changed since Monday. ',
    '\n\n',
    'The parcel was handed to the carrier in São Paulo and the last scan says \"in transit\" without a date. ',
    'Could you check whether it is stuck at customs, and if so what I need to send? ',
    'Thank you for your patience. I looked up order 48213: it left our warehouse on Friday and the carrier confirmed the pickup. ',
    '\n- ',
    'Parcels to your region usually take four to six business days; ',
    '\n- ',
    'a customs check can add two days, and you need not send anything unless the carrier writes to you. ',
    '\n\n',
    'I have asked the carrier for an update and will write again when they answer. ',
    'The size was 42 and the colour \"café brown\"; my neighbour Müller can take the parcel if I am out. ',
    'If it has not arrived by Thursday, we will send a replacement at no cost, or refund you in full if you prefer. ',
);

# LEN bytes of content from piece K on; returns the text and the next K
sub text {
    my ($len, $k) = @_;
    my $t = '';
    while (length $t < $len) {
        my $p = $pieces[$k++ % @pieces];
        if (length($t) + length($p) > $len) {
            $p = 'x' x length $p unless $p =~ /^[A-Za-z0-9 ,.;:()?-]+$/;
            $p = substr($p, 0, $len - length $t);
        }
        $t .= $p;
    }
    return ($t, $k);
}

sub turn {
    my ($role, $content) = @_;
    return ',{"role":"' . $role . '","content":"' . $content . '"}';
}

sub chat_body {
    my ($size) = @_;
    my @want = (120, 260, 300, 700, 420, 1200, 600, 1800);
    my $last = length(turn('user', '')) + length $tail;
    my ($b, $k, $i) = ($head, 0, 0);
    while (1) {
        # a user and an assistant turn, if the last user turn still gets
        # at least the length of the next one
        my ($u, $a, $next) = map { $want[$_ < @want ? $_ : @want - 2 + $_ % 2] }
                                 $i, $i + 1, $i + 2;
        my $pair = length(turn('user', '')) + length(turn('assistant', ''))
                 + $u + $a;
        last if length($b) + $pair + $last + $next > $size;
        (my $t, $k) = text($u, $k);
        $b .= turn('user', $t);
        ($t, $k) = text($a, $k);
        $b .= turn('assistant', $t);
        $i += 2;
    }
    my ($t) = text($size - length($b) - $last, $k);
    $b .= turn('user', $t) . $tail;
    die "a chat body of $size bytes came out " . length($b) . " bytes\n"
        unless length $b == $size;
    return $b;
}

if (($ARGV[0] // '') eq 'body') {
    die "usage: $0 body BYTES\n"
        unless defined $ARGV[1] && $ARGV[1] =~ /^\d+$/ && $ARGV[1] >= 512;
    print chat_body($ARGV[1]);
    exit 0;
}

my ($port, $n, $path, $prefix, $bytes) = @ARGV;
die "usage: $0 PORT N [PATH [PREFIX [BYTES]]]\n"
    unless defined $n && $n =~ /^\d+$/
        && (!defined $bytes || ($bytes =~ /^\d+$/ && $bytes >= 512));
$path //= '/v1/chat/completions';
$prefix //= 'c-';
my %model;

my $body = defined $bytes ? chat_body($bytes) : $head . ','
  . '{"role":"user","content":"Hello, I ordered a pair of boots last week and the tracking page has not changed since Monday. Where is my order?"}'
  . $tail;

my ($ok, $other, $bytes_in) = (0, 0, 0);
if ($n == 0) {
    print "requests=0 ok=0 other=0 body_bytes=0\n";
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
        $bytes_in += $len;
        $model{$1}++ if $b =~ /"model":"([^"]*)"/;
    } elsif ($head =~ /^Transfer-Encoding:\s*chunked/mi) {
        while (1) {
            my $e;
            fill() until ($e = index($buf, "\r\n")) >= 0;
            my $size = hex substr($buf, 0, $e, '');
            substr($buf, 0, 2, '');
            fill() while length $buf < $size + 2;
            my $b = substr($buf, 0, $size + 2, '');
            $bytes_in += $size;
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
print "requests=$n ok=$ok other=$other body_bytes=$bytes_in",
      (map { " model:$_=$model{$_}" } sort keys %model), "\n";
exit($other ? 1 : 0);
