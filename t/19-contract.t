#!/usr/bin/perl
# Output contracts (the manifest's output_contract): every answer of a
# bundle with a contract is checked as it passes to the client.
#
# Per answer shape of the mock (X-Mock-Answer, t/lib/mock_upstream.pl) the
# access log's $ai_release_contract ("ok", "broken:RULE" or empty) and the
# bundle's outcome classes in the status JSON (a broken contract on a good
# delivery is "contract", a cut stream stays "connect"), per rule in its
# "contract" object; observe mode passes every byte unchanged (the SHA-256
# the mock sends as X-Mock-Body-Sha256 against what the client got) and a
# stream's events as they come; the verdicts are the same when nginx reads
# the answer one byte at a time; the two SSE dialects (OpenAI chat,
# Anthropic messages) good, broken, unended and cut; a Content-Encoding is
# not read; max_first_byte and max_latency; "errors ... contract" trips the
# breaker and probes close it again, without it nothing trips; enforce
# never lets a broken answer reach the client: failover to the known-good
# bundle (stable, or the fallback for a failing stable), else a 502 JSON
# error in the workflow's format naming the rule; a stream under enforce is
# refused only on its status and content type; worker memory stays flat
# over 100,000 checked answers.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRClient;
use IO::Socket::INET;
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(time sleep);

# runs checks of the status JSON's "contract" object (a group of them)
sub contract_object(&) {
    my ($code) = @_;
    $code->();
}

my $t = AIRTest->new;
$t->upstream($_) for qw(good bad dead);
$t->stop_upstream('dead');
$t->upstream_control('bad', "answer=wrong-model\n");

my ($G, $B, $D) = map { $t->port($_) } qw(good bad dead);

# the contracts
my $JSONC = <<'C';
  status: [200]
  content_type: application/json
  max_bytes: 2k
  json: true
  required: [/choices/0/message/content, /model]
  non_empty: [/choices/0/message/content]
  model_prefix: true
C
my $SSEC = <<'C';
  status: [200]
  content_type: text/event-stream
  json: true
  required: [/choices/0/message/content, /model]
  non_empty: [/choices/0/message/content]
  model_prefix: true
  stream_end: "[DONE]"
C
my $ANTHC = <<'C';
  status: [200]
  content_type: text/event-stream
  json: true
  required: [/content/0/text, /model]
  non_empty: [/content/0/text]
  model_prefix: true
  stream_end: message_stop
C
my $LATC = <<'C';
  status: [200]
  max_first_byte: 400ms
  max_latency: 1500ms
C
my $ENFC = $JSONC . "  mode: enforce\n";
my $ENFAC = <<'C';
  status: [200]
  content_type: application/json
  max_bytes: 4k
  json: true
  required: [/content/0/text]
  model_prefix: true
  mode: enforce
C
my $ENFSC = <<'C';
  status: [200]
  content_type: text/event-stream
  max_bytes: 64k
  json: true
  stream_end: "[DONE]"
  mode: enforce
C
my $MEMC = <<'C';
  status: [200]
  content_type: application/json
  max_bytes: 1k
  json: true
  required: [/choices/0/message/content]
  non_empty: [/choices/0/message/content]
  model_prefix: true
C

sub bundle {
    my ($version, $upstream, $model, $contract) = @_;
    return "name: c\nversion: $version\nupstream: $upstream\n"
         . "model: $model\noutput_contract:\n$contract";
}

