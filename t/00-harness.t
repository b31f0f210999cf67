#!/usr/bin/perl
#
# Self-test of the harness (t/lib/AIRTest.pm, t/lib/mock_upstream.pl) with a
# stock nginx and WITHOUT the module.
#
#   prove -I t/lib t/00-harness.t

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use AIRTest;

my $t = AIRTest->new;

ok(-d $t->dir, 'test directory exists');
ok(-f $t->repo . '/t/lib/AIRTest.pm', 'repo root found');
is($t->port('nginx'), $t->port('nginx'), 'port is stable per name');
isnt($t->port('a'), $t->port('b'), 'distinct ports per name');

my $upa = $t->upstream('a');
my $upb = $t->upstream('b');
ok($upa && $upb, 'upstreams started');

my $http_tmpl = <<'EOF';
    upstream ka {
        server 127.0.0.1:%%PORT_a%%;
        keepalive 4;
    }
    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        proxy_set_header X-Test 1;

        location /a {
            proxy_pass http://127.0.0.1:%%PORT_@A@%%;
        }
        location /b {
            proxy_pass http://127.0.0.1:%%PORT_b%%;
        }
        location /s {
            proxy_pass http://127.0.0.1:%%PORT_a%%;
            proxy_http_version 1.1;
            proxy_buffering off;
        }
        location /t {
            proxy_pass http://127.0.0.1:%%PORT_b%%;
            proxy_read_timeout 1s;
        }
        location /ka {
            proxy_pass http://ka;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /dir {
            return 200 "%%DIR%%";
        }
    }
EOF
my $http_for = sub { (my $x = $http_tmpl) =~ s/\@A\@/$_[0]/; $x };
my $http = $http_for->('a');

my $conf = $t->config($http, no_module => 1);
unlike($conf, qr/load_module/, 'no_module omits load_module');
like($conf, qr/listen 127\.0\.0\.1:\d+;/, 'port substituted');
unlike($conf, qr/%%/, 'no placeholders left');

my ($rc, $out) = $t->test_config;
is($rc, 0, 'nginx -t ok') or diag($out);
like($out, qr/test is successful/, 'nginx -t output');

