#!/usr/bin/perl
# ai_release_status: the JSON document checked field by field against the
# traffic this test sent (counts per outcome class in the window and the
# totals, latency histogram and percentiles, weights, trip settings), module
# and nginx versions, the zone; GET and HEAD only; format by argument and by
# Accept header; the Prometheus text passes "promtool check metrics" and
# agrees with the JSON sample by sample; a reload keeps the counters.  A
# bundle with an output_contract has a "contract" member (mode, answers
# checked, kept, unread, broken by rule) and ai_release_contract_answers_total
# samples; a bundle without one has neither.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRClient qw(ask_many wait_for status_get);
use JSON::PP;
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);

my $BODY = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';
my $T0 = time;

############################################################################
# helpers

# several POSTs of $BODY at once, each on its own connection, read to EOF
sub many {
    my ($t, $reqs, %o) = @_;
    return ask_many($t, [ map { [ $_->[0], $_->[1], $BODY ] } @$reqs ], %o);
}

sub wf_of {
    my ($doc, $name) = @_;
    return (grep { $_->{name} eq $name } @{ $doc->{workflows} || [] })[0];
}

sub bundle_of {
    my ($doc, $wf, $id) = @_;
    my $w = wf_of($doc, $wf) or return;
    return (grep { $_->{bundle} eq $id } @{ $w->{bundles} || [] })[0];
}

sub iso {
    my ($s) = @_;
    return undef unless defined $s
        && $s =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$/;
    return timegm($6, $5, $4, $3, $2 - 1, $1);
}

sub near { defined $_[0] && defined $_[1] && abs($_[0] - $_[1]) < 1e-6 }

my @CLASSES = qw(ok 5xx connect timeout invalid 429 slow contract);
my @RULES = qw(status content_type max_bytes json required non_empty
               model_prefix stream_end max_first_byte max_latency);

############################################################################
# setup

my $t = AIRTest->new;
$t->upstream($_) for qw(good other);

my $yaml = '';
for my $b (['o', 1, 'good'], ['m', 1, 'good'],
           ['s', 1, 'good'], ['s', 2, 'other'], ['s', 3, 'other'],
           ['c', 1, 'good'], ['c', 3, 'other'])
{
    my ($n, $v, $up) = @$b;
    $yaml .= "---\nname: $n\nversion: \"$v\"\n"
           . "upstream: 127.0.0.1:" . $t->port($up) . "\n"
           . "model: model-$n-$v\n";
}
# k: the output contracts of workflow "checked", which gets no traffic
$yaml .= "---\nname: k\nversion: \"$_->[0]\"\n"
       . "upstream: 127.0.0.1:" . $t->port('good') . "\n"
       . "model: model-k-$_->[0]\n$_->[1]"
    for ['1', "output_contract:\n  json: true\n  required: [/model]\n"],
        ['2', "output_contract:\n  status: [200]\n  max_bytes: 64k\n"
              . "  mode: enforce\n"],
        ['3', ''];
$t->write_file('bundles/all.yaml', $yaml);

