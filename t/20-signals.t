#!/usr/bin/perl
# Behaviour signals and drift (issue 15) in a running nginx: the mock
# upstreams answer with set token counts, text lengths, endings, tool calls,
# refusals and first-token delays (t/lib/mock_upstream.pl's behaviour
# knobs), and the status JSON's "signals" of each bundle must count every
# one of them exactly:
#
# - per format (openai-chat, openai-responses, anthropic-messages), JSON
#   and SSE: answers, with_usage, the sums of output and input tokens
#   (mean * with_usage), text bytes, answer bytes (against the bytes the
#   client got), tool calls, refusals, endings by value, first_token_ms
#   (count, and p50 within a bucket of what the client saw, after the
#   mock's 150 ms), tokens_per_second's count; answers without usage
#   still count bytes and endings; non-2xx answers count nothing; the
#   Prometheus answers and endings agree; cost from the bundle's pricing
#   in the currency of ai_release_currency;
# - a histogram of a known mix (50 answers of 100 output tokens, 50 of
#   1000): p50 and p95 within a quarter;
# - an answer cut by the upstream counts (ending none), one the client
#   left does not; signals off counts nothing; configuration errors fail
#   nginx -t with the nginx.conf file and line;
# - drift: a canary answering twice stable's output tokens trips with
#   drift:output_tokens once both have min_answers (not before), its
#   traffic goes to stable, its signals start over and the trip is logged
#   once; a canary whose first tokens come 300 ms late trips with
#   drift:first_token; a canary answering like stable does not trip;
#   mode=observe never trips and logs one "drift observed" line (also
#   after a pause in which the canary had too few answers to judge: no
#   "drift cleared" then), then one "drift cleared" when the canary is
#   back within its margin;
# - a reload with the same digests keeps the counts, a new digest starts
#   over, and signals turned on by a reload count.
#
# nginx runs two workers: every count is the shared one.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRClient;
use JSON::PP;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);

my $T0 = time;

############################################################################
# configuration errors: nginx -t fails and names nginx.conf:LINE

