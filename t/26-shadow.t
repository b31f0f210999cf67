#!/usr/bin/perl
# Shadow traffic (issue 16): `shadow BUNDLE@VERSION PERCENT
# [max_in_flight=N];` in a workflow copies that share of its requests in the
# background to the shadow bundle's upstream, and compares the answers.
# Real nginx (one worker) and mock upstreams (t/lib/mock_upstream.pl, each
# request's headers and body recorded):
#
# - share and body: at 100% every request (POST in memory, in a temporary
#   file, chunked; GET) reaches the shadow with the same method, URI,
#   client headers and body bytes as stable got, proxy_set_header applied,
#   the shadow bundle's headers instead of stable's, and
#   X-AI-Release-Shadow: BUNDLE@VERSION; with "apply" the shadow gets its
#   own model and params; at 30% over 400 requests with one sticky key the
#   share is within 4 sigma of the binomial;
# - clients see only stable: bodies, status and headers as without the
#   shadow;
# - latency: a shadow that sleeps 5 s costs nothing: 20 requests on one
#   keep-alive connection and 20 on new ones (read to EOF) each under 2 s,
#   the access log has its 40 lines (small $request_time) before the
#   shadows end, and none more after; the shadow's slot counts them;
# - a dead shadow and a hanging one: clients fast, the shadow's breaker
#   opens (connect, timeout), mirroring pauses (skipped.breaker), stable
#   untouched; after the cooldown, fixed, probes close it again;
# - max_in_flight=2: 2 mirrored, 8 skipped, then mirrored again;
# - pairs on known answers: ratios (p50 within 1/8, geomean exact),
#   endings, tool calls, JSON and SSE; contracts (shadow_broke);
#   not_stable with a canary; shadow_failed with a shadow 500; unread
#   without a format;
# - Prometheus equals the JSON; the API refuses pin and rollback of a
#   shadow (409); a reload keeps the counts; every configuration error of
#   the directive fails nginx -t with its nginx.conf line.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRClient;
use JSON::PP;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);

my $T0 = time;
my $SHADOW_HDR = 'x-ai-release-shadow';

############################################################################
# configuration errors: nginx -t fails and names the directive's line

{
    my $t = AIRTest->new;
    $t->write_file('b.yaml', join "---\n", map {
        "name: e\nversion: \"$_\"\nupstream: 127.0.0.1:1\nmodel: m\n"
    } 1 .. 5);
    my @cases = (
        [ 'second shadow', "shadow e\@4 10%;\n        shadow e\@5 10%;",
          qr/is duplicate/, qr/shadow e\@5/ ],
        [ 'shadow is the stable', "shadow e\@1 10%;",
          qr/"e\@1".*already serves|already serves.*"e\@1"/,
          qr/shadow e\@1/ ],
        [ 'shadow is a canary', "canary e\@2 10%;\n        shadow e\@2 10%;",
          qr/"e\@2".*already serves|already serves.*"e\@2"/,
          qr/shadow e\@2/ ],
        [ 'shadow is the fallback',
          "fallback e\@3;\n        shadow e\@3 10%;",
          qr/"e\@3".*already serves|already serves.*"e\@3"/,
          qr/shadow e\@3/ ],
        [ 'unknown bundle', "shadow e\@9 10%;",
          qr/unknown bundle "e\@9"/, qr/shadow e\@9/ ],
        [ '0%', "shadow e\@4 0%;", qr/"0%"/, qr/shadow e\@4/ ],
        [ 'over 100%', "shadow e\@4 100.5%;", qr/"100\.5%"/,
          qr/shadow e\@4/ ],
        [ 'no percent sign', "shadow e\@4 10;", qr/"10"/, qr/shadow e\@4/ ],
        [ 'unknown parameter', "shadow e\@4 10% max_inflight=3;",
          qr/"max_inflight=3"/, qr/shadow e\@4/ ],
        [ 'max_in_flight=0', "shadow e\@4 10% max_in_flight=0;",
          qr/"max_in_flight=0"/, qr/shadow e\@4/ ],
        [ 'max_in_flight=10001', "shadow e\@4 10% max_in_flight=10001;",
          qr/"max_in_flight=10001"/, qr/shadow e\@4/ ],
    );
    my $conf_of = sub {
        my ($wf) = @_;
        return $t->config("    ai_release_bundles %%DIR%%/b.yaml;\n"
            . "    ai_release_workflow e {\n        stable e\@1;\n"
            . "        $wf\n    }\n"
            . "    server {\n        listen 127.0.0.1:%%PORT_nginx%%;\n"
            . "        location / { ai_release e; "
            . "proxy_pass http://ai_release; }\n    }\n");
    };
    for my $c (@cases) {
        my ($name, $wf, $want, $at) = @$c;
        my $conf = $conf_of->($wf);
        my ($rc, $out) = $t->test_config;
        isnt($rc, 0, "config: $name: nginx -t fails");
        like($out, $want, "config: $name: the message") or diag $out;
        my @l = split /\n/, $conf;
        my ($line) = grep { $l[$_ - 1] =~ $at } 1 .. @l;
        like($out, qr/\[emerg\].* in \Q${\ $t->dir}\E\/nginx\.conf:$line\b/,
             "config: $name: names nginx.conf:$line") or diag $out;
    }
    # the largest values pass
    $conf_of->("canary e\@2 10%;\n        fallback e\@3;\n"
               . "        shadow e\@4 100% max_in_flight=10000;");
    my ($rc, $out) = $t->test_config;
    is($rc, 0, 'config: shadow 100% max_in_flight=10000 beside a canary and '
       . 'a fallback passes nginx -t') or diag $out;
    $conf_of->("shadow e\@4 0.5%;");
    ($rc, $out) = $t->test_config;
    is($rc, 0, 'config: shadow 0.5% passes nginx -t') or diag $out;
}

############################################################################
# the running configuration

my $t = AIRTest->new;

my @MOCKS = qw(st bst bsh psh slow hang cap esh ast ash pst pq cst csh nsh);
$t->upstream($_) for @MOCKS;
$t->port('dead');    # nothing listens there until the dead shadow is fixed

$t->upstream_control('slow', "delay_ms=5000\n");
$t->upstream_control('cap', "delay_ms=3000\n");
$t->upstream_control('hang', "mode=hang\n");
$t->upstream_control('esh', "status=500\n");
my $PAIR_ST = "output_tokens=100\ntext_bytes=400\nfinish=stop\n"
            . "tool_calls=0\ninterval_ms=0\n";
my $PAIR_SH = "output_tokens=200\ntext_bytes=200\nfinish=length\n"
            . "tool_calls=1\ninterval_ms=0\n";
$t->upstream_control('pst', $PAIR_ST);
$t->upstream_control('pq', $PAIR_SH);
$t->upstream_control('csh', "answer=empty-content\n");

my $CONTRACT = "output_contract:\n  status: [200]\n"
             . "  non_empty: [/choices/0/message/content]\n";