$t->config(<<'C', workers => 2);
    ai_release_bundles %%DIR%%/bundles/*.yaml;

    ai_release_workflow only {
        stable o@1;
    }

    ai_release_workflow mixed {
        stable m@1;
        trip off;
    }

    ai_release_workflow split {
        stable   s@1;
        canary   s@2 25%;
        fallback s@3;
        sticky   $http_x_user_id;
    }

    ai_release_workflow conf {
        stable   c@1;
        fallback c@3;
        trip error_rate=30% min_requests=7 min_errors=3 window=20s
             consecutive=4 cooldown=15s max_cooldown=5m probes=3
             canary_margin=off recover=manual;
        errors 5xx timeout 429 slow=2s;
        failover on;
    }

    ai_release_workflow checked {
        stable   k@1;
        canary   k@2 10%;
        fallback k@3;
        errors   5xx contract;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%% reuseport;

        location /only  { ai_release only;  proxy_pass http://ai_release; }
        location /mixed { ai_release mixed; proxy_pass http://ai_release; }
        location /split { ai_release split; proxy_pass http://ai_release; }
        location /conf  { ai_release conf;  proxy_pass http://ai_release; }
        location /checked { ai_release checked; proxy_pass http://ai_release; }

        location = /status { ai_release_status; }
    }
C
$t->start;

############################################################################
# traffic

# only: 20 fast and 10 slow (1.5 s) answers, all 200; the fast ones in
# batches of 4, so that a loaded machine's forking mock upstream answers
# them well within 1 s
my @r = map { many($t, [ map { ['/only'] } 1 .. 4 ]) } 1 .. 5;
push @r, many($t, [ map { ['/only', { 'X-Mock-Delay-Ms' => 1500 }] } 1 .. 10 ]);
is(scalar(grep { $_->{status} == 200 } @r), 30, 'only: 30 answers 200');

# mixed: 12 ok, 8 x 500, 2 x 503, 3 x 429
@r = many($t, [ (map { ['/mixed'] } 1 .. 12),
                (map { ['/mixed', { 'X-Mock-Status' => 500 }] } 1 .. 8),
                (map { ['/mixed', { 'X-Mock-Status' => 503 }] } 1 .. 2),
                (map { ['/mixed', { 'X-Mock-Status' => 429 }] } 1 .. 3) ]);
is(join(',', map { $_->{status} } @r),
   join(',', (200) x 12, (500) x 8, (503) x 2, (429) x 3),
   'mixed: 25 answers with the injected statuses');

# split: 40 sticky users over stable and canary
@r = many($t, [ map { ['/split', { 'X-User-Id' => "user$_" }] } 1 .. 40 ]);
my %split;
$split{ $_->{bundle} }++ for @r;
ok($split{'s@1'} && $split{'s@2'} && !$split{'s@3'},
   'split: served by stable and canary: '
   . join(' ', map { "$_=$split{$_}" } sort keys %split));

# the outcome of a request is recorded when it ends: poll for it
my ($res, $doc);
wait_for(10, sub {
    ($res, $doc) = status_get($t);
    my $o = bundle_of($doc, 'only', 'o@1') or return 0;
    my $m = bundle_of($doc, 'mixed', 'm@1') or return 0;
    my $n = 0;
    $n += (bundle_of($doc, 'split', $_) || {})->{totals}{total} // 0
        for qw(s@1 s@2 s@3);
    return $o->{totals}{total} >= 30 && $m->{totals}{total} >= 25
        && $n >= 40;
});

############################################################################
# the document

is($res->{status}, 200, 'GET /status: 200');
like($res->{headers}{'content-type'} // '', qr{^application/json\b},
     'JSON by default');
ok($doc, 'the body is JSON') or diag($res->{content});
$doc ||= {};

my ($want_version) = do {
    open my $fh, '<', $t->repo
        . '/ngx_ai_release_module/ngx_http_ai_release_module.h' or die $!;
    local $/;
    <$fh> =~ /NGX_HTTP_AI_RELEASE_VERSION\s+"([^"]+)"/;
};
is_deeply($doc->{module}, { name => 'ngx_ai_release',
                            version => $want_version },
          "module name and version $want_version");
{
    my $bin = $t->nginx_bin;
    my $out = `'$bin' -v 2>&1`;
    my ($nv) = $out =~ m{nginx/(\d+\.\d+\.\d+)};
    is($doc->{nginx}{version}, $nv, "nginx version $nv");
    my %pids = map { $_ => 1 } $t->master_pid, $t->worker_pids;
    ok($doc->{nginx}{pid} && $pids{ $doc->{nginx}{pid} },
       "nginx pid $doc->{nginx}{pid} is one of this nginx's processes");
}
{
    my $now = iso($doc->{time});
    my $rel = iso($doc->{reloaded_at});
    ok($now && abs($now - time) < 120, "time $doc->{time} is now");
    ok($rel && $rel <= $now && $rel >= int($T0) - 5,
       "reloaded_at $doc->{reloaded_at} is the start of this test");
    like($doc->{generation}, qr/^\d+$/, "generation $doc->{generation}");
}
{
    my $z = $doc->{zone} || {};
    is($z->{name}, 'ai_release', 'zone: the default name');
    ok($z->{size} && $z->{size} >= 1048576 && !($z->{size} & ($z->{size} - 1)),
       "zone: size $z->{size}, a power of two of at least 1 MiB");
    ok($z->{used} && $z->{used} > 0 && $z->{used} < $z->{size},
       "zone: used $z->{used} of $z->{size}");
    is($z->{slots}, 10, 'zone: 10 slots, one per workflow and bundle');
}
is(join(',', map { $_->{name} } @{ $doc->{workflows} || [] }),
   'only,mixed,split,conf,checked',
   'every workflow, in configuration order');

# only: 30 ok, 10 of them slow
{
    my $w = wf_of($doc, 'only') || {};
    is(ref $w->{bundles} && scalar @{ $w->{bundles} }, 1, 'only: one bundle');
    my $b = bundle_of($doc, 'only', 'o@1') || {};
    is($b->{role}, 'stable', 'only: role stable');
    is($b->{name}, 'o', 'only: name');
    is($b->{version}, '1', 'only: version');
    is($b->{model}, 'model-o-1', 'only: model');
    is($b->{upstream}, '127.0.0.1:' . $t->port('good'), 'only: upstream');
    like($b->{digest}, qr/^sha256:[0-9a-f]{64}$/, 'only: digest');
    is($b->{digest_short}, substr($b->{digest} // '', 0, 19),
       'only: short digest');
    ok(near($b->{weight}{configured}, 1) && near($b->{weight}{effective}, 1),
       'only: weight 100% configured and effective');
    is($b->{breaker}{state}, 'closed', 'only: breaker closed');
    is($b->{breaker}{trips}, 0, 'only: no trips');
    ok(!defined $b->{breaker}{last_trip_reason}, 'only: no last trip reason');
    ok(defined $b->{breaker}{manual} && !$b->{breaker}{manual},
       'only: not tripped manually');
    ok(iso($b->{breaker}{since}), 'only: breaker since is a time');

    is_deeply($b->{window}, { ok => 30, '5xx' => 0, connect => 0,
                              timeout => 0, invalid => 0, 429 => 0,
                              slow => 0, contract => 0, rejected => 0,
                              total => 30, errors => 0,
                              error_rate => 0 },
              'only: window: 30 ok');
    is_deeply($b->{totals}, { ok => 30, '5xx' => 0, connect => 0,
                              timeout => 0, invalid => 0, 429 => 0,
                              slow => 0, contract => 0, rejected => 0,
                              total => 30 },
              'only: totals: 30 ok, total 30');

    my $l = $b->{latency} || {};
    is($l->{count}, 30, 'only: latency count 30');
    ok($l->{sum_ms} >= 15000 && $l->{sum_ms} < 30 * 10000,
       "only: latency sum $l->{sum_ms} ms >= 10 x 1500 ms");
    my @bk = @{ $l->{buckets} || [] };
    is(scalar @bk, 22, 'only: 22 latency buckets');
    is_deeply([ map { $_->{le_ms} } @bk ],
              [ 1, 2, 5, 10, 25, 50, 125, 250, 500, 1000, 2000, 3000, 5000,
                7500, 10000, 15000, 20000, 30000, 60000, 120000, 240000,
                undef ],
              'only: bucket bounds 1 ms .. 240 s and +Inf');
    # per-bucket counts, or cumulative ones: either way they must add up
    my @c = map { $_->{count} } @bk;
    my $cumulative = $c[-1] == $l->{count} && !grep { $c[$_] < $c[$_ - 1] } 1 .. $#c;
    my $sum = 0;
    $sum += $_ for @c;
    ok($cumulative || $sum == $l->{count},
       'only: the buckets add up to the count ('
       . ($cumulative ? 'cumulative' : 'per bucket') . ')');
    my @cum = @c;
    unless ($cumulative) { $cum[$_] += $cum[$_ - 1] for 1 .. $#cum }
    my ($s1) = grep { ($bk[$_]{le_ms} // 0) == 1000 } 0 .. $#bk;
    is($cum[$s1 // -1], 20, 'only: 20 answers within 1 s');
    is($cum[-1] - $cum[$s1 // -1], 10, 'only: 10 answers above 1 s');
    ok($l->{p50_ms} > 0 && $l->{p50_ms} <= 1000,
       "only: p50 $l->{p50_ms} ms within the fast answers");
    ok($l->{p95_ms} >= 1000,
       "only: p95 $l->{p95_ms} ms among the slow ones");
    ok($l->{p99_ms} >= $l->{p95_ms} && $l->{p95_ms} >= $l->{p50_ms},
       'only: p50 <= p95 <= p99');

    my $tr = $w->{trip} || {};
    is_deeply($tr, { enabled => JSON::PP::true, error_rate => 0.2,
                     min_requests => 20, min_errors => 5, window_ms => 60000,
                     consecutive => 5, cooldown_ms => 30000,
                     max_cooldown_ms => 600000, probes => 5, probe_timeout_ms => 60000,
                     canary_margin => 0.05, recover => 'auto' },
              'only: the default trip settings');
    is_deeply($w->{errors}, [qw(5xx connect timeout invalid)],
              'only: the default error classes');
    is($w->{slow_ms}, 0, 'only: slow_ms 0');
    ok(defined $w->{sticky} && !$w->{sticky}, 'only: not sticky');
    ok(defined $w->{failover} && !$w->{failover}, 'only: no failover');
    is_deeply($w->{overrides}, [], 'only: no overrides');
}

# mixed: 12 ok, 10 5xx, 3 429; 429 does not count as an error by default
{
    my $w = wf_of($doc, 'mixed') || {};
    my $b = bundle_of($doc, 'mixed', 'm@1') || {};
    my $win = $b->{window} || {};
    is_deeply({ map { $_ => $win->{$_} } @CLASSES, 'total', 'errors' },
              { ok => 12, '5xx' => 10, connect => 0, timeout => 0,
                invalid => 0, 429 => 3, slow => 0, contract => 0,
                total => 25, errors => 10 },
              'mixed: window: 12 ok, 10 5xx, 3 429, 10 errors of 25');
    ok(near($win->{error_rate}, 0.4), "mixed: error rate 0.4 ("
       . ($win->{error_rate} // 'undef') . ')');
    is_deeply($b->{totals}, { ok => 12, '5xx' => 10, connect => 0,
                              timeout => 0, invalid => 0, 429 => 3,
                              slow => 0, contract => 0, rejected => 0,
                              total => 25 },
              'mixed: totals');
    is($b->{latency}{count}, 25, 'mixed: every answer has a latency');
    is($b->{breaker}{state}, 'closed', 'mixed: trip off: still closed');
    ok(defined $w->{trip} && !$w->{trip}{enabled}, 'mixed: trip disabled');
}

# split: weights and counts per bundle
{
    my $w = wf_of($doc, 'split') || {};
    is(join(',', map { "$_->{role}:$_->{bundle}" } @{ $w->{bundles} || [] }),
       'stable:s@1,canary:s@2,fallback:s@3',
       'split: bundles with their roles, stable first');
    my %want = ('s@1' => 0.75, 's@2' => 0.25, 's@3' => 0);
    for my $id (sort keys %want) {
        my $b = bundle_of($doc, 'split', $id) || {};
        ok(near($b->{weight}{configured}, $want{$id})
           && near($b->{weight}{effective}, $want{$id}),
           "split: $id weight $want{$id} configured and effective ("
           . join('/', map { $_ // 'undef' }
                  @{ $b->{weight} || {} }{qw(configured effective)}) . ')');
        my $n = $split{$id} // 0;
        is($b->{totals}{total}, $n, "split: $id totals.total $n");
        is($b->{window}{ok}, $n, "split: $id window.ok $n");
    }
    ok($w->{sticky}, 'split: sticky');
    is($w->{trip}{canary_margin}, 0.05, 'split: canary margin 5%');
}

# conf: explicit settings
{
    my $w = wf_of($doc, 'conf') || {};
    is_deeply($w->{trip}, { enabled => JSON::PP::true, error_rate => 0.3,
                            min_requests => 7, min_errors => 3,
                            window_ms => 20000,
                            consecutive => 4, cooldown_ms => 15000,
                            max_cooldown_ms => 300000, probes => 3, probe_timeout_ms => 60000,
                            canary_margin => undef, recover => 'manual' },
              'conf: the configured trip settings, canary_margin null');
    is(join(' ', sort grep { $_ ne 'slow' } @{ $w->{errors} || [] }),
       '429 5xx timeout', 'conf: errors 5xx timeout 429');
    is($w->{slow_ms}, 2000, 'conf: slow_ms 2000');
    ok($w->{failover}, 'conf: failover on');
    my $b = bundle_of($doc, 'conf', 'c@1') || {};
    is($b->{totals}{total}, 0, 'conf: no traffic, no counts');
    is($b->{latency}{count}, 0, 'conf: no latency samples');
    is($b->{latency}{p50_ms}, 0, 'conf: p50 0 without samples');
}

# checked: a "contract" member where the bundle has an output_contract, in
# its mode; no traffic was sent to it, so nothing judged yet
{
    my $w = wf_of($doc, 'checked') || {};
    is_deeply($w->{errors}, ['5xx', 'contract'],
              'checked: errors 5xx contract');
    my %mode = ('k@1' => 'observe', 'k@2' => 'enforce');
    for my $id (sort keys %mode) {
        my $c = (bundle_of($doc, 'checked', $id) || {})->{contract};
        is(ref $c, 'HASH', "checked: $id has a contract object")
            or next;
        is_deeply([ sort keys %$c ], [qw(broken checked mode ok unread)],
                  "checked: $id: contract mode, checked, ok, unread, broken");
        is($c->{mode}, $mode{$id}, "checked: $id: mode $mode{$id}");
        is_deeply($c->{broken}, { map { $_ => 0 } @RULES },
                  "checked: $id: broken names the 10 rules, all 0");
        is_deeply([ @$c{qw(checked ok unread)} ], [0, 0, 0],
                  "checked: $id: 0 checked, 0 ok, 0 unread");
        my $b = bundle_of($doc, 'checked', $id);
        is($b->{totals}{contract}, 0, "checked: $id: totals.contract 0");
    }
    my @with;
    for my $w (@{ $doc->{workflows} || [] }) {
        push @with, map { "$w->{name}/$_->{bundle}" }
                    grep { exists $_->{contract} } @{ $w->{bundles} || [] };
    }
    is(join(' ', sort @with), 'checked/k@1 checked/k@2',
       'no "contract" member where the bundle has no output_contract');
}

############################################################################
# methods and formats

{
    my $r = $t->request('HEAD', '/status');
    is($r->{status}, 200, 'HEAD: 200');
    is($r->{content} // '', '', 'HEAD: no body');
    like($r->{headers}{'content-type'} // '', qr{^application/json},
         'HEAD: JSON content type');

    for my $m (qw(POST PUT DELETE PATCH)) {
        my $r = $t->request($m, '/status', content => '{}',
                            headers => { 'Content-Type' => 'application/json' });
        is($r->{status}, 405, "$m: 405");
    }
}

my $html = do {
    open my $fh, '<:raw', $t->repo
        . '/ngx_ai_release_module/dashboard/index.html' or die $!;
    local $/;
    <$fh>;
};

{
    my %cases = (
        'json, no Accept'          => ['?format=json', undef, 'json'],
        'prometheus'               => ['?format=prometheus', undef, 'prom'],
        'html'                     => ['?format=html', undef, 'html'],
        'browser Accept'           => ['', 'text/html,application/xhtml+xml,'
                                        . 'application/xml;q=0.9,*/*;q=0.8',
                                       'html'],
        'Accept text/html'         => ['', 'text/html', 'html'],
        'Accept text/plain'        => ['', 'text/plain', 'prom'],
        'Accept application/json'  => ['', 'application/json', 'json'],
        'Accept */*'               => ['', '*/*', 'json'],
        'format=json wins over Accept text/html'
                                   => ['?format=json', 'text/html', 'json'],
        'format=prometheus wins over Accept text/html'
                                   => ['?format=prometheus', 'text/html', 'prom'],
    );
    my %type = (json => qr{^application/json},
                prom => qr{^text/plain\b},
                html => qr{^text/html\b});
    for my $name (sort keys %cases) {
        my ($q, $accept, $want) = @{ $cases{$name} };
        my $r = $t->get("/status$q", $accept ? { Accept => $accept } : {});
        my $ok = $r->{status} == 200
            && ($r->{headers}{'content-type'} // '') =~ $type{$want};
        $ok &&= $want eq 'json' ? !!$t->json($r)
              : $want eq 'html' ? $r->{content} eq $html
              : $r->{content} =~ /^# (?:HELP|TYPE) ai_release_/m;
        ok($ok, "$name: $want")
            or diag("status $r->{status}, content type "
                    . ($r->{headers}{'content-type'} // '-'));
    }
}

############################################################################
# Prometheus

my ($pres) = status_get($t, '?format=prometheus');
($res, $doc) = status_get($t);
my $prom = $pres->{content} // '';

SKIP: {
    skip 'promtool check metrics: /usr/bin/promtool is missing '
         . '(apt-get install prometheus)', 1 unless -x '/usr/bin/promtool';
    my $f = $t->write_file('metrics.txt', $prom);
    my $out = `/usr/bin/promtool check metrics < '$f' 2>&1`;
    is($? >> 8, 0, 'promtool check metrics accepts the output')
        or diag($out);
}

# samples: name, {labels}, value
my @samples;
for my $line (split /\n/, $prom) {
    next if $line =~ /^#/ || $line !~ /\S/;
    my ($name, $lab, $v) = $line =~ /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/
        or do { fail("unparsable metrics line: $line"); next };
    my %l;
    while (($lab // '') =~ /(\w+)="((?:[^"\\]|\\.)*)"/g) { $l{$1} = $2 }
    push @samples, [$name, \%l, $v];
}
ok(scalar @samples, scalar(@samples) . ' samples');

sub samples {
    my ($name, %want) = @_;
    return grep {
        my $s = $_;
        $s->[0] eq $name
            && !grep { ($s->[1]{$_} // "\0") ne $want{$_} } keys %want
    } @samples;
}

{
    my ($bad, $n) = (0, 0);
    for my $s (samples('ai_release_requests_total')) {
        $n++;
        my $l = $s->[1];
        my $b = bundle_of($doc, $l->{workflow} // '', $l->{bundle} // '');
        if (!$b || ($l->{digest} // '') ne $b->{digest_short}
            || ($l->{variant} // '') ne $b->{role}
            || !defined $l->{outcome}
            || !defined $b->{totals}{ $l->{outcome} }
            || $b->{totals}{ $l->{outcome} } != $s->[2])
        {
            $bad++;
            diag("requests_total mismatch: "
                 . join(',', map { "$_=$l->{$_}" } sort keys %$l)
                 . " $s->[2]");
        }
    }
    ok($n && !$bad, "every ai_release_requests_total ($n) equals the "
       . 'JSON totals of its bundle and outcome');

    my @missing;
    for my $w (@{ $doc->{workflows} || [] }) {
        for my $b (@{ $w->{bundles} || [] }) {
            for my $o (@CLASSES) {
                push @missing, "$w->{name}/$b->{bundle}/$o"
                    unless samples('ai_release_requests_total',
                                   workflow => $w->{name},
                                   bundle => $b->{bundle}, outcome => $o);
            }
        }
    }
    ok(!@missing, 'a requests_total counter for every bundle and outcome')
        or diag("missing: @missing");

    my ($o) = samples('ai_release_requests_total', workflow => 'only',
                      bundle => 'o@1', outcome => 'ok');
    is($o && $o->[2], 30, 'requests_total{workflow="only",outcome="ok"} 30');
    ($o) = samples('ai_release_requests_total', workflow => 'mixed',
                   outcome => '5xx');
    is($o && $o->[2], 10, 'requests_total{workflow="mixed",outcome="5xx"} 10');
}

# the contract answers: a sample per result of each bundle with a
# contract, equal to its JSON; none for the others
{
    my (@bad, %of);
    for my $s (samples('ai_release_contract_answers_total')) {
        my $l = $s->[1];
        my $b = bundle_of($doc, $l->{workflow} // '', $l->{bundle} // '');
        my $c = $b && $b->{contract};
        my $r = $l->{result} // '';
        my $want = !$c ? undef
                 : $r eq 'ok' || $r eq 'unread' ? $c->{$r}
                 : $c->{broken}{$r};
        push @bad, join(',', map { "$_=$l->{$_}" } sort keys %$l)
                   . " $s->[2]"
            unless defined $want && $want == $s->[2]
                && $l->{digest} eq $b->{digest_short}
                && $l->{variant} eq $b->{role};
        push @{ $of{"$l->{workflow}/$l->{bundle}"} }, $r;
    }
    ok(!@bad, 'every ai_release_contract_answers_total equals the JSON '
       . 'contract of its bundle and result') or diag(join "\n", @bad);
    my $want = join ' ', sort 'ok', 'unread', @RULES;
    is(join(' ', sort keys %of), 'checked/k@1 checked/k@2',
       'contract_answers_total: only the bundles with a contract');
    for my $id (qw(checked/k@1 checked/k@2)) {
        is(join(' ', sort @{ $of{$id} || [] }), $want,
           "contract_answers_total of $id: result ok, unread, each rule "
           . 'once');
    }
    my ($s) = samples('ai_release_contract_answers_total',
                      workflow => 'checked', bundle => 'k@2',
                      result => 'max_bytes');
    is($s && $s->[2], 0,
       'contract_answers_total{bundle="k@2",result="max_bytes"} 0');
    like($prom, qr/^# HELP ai_release_contract_answers_total \S.*\n
                   ^\# \s TYPE \s ai_release_contract_answers_total \s
                   counter$/mx,
         'contract_answers_total: HELP, and TYPE counter');

    my ($r) = status_get($t, '?format=prometheus&workflow=only');
    unlike($r->{content} // '', qr/ai_release_contract_answers_total/,
           'a workflow without contracts: no contract_answers_total family');
    ($r) = status_get($t, '?format=prometheus&workflow=checked');
    like($r->{content} // '', qr/^ai_release_contract_answers_total\{
         workflow="checked",bundle="k\@1",[^}]*result="unread"\}\ 0$/mx,
         '?workflow=checked: its contract_answers_total');
}

# the latency histogram
{
    my @bad;
    for my $w (@{ $doc->{workflows} || [] }) {
        for my $b (@{ $w->{bundles} || [] }) {
            my %k = (workflow => $w->{name}, bundle => $b->{bundle},
                     digest => $b->{digest_short}, variant => $b->{role});
            my $id = "$w->{name}/$b->{bundle}";
            my $l = $b->{latency};
            my @bk = @{ $l->{buckets} };
            my @c = map { $_->{count} } @bk;
            my $cumulative = $c[-1] == $l->{count}
                && !grep { $c[$_] < $c[$_ - 1] } 1 .. $#c;
            unless ($cumulative) { $c[$_] += $c[$_ - 1] for 1 .. $#c }
            for my $i (0 .. $#bk) {
                my $le = defined $bk[$i]{le_ms} ? $bk[$i]{le_ms} / 1000 : '+Inf';
                my ($s) = grep { $le eq '+Inf' ? $_->[1]{le} eq '+Inf'
                                 : $_->[1]{le} ne '+Inf' && $_->[1]{le} == $le }
                          samples('ai_release_upstream_latency_seconds_bucket', %k);
                push @bad, "$id le=$le: " . ($s ? $s->[2] : 'missing')
                           . " != $c[$i]"
                    unless $s && $s->[2] == $c[$i];
            }
            my ($cnt) = samples('ai_release_upstream_latency_seconds_count', %k);
            push @bad, "$id _count" unless $cnt && $cnt->[2] == $l->{count};
            my ($sum) = samples('ai_release_upstream_latency_seconds_sum', %k);
            push @bad, "$id _sum" unless $sum
                && abs($sum->[2] - $l->{sum_ms} / 1000) < 0.0011;
        }
    }
    ok(!@bad, 'the latency histogram (cumulative buckets, le in seconds, '
       . '_sum, _count) agrees with the JSON') or diag(join "\n", @bad);
}

# breaker state, weights, trips, zone, info
{
    my @bad;
    for my $w (@{ $doc->{workflows} || [] }) {
        for my $b (@{ $w->{bundles} || [] }) {
            my %k = (workflow => $w->{name}, bundle => $b->{bundle},
                     digest => $b->{digest_short}, variant => $b->{role});
            my $id = "$w->{name}/$b->{bundle}";
            for my $st (qw(closed open half-open)) {
                my ($s) = samples('ai_release_breaker_state', %k, state => $st);
                my $want = $b->{breaker}{state} eq $st ? 1 : 0;
                push @bad, "$id breaker_state $st"
                    unless $s && $s->[2] == $want;
            }
            for my $kind (qw(configured effective)) {
                my ($s) = samples('ai_release_weight_ratio', %k, kind => $kind);
                push @bad, "$id weight_ratio $kind"
                    unless $s && abs($s->[2] - $b->{weight}{$kind}) < 1e-6;
            }
            my ($s) = samples('ai_release_trips_total', %k);
            push @bad, "$id trips_total"
                unless $s && $s->[2] == $b->{breaker}{trips};
        }
    }
    ok(!@bad, 'breaker_state (1 for the current state, 0 for the others), '
       . 'weight_ratio and trips_total agree with the JSON')
        or diag(join "\n", @bad);

    my ($s) = samples('ai_release_zone_size_bytes', zone => 'ai_release');
    is($s && $s->[2], $doc->{zone}{size}, 'ai_release_zone_size_bytes');
    ($s) = samples('ai_release_zone_used_bytes', zone => 'ai_release');
    ok($s && $s->[2] > 0 && $s->[2] <= $doc->{zone}{size},
       'ai_release_zone_used_bytes');
    ($s) = samples('ai_release_info', version => $want_version,
                   nginx_version => $doc->{nginx}{version});
    is($s && $s->[2], 1, 'ai_release_info{version,nginx_version} 1');
}

############################################################################
# a reload: a new generation, the counters kept

{
    my $gen = $doc->{generation};
    ok($t->reload, 'reload');
    my ($r, $d) = status_get($t);
    ok($d && $d->{generation} > $gen,
       "generation $gen -> " . ($d ? $d->{generation} : 'undef'));
    ok($d && iso($d->{reloaded_at}) >= iso($doc->{reloaded_at}),
       'reloaded_at moved on');
    is(bundle_of($d, 'only', 'o@1')->{totals}{total}, 30,
       'only: the totals survive the reload');
    is($d->{zone}{slots}, 10, 'still 10 slots');
}

$t->done;
done_testing;