$t->write_file('bundles/c.yaml', join "---\n",
    bundle('json',    "127.0.0.1:$G", 'm-json',   $JSONC),
    bundle('sse',     "127.0.0.1:$G", 'm-sse',    $SSEC),
    bundle('anth',    "127.0.0.1:$G", 'claude-a', $ANTHC),
    bundle('lat',     "127.0.0.1:$G", 'm-lat',    $LATC),
    bundle('dead',    "127.0.0.1:$D", 'm-json',   $JSONC),
    bundle('bstable', "127.0.0.1:$G", 'm-b',      $JSONC),
    bundle('bcanary', "127.0.0.1:$B", 'm-b',      $JSONC),
    bundle('estable', "127.0.0.1:$G", 'm-e',      $ENFC),
    bundle('ebad',    "127.0.0.1:$B", 'm-e',      $ENFC),
    bundle('efb',     "127.0.0.1:$G", 'm-e',      $ENFC),
    bundle('eanth',   "127.0.0.1:$B", 'claude-e', $ENFAC),
    bundle('esse',    "127.0.0.1:$G", 'm-es',     $ENFSC),
    bundle('mem',     'mem_back',     'm-mem',    $MEMC));

# name => [workflow block, location prefix]
my $CHAT = "format openai-chat;\n        apply model;";
my $ANTH = "format anthropic-messages;\n        apply model;";
my $BRK  = "trip consecutive=2 min_requests=1000 window=30s cooldown=1s "
         . "probes=2;";
my @wf = (
    [ obs    => "stable c\@json;\n        $CHAT" ],
    [ obs1   => "stable c\@json;\n        $CHAT" ],
    [ sse    => "stable c\@sse;\n        $CHAT" ],
    [ sse1   => "stable c\@sse;\n        $CHAT" ],
    [ anth   => "stable c\@anth;\n        $ANTH" ],
    [ lat    => "stable c\@lat;\n        $CHAT" ],
    [ dead   => "stable c\@dead;\n        trip off;\n        $CHAT" ],
    [ brk    => "stable c\@bstable;\n        canary c\@bcanary 100%;\n"
              . "        errors 5xx connect timeout invalid contract;\n"
              . "        $BRK\n        $CHAT" ],
    [ nobrk  => "stable c\@bstable;\n        canary c\@bcanary 100%;\n"
              . "        $BRK\n        $CHAT" ],
    [ enf    => "stable c\@estable;\n        canary c\@ebad 100%;\n"
              . "        failover on;\n        trip off;\n        $CHAT" ],
    [ enffb  => "stable c\@ebad;\n        fallback c\@efb;\n"
              . "        failover on;\n        trip off;\n        $CHAT" ],
    [ enf502 => "stable c\@ebad;\n        trip off;\n        $CHAT" ],
    [ enfa   => "stable c\@eanth;\n        trip off;\n        $ANTH" ],
    [ enfs   => "stable c\@esse;\n        trip off;\n        $CHAT" ],
    [ mem    => "stable c\@mem;\n        trip off;" ],
);