ok($t->start, 'nginx started');
ok($t->master_pid, 'master pid ' . ($t->master_pid // 'none'));
is(scalar(my @w = $t->worker_pids), 1, 'one worker');

# --- plain proxying ------------------------------------------------------

my $r = $t->get('/dir');
is($r->{content}, $t->dir, '%%DIR%% substituted');

$r = $t->get('/a/x?q=1', { 'X-Client' => 'c1' });
is($r->{status}, 200, 'GET /a status');
is($r->{headers}{'x-served-by'}, 'a', 'X-Served-By a');
my $j = $t->json($r);
is($j->{served_by}, 'a', 'served_by a');
is($j->{object}, 'chat.completion', 'object');
is($j->{model}, 'a', 'model defaults to name');
is($j->{choices}[0]{message}{content}, 'Hello from a', 'content');
is($j->{usage}{total_tokens}, 17, 'usage');
like($j->{id}, qr/^chatcmpl-a-\d+$/, 'id');
is($j->{request}{method}, 'GET', 'echo method');
is($j->{request}{uri}, '/a/x?q=1', 'echo uri');
is($j->{request}{headers}{'x-test'}, '1', 'proxy_set_header reaches upstream');
is($j->{request}{headers}{'x-client'}, 'c1', 'client header reaches upstream');
is($j->{request}{headers}{connection}, 'close', 'nginx uses HTTP/1.0 + close');

my $req_body = '{"model":"m1","messages":[{"role":"user","content":"hi"}]}';
$r = $t->post('/b/v1/chat/completions', $req_body);
is($r->{status}, 200, 'POST /b status');
$j = $t->json($r);
is($j->{served_by}, 'b', 'served_by b');
is($j->{model}, 'm1', 'model echoed');
is($j->{request}{method}, 'POST', 'POST echoed');
is($j->{request}{body_length}, length $req_body, 'body length');
is($j->{request}{headers}{'content-type'}, 'application/json', 'default content type');

$r = $t->get('/a/h', { Host => 'example.com' });
is(($t->json($r) // {})->{request}{headers}{host}, '127.0.0.1:' . $t->port('a'),
   'Host override accepted (nginx rewrites Host for upstream)');

is($t->upstream_count('a'), 2, 'a got 2 requests');
is($t->upstream_count('b'), 1, 'b got 1 request');
is(($t->upstream_log('a'))[0], 'a GET /a/x?q=1', 'log line');

# keepalive upstream: two requests through a kept-alive connection
$r = $t->get('/ka/1');
is($r->{status}, 200, 'keepalive upstream 1');
ok(!exists $t->json($r)->{request}{headers}{connection}, 'no Connection header');
$r = $t->get('/ka/2');
is($r->{status}, 200, 'keepalive upstream 2');

# --- control file / header overrides -------------------------------------

$t->upstream_control('a', "status=500\n");
$r = $t->get('/a/err');
is($r->{status}, 500, 'control status=500 seen through nginx');
is($t->json($r)->{error}{code}, 500, 'error body');
is($r->{headers}{'x-served-by'}, 'a', 'error from a');
$t->upstream_control('a', '');
$r = $t->get('/a/ok');
is($r->{status}, 200, 'control removed');

$r = $t->get('/a/hdr', { 'X-Mock-Status' => 503 });
is($r->{status}, 503, 'X-Mock-Status');
$t->upstream_control('a', "status=500\n");
$r = $t->get('/a/hdr', { 'X-Mock-Status' => 404 });
is($r->{status}, 404, 'header override wins over control file');
$t->upstream_control('a', undef);

my $t0 = time;
$r = $t->get('/a/slow', { 'X-Mock-Delay-Ms' => 300 });
my $el = time - $t0;
is($r->{status}, 200, 'delayed answer');
ok($el >= 0.28, "delay honoured ($el s)");

# --- streaming -----------------------------------------------------------

my $s = $t->stream('/s/v1/chat/completions', '{"model":"m","stream":true}');
is($s->{status}, 200, 'stream status');
like($s->{headers}{'content-type'} // '', qr{text/event-stream}, 'stream content type');
is($s->{headers}{'x-served-by'}, 'a', 'stream from a');
ok($s->{complete}, 'stream complete') or diag(explain $s);
my @ev = $s->{body} =~ /^data: (.*)$/mg;
is(scalar @ev, 6, '5 events + [DONE]');
is($ev[-1], '[DONE]', 'ends with [DONE]');
like($ev[0], qr/"tok0 "/, 'first token');
like($ev[4], qr/"tok4 "/, 'last token');
my @c = @{ $s->{chunks} };
cmp_ok(scalar @c, '>=', 3, 'stream arrives in several chunks (' . scalar(@c) . ')');
my $spread = $c[-1][0] - $c[0][0];
cmp_ok($spread, '>=', 0.5, "chunks spread over time ($spread s)");
like($c[0][1], qr/tok0/, 'first chunk carries the first event');
unlike($c[0][1], qr/tok4/, 'first chunk does not carry the last event');

$s = $t->stream('/s/x', '{}', { 'X-Mock-Stream' => 3, 'X-Mock-Interval-Ms' => 50 });
is(scalar(() = $s->{body} =~ /^data: /mg), 4, 'X-Mock-Stream: 3');

# cut mode: headers + one event, then the connection breaks
$t->upstream_control('a', "mode=cut\n");
$s = $t->stream('/s/cut', '{"stream":true}', {}, { timeout => 10 });
is($s->{status}, 200, 'cut: 200 headers');
like($s->{body}, qr/tok0/, 'cut: first event');
unlike($s->{body}, qr/DONE/, 'cut: no [DONE]');
ok(!$s->{complete}, 'cut: chunked body not terminated');
$t->upstream_control('a', '');

# --- directly against the mock -------------------------------------------

{
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $t->port('b'), Timeout => 5);
    ok($sock, 'direct connect to mock');
    my $read_resp = sub {
        my $buf = '';
        my $sel = IO::Select->new($sock);
        my $deadline = time + 10;
        while (time < $deadline) {
            if ($buf =~ /\r\n\r\n/) {
                my ($len) = $buf =~ /Content-Length: (\d+)/i;
                my $hl = index($buf, "\r\n\r\n") + 4;
                return $buf if defined $len && length($buf) >= $hl + $len;
            }
            last unless $sel->can_read(1);
            my $n = sysread($sock, $buf, 65536, length $buf);
            last unless $n;
        }
        return $buf;
    };
    print $sock "POST /k1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              . "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    my $resp = $read_resp->();
    like($resp, qr{^HTTP/1.1 200}, 'chunked request answered');
    like($resp, qr/"body_length":11/, 'chunked request body decoded');
    unlike($resp, qr/Connection: close/i, 'HTTP/1.1 keep-alive');
    print $sock "GET /k2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    $resp = $read_resp->();
    like($resp, qr{"uri":"/k2"}, 'second request on the same connection');
    like($resp, qr/Connection: close/i, 'Connection: close honoured');
    my $buf;
    my $n = IO::Select->new($sock)->can_read(5) ? sysread($sock, $buf, 10) : -1;
    is($n, 0, 'mock closes after Connection: close');
    close $sock;
}

# --- request bodies and the Anthropic and Responses formats --------------

{
    my $direct = { port => $t->port('b') };
    my @before = $t->upstream_bodies('b');
    # the last two: the chunked POST /k1, then GET /k2 without a body
    is_deeply([@before[-2, -1]], ['hello world', ''],
              'a chunked body is recorded decoded');
    my $bin = join '', map { chr } 0 .. 255;
    $t->post('/raw', $bin, {}, $direct);
    $t->post('/raw', "{\"second\":1}\r\n", {}, $direct);
    my @after = $t->upstream_bodies('b');
    is(scalar @after, @before + 2, 'every body is recorded');
    ok($after[-2] eq $bin, 'a binary body is recorded byte for byte');
    is($t->upstream_last_body('b'), "{\"second\":1}\r\n",
       'bodies are recorded in order');

    my $m = $t->json($t->post('/v1/messages',
                              '{"model":"claude-x","max_tokens":5}',
                              {}, $direct));
    is_deeply([@$m{qw(type role model stop_reason)}, $m->{content},
               $m->{usage}],
              ['message', 'assistant', 'claude-x', 'end_turn',
               [{ type => 'text', text => 'Hello from b' }],
               { input_tokens => 12, output_tokens => 5 }],
              'POST /v1/messages answers an Anthropic message');
    my $s = $t->stream('/v1/messages', '{"model":"claude-x","stream":true}',
                       { 'X-Mock-Interval-Ms' => 1, 'X-Mock-Stream' => 2 },
                       $direct);
    my @ev = $s->{body} =~ /^event: (\S+)\ndata: \{/mg;
    is("@ev", 'message_start content_block_start content_block_delta'
              . ' content_block_delta content_block_stop message_delta'
              . ' message_stop', 'its stream has the Anthropic events');
    like($s->{body}, qr/"model":"claude-x"/, 'message_start has the model');

    my $r = $t->json($t->post('/v1/responses', '{"model":"gpt-r"}', {},
                              $direct));
    is_deeply([@$r{qw(object model status)}, $r->{output}[0]{content}[0]],
              ['response', 'gpt-r', 'completed',
               { type => 'output_text', text => 'Hello from b',
                 annotations => [] }],
              'POST /v1/responses answers an OpenAI response');
    $s = $t->stream('/v1/responses', '{"model":"gpt-r","stream":true}',
                    { 'X-Mock-Interval-Ms' => 1, 'X-Mock-Stream' => 1 },
                    $direct);
    @ev = $s->{body} =~ /^event: (\S+)\n/mg;
    is("@ev", 'response.created response.output_text.delta'
              . ' response.output_text.done response.completed',
       'its stream has the Responses events');
}

# --- failure modes -------------------------------------------------------

$t->upstream_control('b', "mode=reset\n");
$t0 = time;
$r = $t->get('/b/reset');
is($r->{status}, 502, 'reset -> 502');
ok(time - $t0 < 5, 'reset is fast');

$t->upstream_control('b', "mode=hang\n");
$t0 = time;
$r = $t->get('/t/hang');
$el = time - $t0;
is($r->{status}, 504, 'hang + proxy_read_timeout 1s -> 504');
ok($el >= 0.9 && $el < 6, "timeout after ~1s ($el s)");
$t->upstream_control('b', '');
is($t->get('/b/fine')->{status}, 200, 'b fine again');
ok((grep { $_ eq 'b GET /t/hang' } $t->upstream_log('b')), 'hang request logged');

# --- stop / restart an upstream ------------------------------------------

my $portb = $t->port('b');
$t->stop_upstream('b');
ok(!IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $portb,
                          Timeout => 2), 'stopped upstream refuses connections');
is($t->get('/b/down')->{status}, 502, 'stopped upstream -> 502');
$t->upstream('b');
is($t->port('b'), $portb, 'restarted upstream keeps its port');
is($t->json($t->get('/b/up'))->{served_by}, 'b', 'restarted upstream serves');

# --- reload --------------------------------------------------------------

my @old = $t->worker_pids;
my $swapped = $http_for->('b');
$t->config($swapped, no_module => 1);
ok($t->reload, 'reload took effect');
my @new = $t->worker_pids;
ok(@new && !(grep { my $n = $_; grep { $_ == $n } @old } @new), 'new workers');
is($t->json($t->get('/a/after'))->{served_by}, 'b', 'new config active');

$t->config("bogus_directive on;\n" . $swapped, no_module => 1);
$t0 = time;
ok(!$t->reload, 'bad config: reload reports failure');
ok(time - $t0 < 5, 'bad reload detected quickly');
is_deeply([$t->worker_pids], \@new, 'old workers still serve');
is($t->json($t->get('/a/still'))->{served_by}, 'b', 'still serving');
($rc, $out) = $t->test_config;
isnt($rc, 0, 'nginx -t fails on bad config');
like($out, qr/bogus_directive/, 'nginx -t reports the directive');

# --- logs and shutdown ---------------------------------------------------

ok(scalar(grep { m{GET /a/x} } $t->access_log), 'access log');
like($t->error_log, qr/unknown directive "bogus_directive"/, 'error log');

# an idle connection keeps a forked child of the mock alive
my $idle = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                 PeerPort => $t->port('a'), Timeout => 5);
ok($idle, 'idle connection to mock a');
my @procs;
AIRTest::_wait_for(5, sub { @procs = $t->processes; @procs >= 5 });
cmp_ok(scalar @procs, '>=', 5, 'processes tracked (' . scalar(@procs) . ')');
my $master = $t->master_pid;

$t->done(allow => qr/unknown directive "bogus_directive"/);
$t->stop;    # idempotent

ok(!kill(0, $master) || !AIRTest::_alive($master), 'master gone');
is_deeply([$t->processes], [], 'no process left behind');
is_deeply([grep { AIRTest::_alive($_) } @procs], [], 'all tracked processes gone');
my @kids = grep { AIRTest::_alive($_) } AIRTest::_children_of($$);
is_deeply(\@kids, [], 'no children of the test left');

done_testing;