{
    my $t = AIRTest->new;
    $t->write_file('b.yaml', "name: e\nversion: \"1\"\n"
                   . "upstream: 127.0.0.1:1\nmodel: m\n---\n"
                   . "name: e\nversion: \"2\"\n"
                   . "upstream: 127.0.0.1:1\nmodel: m\n");
    my @cases = (
        [ 'signals on without format',
          "stable e\@1;\n        signals on;",
          qr/"signals on" in workflow "e" needs its wire format/,
          qr/ai_release_workflow e/ ],
        [ 'drift without format',
          "stable e\@1;\n        canary e\@2 10%;\n"
          . "        drift output_tokens=1.5x;",
          qr/"drift" in workflow "e" compares behaviour signals, which need the workflow's "format"/,
          qr/drift output_tokens/ ],
        [ 'drift with signals off',
          "stable e\@1;\n        canary e\@2 10%;\n"
          . "        format openai-chat;\n        signals off;\n"
          . "        drift output_tokens=1.5x;",
          qr/"signals off" turns off/,
          qr/drift output_tokens/ ],
        [ 'bad drift parameter',
          "stable e\@1;\n        canary e\@2 10%;\n"
          . "        format openai-chat;\n"
          . "        drift output_tokens=1.5x min_answers=lots;",
          qr/invalid "min_answers=lots" in "drift" of workflow "e"/,
          qr/drift output_tokens/ ],
        [ 'bad drift margin',
          "stable e\@1;\n        canary e\@2 10%;\n"
          . "        format openai-chat;\n        drift refusals=5pt;",
          qr/invalid "refusals=5pt" in "drift" of workflow "e"/,
          qr/drift refusals/ ],
        [ 'unknown drift signal',
          "stable e\@1;\n        canary e\@2 10%;\n"
          . "        format openai-chat;\n        drift output_tokns=1.5x;",
          qr/invalid "output_tokns=1.5x" in "drift" of workflow "e": .*did you mean "output_tokens"/,
          qr/drift output_tokns/ ],
        [ 'drift without a signal',
          "stable e\@1;\n        canary e\@2 10%;\n"
          . "        format openai-chat;\n        drift min_answers=10;",
          qr/"drift" of workflow "e" names no signal/,
          qr/drift min_answers/ ],
        [ 'bad currency',
          "stable e\@1;\n        format openai-chat;",
          qr/invalid currency "euros!"/,
          qr/ai_release_currency/, "    ai_release_currency euros!;\n" ],
    );
    for my $c (@cases) {
        my ($name, $wf, $want, $at, $http) = @$c;
        my $conf = $t->config("    ai_release_bundles %%DIR%%/b.yaml;\n"
            . ($http // '')
            . "    ai_release_workflow e {\n        $wf\n    }\n"
            . "    server {\n        listen 127.0.0.1:%%PORT_nginx%%;\n"
            . "        location / { ai_release e; }\n    }\n");
        my ($rc, $out) = $t->test_config;
        isnt($rc, 0, "$name: nginx -t fails");
        like($out, $want, "$name: the message") or diag $out;
        my ($line) = grep { (split /\n/, $conf)[$_ - 1] =~ $at }
                     1 .. scalar(split /\n/, $conf);
        like($out, qr/\Q${\ $t->dir}\E\/nginx\.conf:$line\b/,
             "$name: names nginx.conf:$line") or diag $out;
    }
}

############################################################################
# the running configuration

my $t = AIRTest->new;
# a: the counting workflows; ds/dc: drift stable and canary, nc: a canary
# like stable; os/oc: observe
$t->upstream($_) for qw(a ds dc nc os oc fs fc);
$t->upstream_control('ds', "output_tokens=100\n");
$t->upstream_control('dc', "output_tokens=200\n");
$t->upstream_control('nc', "output_tokens=100\n");
$t->upstream_control('os', "output_tokens=100\n");
$t->upstream_control('oc', "output_tokens=200\n");
$t->upstream_control('fs', "first_token_ms=40\ninterval_ms=0\n");
$t->upstream_control('fc', "first_token_ms=300\ninterval_ms=0\n");

my %MODEL;          # version => model, "m" by default
my $PRICING = "pricing: {input_per_mtok: 2.50, output_per_mtok: 10.00}\n";
sub bundle {
    my ($version, $up, $extra) = @_;
    return "name: s\nversion: $version\nupstream: up_$up\nmodel: "
         . ($MODEL{$version} // 'm') . "\n" . ($extra // '');
}
sub write_bundles {
    $t->write_file('bundles/s.yaml', join "---\n",
        bundle('chat', 'a', $PRICING), bundle('resp', 'a'),
        bundle('anth', 'a'), bundle('hist', 'a'), bundle('off', 'a'),
        bundle('cut', 'a'), bundle('left', 'a'), bundle('ds', 'ds'),
        bundle('dc', 'dc'), bundle('ns', 'ds'), bundle('nc', 'nc'),
        bundle('os', 'os'), bundle('oc', 'oc'), bundle('fs', 'fs'),
        bundle('fc', 'fc'));
}
write_bundles();

my $W = "trip window=120s;";
my @wf = (
    [ chat => "stable s\@chat;\n        format openai-chat;\n        $W" ],
    [ resp => "stable s\@resp;\n        format openai-responses;\n"
              . "        $W" ],
    [ anth => "stable s\@anth;\n        format anthropic-messages;\n"
              . "        $W" ],
    [ hist => "stable s\@hist;\n        format openai-chat;\n        $W" ],
    [ cut  => "stable s\@cut;\n        format anthropic-messages;\n"
              . "        trip off;\n        $W" ],
    [ left => "stable s\@left;\n        format openai-chat;\n        $W" ],
    [ off  => "stable s\@off;\n        format openai-chat;\n"
              . "        signals off;\n        $W" ],
    [ drift => "stable s\@ds;\n        canary s\@dc 50%;\n"
              . "        format openai-chat;\n"
              . "        trip window=120s cooldown=60s;\n"
              . "        drift output_tokens=1.5x min_answers=30 "
              . "mode=trip;" ],
    [ same => "stable s\@ns;\n        canary s\@nc 50%;\n"
              . "        format openai-chat;\n"
              . "        trip window=120s cooldown=60s;\n"
              . "        drift output_tokens=1.5x min_answers=30 "
              . "mode=trip;" ],
    [ ft   => "stable s\@fs;\n        canary s\@fc 50%;\n"
              . "        format openai-chat;\n"
              . "        trip window=120s cooldown=60s;\n"
              . "        drift first_token=2x min_answers=20 mode=trip;" ],
    [ obs  => "stable s\@os;\n        canary s\@oc 50%;\n"
              . "        format openai-chat;\n        trip window=2s;\n"
              . "        drift output_tokens=1.5x min_answers=10 "
              . "mode=observe;" ],
);

my $conf = "    ai_release_bundles %%DIR%%/bundles/*.yaml;\n"
         . "    ai_release_currency EUR;\n";
# kept-alive connections to the mocks: no fork per request
$conf .= "    upstream up_$_ { server 127.0.0.1:%%PORT_$_%%; keepalive 16; }\n"
    for qw(a ds dc nc os oc fs fc);
$conf .= wf_blocks(\@wf);
$conf .= <<'C';

    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        keepalive_requests 100000;

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_buffering off;
        proxy_read_timeout 10s;

        location = /status { ai_release_status; }
C
$conf .= wf_locations(\@wf);
$conf .= "    }\n";
$t->config($conf, workers => 2);
$t->start;

############################################################################
# helpers

my %PATH = (chat => '/v1/chat/completions', resp => '/v1/responses',
            anth => '/v1/messages');
my %API = (chat => 'chat', resp => 'resp', anth => 'anth', hist => 'chat',
           cut => 'anth', left => 'chat', ft => 'chat',
           off => 'chat', drift => 'chat', same => 'chat', obs => 'chat');

# the first text event of a stream, per format
my %TEXT = (chat => qr/"delta":\{"content":"./,
            resp => qr/"delta":".*"type":"response\.output_text\.delta"/,
            anth => qr/"text":".*"type":"text_delta"/);

sub body_for {
    my ($api, %o) = @_;
    return encode_json({
        model => 'm',
        $api eq 'resp' ? (input => 'hi')
                       : (messages => [{ role => 'user', content => 'hi' }]),
        $api eq 'anth' ? (max_tokens => 64) : (),
        $o{stream} ? (stream => JSON::PP::true) : (),
        $o{include_usage}
            ? (stream_options => { include_usage => JSON::PP::true }) : (),
    });
}

# one request to workflow $wf; %k: the mock's knobs (X-Mock-...), stream
# (the number of text events), include_usage
sub call {
    my ($wf, %k) = @_;
    my $api = $API{$wf};
    my $stream = delete $k{stream};
    my $iu = delete $k{include_usage};
    my %h;
    for my $k (keys %k) {
        (my $n = $k) =~ s/(^|_)(\w)/$1 eq '' ? uc $2 : "-\u$2"/ge;
        $h{"X-Mock-$n"} = $k{$k};
    }
    if ($stream) {
        $h{'X-Mock-Stream'} = $stream;
        $h{'X-Mock-Interval-Ms'} //= 20;
    }
    my $r = $t->stream("/$wf$PATH{$api}",
                       body_for($api, stream => $stream,
                                include_usage => $iu),
                       \%h, { timeout => 10 });
    # when the client saw the first text event (a read of its own: the
    # mock waits first_token_ms before it)
    my $seen = '';
    for my $c (@{ $r->{chunks} }) {
        $seen .= $c->[1];
        if ($seen =~ $TEXT{$api}) {
            $r->{first_text} = $c->[0];
            last;
        }
    }
    return annotate($r);
}

sub signals_of {
    my ($wf, $bundle) = @_;
    return bundle_of(wf_of(status_doc($t), $wf), $bundle)->{signals};
}

sub near {
    my ($got, $want, $tol, $name) = @_;
    ok(defined $got && abs($got - $want) <= $tol * abs($want) + 1e-6,
       "$name: " . ($got // 'undef') . " within "
       . ($tol * 100) . "% of $want");
}

############################################################################
# every signal counted exactly, per format, JSON and SSE

# what the signals of an answer are in each format: the ending counted
# for the knob's finish (see ai_release_signals.h), and whether a refusal
# keeps its text (openai formats give the refusal instead of the text)
my %ENDING = (
    chat => { stop => 'stop', length => 'length', tool_calls => 'tool_calls',
              content_filter => 'content_filter', refusal => 'stop' },
    resp => { stop => 'stop', length => 'length', tool_calls => 'tool_calls',
              content_filter => 'content_filter', refusal => 'stop' },
    anth => { stop => 'stop', length => 'length', tool_calls => 'tool_calls',
              content_filter => 'other', refusal => 'refusal' },
);

# the answers of each format: knobs, and what they must count
my @CASES = (
    # JSON
    { output_tokens => 100, input_tokens => 40, text_bytes => 50 },
    { output_tokens => 300, input_tokens => 60, text_bytes => 20,
      finish => 'length' },
    { output_tokens => 7, input_tokens => 9, text_bytes => 0,
      tool_calls => 3 },
    { output_tokens => 11, input_tokens => 13, text_bytes => 33,
      refusal => 1 },
    { output_tokens => 17, input_tokens => 19, text_bytes => 5,
      finish => 'content_filter' },
    { output_tokens => 999, input_tokens => 999, text_bytes => 64,
      usage => 'none' },
    # SSE
    { stream => 4, include_usage => 1, output_tokens => 200,
      input_tokens => 30, text_bytes => 40, first_token_ms => 150 },
    { stream => 3, include_usage => 1, output_tokens => 21,
      input_tokens => 23, text_bytes => 9, tool_calls => 2,
      first_token_ms => 150 },
    { stream => 2, include_usage => 1, output_tokens => 25,
      input_tokens => 27, text_bytes => 12, refusal => 1,
      first_token_ms => 150 },
    { stream => 5, include_usage => 1, output_tokens => 31,
      input_tokens => 33, text_bytes => 15, finish => 'length',
      first_token_ms => 150 },
    { stream => 3, include_usage => 1, output_tokens => 41,
      input_tokens => 43, text_bytes => 21, usage => 'none',
      first_token_ms => 150 },
);

for my $api (qw(chat resp anth)) {
    my %want = (answers => 0, usage => 0, out => 0, in => 0, text => 0,
                bytes => 0, tools => 0, refusals => 0, first => 0,
                rate => 0, endings => {}, first_ms => []);
    my @cases = @CASES;
    # an OpenAI chat stream gives usage only when asked for it
    push @cases, { stream => 3, output_tokens => 51, input_tokens => 53,
                   text_bytes => 30, first_token_ms => 150 }
        if $api eq 'chat';
    for my $c (@cases) {
        my $r = call($api, %$c);
        my $what = "$api: " . join ' ', map { "$_=$c->{$_}" } sort keys %$c;
        is($r->{status}, 200, "$what: 200") or diag explain $r;
        ok($r->{complete}, "$what: complete");
        # usage: both counts given, but an OpenAI chat stream only when
        # the request asked for them
        my $usage = ($c->{usage} // '') ne 'none'
                    && !($api eq 'chat' && $c->{stream}
                         && !$c->{include_usage});
        my $refused = $c->{refusal} || ($c->{finish} // '') eq 'refusal';
        my $finish = $c->{finish} // ($refused ? 'refusal'
                                      : $c->{tool_calls} ? 'tool_calls'
                                      : 'stop');
        my $text = $refused && $api ne 'anth' ? 0 : $c->{text_bytes};
        $want{answers}++;
        $want{bytes} += length $r->{body};
        $want{text} += $text;
        $want{tools} += $c->{tool_calls} // 0;
        $want{refusals}++ if $refused;
        $want{endings}{ $ENDING{$api}{$finish} }++;
        if ($usage) {
            $want{usage}++;
            $want{out} += $c->{output_tokens};
            $want{in} += $c->{input_tokens};
        }
        if ($c->{stream} && $text > 0) {
            $want{first}++;
            push @{ $want{first_ms} }, ($r->{first_text} // 0) * 1000;
            $want{rate}++ if $usage;
        }
    }

    # a non-2xx answer is not counted
    for my $st (500, 404) {
        my $r = call($api, status => $st, output_tokens => 5000);
        is($r->{status}, $st, "$api: a $st answer passes");
    }

    my $s = signals_of($api, "s\@$api");
    ok($s, "$api: the bundle has signals in the status JSON")
        or next;
    is($s->{window_ms}, 120000, "$api: window_ms is the workflow's window");
    is($s->{answers}, $want{answers}, "$api: answers");
    is($s->{with_usage}, $want{usage}, "$api: with_usage");
    near($s->{output_tokens}{mean} * $s->{with_usage}, $want{out}, 1e-9,
         "$api: output tokens (mean * with_usage)");
    near($s->{input_tokens}{mean} * $s->{with_usage}, $want{in}, 1e-9,
         "$api: input tokens (mean * with_usage)");
    near($s->{text_bytes}{mean} * $s->{answers}, $want{text}, 1e-9,
         "$api: text bytes (mean * answers)");
    near($s->{answer_bytes}{mean} * $s->{answers}, $want{bytes}, 1e-9,
         "$api: answer bytes: the bytes the client got");
    is($s->{tool_calls}{total}, $want{tools}, "$api: tool calls");
    is($s->{refusals}{count}, $want{refusals}, "$api: refusals");
    near($s->{refusals}{share}, $want{refusals} / $want{answers}, 1e-9,
         "$api: refusal share");
    my %e = %{ $s->{endings} || {} };
    is(join(' ', map { "$_=$e{$_}" } grep { $e{$_} } sort keys %e),
       join(' ', map { "$_=$want{endings}{$_}" }
                 sort keys %{ $want{endings} }),
       "$api: endings by value");
    is($s->{first_token_ms}{count}, $want{first},
       "$api: first_token_ms counted for each stream with text");
    # the client saw each first text after the mock's 150 ms, and nginx's
    # median is within a bucket (a quarter) of what the client saw
    my @ft = sort { $a <=> $b } @{ $want{first_ms} };
    ok($ft[0] >= 150, "$api: the client saw the first texts after "
       . join(', ', map { int } @ft) . " ms");
    my $p50 = $s->{first_token_ms}{p50} // -1;
    ok($p50 >= 150 * 0.75 && $p50 >= $ft[0] * 0.75 - 5
       && $p50 <= $ft[-1] * 1.25,
       "$api: first_token_ms p50 $p50 ms: the client's, within a bucket");
    is($s->{tokens_per_second}{count}, $want{rate},
       "$api: tokens_per_second counted for each stream with usage");
    ok(($s->{tokens_per_second}{mean} // 0) > 0,
       "$api: tokens_per_second mean > 0");
}

# the metrics give the same counts as the status JSON
{
    my ($pr) = status_get($t, '?format=prometheus');
    my $text = $pr->{content} // '';
    for my $api (qw(chat resp anth)) {
        my $s = signals_of($api, "s\@$api");
        my $l = qr/\{workflow="$api",bundle="s\@$api",[^}]*/;
        my ($n) = $text =~ /^ai_release_signal_answers$l\} (\d+)$/m;
        is($n, $s->{answers}, "$api: ai_release_signal_answers");
        my %e = $text =~ /^ai_release_signal_endings$l,ending="(\w+)"\} (\d+)$/mg;
        is(join(' ', map { "$_=$e{$_}" } sort keys %e),
           join(' ', map { "$_=$s->{endings}{$_}" }
                     sort keys %{ $s->{endings} }),
           "$api: ai_release_signal_endings");
    }
}

# cost from pricing, in the configuration's currency
{
    my $s = signals_of('chat', 's@chat');
    my $c = $s->{cost} || {};
    is($c->{currency}, 'EUR', 'cost: the currency of ai_release_currency');
    my $u = $s->{with_usage};
    my $total = ($s->{input_tokens}{mean} * $u * 2.50
                 + $s->{output_tokens}{mean} * $u * 10.00) / 1e6;
    near($c->{total}, $total, 1e-6, 'cost: total from the prices');
    near($c->{per_answer}, $total / $u, 1e-6, 'cost: per answer');
    near($c->{per_1000_answers}, $total * 1000 / $u, 1e-6,
         'cost: per 1000 answers');
    ok(!exists signals_of('resp', 's@resp')->{cost},
       'no cost for a bundle without pricing');
}

############################################################################
# histogram percentiles of a known mix: 50 answers of 100 output tokens,
# 50 of 1000

{
    my @reqs = map {
        [ "/hist$PATH{chat}", { 'X-Mock-Output-Tokens' => $_ % 2 ? 100
                                                                 : 1000 },
          body_for('chat') ]
    } 1 .. 100;
    my @res;
    push @res, ask_many($t, [ splice @reqs, 0, 20 ]) while @reqs;
    is(scalar(grep { $_->{status} == 200 } @res), 100, 'hist: 100 answers');
    my $s = signals_of('hist', 's@hist');
    is($s->{answers}, 100, 'hist: 100 counted');
    near($s->{output_tokens}{mean}, 550, 1e-9, 'hist: mean output tokens');
    near($s->{output_tokens}{p50}, 100, 0.25, 'hist: p50 output tokens');
    near($s->{output_tokens}{p95}, 1000, 0.25, 'hist: p95 output tokens');
}

############################################################################
# answers cut by the upstream count, ending none; answers the client left
# do not

{
    # an Anthropic stream cut inside its message_delta: the text events
    # and message_start's usage passed, no stop_reason
    my $r = call('cut', answer => 'sse-cut', stream => 3, text_bytes => 12,
                 input_tokens => 70);
    ok(!$r->{complete}, 'cut: the client got a cut stream');
    my $s;
    wait_for(3, sub {
        $s = signals_of('cut', 's@cut');
        return $s && $s->{answers};
    });
    is(($s || {})->{answers}, 1, 'cut: the cut answer counts');
    is(($s->{endings} || {})->{none}, 1, 'cut: its ending is none');
    near($s->{text_bytes}{mean}, 12, 1e-9, 'cut: the text that passed');
    near($s->{input_tokens}{mean}, 70, 1e-9,
         'cut: message_start\'s input tokens');

    # the client leaves a slow stream after its first events
    my $port = $t->port('nginx');
    my $sock = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port")
        or die "connect: $!";
    my $body = body_for('chat', stream => 1);
    print $sock "POST /left$PATH{chat} HTTP/1.1\r\nHost: x\r\n"
        . "Content-Type: application/json\r\nX-Mock-Stream: 10\r\n"
        . "X-Mock-Interval-Ms: 300\r\nX-Mock-Output-Tokens: 9\r\n"
        . "Content-Length: " . length($body) . "\r\n\r\n$body";
    my $got = '';
    wait_for(5, sub { sysread($sock, $got, 4096, length $got);
                      return $got =~ /"content"/ }, 0);
    like($got, qr/^HTTP\/1.1 200/, 'left: the stream began');
    close $sock;
    # nginx sees the client gone at its next write, 300 ms later
    ok(wait_for(5, sub { grep { m{POST /left/} } $t->access_log }),
       'left: the request is over');
    my $l = signals_of('left', 's@left');
    is($l ? $l->{answers} : 0, 0, 'left: an answer the client left is not '
       . 'counted');
}

############################################################################
# signals off counts nothing

{
    my $r = call('off', output_tokens => 50);
    is($r->{status}, 200, 'off: 200');
    my $bd = bundle_of(wf_of(status_doc($t), 'off'), 's@off');
    ok(%$bd, 'off: the bundle is in the status JSON');
    ok(!exists $bd->{signals}, 'off: no signals in its status')
        or diag explain $bd->{signals};
}

############################################################################
# drift, mode=trip: a canary with twice the output tokens trips

# requests in batches of 20 until $until returns true or $max are sent
sub traffic {
    my ($wf, $max, $until) = @_;
    my ($sent, @res) = (0);
    while ($sent < $max) {
        my @b = ask_many($t, [ map { [ "/$wf$PATH{chat}", {},
                                       body_for('chat') ] } 1 .. 20 ]);
        $sent += 20;
        push @res, @b;
        last if $until && $until->();
    }
    return @res;
}

sub breaker_of {
    my ($wf, $b) = @_;
    return bundle_of(wf_of(status_doc($t), $wf), $b)->{breaker} || {};
}

{
    # min_answers=30 each side: 40 answers cannot give both 30
    my @res = traffic('drift', 40);
    my $canary = grep { $_->{variant} eq 'canary' } @res;
    is(breaker_of('drift', 's@dc')->{state}, 'closed',
       "drift: not tripped before min_answers ($canary of 40 to the "
       . "canary)");

    # one answer a second on top, so that the rule is judged again
    my $tripped = wait_for(15, sub {
        traffic('drift', 20);
        return breaker_of('drift', 's@dc')->{state} eq 'open';
    }, 0.3);
    ok($tripped, 'drift: the canary with 2x output tokens trips');
    my $br = breaker_of('drift', 's@dc');
    is($br->{last_trip_reason}, 'drift:output_tokens',
       'drift: last_trip_reason drift:output_tokens');
    my $d = signals_of('drift', 's@dc')->{drift} || {};
    is($d->{mode}, 'trip', 'drift: mode trip in status');
    is($d->{min_answers}, 30, 'drift: min_answers in status');
    is(($d->{last_trip} || {})->{signal}, 'output_tokens',
       'drift: last_trip.signal');
    near(($d->{last_trip} || {})->{change}, 2, 1e-9,
         'drift: last_trip.change 2x');
    near(($d->{last_trip} || {})->{canary}, 200, 1e-9,
         'drift: last_trip.canary 200');
    near(($d->{last_trip} || {})->{stable}, 100, 1e-9,
         'drift: last_trip.stable 100');

    my @after = traffic('drift', 40);
    is(variants(grep { $_->{variant} ne 'stable' } @after), '',
       'drift: after the trip every request goes to stable');
    # (answers that were on their way when it tripped count in the new
    # window)
    my $n = signals_of('drift', 's@dc')->{answers};
    ok(defined $n && $n < 20, "drift: the canary's signals start over "
       . "after the trip: $n answers, fewer than min_answers");

    my @lines = grep { /drift:output_tokens: output_tokens mean 200\.00 vs stable's 100\.00: 2\.00x, margin 1\.50x/ }
                split /\n/, $t->error_log;
    is(scalar @lines, 1, 'drift: the trip is logged once') or
        diag join "\n", grep { /drift/ } split /\n/, $t->error_log;
}

############################################################################
# drift: a canary whose streams give their first token 300 ms late, where
# stable's give it at 40 ms, trips with drift:first_token

{
    my $tripped = wait_for(20, sub {
        ask_many($t, [ map { [ "/ft$PATH{chat}", { 'X-Mock-Stream' => 2 },
                               body_for('chat', stream => 1) ] } 1 .. 10 ]);
        return breaker_of('ft', 's@fc')->{state} eq 'open';
    }, 0);
    ok($tripped, 'ft: the canary with slow first tokens trips');
    is(breaker_of('ft', 's@fc')->{last_trip_reason}, 'drift:first_token',
       'ft: last_trip_reason drift:first_token');
    my $lt = (signals_of('ft', 's@fc')->{drift} || {})->{last_trip} || {};
    ok(($lt->{canary} // 0) >= 300 * 0.75 && ($lt->{change} // 0) > 2,
       "ft: the medians: canary $lt->{canary} ms, stable $lt->{stable} ms, "
       . "ratio " . ($lt->{change} // 'none'));
}

############################################################################
# drift: a canary answering like stable does not trip

{
    my @res = traffic('same', 200);
    my $c = grep { $_->{variant} eq 'canary' } @res;
    ok($c >= 60, "same: the canary served $c of 200");
    sleep 1.1;
    traffic('same', 20);
    is(breaker_of('same', 's@nc')->{state}, 'closed',
       'same: a canary like stable stays closed');
    my $vs = signals_of('same', 's@nc')->{vs_stable}{output_tokens} || {};
    ok($vs->{judged}, 'same: output_tokens was judged');
    ok(!$vs->{breached}, 'same: and not breached');
    near($vs->{ratio}, 1, 1e-9, 'same: ratio 1');
}

############################################################################
# drift, mode=observe: reported once per change, never tripped

my $OBS = qr/workflow "obs" canary "s\@oc": drift observed: output_tokens/;
my $CLR = qr/workflow "obs" canary "s\@oc": drift cleared: output_tokens/;
sub count_lines {
    my ($re) = @_;
    return scalar grep { $_ =~ $re } split /\n/, $t->error_log;
}

{
    # 4 s of traffic: about 4 judgements
    my $end = time + 4;
    my $n = 0;
    while (time < $end) {
        $n += traffic('obs', 20);
        sleep 0.1;
    }
    ok(wait_for(3, sub { count_lines($OBS) >= 1 }), "obs: drift observed "
       . "($n requests)");
    my $end2 = time + 3;
    while (time < $end2) { traffic('obs', 20); sleep 0.1 }
    is(count_lines($OBS), 1, 'obs: exactly one "drift observed" line');
    like((grep { $_ =~ $OBS } split /\n/, $t->error_log)[0] // '',
         qr/\[warn\].*mode=observe: the canary keeps its traffic/,
         'obs: the line is a warning and says the canary keeps its traffic');
    is(breaker_of('obs', 's@oc')->{state}, 'closed', 'obs: never tripped');
    is((signals_of('obs', 's@oc')->{drift} || {})->{breached},
       'output_tokens', 'obs: status drift.breached output_tokens');
    my @res = traffic('obs', 40);
    ok(scalar(grep { $_->{variant} eq 'canary' } @res),
       'obs: the canary still serves');

    # a pause: the windows roll by until the canary has fewer than
    # min_answers, then one canary answer is judged; too few answers to
    # judge is no evidence that the canary is back within its margin
    ok(wait_for(10, sub {
        (signals_of('obs', 's@oc') || {})->{answers} < 10 }, 0.2),
       'obs: after a pause the canary has fewer than min_answers');
    my $one = wait_for(5, sub {
        my $r = call('obs');
        return $r->{variant} eq 'canary';
    }, 0);
    ok($one, 'obs: one canary answer after the pause');
    sleep 0.2;
    is(count_lines($CLR), 0, 'obs: no "drift cleared" line for a canary '
       . 'that has too few answers to judge');
    my $end4 = time + 3;
    while (time < $end4) { traffic('obs', 20); sleep 0.1 }
    is(count_lines($OBS), 1, 'obs: traffic again, the same drift: still '
       . 'one "drift observed" line');

    # the canary is back to stable's output: cleared once the windows
    # (2 s each) holding the long answers have rolled by
    $t->upstream_control('oc', "output_tokens=100\n");
    my $cleared = wait_for(12, sub {
        traffic('obs', 20);
        return count_lines($CLR) >= 1;
    }, 0.1);
    ok($cleared, 'obs: drift cleared after the canary recovers');
    my $end3 = time + 2;
    while (time < $end3) { traffic('obs', 20); sleep 0.1 }
    is(count_lines($CLR), 1, 'obs: exactly one "drift cleared" line');
    is(count_lines($OBS), 1, 'obs: still one "drift observed" line');
    is((signals_of('obs', 's@oc')->{drift} || {})->{breached}, undef,
       'obs: status drift.breached null');
}

############################################################################
# a reload with the same digests keeps the signals; a bundle with a new
# digest starts over; a workflow whose signals are turned on counts

{
    my %before = map { $_ => signals_of($_, "s\@$_") } qw(chat resp anth);
    is(signals_of('hist', 's@hist')->{answers}, 100, 'hist: 100 answers '
       . 'before the reload');
    $MODEL{hist} = 'm2';
    write_bundles();
    (my $on = $conf) =~ s/\n        signals off;//;
    $t->config($on, workers => 2);
    ok($t->reload, 'reload');
    is((signals_of('hist', 's@hist') || {})->{answers} // 0, 0,
       'hist: a new digest, no answers');
    call('off', output_tokens => 7);
    is((signals_of('off', 's@off') || {})->{answers}, 1,
       'off: signals turned on by the reload count');
    for my $api (qw(chat resp anth)) {
        my $s = signals_of($api, "s\@$api");
        is(join(' ', map { $s->{$_} // 'undef' } qw(answers with_usage)),
           join(' ', map { $before{$api}{$_} } qw(answers with_usage)),
           "$api: answers and with_usage survive the reload");
        is($s->{output_tokens}{mean}, $before{$api}{output_tokens}{mean},
           "$api: output tokens survive the reload");
    }
    my $r = call('chat', output_tokens => 100, input_tokens => 1,
                 text_bytes => 1);
    is(signals_of('chat', 's@chat')->{answers},
       $before{chat}{answers} + 1, 'chat: counting goes on after reload');
}

$t->done;
diag sprintf('20-signals.t: %.1f s', time - $T0);
done_testing;