my $conf = <<'C';
    ai_release_bundles %%DIR%%/bundles/*.yaml;

    log_format ct '$arg_n s=$status w=$ai_release_workflow '
                  'b=$ai_release_bundle v=$ai_release_variant '
                  'f=$ai_release_failover c=$ai_release_contract '
                  'us=$upstream_status';

    upstream mem_back {
        server 127.0.0.1:%%PORT_back%%;
        keepalive 4;
    }

    # the upstream of the memory test: nginx itself, a small answer
    server {
        listen 127.0.0.1:%%PORT_back%%;
        access_log off;
        location / {
            default_type application/json;
            return 200 '{"id":"x","model":"m-mem-1","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}';
        }
    }
C
$conf .= wf_blocks(\@wf);
$conf .= <<'C';

    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        access_log %%DIR%%/ct.log ct;
        client_body_buffer_size 64k;
        keepalive_requests 1000000;

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_buffering off;
        proxy_read_timeout 10s;

        location = /status { ai_release_status; }
C
$conf .= wf_locations(\@wf, { mem => "            access_log off;\n" });
$conf .= "    }\n";

$t->config($conf);
$t->start;

############################################################################
# helpers

my $seq = 0;

# the access log line of request n (waits for it: nginx writes it when the
# request is done, which for a POST may be after the client saw the end)
sub logline {
    my ($n) = @_;
    my $line;
    wait_for(5, sub {
        for my $l (split /\n/, AIRTest::slurp($t->dir . '/ct.log') // '') {
            next unless $l =~ /^\Q$n\E s=/;
            $line = $l;
            return 1;
        }
        return 0;
    });
    return {} unless defined $line;
    my %h = (n => $n);
    @h{qw(s w b v f c us)} = $line =~
        /^\S+ s=(\S*) w=(\S*) b=(\S*) v=(\S*) f=(\S*) c=(\S*) us=(.*)$/;
    $_ = ($_ // '') eq '-' ? '' : $_ // '' for values %h;
    return \%h;
}

# one POST through nginx: workflow $wf, API path $api; %o: answer (the
# mock's shape), headers, stream (true: "stream": true), body
sub call {
    my ($wf, %o) = @_;
    my $api = $o{api} // '/v1/chat/completions';
    my $n = "$wf-" . ++$seq;
    my %h = %{ $o{headers} || {} };
    $h{'X-Mock-Answer'} = $o{answer} if defined $o{answer};
    my $body = $o{body} // encode_json({
        model => 'client-model',
        messages => [{ role => 'user', content => 'hi' }],
        $api eq '/v1/messages' ? (max_tokens => 16) : (),
        $o{stream} ? (stream => JSON::PP::true) : (),
    });
    my $r = $t->stream("/$wf$api?n=$n", $body, \%h,
                       { timeout => $o{timeout} // 20 });
    annotate($r);
    $r->{n} = $n;
    $r->{log} = logline($n);
    return $r;
}

# the client got exactly the bytes the upstream sent
sub same_bytes {
    my ($r, $name) = @_;
    my $want = $r->{headers}{'x-mock-body-sha256'} // 'no X-Mock-Body-Sha256';
    is(sha256_hex($r->{body}), $want,
       "$name: the client got the upstream's bytes unchanged ("
       . length($r->{body}) . ' bytes)');
}

sub bundle_doc {
    my ($wf, $id) = @_;
    return bundle_of(wf_of(status_doc($t), $wf), $id);
}

# the classes of the totals that are not 0, e.g. "contract=5 ok=2"
sub classes {
    my ($b) = @_;
    my $tt = $b->{totals} || {};
    return join ' ', map { "$_=$tt->{$_}" }
        grep { $_ ne 'total' && $_ ne 'errors' && $tt->{$_} } sort keys %$tt;
}

# the per-rule counts of a bundle's "contract" object, "json=1 ok=2 ..."
sub rules {
    my ($b) = @_;
    my $c = $b->{contract} || {};
    my $br = $c->{broken} || {};
    return join ' ', (map { "$_=$br->{$_}" } grep { $br->{$_} } sort keys %$br),
                     "ok=" . ($c->{ok} // 'none'),
                     "unread=" . ($c->{unread} // 'none');
}

# one answer in observe mode: 200, the verdict, the bytes unchanged; %o:
# stream, api, slow (the mock writes it in pieces of $o{piece} bytes, 1 by
# default, 1 ms apart)
sub observe_case {
    my ($wf, $shape, $want, $h, %o) = @_;
    my %h = %{ $h || {} };
    %h = (%h, 'X-Mock-Chunk-Bytes' => $o{piece} // 1, 'X-Mock-Chunk-Ms' => 1)
        if $o{slow};
    my $r = call($wf, answer => $shape, headers => \%h, stream => $o{stream},
                 api => $o{api});
    my $name = "$wf: " . ($o{stream} ? 'stream ' : '') . $shape
             . ($o{slow} ? ' (small reads)' : '');
    is("$r->{status} $r->{log}{c}", "200 $want",
       "$name: 200, \$ai_release_contract \"$want\"");
    same_bytes($r, $name);
    return ($r, $name);
}

############################################################################
# observe, JSON answers: every shape, then again read one byte at a time

my @shapes = (
    # shape, verdict, extra headers
    [ 'valid',           'ok' ],
    [ 'invalid-json',    'broken:json' ],
    [ 'missing-pointer', 'broken:required' ],
    [ 'empty-content',   'broken:non_empty' ],
    [ 'big',             'broken:max_bytes', { 'X-Mock-Answer-Bytes' => 2600 } ],
    [ 'wrong-type',      'broken:content_type' ],
    [ 'wrong-model',     'broken:model_prefix' ],
    [ 'gzip',            '' ],
);

for my $wf (qw(obs obs1)) {
    my $slow = $wf eq 'obs1';
    for my $s (@shapes) {
        my ($shape, $want, $h) = @$s;
        # one byte per read (three for the big answer, to stay quick)
        observe_case($wf, $shape, $want, $h, slow => $slow,
                     piece => $shape eq 'big' ? 3 : 1);
    }
    # statuses: 404 from the upstream breaks "status" (a contract error),
    # 500 too but stays a 5xx
    my $r = call($wf, headers => { 'X-Mock-Status' => 404 });
    is("$r->{status} $r->{log}{c}", '404 broken:status',
       "$wf: an upstream 404: broken:status");
    $r = call($wf, headers => { 'X-Mock-Status' => 500 });
    is("$r->{status} $r->{log}{c}", '500 broken:status',
       "$wf: an upstream 500: broken:status");

    my $b = bundle_doc($wf, 'c@json');
    is(classes($b), '5xx=1 contract=7 ok=2',
       "$wf: totals: 7 contract errors (6 shapes and the 404), the 500 a "
       . '5xx, valid and gzip ok');
    contract_object {
        is(rules($b), 'content_type=1 json=1 max_bytes=1 model_prefix=1 '
           . 'non_empty=1 required=1 status=2 ok=1 unread=1',
           "$wf: per rule in its \"contract\" object; gzip unread");
        is($b->{contract}{mode}, 'observe', "$wf: mode observe");
    };
}

############################################################################
# observe, OpenAI chat streams

{
    my @cases = (
        [ 'valid',            'ok' ],
        [ 'sse-broken-event', 'broken:json' ],
        [ 'sse-no-end',       'broken:stream_end' ],
        [ 'sse-cut',          'broken:stream_end' ],
        [ 'wrong-model',      'broken:model_prefix' ],
        [ 'empty-content',    'broken:non_empty' ],
        [ 'missing-pointer',  'broken:required' ],
    );
    for my $wf (qw(sse sse1)) {
        my $slow = $wf eq 'sse1';
        for my $c (@cases) {
            my ($shape, $want) = @$c;
            my ($r, $name) = observe_case($wf, $shape, $want,
                                          { 'X-Mock-Interval-Ms' => 20 },
                                          stream => 1, slow => $slow);
            if ($shape eq 'sse-cut') {
                ok(!$r->{complete}, "$name: the client's answer is cut too");
            } else {
                ok($r->{complete}, "$name: the answer is complete");
            }
        }
        my $b = bundle_doc($wf, 'c@sse');
        is(classes($b), 'connect=1 contract=5 ok=1',
           "$wf: the cut stream counts as connect, the other 5 broken ones "
           . 'as contract');
        contract_object {
            is(rules($b), 'json=1 model_prefix=1 non_empty=1 required=1 '
               . 'stream_end=2 ok=1 unread=0',
               "$wf: per rule, the cut stream's stream_end included");
        };
    }

    # the events pass as they come: the first is read long before the last
    my $r = call('sse', answer => 'valid', stream => 1,
                 headers => { 'X-Mock-Stream' => 4,
                              'X-Mock-Interval-Ms' => 300 });
    my @c = @{ $r->{chunks} };
    my ($first) = grep { $c[$_][1] =~ /tok0/ } 0 .. $#c;
    my ($last)  = grep { $c[$_][1] =~ /tok3/ } 0 .. $#c;
    ok(defined $first && defined $last && $first < $last,
       'sse: the first event reached the client in an earlier read than '
       . 'the last (' . scalar(@c) . ' reads)');
    ok(defined $first && $c[$first][1] !~ /tok1|DONE/,
       'sse: the read with the first event holds none of the later ones');
    is($r->{log}{c}, 'ok', 'sse: spread out, ok');
}

############################################################################
# observe, Anthropic streams

{
    my @cases = (
        # shape, verdict, small reads
        [ 'valid',            'ok',                  0 ],
        [ 'sse-broken-event', 'broken:json',         0 ],
        [ 'sse-no-end',       'broken:stream_end',   0 ],
        [ 'sse-cut',          'broken:stream_end',   0 ],
        [ 'empty-content',    'broken:non_empty',    0 ],
        [ 'wrong-model',      'broken:model_prefix', 0 ],
        [ 'valid',            'ok',                  1 ],
        [ 'sse-broken-event', 'broken:json',         1 ],
    );
    for my $c (@cases) {
        my ($shape, $want, $slow) = @$c;
        my ($r, $name) = observe_case('anth', $shape, $want,
                                      { 'X-Mock-Interval-Ms' => 20 },
                                      api => '/v1/messages', stream => 1,
                                      slow => $slow);
        like($r->{body}, qr/event: message_start/,
             "$name: Anthropic's events");
    }
    my $b = bundle_doc('anth', 'c@anth');
    is(classes($b), 'connect=1 contract=5 ok=2',
       'anth: totals: the cut stream connect, 5 contract errors');
    contract_object {
        is(rules($b), 'json=2 model_prefix=1 non_empty=1 stream_end=2 ok=2 '
           . 'unread=0', 'anth: per rule');
    };
}

############################################################################
# nginx's own answer (no upstream reachable) is not checked

{
    my $r = call('dead', answer => 'valid');
    is("$r->{status} $r->{log}{c}", '502 ',
       'dead: nginx\'s own 502: not checked, $ai_release_contract empty');
    my $b = bundle_doc('dead', 'c@dead');
    is(classes($b), 'connect=1', 'dead: a connect error, no contract error');
    contract_object {
        is(rules($b), 'ok=0 unread=0', 'dead: no verdict counted');
    };
}

############################################################################
# latency: max_first_byte (the first body byte) and max_latency

{
    my $r = call('lat', answer => 'valid');
    is($r->{log}{c}, 'ok', 'lat: a quick answer: ok');
    $r = call('lat', answer => 'valid',
              headers => { 'X-Mock-Delay-Ms' => 700 });
    is("$r->{status} $r->{log}{c}", '200 broken:max_first_byte',
       'lat: 700 ms before the answer: broken:max_first_byte (400ms)');
    same_bytes($r, 'lat: slow');
    $r = call('lat', answer => 'valid', stream => 1,
              headers => { 'X-Mock-Stream' => 5, 'X-Mock-Interval-Ms' => 500 });
    is("$r->{status} $r->{log}{c}", '200 broken:max_latency',
       'lat: a stream of 2 s with a quick first event: broken:max_latency '
       . '(1500ms)');
    $r = call('lat', answer => 'valid', stream => 1,
              headers => { 'X-Mock-Delay-Ms' => 700,
                           'X-Mock-Interval-Ms' => 10 });
    is($r->{log}{c}, 'broken:max_first_byte',
       'lat: a stream that starts late: broken:max_first_byte');
    my $b = bundle_doc('lat', 'c@lat');
    is(classes($b), 'contract=3 ok=1', 'lat: totals');
    contract_object {
        is(rules($b), 'max_first_byte=2 max_latency=1 ok=1 unread=0',
           'lat: per rule');
    };
}

############################################################################
# errors ... contract: the breaker trips on contract errors and recovers
# through its probes; without "contract" in errors it never trips on them

{
    # bad answers wrong-model (its control file) to both workflows
    my @r = map { call('nobrk') } 1 .. 3;
    is(join(',', map { "$_->{variant} $_->{log}{c}" } @r),
       join(',', ('canary broken:model_prefix') x 3),
       'nobrk: three contract errors on the canary');
    my $b = bundle_doc('nobrk', 'c@bcanary');
    is(classes($b), 'contract=3', 'nobrk: counted as contract');
    is($b->{breaker}{state}, 'closed',
       'nobrk: errors without "contract": the breaker stays closed');

    @r = map { call('brk') } 1 .. 2;
    is(join(',', map { "$_->{variant} $_->{log}{c}" } @r),
       join(',', ('canary broken:model_prefix') x 2),
       'brk: two contract errors on the canary');
    ok(wait_for(2, sub { ntrans($t, 'brk', 'c@bcanary', 'closed', 'open') }),
       'brk: "closed -> open" logged');
    my $T0 = time;
    $b = bundle_doc('brk', 'c@bcanary');
    is($b->{breaker}{state}, 'open', 'brk: the breaker is open');
    is(classes($b), 'contract=2', 'brk: two contract errors counted');

    my $r = call('brk');
    is("$r->{variant} $r->{served_by} $r->{log}{c}", 'stable good ok',
       'brk: open: stable serves, and keeps the contract');

    # the canary keeps its contract again: two probes, closed
    $t->upstream_control('bad', "answer=valid\n");
    my $wait = $T0 + 1.1 - time;
    sleep $wait if $wait > 0;
    my @p;
    wait_for(5, sub {
        my $x = call('brk');
        push @p, $x if $x->{variant} eq 'canary';
        return @p >= 2;
    }, 0.05);
    is(join(',', map { $_->{log}{c} } @p), 'ok,ok',
       'brk: after the cooldown two probes reach the canary, both ok');
    ok(wait_for(2, sub { ntrans($t, 'brk', 'c@bcanary', 'half-open',
                                'closed') }),
       'brk: "half-open -> closed" logged');
    @r = map { call('brk') } 1 .. 3;
    is(join(',', map { $_->{variant} } @r), 'canary,canary,canary',
       'brk: closed: the canary has its traffic back');
    is(bundle_doc('brk', 'c@bcanary')->{breaker}{state}, 'closed',
       'brk: status says closed');
    $t->upstream_control('bad', "answer=wrong-model\n");
}

############################################################################
# enforce: a broken answer never reaches the client

{
    # failover on: the canary's broken answer is replaced by stable's
    my $r = call('enf');
    is($r->{status}, 200, 'enf: 200');
    like($r->{body}, qr/Hello from good/, 'enf: stable\'s answer');
    unlike($r->{body}, qr/Hello from bad|other-model/,
           'enf: nothing of the broken answer');
    is("$r->{bundle} $r->{variant}", 'c@estable stable',
       'enf: X-AI-Release names stable');
    # nginx separates the attempts of two upstream groups with " : "
    is($r->{log}{us}, '200 : 200',
       'enf: $upstream_status shows both attempts');
    is($r->{log}{f}, 'c@ebad', 'enf: $ai_release_failover names the canary');
    is(classes(bundle_doc('enf', 'c@ebad')), 'contract=1',
       'enf: the canary counted a contract error');
    is(classes(bundle_doc('enf', 'c@estable')), 'ok=1',
       'enf: stable an ok');
    contract_object {
        is(bundle_doc('enf', 'c@ebad')->{contract}{mode}, 'enforce',
           'enf: mode enforce');
    };

    # a failing stable: the fallback serves
    $r = call('enffb');
    is("$r->{status} $r->{bundle} $r->{variant}", '200 c@efb fallback',
       'enffb: stable broke its contract: the fallback serves');
    like($r->{body}, qr/Hello from good/, 'enffb: the fallback\'s answer');
    unlike($r->{body}, qr/Hello from bad/, 'enffb: nothing of stable\'s');
    is($r->{log}{us}, '200 : 200', 'enffb: both attempts');

    # a good answer under enforce passes unchanged
    $r = call('enf502', answer => 'valid');
    is("$r->{status} $r->{log}{c}", '200 ok', 'enf502: a good answer: 200 ok');
    same_bytes($r, 'enf502: a good answer');

    # no failover: a 502 in OpenAI's error shape naming the rule
    for my $c ([ 'wrong-model', 'model_prefix', {} ],
               [ 'big', 'max_bytes', { 'X-Mock-Answer-Bytes' => 20000 } ],
               [ 'invalid-json', 'json',
                 { 'X-Mock-Chunk-Bytes' => 1, 'X-Mock-Chunk-Ms' => 1 } ]) {
        my ($shape, $rule, $h) = @$c;
        $r = call('enf502', answer => $shape, headers => $h);
        is($r->{status}, 502, "enf502: $shape: 502");
        my $j = $t->json($r->{body}) // {};
        is($j->{error}{type}, 'contract_error',
           "enf502: $shape: {\"error\":{\"type\":\"contract_error\"}}");
        like($j->{error}{message} // '', qr/\b\Q$rule\E\b/,
             "enf502: $shape: the message names $rule");
        unlike($r->{body}, qr/Hello from|xxxxxxxx/,
               "enf502: $shape: nothing of the broken answer");
        is($r->{log}{c}, "broken:$rule", "enf502: $shape: broken:$rule");
    }
    # held up to max_bytes (2k): 2048 bytes pass whole, also read one byte
    # at a time; 2049 do not; a gzipped answer is not read and passes
    for my $c ([ 2048, 200, 'ok', 0 ], [ 2048, 200, 'ok', 1 ],
               [ 2049, 502, 'broken:max_bytes', 0 ]) {
        my ($n, $status, $want, $slow) = @$c;
        my %h = ('X-Mock-Answer-Bytes' => $n);
        %h = (%h, 'X-Mock-Chunk-Bytes' => 1, 'X-Mock-Chunk-Ms' => 0) if $slow;
        $r = call('enf502', answer => 'big', headers => \%h);
        my $name = "enf502: an answer of $n bytes"
                 . ($slow ? ' (small reads)' : '');
        is("$r->{status} $r->{log}{c}", "$status $want", "$name: $status $want");
        same_bytes($r, $name) if $status == 200;
    }
    $r = call('enf502', answer => 'gzip');
    is("$r->{status} $r->{log}{c}", '200 ',
       'enf502: gzip: passed unread');
    same_bytes($r, 'enf502: gzip');

    $r = call('enf502', headers => { 'X-Mock-Status' => 404 });
    is($r->{status}, 502, 'enf502: an upstream 404 breaks status: 502');
    like(($t->json($r->{body}) // {})->{error}{message} // '',
         qr/\bstatus\b/, 'enf502: the message names status');

    # anthropic-messages: its error shape
    $r = call('enfa', api => '/v1/messages');
    is($r->{status}, 502, 'enfa: 502');
    my $j = $t->json($r->{body}) // {};
    is($j->{type}, 'error', 'enfa: {"type":"error",...}');
    is(ref $j->{error}, 'HASH', 'enfa: with an "error" object');
    like($j->{error}{message} // '', qr/\bmodel_prefix\b/,
         'enfa: the message names model_prefix');
    unlike($r->{body}, qr/Hello from bad/, 'enfa: nothing of the answer');
    $r = call('enfa', api => '/v1/messages', answer => 'valid');
    is("$r->{status} $r->{log}{c}", '200 ok', 'enfa: a good answer passes');

    # a stream under enforce: refused on its content type or status only
    $r = call('enfs', stream => 1, answer => 'wrong-type',
              headers => { 'X-Mock-Interval-Ms' => 10 });
    is($r->{status}, 502, 'enfs: a stream of the wrong content type: 502');
    unlike($r->{body}, qr/tok0/, 'enfs: none of its events');
    like(($t->json($r->{body}) // {})->{error}{message} // '',
         qr/\bcontent_type\b/, 'enfs: the message names content_type');
    $r = call('enfs', stream => 1, headers => { 'X-Mock-Status' => 429 });
    is($r->{status}, 502, 'enfs: a 429 instead of a stream: 502');
    for my $c ([ 'sse-no-end', 'broken:stream_end' ],
               [ 'sse-broken-event', 'broken:json' ],
               [ 'valid', 'ok' ]) {
        my ($shape, $want) = @$c;
        $r = call('enfs', stream => 1, answer => $shape,
                  headers => { 'X-Mock-Interval-Ms' => 10 });
        is("$r->{status} $r->{log}{c}", "200 $want",
           "enfs: stream $shape: delivered (past its first byte), $want");
        same_bytes($r, "enfs: stream $shape");
    }
}

############################################################################
# memory: 100,000 checked answers on one keep-alive connection (nginx is its
# own upstream: a few seconds); the worker's RSS does not grow between the
# 10,000th and the 100,000th

sub vmrss {
    my ($pid) = @_;
    my $s = AIRTest::slurp("/proc/$pid/status") // '';
    return $s =~ /^VmRSS:\s+(\d+)/m ? $1 : undef;
}

sub keepalive_gets {
    my ($sock, $n, $path) = @_;
    my $bad = 0;
    for my $i (1 .. $n) {
        print $sock "GET $path HTTP/1.1\r\nHost: x\r\n\r\n";
        my $head = '';
        while ($head !~ /\r\n\r\n/) {
            my $got = sysread($sock, $head, 4096, length $head);
            return -1 unless $got;
        }
        my ($h, $rest) = split /\r\n\r\n/, $head, 2;
        my ($len) = $h =~ /^Content-Length: (\d+)/mi;
        $bad++ unless $h =~ m{^HTTP/1\.1 200} && defined $len;
        $len //= 0;
        while (length $rest < $len) {
            my $got = sysread($sock, $rest, $len - length $rest, length $rest);
            return -1 unless $got;
        }
    }
    return $bad;
}

{
    my ($w) = $t->worker_pids;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port('nginx'),
                                  Proto => 'tcp');
    $s->autoflush(1);
    binmode $s;
    my $t0 = time;
    is(keepalive_gets($s, 10000, '/mem/m'), 0,
       'mem: 10,000 answers, all 200');
    my $rss0 = vmrss($w);
    is(keepalive_gets($s, 90000, '/mem/m'), 0, 'mem: 90,000 more, all 200');
    my $rss1 = vmrss($w);
    my $dt = time - $t0;
    close $s;
    diag(sprintf 'mem: 100,000 answers in %.1f s; worker VmRSS %d kB after '
         . '10,000, %d kB after 100,000', $dt, $rss0, $rss1);
    SKIP: {
        # AddressSanitizer keeps freed memory in its quarantine (256 MB by
        # default) before reusing it: RSS grows with every request there and
        # says nothing of the module's memory (make asan: the module is
        # compiled into nginx, AIR_MODULE is empty)
        skip 'worker RSS under AddressSanitizer: its quarantine holds freed '
             . 'memory', 1
            if defined $ENV{AIR_MODULE} && $ENV{AIR_MODULE} eq '';
        ok(defined $rss0 && defined $rss1 && $rss1 - $rss0 <= 128,
           "mem: worker RSS flat: $rss0 kB -> $rss1 kB (at most +128 kB)");
    }
    my $b = bundle_doc('mem', 'c@mem');
    is($b->{totals}{ok}, 100000, 'mem: 100,000 ok answers');
    contract_object {
        is($b->{contract}{checked}, 100000, 'mem: 100,000 answers checked');
        is($b->{contract}{ok}, 100000, 'mem: all kept the contract');
    };
}

$t->done;
done_testing;