sub bundle {
    my ($id, $up, $extra) = @_;
    my ($n, $v) = split /\@/, $id;
    my $u = $up =~ /:/ ? $up : "up_$up";
    return "name: $n\nversion: \"$v\"\nupstream: $u\nmodel: m-$n-$v\n"
         . ($extra // '');
}

$t->write_file('bundles/all.yaml', join "---\n",
    bundle('k@1', 'st'),
    bundle('k@part', 'psh'),
    bundle('k@slow', 'slow'),
    bundle('k@dead', '127.0.0.1:' . $t->port('dead')),
    bundle('k@hang', 'hang'),
    bundle('k@cap', 'cap'),
    bundle('k@err', 'esh'),
    bundle('s@1', 'bst', "headers:\n  X-Bundle: s1\n  X-Only-Stable: yes\n"),
    bundle('s@2', 'bsh', "headers:\n  X-Bundle: s2\n"),
    "name: a\nversion: \"1\"\nupstream: up_ast\nmodel: m-stable\n"
        . "params:\n  temperature: 0.1\nheaders:\n  X-Bundle: a1\n",
    "name: a\nversion: \"2\"\nupstream: up_ash\nmodel: m-shadow\n"
        . "params:\n  temperature: 0.9\nheaders:\n  X-Bundle: a2\n",
    bundle('p@1', 'pst'),
    bundle('p@2', 'pq'),
    bundle('c@1', 'cst', $CONTRACT),
    bundle('c@2', 'csh', $CONTRACT),
    bundle('n@1', 'st'),
    bundle('n@2', 'st'),
    bundle('n@3', 'nsh'),
);

my $TRIP = 'trip consecutive=3 min_requests=1000 window=30s cooldown=4s '
         . 'probes=2;';
# no cap where the counts must be exact: on a loaded machine copies may
# pile up past the default 16 (the cap has its own workflow; pe keeps the
# default)
my $NOCAP = 'max_in_flight=1000';
my @wf = (
    [ share    => "stable s\@1;\n        shadow s\@2 100% $NOCAP;" ],
    [ noshadow => "stable s\@1;" ],
    [ ap       => "stable a\@1;\n        shadow a\@2 100% $NOCAP;\n"
                  . "        format openai-chat;\n"
                  . "        apply model params;" ],
    [ part     => "stable k\@1;\n        shadow k\@part 30% $NOCAP;\n"
                  . "        sticky \$http_x_user_id;" ],
    [ slow     => "stable k\@1;\n        shadow k\@slow 100% "
                  . "max_in_flight=100;" ],
    [ dead     => "stable k\@1;\n        shadow k\@dead 100%;\n"
                  . "        $TRIP" ],
    [ hang     => "stable k\@1;\n        shadow k\@hang 100%;\n"
                  . "        $TRIP" ],
    [ cap      => "stable k\@1;\n        shadow k\@cap 100% "
                  . "max_in_flight=2;" ],
    [ pair     => "stable p\@1;\n        shadow p\@2 100% $NOCAP;\n"
                  . "        format openai-chat;" ],
    [ pc       => "stable c\@1;\n        shadow c\@2 100% $NOCAP;\n"
                  . "        format openai-chat;" ],
    [ cn       => "stable n\@1;\n        canary n\@2 50%;\n"
                  . "        shadow n\@3 100% $NOCAP;\n"
                  . "        format openai-chat;" ],
    [ pe       => "stable k\@1;\n        shadow k\@err 100%;\n"
                  . "        format openai-chat;\n        trip off;" ],
);
my %SHADOW = (share => 's@2', ap => 'a@2', part => 'k@part',
              slow => 'k@slow', dead => 'k@dead', hang => 'k@hang',
              cap => 'k@cap', pair => 'p@2', pc => 'c@2', cn => 'n@3',
              pe => 'k@err');
my %STABLE = (share => 's@1', noshadow => 's@1', ap => 'a@1', pair => 'p@1',
              pc => 'c@1', cn => 'n@1');
$STABLE{$_} //= 'k@1' for map { $_->[0] } @wf;

my $KEEP = "            proxy_set_header Connection \"\";\n";
my %extra = (
    share    => $KEEP . "            proxy_set_header X-Loc share;\n"
                . "            client_body_buffer_size 8k;\n",
    noshadow => $KEEP . "            proxy_set_header X-Loc share;\n"
                . "            client_body_buffer_size 8k;\n",
    slow     => "            access_log %%DIR%%/slow.log slow;\n"
                . "            proxy_read_timeout 10s;\n",
    hang     => "            proxy_read_timeout 1500ms;\n",
);

my $conf = "    ai_release_bundles %%DIR%%/bundles/*.yaml;\n"
         . "    ai_release_apply_max_body 64k;\n"
         . "    log_format slow '\$ai_release_workflow \$status "
         . "\$request_time \$http_x_test_n';\n";
$conf .= "    upstream up_$_ { server 127.0.0.1:%%PORT_$_%% max_fails=0; "
       . "keepalive 16; }\n" for @MOCKS;
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
        location /ai-release/api/ { ai_release_api; }
C
$conf .= wf_locations(\@wf, \%extra);
$conf .= "    }\n";
$t->config($conf);
$t->start;

############################################################################
# helpers

sub doc { status_doc($t) }

# the shadow bundle of workflow $wf in a status document (a fresh one
# unless given): its whole object
sub sb {
    my ($wf, $d) = @_;
    return bundle_of(wf_of($d // doc(), $wf), $SHADOW{$wf});
}

sub sh { sb(@_)->{shadow} || {} }

sub stb {
    my ($wf, $d) = @_;
    return bundle_of(wf_of($d // doc(), $wf), $STABLE{$wf});
}

sub chat_body {
    my ($n, %o) = @_;
    return encode_json({
        model => 'client-model',
        messages => [{ role => 'user', content => "hello $n" }],
        $o{stream} ? (stream => JSON::PP::true,
                      stream_options => { include_usage => JSON::PP::true })
                   : (),
    });
}

# one POST (or GET without a body) on a new connection, read to EOF
sub one {
    my ($wf, $n, $body, %h) = @_;
    return ask($t, "/$wf/v1/chat/completions?t=$n",
               headers => { 'X-Test-N' => $n, %h },
               defined $body ? (body => $body) : ());
}

# every client answer came from stable, with no trace of the shadow
sub all_stable {
    my ($wf, $res, $name) = @_;
    my @bad = grep {
        $_->{status} != 200 || $_->{bundle} ne $STABLE{$wf}
        || $_->{variant} ne 'stable'
        || exists $_->{headers}{$SHADOW_HDR}
    } @$res;
    ok(@$res && !@bad, "$wf: $name: all " . scalar(@$res) . " answers 200 "
       . "from stable $STABLE{$wf}, no $SHADOW_HDR")
        or diag(join ', ', map { "$_->{status} "
                . ($_->{headers}{'x-ai-release'} // '-') }
                grep { defined } @bad[0 .. 2]);
}

sub near {
    my ($got, $want, $tol, $name) = @_;
    ok(defined $got && abs($got - $want) <= $tol * abs($want) + 1e-9,
       "$name: " . ($got // 'undef') . " within $tol of $want");
}

# the skipped and unpaired counts as "k=v ..." strings
sub kv {
    my ($h, @k) = @_;
    return join ' ', map { "$_=" . ($h->{$_} // 'undef') } @k;
}
my @SKIP = qw(in_flight breaker body error);
my @UNP  = qw(not_stable stable_failed shadow_failed unread);

############################################################################
# share and body: at 100% every request reaches the shadow as stable got it

my (@share, %sent);
{
    my @res;
    # bodies in memory of many shapes, two in a temporary file (over
    # client_body_buffer_size 8k), one chunked, GETs
    for my $i (1 .. 16) {
        my $body = qq({"model":"client-model", "messages":[{"role":"user",)
                 . qq( "content":"n=$i \\u00e9 \xc3\xa9 ) . ('z' x ($i * 37))
                 . qq("}],"x":[1,2.50,{}] }\n);
        push @res, one('share', "share-$i", $body);
        $sent{"share-$i"} = $body;
    }
    for my $i (17, 18) {
        my $body = '{"messages":[{"role":"user","content":"'
                 . ('big ' x 5000) . "\"}],\"n\":$i}";
        push @res, one('share', "share-$i", $body);
        $sent{"share-$i"} = $body;
    }
    {
        my $body = '{"chunked":true,"messages":[]}';
        my $r = $t->stream('/share/v1/chat/completions?t=share-19',
                           sprintf("%x\r\n%s\r\n0\r\n\r\n", length $body,
                                   $body),
                           { 'Transfer-Encoding' => 'chunked',
                             'X-Test-N' => 'share-19' },
                           { until_eof => 1 });
        push @res, annotate($r);
        $sent{'share-19'} = $body;
    }
    for my $i (20 .. 22) {
        push @res, one('share', "share-$i", undef, 'X-Extra' => "get $i");
        $sent{"share-$i"} = '';
    }
    all_stable('share', \@res, 'POST and GET');
    is(scalar(grep { $_->{served_by} eq 'bst' } @res), scalar @res,
       'share: every answer is the stable upstream\'s (X-Served-By bst)');
    @share = @res;

    my $n = keys %sent;
    ok(wait_for(10, sub {
        scalar(grep { ($_->{headers}{'x-test-n'} // '') =~ /^share-/ }
               $t->upstream_requests('bsh')) >= $n }),
       "share: the shadow upstream got $n requests");
    my %st = map { ($_->{headers}{'x-test-n'} // '') => $_ }
             $t->upstream_requests('bst');
    my @sh = grep { ($_->{headers}{'x-test-n'} // '') =~ /^share-/ }
             $t->upstream_requests('bsh');
    is(scalar @sh, $n, "share: exactly $n shadow requests");
    is(join(',', sort map { $_->{headers}{'x-test-n'} } @sh),
       join(',', sort keys %sent), 'share: one for each client request');

    my (@body, @mark, @own, @loc, @client);
    for my $s (@sh) {
        my $k = $s->{headers}{'x-test-n'};
        my $st = $st{$k} or do { push @body, "$k: no stable request"; next };
        push @body, "$k: " . length($s->{body}) . ' vs '
                    . length($st->{body}) . ' bytes'
            unless $s->{body} eq $st->{body};
        push @mark, "$k: " . ($s->{headers}{$SHADOW_HDR} // 'none')
            unless ($s->{headers}{$SHADOW_HDR} // '') eq 's@2';
        push @mark, "$k: stable got " . $st->{headers}{$SHADOW_HDR}
            if exists $st->{headers}{$SHADOW_HDR};
        push @own, "$k: " . ($s->{headers}{'x-bundle'} // 'none')
                   . ' ' . ($s->{headers}{'x-only-stable'} // '-')
            unless ($s->{headers}{'x-bundle'} // '') eq 's2'
                   && !exists $s->{headers}{'x-only-stable'}
                   && ($st->{headers}{'x-bundle'} // '') eq 's1';
        push @loc, $k unless ($s->{headers}{'x-loc'} // '') eq 'share';
        push @client, "$k: the client's X-Test-N or X-Extra"
            unless ($s->{headers}{'x-extra'} // '') eq ($k =~ /-(2\d)$/
                                                       ? "get $1" : '');
        # every other header line as stable got it (the framing of the
        # body aside: the client sent one body chunked)
        my $other = sub {
            return join "\n", sort grep {
                !/^(?:x-bundle|x-only-stable|x-ai-release-shadow|
                     content-length|transfer-encoding):/xi
            } @{ $_[0]{lines} };
        };
        push @client, "$k:\n" . $other->($s) . "\nvs stable's\n"
                      . $other->($st)
            unless $other->($s) eq $other->($st);
    }
    my @lost = grep { (($st{$_} || {})->{body} // "\0") ne $sent{$_} }
               sort keys %sent;
    ok(@sh && !@body, 'share: every shadow body is byte for byte the stable one '
       . '(in memory, in a file, chunked, GET)') or diag "@body";
    ok(@sh && !@mark, "share: every shadow request has X-AI-Release-Shadow: s\@2, "
       . 'no stable request has it') or diag "@mark";
    ok(@sh && !@own, "share: the shadow bundle's headers (X-Bundle: s2), not "
       . "stable's") or diag "@own";
    ok(@sh && !@loc, 'share: proxy_set_header of the location applies') or diag "@loc";
    ok(@sh && !@client, "share: every other header line as stable got it: the "
       . "client's, proxy_set_header's") or diag join "\n", @client;
    ok(!@lost, 'share: stable got every body as the client sent it (two '
       . 'held in a file)') or diag "@lost";

    # method and URI: the shadow's log, line for line, is stable's
    my $lines = sub {
        my ($name) = @_;
        return join "\n", sort map { s/^\S+ //r }
               grep { /[?&]t=share-/ } $t->upstream_log($name);
    };
    is($lines->('bsh'), $lines->('bst'), 'share: the same method and URI '
       . 'for each request');
    like($lines->('bsh'), qr{^GET /v1/chat/completions\?t=share-20$}m,
         'share: a GET is a GET');

    my $d = doc();
    my $b = sb('share', $d);
    is($b->{role}, 'shadow', 'share: the shadow bundle has role "shadow"');
    my $s = $b->{shadow} || {};
    is($s->{percent}, 100, 'share: percent 100');
    is($s->{max_in_flight}, 1000, 'share: max_in_flight 1000');
    is($s->{mirrored}, $n, "share: mirrored $n");
    is(kv($s->{skipped}, @SKIP), kv({ map { $_ => 0 } @SKIP }, @SKIP),
       'share: nothing skipped');
    ok(wait_for(5, sub { (sh('share')->{in_flight} // -1) == 0
                         && (sb('share')->{totals}{total} // 0) == $n }),
       'share: the shadow requests ended');
    $d = doc();
    is(sb('share', $d)->{totals}{ok}, $n, "share: the shadow slot counts "
       . "$n ok");
    is(stb('share', $d)->{totals}{total}, $n,
       "share: stable counts the $n client requests");
    is(sh('share', $d)->{pairs}{compared}, 0,
       'share: no format, nothing compared');
    is(sh('share', $d)->{pairs}{unpaired}{unread}, $n,
       "share: no format: $n unpaired, unread");
}

# a body over ai_release_apply_max_body (64k) is not copied: skipped.body
{
    my $before = sh('share');
    my $body = '{"messages":[{"role":"user","content":"'
             . ('x' x 70000) . '"}]}';
    my $r = one('share', 'share-big', $body);
    all_stable('share', [$r], 'a body over ai_release_apply_max_body');
    my $s = sh('share');
    is($s->{skipped}{body}, ($before->{skipped}{body} // -1) + 1,
       'share: a 70 KB body is skipped.body');
    is($s->{mirrored}, $before->{mirrored}, 'share: and not mirrored');
    is(scalar(grep { ($_->{headers}{'x-test-n'} // '') eq 'share-big' }
              $t->upstream_requests('bst')), 1,
       'share: stable got it');
    sleep 0.3;
    is(scalar(grep { ($_->{headers}{'x-test-n'} // '') eq 'share-big' }
              $t->upstream_requests('bsh')), 0,
       'share: the shadow did not');
}

############################################################################
# clients see only stable: the same answers with and without the shadow

{
    my @diff;
    for my $i (1 .. 5) {
        my $body = chat_body("cmp-$i");
        my $ra = one('share', "cmp-$i", $body);
        my $rb = one('noshadow', "cmp-$i", $body);
        my ($ja, $jb) = map { $t->json($_->{body}) } $ra, $rb;
        push @diff, "$i: status $ra->{status} vs $rb->{status}"
            if $ra->{status} != $rb->{status};
        if (ref $ja eq 'HASH' && ref $jb eq 'HASH') {
            delete $_->{id} for $ja, $jb;
            my $c = JSON::PP->new->canonical;
            push @diff, "$i: body " . $c->encode($ja) . ' vs '
                        . $c->encode($jb)
                unless $c->encode($ja) eq $c->encode($jb);
        } else {
            push @diff, "$i: not JSON";
        }
        my %ha = %{ $ra->{headers} };
        my %hb = %{ $rb->{headers} };
        for my $h (\%ha, \%hb) {
            delete $h->{date};
            my $cl = delete $h->{'content-length'};
            push @diff, "$i: content-length" unless defined $cl;
        }
        my $c = JSON::PP->new->canonical;
        push @diff, "$i: headers " . $c->encode(\%ha) . ' vs '
                    . $c->encode(\%hb)
            unless $c->encode(\%ha) eq $c->encode(\%hb);
    }
    ok(!@diff, 'clients: answers (but their id), status and headers are '
       . 'the same with and without the shadow') or diag join "\n", @diff;
}

############################################################################
# apply: the shadow gets its own bundle applied

{
    my @res = map { one('ap', "ap-$_", chat_body("ap-$_")) } 1 .. 6;
    all_stable('ap', \@res, 'apply');
    ok(wait_for(10, sub { (() = $t->upstream_requests('ash')) >= 6 }),
       'ap: the shadow upstream got 6 requests');
    my %st = map { $_->{headers}{'x-test-n'} => $_ }
             $t->upstream_requests('ast');
    my @bad;
    my @sh = $t->upstream_requests('ash');
    push @bad, scalar(@sh) . ' shadow requests' unless @sh == 6;
    for my $s (@sh) {
        my $k = $s->{headers}{'x-test-n'} // '?';
        my $js = eval { decode_json($s->{body}) } || {};
        my $jt = eval { decode_json(($st{$k} || {})->{body} // '') } || {};
        push @bad, "$k: shadow model " . ($js->{model} // 'none')
            unless ($js->{model} // '') eq 'm-shadow';
        push @bad, "$k: stable model " . ($jt->{model} // 'none')
            unless ($jt->{model} // '') eq 'm-stable';
        push @bad, "$k: shadow temperature " . ($js->{temperature} // 'none')
            unless ($js->{temperature} // 0) == 0.9;
        push @bad, "$k: stable temperature " . ($jt->{temperature} // 'none')
            unless ($jt->{temperature} // 0) == 0.1;
        push @bad, "$k: X-Bundle " . ($s->{headers}{'x-bundle'} // 'none')
            unless ($s->{headers}{'x-bundle'} // '') eq 'a2';
        push @bad, "$k: no mark"
            unless ($s->{headers}{$SHADOW_HDR} // '') eq 'a@2';
        delete @$_{qw(model temperature)} for $js, $jt;
        my $c = JSON::PP->new->canonical;
        push @bad, "$k: the rest differs: " . $c->encode($js)
            unless $c->encode($js) eq $c->encode($jt)
                   && $c->encode($js) eq $c->encode(
                          { messages => [{ role => 'user',
                                           content => "hello $k" }] });
    }
    ok(!@bad, 'ap: with "apply model params" the shadow gets m-shadow and '
       . 'its params, stable m-stable and its own, the rest as the client '
       . 'sent it') or diag join "\n", @bad;
}

############################################################################
# latency: a shadow that sleeps 5 s adds nothing for the client

# $n POSTs on one keep-alive connection, one after the other; each answer
# read by its Content-Length (or chunks): [[seconds, status, headers,
# body], ...]
sub keepalive_requests {
    my ($path, @bodies) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port('nginx'),
                                  Proto => 'tcp', Timeout => 5)
        or die "connect: $!";
    binmode $s;
    my $sel = IO::Select->new($s);
    my $buf = '';
    my $fill = sub {
        my ($deadline) = @_;
        my $left = $deadline - time;
        return 0 if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($s, $buf, 65536, length $buf);
        return $n;
    };
    my @out;
    for my $b (@bodies) {
        my ($n, $body) = @$b;
        my $t0 = time;
        my $deadline = $t0 + 10;
        syswrite($s, "POST $path?t=$n HTTP/1.1\r\nHost: x\r\n"
                     . "X-Test-N: $n\r\nContent-Type: application/json\r\n"
                     . 'Content-Length: ' . length($body) . "\r\n\r\n"
                     . $body);
        while ($buf !~ /\r\n\r\n/) {
            $fill->($deadline) or last;
        }
        my ($head) = $buf =~ /\A(.*?\r\n)\r\n/s;
        unless (defined $head) {
            push @out, [ time - $t0, 0, {}, '' ];
            last;
        }
        substr($buf, 0, length($head) + 2, '');
        my ($status) = $head =~ m{^HTTP/1\.1 (\d+)};
        my %h = map { /^([^:]+):\s*(.*?)\s*$/ ? (lc $1 => $2) : () }
                split /\r\n/, $head;
        my $body_in = '';
        if (defined $h{'content-length'}) {
            while (length $buf < $h{'content-length'}) {
                $fill->($deadline) or last;
            }
            $body_in = substr($buf, 0, $h{'content-length'}, '');
        } else {
            # chunked: up to the last chunk
            while ($buf !~ /(?:^|\r\n)0\r\n\r\n/) {
                $fill->($deadline) or last;
            }
            $buf =~ s/\A(.*?(?:^|\r\n)0\r\n\r\n)//s;
            $body_in = $1 // '';
        }
        push @out, [ time - $t0, $status // 0, \%h, $body_in ];
    }
    close $s;
    return @out;
}

my ($slow_t0, @slow_times);
{
    my $log = $t->dir . '/slow.log';
    $slow_t0 = time;
    my @ka = keepalive_requests('/slow/v1/chat/completions',
                                map { [ "ka-$_", chat_body("ka-$_") ] }
                                1 .. 20);
    is(scalar(grep { $_->[1] == 200 } @ka), 20,
       'slow: 20 answers 200 on one keep-alive connection');
    is(scalar(grep { ($_->[2]{connection} // '') =~ /close/i } @ka), 0,
       'slow: the connection stayed alive');
    my @slow = grep { $_->[0] >= 2 } @ka;
    ok(!@slow, 'slow: keep-alive: each answer in under 2 s (max '
       . sprintf('%.3f', (sort { $b <=> $a } map { $_->[0] } @ka)[0] // -1)
       . ' s)');
    ok(!grep({ ($_->[2]{'x-ai-release'} // '') !~ /^k\@1; .*variant=stable$/
               || exists $_->[2]{$SHADOW_HDR} } @ka),
       'slow: keep-alive: every answer from stable, no shadow header');

    my @nc;
    for my $i (1 .. 20) {
        my $r = one('slow', "nc-$i", chat_body("nc-$i"));
        push @nc, $r;
    }
    all_stable('slow', \@nc, 'new connections');
    my @long = grep { $_->{elapsed} >= 2 } @nc;
    ok(!@long, 'slow: new connections: each read to EOF in under 2 s (max '
       . sprintf('%.3f', (sort { $b <=> $a } map { $_->{elapsed} } @nc)[0])
       . ' s)');
    my $spent = time - $slow_t0;

    # the access log right away: 40 lines, before any shadow ended (a
    # moment for the last one: after a POST nginx may close lingering, and
    # log when that is over)
    my @l;
    wait_for(1, sub { @l = split /\n/, AIRTest::slurp($log) // '';
                      @l >= 40 });
    ok($spent < 4, sprintf('slow: the 40 requests took %.2f s, the shadows '
                           . 'have not ended', $spent));
    is(scalar @l, 40, 'slow: the access log has 40 lines before the '
       . 'shadows end') or diag join "\n", @l;
    my @bad = grep { !/^slow 200 (\d+\.\d+) (?:ka|nc)-\d+$/ || $1 >= 1 } @l;
    ok(!@bad, 'slow: each line is a 200 with a $request_time under 1 s')
        or diag join "\n", @bad;
    my $s = sh('slow');
    is($s->{mirrored}, 40, 'slow: 40 mirrored');
    is($s->{in_flight}, 40, 'slow: all 40 in flight at once, while the '
       . 'clients have their answers');
}

############################################################################
# the in-flight cap: max_in_flight=2

my $cap_t0;
{
    $cap_t0 = time;
    my @res = map { one('cap', "cap-$_", chat_body("cap-$_")) } 1 .. 10;
    all_stable('cap', \@res, '10 quick requests');
    ok(!grep({ $_->{elapsed} >= 2 } @res), 'cap: each under 2 s');
    my $s = sh('cap');
    is($s->{mirrored}, 2, 'cap: 2 mirrored');
    is(kv($s->{skipped}, @SKIP), 'in_flight=8 breaker=0 body=0 error=0',
       'cap: 8 skipped for in_flight');
    is($s->{in_flight}, 2, 'cap: in_flight 2 while they run');
    is($s->{max_in_flight}, 2, 'cap: max_in_flight 2');
}

############################################################################
# a dead shadow (nothing listens) and a hanging one (proxy_read_timeout
# 1500ms): the clients are served fast, the shadow's breaker opens,
# mirroring pauses, stable is untouched

{
    my %n = (dead => 0, hang => 0);
    my %res;
    my $send = sub {
        my ($wf) = @_;
        my $r = one($wf, "$wf-" . ++$n{$wf}, chat_body("$wf-$n{$wf}"));
        push @{ $res{$wf} }, $r;
        return $r;
    };
    # the hanging shadow: 5 requests, all mirrored before the first timeout
    $send->('hang') for 1 .. 5;
    # the dead shadow: until its breaker opens (3 consecutive errors)
    my $open = wait_for(5, sub {
        $send->('dead');
        return (sb('dead')->{breaker}{state} // '') eq 'open';
    }, 0.05);
    ok($open, "dead: the breaker opens after $n{dead} requests");
    ok(wait_for(5, sub { (sb('hang')->{breaker}{state} // '') eq 'open' }),
       'hang: the breaker opens after the read timeouts');

    for my $wf (qw(dead hang)) {
        my $bd = sb($wf);
        my $m = $bd->{shadow}{mirrored} // -1;
        my $cls = $wf eq 'dead' ? 'connect' : 'timeout';
        ok(wait_for(3, sub { (sh($wf)->{in_flight} // -1) == 0 }),
           "$wf: no shadow in flight");
        $bd = sb($wf);
        is($bd->{totals}{$cls}, $m, "$wf: all $m mirrored requests are "
           . "$cls errors in the shadow's slot");
        ok($m >= 3, "$wf: at least 3 mirrored ($m)");
        like($bd->{breaker}{last_trip_reason} // '', qr/^consecutive$/,
             "$wf: last_trip_reason consecutive");
        my $skip0 = $bd->{shadow}{skipped}{breaker} // 0;
        my @more = map { $send->($wf) } 1 .. 5;
        my $s = sh($wf);
        is($s->{mirrored}, $m, "$wf: 5 more requests while open: mirrored "
           . "stays $m");
        is($s->{skipped}{breaker}, $skip0 + 5,
           "$wf: skipped.breaker grows by 5");
        my $st = stb($wf);
        is($st->{breaker}{state}, 'closed', "$wf: stable stays closed");
        is($st->{totals}{total}, $n{$wf}, "$wf: stable counts exactly the "
           . "$n{$wf} client requests");
        all_stable($wf, $res{$wf}, 'while the shadow fails');
        my @late = grep { $_->{elapsed} >= 1 } @{ $res{$wf} };
        ok(!@late, "$wf: each client answer in under 1 s (max "
           . sprintf('%.3f', (sort { $b <=> $a }
                              map { $_->{elapsed} } @{ $res{$wf} })[0])
           . ' s)');
    }

    # fixed: a mock on the dead port, the hanging one answers again; after
    # the cooldown (4 s) the next mirrored requests are probes and close it
    $t->upstream('dead');
    $t->upstream_control('hang', '');
    for my $wf (qw(dead hang)) {
        my $closed = wait_for(10, sub {
            $send->($wf);
            return (sb($wf)->{breaker}{state} // '') eq 'closed';
        }, 0.2);
        ok($closed, "$wf: closed again after the cooldown, the shadow fixed");
        is(ntrans($t, $wf, $SHADOW{$wf}, 'closed', 'open'), 1,
           "$wf: one closed -> open line");
        ok(ntrans($t, $wf, $SHADOW{$wf}, 'half-open', 'closed') == 1,
           "$wf: one half-open -> closed line");
        all_stable($wf, $res{$wf}, 'all along');
        is(stb($wf)->{totals}{total}, $n{$wf},
           "$wf: stable counts exactly the $n{$wf} client requests");
    }
    my @probes = grep { ($_->{headers}{$SHADOW_HDR} // '') eq 'k@dead' }
                 $t->upstream_requests('dead');
    ok(@probes >= 2, 'dead: the fixed shadow got the probes ('
       . scalar(@probes) . '), marked');
}

############################################################################
# the latency of the slow shadow and the cap, once they ended

{
    ok(wait_for(10, sub { (sb('slow')->{totals}{ok} // 0) == 40 }),
       'slow: the shadow slot counts 40 ok once they ended');
    my $b = sb('slow');
    is($b->{shadow}{in_flight}, 0, 'slow: none in flight');
    is($b->{latency}{count}, 40, 'slow: 40 latencies');
    ok(($b->{latency}{p50_ms} // 0) >= 5000 * 7 / 8,
       "slow: the shadow's p50 latency is its 5 s ("
       . ($b->{latency}{p50_ms} // 'none') . ' ms)');
    ok((stb('slow')->{latency}{p95_ms} // 1e9) < 1000,
       "slow: stable's p95 latency is small ("
       . (stb('slow')->{latency}{p95_ms} // 'none') . ' ms)');
    my @l = split /\n/, AIRTest::slurp($t->dir . '/slow.log') // '';
    is(scalar @l, 40, 'slow: still 40 access log lines: none for the '
       . 'shadow requests');
    ok(!grep({ m{/slow/} } $t->access_log),
       'slow: none in the server\'s access log either');

    ok(wait_for(5, sub { (sh('cap')->{in_flight} // -1) == 0 }),
       'cap: the 2 shadow requests ended');
    is(sb('cap')->{totals}{ok}, 2, 'cap: the shadow slot counts 2');
    my @res = map { one('cap', "cap-b$_", chat_body("cap-b$_")) } 1 .. 2;
    my $s = sh('cap');
    is($s->{mirrored}, 4, 'cap: after they ended, new requests are '
       . 'mirrored again');
    is($s->{skipped}{in_flight}, 8, 'cap: none more skipped');
}

############################################################################
# 30%: the share of 400 requests with one sticky key, within 4 sigma

{
    my @res;
    for my $b (1 .. 20) {
        push @res, ask_many($t, [ map {
            [ "/part/v1/models?t=part-$b-$_",
              { 'X-User-Id' => 'one-user', 'X-Test-N' => "part-$b-$_" } ]
        } 1 .. 20 ]);
    }
    is(scalar(grep { $_->{status} == 200 && $_->{bundle} eq 'k@1' } @res),
       400, 'part: 400 answers from stable');
    my $m;
    ok(wait_for(10, sub {
        $m = sh('part')->{mirrored} // -1;
        return $m >= 0 && $t->upstream_count('psh') == $m
               && (sh('part')->{in_flight} // -1) == 0;
    }), 'part: the shadow upstream got every mirrored request');
    my $sigma = sqrt(400 * 0.3 * 0.7);
    ok(abs($m - 120) <= 4 * $sigma,
       sprintf('part: %d of 400 mirrored at 30%% (120 +- %.0f)', $m,
               4 * $sigma));
    is(sh('part')->{percent}, 30, 'part: percent 30');
    is(kv(sh('part')->{skipped}, @SKIP),
       'in_flight=0 breaker=0 body=0 error=0', 'part: nothing skipped');
}

############################################################################
# pairs on known answers

sub pairs_of { sh($_[0])->{pairs} || {} }

sub wait_compared {
    my ($wf, $n) = @_;
    return wait_for(10, sub {
        my $s = sh($wf);
        my $p = $s->{pairs} || {};
        my $u = 0;
        $u += $_ for values %{ $p->{unpaired} || {} };
        return ($s->{in_flight} // -1) == 0 && ($p->{compared} // 0) + $u
               >= $n;
    });
}

{
    my $N = 12;
    # phase 1: shadow twice the output tokens, half the text, another
    # ending, one tool call
    my @res = map { one('pair', "pair-a$_", chat_body("pair-a$_")) } 1 .. $N;
    all_stable('pair', \@res, 'phase 1');
    ok(wait_compared('pair', $N), "pair: $N mirrored requests done");
    my $p = pairs_of('pair');
    is($p->{compared}, $N, "pair: $N compared");
    is(kv($p->{unpaired}, @UNP), kv({ map { $_ => 0 } @UNP }, @UNP),
       'pair: none unpaired');
    my $o = $p->{output_tokens_ratio} || {};
    is($o->{count}, $N, "pair: output_tokens_ratio count $N");
    near($o->{p50}, 2, 1 / 8, 'pair: output_tokens_ratio p50');
    near($o->{geomean}, 2, 1e-6, 'pair: output_tokens_ratio geomean');
    my $x = $p->{text_bytes_ratio} || {};
    is($x->{count}, $N, "pair: text_bytes_ratio count $N");
    near($x->{p50}, 0.5, 1 / 8, 'pair: text_bytes_ratio p50');
    near($x->{geomean}, 0.5, 1e-6, 'pair: text_bytes_ratio geomean');
    is(kv($p->{ending}, qw(same different)), "same=0 different=$N",
       'pair: every ending different');
    is(kv($p->{tools}, qw(both neither stable_only shadow_only)),
       "both=0 neither=0 stable_only=0 shadow_only=$N",
       'pair: only the shadow calls tools');
    is(kv($p->{contract}, qw(both_kept stable_broke shadow_broke both_broke
                             unchecked)),
       "both_kept=0 stable_broke=0 shadow_broke=0 both_broke=0 unchecked=$N",
       'pair: no contracts: unchecked');

    # phase 2: the same answers
    $t->upstream_control('pq', $PAIR_ST);
    @res = map { one('pair', "pair-b$_", chat_body("pair-b$_")) } 1 .. $N;
    ok(wait_compared('pair', 2 * $N), 'pair: phase 2 done');
    $p = pairs_of('pair');
    is($p->{compared}, 2 * $N, 'pair: ' . 2 * $N . ' compared');
    is(kv($p->{ending}, qw(same different)), "same=$N different=$N",
       'pair: identical answers end the same');
    is(kv($p->{tools}, qw(both neither stable_only shadow_only)),
       "both=0 neither=$N stable_only=0 shadow_only=$N",
       'pair: identical answers call no tools');
    near($p->{output_tokens_ratio}{geomean}, sqrt(2), 1e-6,
         'pair: output_tokens_ratio geomean of 2 and 1');

    # phase 3: streams (SSE with include_usage), the shadow different
    $t->upstream_control('pq', $PAIR_SH);
    @res = map {
        annotate($t->stream("/pair/v1/chat/completions?t=pair-c$_",
                            chat_body("pair-c$_", stream => 1),
                            { 'X-Test-N' => "pair-c$_" },
                            { until_eof => 1 }))
    } 1 .. $N;
    all_stable('pair', \@res, 'streams');
    ok(!grep({ ($_->{headers}{'content-type'} // '') !~ /event-stream/ }
             @res), 'pair: the clients got streams');
    ok(wait_compared('pair', 3 * $N), 'pair: phase 3 done');
    $p = pairs_of('pair');
    is($p->{compared}, 3 * $N, 'pair: ' . 3 * $N . ' compared with the '
       . 'streams');
    is(kv($p->{ending}, qw(same different)), "same=$N different=" . 2 * $N,
       'pair: streams: endings');
    is(kv($p->{tools}, qw(both neither stable_only shadow_only)),
       "both=0 neither=$N stable_only=0 shadow_only=" . 2 * $N,
       'pair: streams: tool calls');
    $o = $p->{output_tokens_ratio};
    is($o->{count}, 3 * $N, 'pair: streams: output_tokens_ratio count');
    near($o->{geomean}, 2 ** (2 / 3), 1e-6,
         'pair: output_tokens_ratio geomean of 2, 1, 2');
    near($o->{p50}, 2, 1 / 8, 'pair: output_tokens_ratio p50 of 2, 1, 2');
    near($o->{p95}, 2, 1 / 8, 'pair: output_tokens_ratio p95');
    $x = $p->{text_bytes_ratio};
    is($x->{count}, 3 * $N, 'pair: streams: text_bytes_ratio count');
    near($x->{geomean}, 0.5 ** (2 / 3), 1e-6,
         'pair: text_bytes_ratio geomean of 0.5, 1, 0.5');
    near($x->{p50}, 0.5, 1 / 8, 'pair: text_bytes_ratio p50');
    near($x->{p95}, 1, 1 / 8, 'pair: text_bytes_ratio p95');
    is(sh('pair')->{mirrored}, 3 * $N, 'pair: mirrored ' . 3 * $N);
}

# contracts: both bundles have one, the shadow's answers break it
{
    my $N = 8;
    my @res = map { one('pc', "pc-$_", chat_body("pc-$_")) } 1 .. $N;
    all_stable('pc', \@res, 'contracts');
    ok(wait_compared('pc', $N), 'pc: done');
    my $p = pairs_of('pc');
    is($p->{compared}, $N, "pc: $N compared");
    is(kv($p->{contract}, qw(both_kept stable_broke shadow_broke both_broke
                             unchecked)),
       "both_kept=0 stable_broke=0 shadow_broke=$N both_broke=0 unchecked=0",
       "pc: the shadow broke its contract $N times");
    my $c = sb('pc')->{contract} || {};
    is(($c->{broken} || {})->{non_empty}, $N,
       "pc: the shadow's slot counts its broken contracts (non_empty)");
    is((stb('pc')->{contract} || {})->{ok}, $N, 'pc: stable kept its own');
}

# a canary at 50%: the answers it served are not paired
{
    my @res = map { one('cn', "cn-$_", chat_body("cn-$_")) } 1 .. 30;
    is(scalar(grep { $_->{status} == 200 } @res), 30, 'cn: 30 answers');
    my $canary = grep { $_->{variant} eq 'canary' } @res;
    my $stable = grep { $_->{variant} eq 'stable' } @res;
    ok($canary && $stable, "cn: $canary from the canary, $stable from "
       . 'stable');
    ok(!grep({ $_->{variant} !~ /^(?:stable|canary)$/
               || $_->{bundle} eq 'n@3' } @res),
       'cn: none from the shadow');
    ok(wait_compared('cn', 30), 'cn: done');
    my $s = sh('cn');
    is($s->{mirrored}, 30, 'cn: all 30 mirrored, whoever served them')
        or diag explain $s;
    is($s->{pairs}{compared}, $stable, "cn: the $stable served by stable "
       . 'compared');
    is($s->{pairs}{unpaired}{not_stable}, $canary,
       "cn: the $canary served by the canary unpaired, not_stable");
}

# a shadow answering 500: unpaired shadow_failed; trip off: never opens
{
    my @res = map { one('pe', "pe-$_", chat_body("pe-$_")) } 1 .. 6;
    all_stable('pe', \@res, 'a shadow answering 500');
    ok(wait_compared('pe', 6), 'pe: done');
    my $b = sb('pe');
    is($b->{shadow}{pairs}{compared}, 0, 'pe: nothing compared');
    is($b->{shadow}{pairs}{unpaired}{shadow_failed}, 6,
       'pe: 6 unpaired, shadow_failed');
    is($b->{totals}{'5xx'}, 6, "pe: the shadow's slot counts 6 5xx");
    is($b->{breaker}{state}, 'closed', 'pe: trip off: closed');
    is($b->{shadow}{max_in_flight}, 16, 'pe: max_in_flight 16 by default');
}

# stable answering 500 (trip off): the client's answer failed, so the pair
# is unpaired as stable_failed, whatever the shadow answered
{
    my $before = sh('pe')->{pairs}{unpaired};
    my $m = sh('pe')->{mirrored};
    $t->upstream_control('st', "status=500\n");
    my @res = map { one('pe', "pe-st$_", chat_body("pe-st$_")) } 1 .. 3;
    $t->upstream_control('st', '');
    is(scalar(grep { $_->{status} == 500 } @res), 3,
       'pe: stable answering 500: the clients get its 500');
    ok(wait_compared('pe', 6 + 3), 'pe: done');
    my $u = sh('pe')->{pairs}{unpaired};
    is($u->{stable_failed} - $before->{stable_failed}, 3,
       'pe: 3 unpaired, stable_failed');
    is($u->{shadow_failed}, $before->{shadow_failed},
       'pe: none more shadow_failed');
    is(sh('pe')->{mirrored}, $m + 3, 'pe: all 3 mirrored');
}

############################################################################
# the API refuses to pin a shadow; a rollback is of the workflow's
# canaries (it names no bundle) and leaves the shadow running

{
    for my $a (qw(pin)) {
        my ($r, $j) = http($t, 'POST', "/ai-release/api/workflows/pe/$a",
                           encode_json({ bundle => 'k@err' }));
        is($r->{status}, 409, "api: $a of the shadow: 409");
        ok(ref $j eq 'HASH' && ($j->{error}{status} // 0) == 409
           && length($j->{error}{message} // ''), "api: $a: a JSON error")
            or diag $r->{content};
    }
    my $w = wf_of(doc(), 'pe');
    is(scalar @{ $w->{overrides} || [] }, 0, 'api: no override set');
    my ($rb) = http($t, 'POST', '/ai-release/api/workflows/pe/rollback',
                    encode_json({ bundle => 'k@err' }));
    is($rb->{status}, 200, 'api: a rollback naming the shadow is the '
       . "workflow's: 200");
    ($rb) = http($t, 'POST', '/ai-release/api/workflows/pe/resume', '');
    is($rb->{status}, 200, 'api: resume of pe: 200');
    my $r = one('pe', 'pe-after', chat_body('pe-after'));
    is($r->{bundle}, 'k@1', 'api: stable still serves');

    # a rollback of the workflow leaves the shadow running
    ($r) = http($t, 'POST', '/ai-release/api/workflows/cn/rollback', '');
    is($r->{status}, 200, 'api: rollback of cn: 200');
    my $m = sh('cn')->{mirrored};
    my @res = map { one('cn', "cn-rb$_", chat_body("cn-rb$_")) } 1 .. 4;
    is(scalar(grep { $_->{variant} eq 'stable' } @res), 4,
       'api: after the rollback stable serves cn');
    ok(wait_compared('cn', $m + 4), 'api: cn: done');
    is(sh('cn')->{mirrored}, $m + 4, 'api: and the shadow still gets '
       . 'copies');
    ($r) = http($t, 'POST', '/ai-release/api/workflows/cn/resume', '');
    is($r->{status}, 200, 'api: resume of cn: 200');
}

############################################################################
# Prometheus: every shadow count equals the JSON

sub prom_samples {
    my ($text) = @_;
    my @s;
    for my $line (split /\n/, $text) {
        next if $line =~ /^#/ || $line !~ /\S/;
        my ($name, $lab, $v) =
            $line =~ /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/ or next;
        my %l;
        while (($lab // '') =~ /(\w+)="((?:[^"\\]|\\.)*)"/g) { $l{$1} = $2 }
        push @s, [ $name, \%l, $v ];
    }
    return @s;
}

sub prom_check {
    my ($name) = @_;
    my $d = doc();
    my ($r) = status_get($t, '?format=prometheus');
    my @s = prom_samples($r->{content} // '');
    my $get = sub {
        my ($metric, %want) = @_;
        my @m = grep {
            my $x = $_;
            $x->[0] eq $metric
                && !grep { ($x->[1]{$_} // "\0") ne $want{$_} } keys %want
        } @s;
        return @m == 1 ? $m[0][2] : @m ? 'several' : 'none';
    };
    my (@bad, @bounds, @cum, $n);
    for my $wf (sort keys %SHADOW) {
        my $bd = sb($wf, $d);
        my $s = $bd->{shadow} or do { push @bad, "$wf: no shadow"; next };
        my $p = $s->{pairs} || {};
        my %l = (workflow => $wf, bundle => $SHADOW{$wf});
        my @want = (
            [ 'ai_release_shadow_mirrored_total', {}, $s->{mirrored} ],
            [ 'ai_release_shadow_pairs_total', {}, $p->{compared} ],
            (map { [ 'ai_release_shadow_skipped_total', { reason => $_ },
                     $s->{skipped}{$_} ] } @SKIP),
            (map { [ 'ai_release_shadow_pair_contract_total',
                     { verdict => $_ }, $p->{contract}{$_} ] }
                 qw(both_kept stable_broke shadow_broke both_broke
                    unchecked)),
            (map { [ 'ai_release_shadow_pair_ending_total', { ending => $_ },
                     $p->{ending}{$_} ] } qw(same different)),
            (map { [ 'ai_release_shadow_pair_tools_total', { calls => $_ },
                     $p->{tools}{$_} ] }
                 qw(both neither stable_only shadow_only)),
            (map { [ 'ai_release_shadow_unpaired_total', { reason => $_ },
                     $p->{unpaired}{$_} ] } @UNP),
            (map { [ 'ai_release_shadow_ratio_count', { measure => $_ },
                     $p->{"${_}_ratio"}{count} ] }
                 qw(output_tokens text_bytes)),
            (map { [ 'ai_release_shadow_ratio_bucket',
                     { measure => $_, le => '+Inf' },
                     $p->{"${_}_ratio"}{count} ] }
                 qw(output_tokens text_bytes)),
            (map { [ 'ai_release_requests_total',
                     { outcome => $_, variant => 'shadow' },
                     $bd->{totals}{$_} ] } qw(ok 5xx connect timeout)),
        );
        for my $w (@want) {
            my ($metric, $lab, $v) = @$w;
            my $got = $get->($metric, %l, %$lab);
            $n++;
            push @bad, "$wf $metric " . join(',', %$lab) . ": "
                       . "$got vs JSON " . ($v // 'undef')
                unless defined $v && $got eq $v;
        }
        # the buckets: cumulative; bounds from 2^(-16.5/4) to 2^(15.5/4)
        # (each bucket centred on a power of 2^(1/4)) and +Inf
        for my $m (qw(output_tokens text_bytes)) {
            my @b = sort { $a->[0] <=> $b->[0] }
                    map { [ $_->[1]{le} eq '+Inf' ? 9**9**9 : $_->[1]{le},
                            $_->[2] ] }
                    grep { $_->[0] eq 'ai_release_shadow_ratio_bucket'
                           && $_->[1]{workflow} eq $wf
                           && ($_->[1]{measure} // '') eq $m } @s;
            my %has;
            for my $le (2**(-16.5 / 4), 2**(0.5 / 4), 2**(15.5 / 4)) {
                $has{$le} = grep { abs($_->[0] - $le) < 1e-4 } @b;
            }
            push @bounds, "$wf $m: le " . join(',', map { $_->[0] } @b)
                unless @b && $b[-1][0] == 9**9**9 && !grep { !$_ } values %has;
            push @cum, "$wf $m: no buckets" unless @b;
            for my $i (1 .. $#b) {
                push @cum, "$wf $m: bucket $b[$i][0] below $b[$i - 1][0]"
                    if $b[$i][1] < $b[$i - 1][1];
            }
        }
        my ($dg) = map { $_->[1]{digest} }
                   grep { $_->[0] eq 'ai_release_shadow_mirrored_total'
                          && $_->[1]{workflow} eq $wf } @s;
        push @bad, "$wf: digest " . ($dg // 'none')
            unless defined $dg && $dg eq ($bd->{digest_short} // '');
    }
    ok($n && !@bad, "prometheus: $name: $n shadow samples equal the JSON")
        or diag join "\n", @bad;
    ok(!@bounds, "prometheus: $name: ratio buckets from le 2^(-16.5/4) to "
       . '2^(15.5/4) and +Inf') or diag join "\n", @bounds[0 .. 1];
    ok(!@cum, "prometheus: $name: ratio buckets cumulative")
        or diag join "\n", @cum;
    return @s;
}

{
    my @s = prom_check('after the traffic');
    # the pair workflow's buckets at 1: the 12 ratios of 1 for the output
    # tokens, and all 36 of 0.5 and 1 for the text
    my $at = sub {
        my ($m, $le) = @_;
        my ($x) = grep { $_->[0] eq 'ai_release_shadow_ratio_bucket'
                         && $_->[1]{workflow} eq 'pair'
                         && $_->[1]{measure} eq $m && $_->[1]{le} ne '+Inf'
                         && abs($_->[1]{le} - $le) < 1e-4 }
                  @s;
        return $x ? $x->[2] : 'none';
    };
    # the bucket of ratio 1 ends at 2^(1/8); the lowest at 2^(-16.5/4)
    is($at->('output_tokens', 2**(0.5 / 4)), 12,
       'prometheus: pair: 12 output token ratios in the buckets up to 1');
    is($at->('text_bytes', 2**(0.5 / 4)), 36,
       'prometheus: pair: 36 text ratios in the buckets up to 1');
    is($at->('output_tokens', 2**(-16.5 / 4)), 0,
       'prometheus: pair: none below 1/16');
}

############################################################################
# reload with the same bundles keeps the shadow's counts

{
    my $d = doc();
    my %before;
    for my $wf (sort keys %SHADOW) {
        my %s = %{ sh($wf, $d) };
        delete $s{in_flight};
        $before{$wf} = JSON::PP->new->canonical->encode(\%s);
    }
    $t->config($conf);
    ok($t->reload, 'reload with the same configuration');
    $d = doc();
    my @changed;
    for my $wf (sort keys %SHADOW) {
        my %s = %{ sh($wf, $d) };
        delete $s{in_flight};
        my $now = JSON::PP->new->canonical->encode(\%s);
        push @changed, "$wf: $before{$wf}\n  -> $now" if $now ne $before{$wf};
    }
    my @none = grep { !defined sh($_, $d)->{mirrored} } sort keys %SHADOW;
    ok(!@none && !@changed, 'reload: every shadow count kept (mirrored, '
       . 'skipped, pairs)') or diag join "\n", "no counts: @none", @changed;
    is(sb('pair', $d)->{role}, 'shadow', 'reload: still the shadow');

    my $m = sh('pair', $d)->{mirrored};
    one('pair', 'pair-r', chat_body('pair-r'));
    ok(wait_compared('pair', $m + 1), 'reload: the next one is mirrored');
    is(sh('pair')->{pairs}{compared}, $m + 1, 'reload: and compared');
    prom_check('after the reload');
}

$t->done;
diag sprintf('26-shadow.t: %.1f s', time - $T0);
done_testing;
