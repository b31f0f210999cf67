#!/usr/bin/perl
# Output contracts with nginx's default proxy_buffering on (t/19-contract.t
# runs with it off): the answer reaches the contract filters through the
# upstream module's buffers and, when the client reads slower than the
# upstream writes, from the temporary file nginx spills it to.  The bytes
# the client gets are the upstream's, the verdict is the same as from
# memory, and enforce holds, refuses and fails over as without buffering.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRClient;
use IO::Socket::INET;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(sleep);

my $t = AIRTest->new;
$t->upstream($_) for qw(good bad);
$t->upstream_control('bad', "answer=invalid-json\n");

my ($G, $B) = map { $t->port($_) } qw(good bad);

my $C = <<'C';
  status: [200]
  max_bytes: 16m
  json: true
  required: [/choices/0/message/content, /model]
C

$t->write_file('bundles/b.yaml', join "---\n",
    "name: b\nversion: \"1\"\nupstream: 127.0.0.1:$G\nmodel: m-good\n"
    . "output_contract:\n$C",
    "name: b\nversion: \"2\"\nupstream: 127.0.0.1:$B\nmodel: m-bad\n"
    . "output_contract:\n$C  mode: enforce\n",
    "name: b\nversion: \"3\"\nupstream: 127.0.0.1:$G\nmodel: m-good\n"
    . "output_contract:\n$C  mode: enforce\n");

$t->config(<<'C');
    ai_release_bundles %%DIR%%/bundles/*.yaml;

    log_format ct '$arg_n s=$status b=$ai_release_bundle '
                  'f=$ai_release_failover c=$ai_release_contract';

    ai_release_workflow obs {
        stable b@1;
        format openai-chat;
    }

    ai_release_workflow enf {
        stable b@1;
        canary b@2 100%;
        failover on;
        trip off;
        format openai-chat;
    }

    ai_release_workflow hold {
        stable b@3;
        format openai-chat;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        access_log %%DIR%%/ct.log ct;

        proxy_http_version 1.1;
        proxy_set_header Connection "";

        # the default, with small buffers: a big answer the client reads
        # slowly goes to a temporary file
        proxy_buffering on;
        proxy_buffer_size 4k;
        proxy_buffers 2 4k;
        proxy_busy_buffers_size 4k;
        proxy_temp_path %%DIR%%/proxy_temp;

        location = /status { ai_release_status; }

        location /obs/ {
            ai_release obs;
            rewrite ^/obs(/.*)$ $1 break;
            proxy_pass http://ai_release;
        }

        location /enf/ {
            ai_release enf;
            rewrite ^/enf(/.*)$ $1 break;
            proxy_pass http://ai_release;
        }

        location /hold/ {
            ai_release hold;
            rewrite ^/hold(/.*)$ $1 break;
            proxy_pass http://ai_release;
        }
    }
C
$t->start;

my $seq = 0;

sub logline {
    my ($n) = @_;
    my $line = '';
    wait_for(5, sub {
        ($line) = grep { /^\Q$n\E s=/ }
                  split /\n/, AIRTest::slurp($t->dir . '/ct.log') // '';
        return defined $line;
    });
    return $line // '';
}

# a POST over a raw HTTP/1.0 connection; the answer is read only after
# $pause seconds: until then nginx cannot send, and spills what the
# upstream sends past its buffers and the socket's into a temporary file
sub ask_raw {
    my ($wf, $headers, $pause) = @_;
    my $n = "$wf-" . ++$seq;
    my $body = '{"model":"client","messages":[{"role":"user","content":"hi"}]}';
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port('nginx'),
                                  Proto => 'tcp', Timeout => 10)
        or die "connect: $!";
    binmode $s;
    print $s "POST /$wf/v1/chat/completions?n=$n HTTP/1.0\r\n"
           . "Host: x\r\nContent-Type: application/json\r\n"
           . "Content-Length: " . length($body) . "\r\n"
           . join('', map { "$_: $headers->{$_}\r\n" } sort keys %$headers)
           . "\r\n$body";
    sleep $pause if $pause;
    my $all = '';
    while (1) {
        my $got = sysread($s, $all, 65536, length $all);
        last unless $got;
    }
    close $s;
    my ($head, $content) = split /\r\n\r\n/, $all, 2;
    my ($status) = ($head // '') =~ m{^HTTP/1\.\d (\d+)};
    my %h;
    for (split /\r\n/, $head // '') {
        $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
    }
    return { status => $status // 0, headers => \%h,
             body => $content // '', log => logline($n) };
}

# observe: a valid and a broken answer through the buffers
my $r = ask_raw('obs', {});
is($r->{status}, 200, 'observe, buffered: 200');
like($r->{log}, qr/ c=ok$/, 'observe, buffered: valid answer ok');

$r = ask_raw('obs', { 'X-Mock-Answer' => 'invalid-json' });
like($r->{log}, qr/ c=broken:json$/,
     'observe, buffered: an invalid answer breaks json');
is(sha256_hex($r->{body}), $r->{headers}{'x-mock-body-sha256'},
   'observe, buffered: the invalid answer reached the client unchanged');

# observe: an answer of 6 MB read after a pause goes through a temporary
# file, and is read back from it for the checker
my $before = () = $t->error_log =~ /buffered to a temporary file/g;
$r = ask_raw('obs', { 'X-Mock-Answer' => 'big',
                  'X-Mock-Answer-Bytes' => 6_000_000 }, 1.5);
my $after = () = $t->error_log =~ /buffered to a temporary file/g;
ok($after > $before, 'observe, temporary file: nginx spilled the answer '
                     . 'to a temporary file');
is(length $r->{body}, 6_000_000, 'observe, temporary file: 6,000,000 bytes');
is(sha256_hex($r->{body}), $r->{headers}{'x-mock-body-sha256'},
   'observe, temporary file: the client got the upstream\'s bytes');
like($r->{log}, qr/ c=ok$/,
     'observe, temporary file: the answer read back from the file kept '
     . 'the contract');

# enforce: the canary's invalid answer never reaches the client; stable's
# does
$r = ask_raw('enf', {});
is($r->{status}, 200, 'enforce, buffered: 200');
like($r->{log}, qr/ b=b\@1 f=b\@2 c=ok$/,
     'enforce, buffered: the canary broke it, stable answered');
unlike($r->{body}, qr/served_by":"bad/,
       'enforce, buffered: nothing of the broken answer reached the client');

# enforce: a big valid answer is held whole and then sent unchanged
$r = ask_raw('hold', { 'X-Mock-Answer' => 'big',
                   'X-Mock-Answer-Bytes' => 3_000_000 }, 1);
is(length $r->{body}, 3_000_000, 'enforce, held: 3,000,000 bytes');
is(sha256_hex($r->{body}), $r->{headers}{'x-mock-body-sha256'},
   'enforce, held: the answer was sent unchanged once judged');
like($r->{log}, qr/ c=ok$/, 'enforce, held: ok');

my $b = bundle_of(wf_of(status_doc($t), 'obs'), 'b@1');
is("$b->{contract}{checked} $b->{contract}{ok} $b->{contract}{broken}{json}",
   '3 2 1', 'status: 3 answers checked, 2 ok, 1 broke json');

$t->stop;
done_testing;
