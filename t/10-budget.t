#!/usr/bin/perl
# Error budgets: the rate rule trips at exactly the expected request and not
# below min_requests or min_errors, the consecutive rule, the canary_margin
# rule (worse than stable by the margin with 95% confidence); where the
# traffic of a tripped canary / stable goes (sticky users included, fallback
# tripped too); which outcomes count (499, 4xx, nginx's own answers never;
# 429 and slow only when listed; streams cut after the headers do); one
# state-change line per transition with two workers; $ai_release_state and
# $ai_release_reason in the access log.
#
# Failures are injected per request with the mock's X-Mock-* headers, so one
# nginx with one set of upstreams serves every scenario, each in its own
# workflow (its own error-budget slots).

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRClient;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);

my $BODY = '{"model":"m","messages":[{"role":"user","content":"hello"}]}';

############################################################################
# setup

my $t = AIRTest->new;
$t->upstream($_) for qw(stable canary fallback);

$t->write_file('bundles/wf.yaml', <<"Y");
name: wf
version: "1"
upstream: 127.0.0.1:@{[ $t->port('stable') ]}
model: m-stable
---
name: wf
version: "2"
upstream: 127.0.0.1:@{[ $t->port('canary') ]}
model: m-canary
---
name: wf
version: "3"
upstream: 127.0.0.1:@{[ $t->port('fallback') ]}
model: m-fallback
Y

my $T = 'window=30s cooldown=60s';
my @wf = (
    # name, workflow block, extra location directives
    [ rate     => "canary wf\@2 100%;\n"
                . "trip error_rate=50% min_requests=10 consecutive=0 $T;" ],
    [ rate2    => "canary wf\@2 100%;\n"
                . "trip error_rate=50% min_requests=10 consecutive=0 $T;" ],
    [ rate3    => "canary wf\@2 100%;\n"
                . "trip error_rate=50% min_requests=10 consecutive=0 $T;" ],
    [ race     => "canary wf\@2 100%;\n"
                . "trip error_rate=50% min_requests=5 consecutive=0 $T;" ],
    [ consec   => "canary wf\@2 100%;\n"
                . "trip consecutive=3 min_requests=1000 $T;" ],
    [ sticky   => "canary wf\@2 50%;\nsticky \$http_x_user_id;\n"
                . "trip consecutive=3 min_requests=1000 $T;" ],
    [ sfb      => "fallback wf\@3;\n"
                . "trip consecutive=3 min_requests=1000 $T;" ],
    [ nofb     => "trip consecutive=2 min_requests=1000 $T;" ],
    [ margin   => "canary wf\@2 50%;\nsticky \$http_x_user_id;\n"
                . "trip error_rate=90% min_requests=20 consecutive=0 "
                . "canary_margin=5% $T;" ],
    [ nomargin => "canary wf\@2 50%;\nsticky \$http_x_user_id;\n"
                . "trip error_rate=90% min_requests=20 consecutive=0 "
                . "canary_margin=off $T;" ],
    [ minerr   => "canary wf\@2 100%;\n"
                . "trip error_rate=20% min_requests=10 consecutive=0 $T;" ],
    [ minerr2  => "canary wf\@2 100%;\n"
                . "trip error_rate=20% min_requests=10 min_errors=2 "
                . "consecutive=0 $T;" ],
    [ never    => "canary wf\@2 100%;\n"
                . "trip consecutive=1 min_requests=1000 $T;" ],
    [ t429     => "canary wf\@2 100%;\nerrors 5xx 429;\n"
                . "trip consecutive=2 min_requests=1000 $T;" ],
    [ t429d    => "canary wf\@2 100%;\n"
                . "trip consecutive=2 min_requests=1000 $T;" ],
    [ slow     => "canary wf\@2 100%;\nerrors slow=200ms;\n"
                . "trip consecutive=2 min_requests=1000 $T;" ],
    [ cut      => "canary wf\@2 100%;\nerrors connect;\n"
                . "trip consecutive=2 min_requests=1000 $T;",
      'proxy_buffering off;' ],
    [ midto    => "canary wf\@2 100%;\nerrors timeout;\n"
                . "trip consecutive=1 min_requests=1000 $T;",
      'proxy_buffering off; proxy_read_timeout 1s;' ],
);

my $conf = alog_format() . <<'C';

    ai_release_bundles %%DIR%%/bundles/*.yaml;
C
for my $w (@wf) {
    my ($name, $body) = @$w;
    $body =~ s/^/        /mg;
    $conf .= "\n    ai_release_workflow $name {\n        stable wf\@1;\n"
           . "$body\n    }\n";
}
$conf .= <<'C';

    server {
        listen 127.0.0.1:%%PORT_nginx%% reuseport;
        access_log %%DIR%%/air.log air;
        add_header X-Worker $pid always;
        proxy_http_version 1.1;
        proxy_set_header Connection "";

        location = /never-gen503 { ai_release never; return 503 "gen\n"; }
        location = /never-gen500 { ai_release never; return 500; }
C
for my $w (@wf) {
    my ($name, undef, $extra) = @$w;
    $conf .= "        location = /$name { ai_release $name; "
           . "proxy_pass http://ai_release; " . ($extra // '') . " }\n";
}
$conf .= "    }\n";

$t->config($conf, workers => 2);
$t->start;

my $E500 = { 'X-Mock-Status' => 500 };

############################################################################
# rate rule: error_rate=50% min_requests=10, every request an error

{
    my @r = map { ask($t, "/rate?n=$_", headers => $E500) } 1 .. 10;
    is(variants(@r), join(',', ('canary') x 10),
       'rate: below min_requests (9 errors of 9) and at the 10th the canary '
       . 'still serves');
    is(scalar(grep { $_->{status} == 500 && $_->{served_by} eq 'canary' } @r),
       10, 'rate: the clients saw the canary\'s 500s (no failover)');
    wait_for(1, sub { ntrans($t, 'rate', 'wf@2', 'closed', 'open') });
    is(ntrans($t, 'rate', 'wf@2', 'closed', 'open'), 1,
       'rate: one "closed -> open" line after the 10th error');

    my $r = ask($t, '/rate?n=11');
    is($r->{variant}, 'stable', 'rate: the 11th request goes to stable');
    is($r->{status}, 200, 'rate: and gets 200');
    is($r->{served_by}, 'stable', 'rate: from the stable upstream');
    is($r->{bundle}, 'wf@1', 'rate: X-AI-Release names wf@1');

    # more traffic through both workers: still one line
    my (%pids, @v);
    for my $n (12 .. 200) {
        my $x = ask($t, "/rate?n=$n");
        push @v, $x->{variant};
        $pids{ $x->{worker} }++;
        last if $n >= 40 && keys %pids >= 2;
    }
    is(scalar(grep { $_ ne 'stable' } @v), 0,
       'rate: a tripped canary gets no traffic (' . scalar(@v) . ' requests)');
    is(scalar keys %pids, 2, 'rate: both workers served');
    is(ntrans($t, 'rate', 'wf@2', 'closed', 'open'), 1,
       'rate: the transition is logged exactly once with 2 workers');
    my @l = transitions($t, 'rate', 'wf@2', 'closed', 'open');
    like($l[0] // '', qr/traffic goes to .*(?:stable|wf\@1)/,
         'rate: the line says traffic goes to stable');

    # $ai_release_state / $ai_release_reason
    my @a = alog($t, 'rate');
    my %by = map { $_->{n} => $_ } @a;
    my @pre = grep { defined } @by{1 .. 9};
    is(scalar(grep { $_->{v} eq 'canary' && $_->{st} eq 'closed'
                     && $_->{r} eq 'weight' && $_->{f} eq '' } @pre), 9,
       'rate: access log: v=canary st=closed r=weight before the trip')
        or diag explain \@pre;
    my @post = grep { $_->{n} =~ /^\d+$/ && $_->{n} > 10 } @a;
    is(scalar(grep { $_->{v} eq 'stable' && $_->{b} eq 'wf@1'
                     && $_->{st} eq 'closed' && $_->{r} eq 'tripped'
                     && $_->{f} eq '' } @post), scalar(@post),
       'rate: access log: v=stable st=closed r=tripped after the trip')
        or diag explain [ @post[0 .. 2] ];
}

# rate rule with a mix: 40% of 10 does not trip; 6 of 12 (50%) does
{
    my @err = (0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1);
    my @r;
    for my $i (0 .. $#err) {
        push @r, ask($t, '/rate2?n=' . ($i + 1),
                     headers => $err[$i] ? $E500 : {});
    }
    is(variants(@r), join(',', ('canary') x 12),
       'rate2: 4 of 10 (40%), 5 of 11 (45%) and the 12th request: canary');
    my $r = ask($t, '/rate2?n=13');
    is($r->{variant}, 'stable', 'rate2: 6 errors of 12 (50%) trips it: '
       . 'the 13th request goes to stable');
}

# rate rule, min_requests reached by a good request: 5 errors, then 5 good
# answers: at the 10th request the window holds 5 errors of 10 (50%)
{
    my @r;
    for my $i (1 .. 10) {
        push @r, ask($t, "/rate3?n=$i", headers => $i <= 5 ? $E500 : {});
    }
    is(variants(@r), join(',', ('canary') x 10),
       'rate3: 5 errors then 5 good answers, all from the canary');
    my $r = ask($t, '/rate3?n=11');
    is($r->{variant}, 'stable', 'rate3: 5 errors of 10 (50%) once '
       . 'min_requests=10 is reached by a good answer: the 11th request goes '
       . 'to stable');
}

# consecutive rule: consecutive=3 min_requests=1000
{
    my @seq = (1, 1, 0, 1, 1, 1);
    my @r;
    for my $i (0 .. $#seq) {
        push @r, ask($t, '/consec?n=' . ($i + 1),
                     headers => $seq[$i] ? $E500 : {});
    }
    is(variants(@r), join(',', ('canary') x 6),
       'consecutive: error, error, ok, error, error, error: all on canary');
    is($r[2]{status}, 200, 'consecutive: the ok in between');
    my $r = ask($t, '/consec?n=7');
    is($r->{variant}, 'stable', 'consecutive: after 3 errors in a row the '
       . 'next request goes to stable');
    wait_for(2, sub { ntrans($t, 'consec', 'wf@2', 'closed', 'open') });
    is(ntrans($t, 'consec', 'wf@2', 'closed', 'open'), 1,
       'consecutive: logged once');
}

# the same transition under concurrency, both workers recording: one line
{
    my @r = ask_many($t, [ map { ["/race?n=c$_",
                                  { %$E500, 'X-Mock-Delay-Ms' => 300 }] }
                           1 .. 20 ]);
    is(scalar(grep { $_->{status} == 500 } @r), 20,
       'race: 20 concurrent failing requests answered');
    my %pids = map { $_->{worker} => 1 } @r;
    note('race: workers used: ' . join(' ', keys %pids));
    wait_for(2, sub { ntrans($t, 'race', 'wf@2', 'closed', 'open') });
    my @r2 = ask_many($t, [ map { ["/race?n=d$_"] } 1 .. 10 ]);
    is(variants(@r2), join(',', ('stable') x 10), 'race: tripped');
    is(ntrans($t, 'race', 'wf@2', 'closed', 'open'), 1,
       'race: one "closed -> open" line although errors kept arriving '
       . 'on both workers');
}

# sticky users of a tripped canary move to stable
{
    my (@cu, @su);
    for my $u (1 .. 100) {
        my $r = ask($t, '/sticky?n=pre', headers => { 'X-User-Id' => "s$u" });
        push @{ $r->{variant} eq 'canary' ? \@cu : \@su }, "s$u";
        last if @cu >= 4 && @su >= 4;
    }
    ok(@cu >= 4 && @su >= 4, 'sticky: found users of both bundles');
    my @e = map { ask($t, '/sticky?n=err', headers =>
                      { 'X-User-Id' => $cu[0], %$E500 }) } 1 .. 3;
    is(variants(@e), 'canary,canary,canary', 'sticky: 3 errors on the canary');

    my @c = map { ask($t, '/sticky?n=post', headers => { 'X-User-Id' => $_ }) }
            @cu;
    is(variants(@c), join(',', ('stable') x @cu),
       'sticky: every user of the tripped canary is served by stable');
    is(scalar(grep { $_->{status} == 200 && $_->{served_by} eq 'stable' } @c),
       scalar(@cu), 'sticky: by the stable upstream, with 200');
    my @s = map { ask($t, '/sticky?n=post', headers => { 'X-User-Id' => $_ }) }
            @su;
    is(variants(@s), join(',', ('stable') x @su),
       'sticky: stable users stay on stable');

    my %canary_user = map { $_ => 1 } @cu;
    my @a = alog($t, 'sticky');
    my @pre = grep { $_->{n} eq 'pre' } @a;
    is(scalar(grep { $_->{r} eq 'sticky' } @pre), scalar(@pre),
       'sticky: r=sticky before the trip');
    my @moved = grep { $_->{n} eq 'post' && $canary_user{ $_->{u} } } @a;
    is(scalar(grep { $_->{r} eq 'tripped' && $_->{v} eq 'stable' } @moved),
       scalar(@cu), 'sticky: r=tripped v=stable for moved users')
        or diag explain \@moved;
    my @stay = grep { $_->{n} eq 'post' && !$canary_user{ $_->{u} } } @a;
    is(scalar(grep { $_->{r} eq 'sticky' } @stay), scalar(@su),
       'sticky: r=sticky for stable users');
}

# a tripped stable's traffic goes to the fallback; the fallback tripped too:
# stable serves anyway, and the log says so
{
    my @e = map { ask($t, "/sfb?n=e$_", headers => $E500) } 1 .. 3;
    is(variants(@e), 'stable,stable,stable', 'sfb: 3 errors on stable');
    my $r = ask($t, '/sfb?n=fb1');
    is($r->{variant}, 'fallback', 'sfb: then the fallback serves');
    is($r->{bundle}, 'wf@3', 'sfb: X-AI-Release names wf@3');
    is($r->{served_by}, 'fallback', 'sfb: from the fallback upstream');
    is($r->{status}, 200, 'sfb: 200');
    wait_for(2, sub { ntrans($t, 'sfb', 'wf@1', 'closed', 'open') });
    my @l = transitions($t, 'sfb', 'wf@1', 'closed', 'open');
    is(scalar @l, 1, 'sfb: stable\'s trip logged once');
    like($l[0] // '', qr/traffic goes to .*(?:fallback|wf\@3)/,
         'sfb: the line says traffic goes to the fallback');

    my @f = map { ask($t, "/sfb?n=fe$_", headers => $E500) } 1 .. 3;
    is(variants(@f), 'fallback,fallback,fallback', 'sfb: 3 errors on the '
       . 'fallback');
    my @s = map { ask($t, "/sfb?n=last$_") } 1 .. 3;
    is(variants(@s), 'stable,stable,stable',
       'sfb: stable and fallback tripped: stable serves anyway');
    is($s[0]{served_by}, 'stable', 'sfb: the stable upstream answers');
    wait_for(2, sub { ntrans($t, 'sfb', 'wf@3', 'closed', 'open') });
    my @l3 = transitions($t, 'sfb', 'wf@3', 'closed', 'open');
    is(scalar @l3, 1, 'sfb: fallback\'s trip logged once');
    like($l3[0] // '', qr/traffic goes to .*(?:stable|wf\@1)/,
         'sfb: the line says traffic goes to stable anyway')
        or diag($t->error_log =~ /^(.*ai_release: workflow "sfb".*)$/mg);
    my @a = grep { $_->{n} =~ /^last/ } alog($t, 'sfb');
    is(scalar(grep { $_->{st} eq 'open' && $_->{v} eq 'stable' } @a), 3,
       'sfb: $ai_release_state of the serving (tripped) stable is "open"')
        or diag explain \@a;
    my @fb = grep { $_->{n} eq 'fb1' } alog($t, 'sfb');
    is($fb[0]{r} // '', 'tripped', 'sfb: r=tripped for the fallback\'s '
       . 'request');
}

# no fallback: a tripped stable keeps serving
{
    my @e = map { ask($t, "/nofb?n=e$_", headers => $E500) } 1 .. 2;
    is(variants(@e), 'stable,stable', 'nofb: 2 errors on stable');
    my $r = ask($t, '/nofb?n=after');
    is($r->{variant}, 'stable', 'nofb: without a fallback stable serves');
    is($r->{status}, 200, 'nofb: 200');
    wait_for(2, sub { ntrans($t, 'nofb', 'wf@1', 'closed', 'open') });
    my @l = transitions($t, 'nofb', 'wf@1', 'closed', 'open');
    is(scalar @l, 1, 'nofb: trip logged once');
    like($l[0] // '', qr/traffic goes to .*(?:stable|wf\@1)/,
         'nofb: the line says traffic stays on stable');
}

# canary_margin: the canary must be worse than stable by more than the
# margin with 95% confidence (the difference's Newcombe lower bound);
# error_rate=90% keeps the absolute rule out of it, min_errors is the
# default 5.  Stable serves 100 good requests.  The canary serves 20, the
# last 2 of them errors: 10% vs 0%, which the plain comparison of the two
# rates tripped on, but two errors in twenty are no evidence (the bound is
# 2.86%).  Then a good request and three errors: 4 of 23 are fewer than
# min_errors, 5 of 24 trip it (the bound is 10.20%).
sub margin_case {
    my ($wf, $want_trip) = @_;
    my (@cu, @su, %n);
    for my $u (1 .. 100) {
        my $r = ask($t, "/$wf?n=find", headers => { 'X-User-Id' => "m$u" });
        $n{ $r->{variant} }++;
        push @{ $r->{variant} eq 'canary' ? \@cu : \@su }, "m$u";
        last if @cu && @su;
    }
    ok(@cu && @su && $n{canary} <= 10 && $n{stable} <= 10,
       "$wf: found a canary and a stable user") or return;
    my @s = map { ask($t, "/$wf?n=s", headers => { 'X-User-Id' => $su[0] }) }
            1 .. 100 - $n{stable};
    is(scalar(grep { $_->{variant} eq 'stable' && $_->{status} == 200 } @s),
       scalar(@s), "$wf: stable has 100 good requests");
    # canary: 20 requests, the last 2 of them errors (10%)
    my @c;
    my $left = 20 - $n{canary};
    for my $i (1 .. $left) {
        my %h = ('X-User-Id' => $cu[0]);
        %h = (%h, %$E500) if $i >= $left - 1;
        push @c, ask($t, "/$wf?n=c$i", headers => \%h);
    }
    is(variants(@c), join(',', ('canary') x @c),
       "$wf: the canary serves its first 20 requests (2 errors)");
    my $r = ask($t, "/$wf?n=c21", headers => { 'X-User-Id' => $cu[0] });
    is($r->{variant}, 'canary', "$wf: 2 errors in 20 requests vs stable's 0 "
       . "in 100 do not trip it");
    my @e = map { ask($t, "/$wf?n=e$_",
                      headers => { 'X-User-Id' => $cu[0], %$E500 }) } 1 .. 3;
    is(variants(@e), 'canary,canary,canary', "$wf: 3 more errors from the "
       . 'canary (4 of 23 are fewer than min_errors=5)');
    $r = ask($t, "/$wf?n=after", headers => { 'X-User-Id' => $cu[0] });
    if ($want_trip) {
        is($r->{variant}, 'stable', "$wf: 5 errors in 24 requests (20.8%) vs "
           . '0 in 100 trip the canary');
        wait_for(2, sub { ntrans($t, $wf, 'wf@2', 'closed', 'open') });
        my @l = transitions($t, $wf, 'wf@2', 'closed', 'open');
        is(scalar @l, 1, "$wf: logged once");
        my $why = "error rate 20.83% (5/24) vs stable's 0.00% (0/100): "
                . "the difference's 95% lower bound 10.20% (canary >= 10.53%, "
                . "stable <= 2.63%) exceeds canary_margin 5.00%, "
                . "cooldown 60000ms;";
        like($l[0] // '', qr/\Q$why\E/,
             "$wf: the line gives the bounds the rule used");
    } else {
        is($r->{variant}, 'canary', "$wf: canary_margin=off: no trip "
           . "(20.8% is below error_rate=90%)");
        is(ntrans($t, $wf, 'wf@2', 'closed', 'open'), 0, "$wf: nothing logged");
    }
}
margin_case('margin', 1);
margin_case('nomargin', 0);

# min_errors (default 5) holds for error_rate: error_rate=20%
# min_requests=10, 2 errors then 8 good answers: 2 of 10 (20%) is no trip
# (it was before min_errors); 3 more errors, 5 of 13 (38%), trip it.  With
# min_errors=2 the same 2 of 10 do.
{
    my @r;
    for my $i (1 .. 10) {
        push @r, ask($t, "/minerr?n=$i", headers => $i <= 2 ? $E500 : {});
    }
    push @r, ask($t, '/minerr?n=11');
    is(variants(@r), join(',', ('canary') x 11),
       'minerr: 2 errors of 10 requests (20%) are fewer than min_errors=5: '
       . 'the 11th request still goes to the canary');
    my @e = map { ask($t, "/minerr?n=e$_", headers => $E500) } 1 .. 3;
    is(variants(@e), 'canary,canary,canary', 'minerr: 3 more errors');
    is(ask($t, '/minerr?n=after')->{variant}, 'stable',
       'minerr: 5 errors of 14 (35.7%) trip it');
    wait_for(2, sub { ntrans($t, 'minerr', 'wf@2', 'closed', 'open') });
    my @l = transitions($t, 'minerr', 'wf@2', 'closed', 'open');
    like($l[0] // '', qr{error rate 35\.71% \(5/14\) >= 20\.00% },
         'minerr: logged with the rate');

    @r = ();
    for my $i (1 .. 10) {
        push @r, ask($t, "/minerr2?n=$i", headers => $i <= 2 ? $E500 : {});
    }
    is(variants(@r), join(',', ('canary') x 10),
       'minerr2: 2 errors and 8 good answers from the canary');
    is(ask($t, '/minerr2?n=11')->{variant}, 'stable',
       'minerr2: min_errors=2: 2 errors of 10 (20%) trip it');
}

# outcomes that never count: 404, 403, 499, responses nginx generates
{
    my $r = ask($t, '/never?n=404', headers => { 'X-Mock-Status' => 404 });
    is($r->{status}, 404, 'never: upstream 404 passed on');
    is($r->{variant}, 'canary', 'never: from the canary');
    $r = ask($t, '/never?n=403', headers => { 'X-Mock-Status' => 403 });
    is($r->{status}, 403, 'never: upstream 403 passed on');
    $r = ask($t, '/never?n=ok1');
    is($r->{variant}, 'canary', 'never: 404 and 403 do not trip '
       . '(consecutive=1)');

    # the client gives up while the upstream is slow: 499
    my $port = $t->port('nginx');
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5);
    ok($s, 'never: connected for the 499');
    if ($s) {
        print $s "POST /never?n=abort HTTP/1.1\r\nHost: x\r\n"
            . "Content-Type: application/json\r\nContent-Length: "
            . length($BODY) . "\r\nX-Mock-Delay-Ms: 1500\r\n\r\n$BODY";
        sleep 0.4;
        close $s;
    }
    ok(wait_for(5, sub { grep { $_->{n} eq 'abort' } alog($t, 'never') }),
       'never: the aborted request was logged');
    my ($ab) = grep { $_->{n} eq 'abort' } alog($t, 'never');
    is($ab->{status} // '', 499, 'never: as 499');
    sleep 0.1;
    $r = ask($t, '/never?n=ok2');
    is($r->{variant}, 'canary', 'never: a 499 does not trip');

    $r = ask($t, '/never-gen503?n=gen');
    is($r->{status}, 503, 'never: nginx answers 503 itself');
    $r = ask($t, '/never-gen500?n=gen');
    is($r->{status}, 500, 'never: nginx answers 500 itself');
    $r = ask($t, '/never?n=ok3');
    is($r->{variant}, 'canary',
       'never: responses nginx generates itself do not trip');
    is(ntrans($t, 'never', 'wf@2', 'closed', 'open'), 0,
       'never: no state change logged');

    # and the workflow does trip on a counted error
    $r = ask($t, '/never?n=502', headers => { 'X-Mock-Status' => 502 });
    is($r->{variant}, 'canary', 'never: a 502 from the canary');
    $r = ask($t, '/never?n=ok4');
    is($r->{variant}, 'stable', 'never: one counted error trips it');
}

# 429 counts only when listed in "errors"
{
    my $E429 = { 'X-Mock-Status' => 429 };
    my @r = map { ask($t, "/t429?n=$_", headers => $E429) } 1 .. 2;
    is(variants(@r), 'canary,canary', 't429: two 429s from the canary');
    is($r[0]{status}, 429, 't429: passed on');
    is(ask($t, '/t429?n=3')->{variant}, 'stable',
       't429: "errors 5xx 429": two 429s in a row trip it');

    @r = map { ask($t, "/t429d?n=$_", headers => $E429) } 1 .. 3;
    push @r, ask($t, '/t429d?n=4');
    is(variants(@r), 'canary,canary,canary,canary',
       't429d: default errors: three 429s in a row do not trip');
    @r = map { ask($t, "/t429d?n=e$_", headers => $E500) } 1 .. 2;
    is(ask($t, '/t429d?n=5')->{variant}, 'stable',
       't429d: two 500s in a row do');
}

# slow=TIME: only time to the response header counts; 5xx not listed
{
    my @r = map { ask($t, "/slow?n=e$_", headers => $E500) } 1 .. 2;
    push @r, ask($t, '/slow?n=fast');
    is(variants(@r), 'canary,canary,canary',
       'slow: "errors slow=200ms": 500s do not count');
    my $D = { 'X-Mock-Delay-Ms' => 450 };
    @r = map { ask($t, "/slow?n=s$_", headers => $D) } 1 .. 2;
    is(variants(@r), 'canary,canary', 'slow: two slow answers');
    is($r[0]{status}, 200, 'slow: with 200');
    is(ask($t, '/slow?n=after')->{variant}, 'stable',
       'slow: two slow answers in a row trip it');
}

# a stream cut short after the headers: the client got 200, still an error
{
    my @r = map { ask($t, "/cut?n=$_", headers => { 'X-Mock-Mode' => 'cut' }) }
            1 .. 2;
    is(variants(@r), 'canary,canary', 'cut: two cut streams from the canary');
    is($r[0]{status}, 200, 'cut: the client got 200');
    ok(!$r[0]{complete}, 'cut: but an incomplete body');
    is(ask($t, '/cut?n=after')->{variant}, 'stable',
       'cut: "errors connect": two cut streams trip it');
}

# a stream that stalls after the headers until proxy_read_timeout: timeout
{
    my $r = ask($t, '/midto?n=1', headers => { 'X-Mock-Stream' => 3,
                                               'X-Mock-Interval-Ms' => 4000 });
    is($r->{variant}, 'canary', 'midto: stalled stream from the canary');
    is($r->{status}, 200, 'midto: the client got 200');
    like($r->{body}, qr/tok0/, 'midto: and the first event');
    ok(!$r->{complete}, 'midto: but not the end');
    is(ask($t, '/midto?n=2')->{variant}, 'stable',
       'midto: "errors timeout": a read timeout mid-stream trips it');
}

# every transition in this file was logged once
{
    my %want = (rate => 1, rate2 => 1, rate3 => 1, race => 1, consec => 1,
                sticky => 1, margin => 1, nomargin => 0, minerr => 1,
                minerr2 => 1, never => 1, t429 => 1, t429d => 1,
                slow => 1, cut => 1, midto => 1);
    my @bad;
    for my $wf (sort keys %want) {
        my $n = ntrans($t, $wf, 'wf@2', 'closed', 'open');
        push @bad, "$wf: $n" if $n != $want{$wf};
    }
    is(join('; ', @bad), '', 'one "closed -> open" line per tripped canary');
    my @all = $t->error_log =~ /^(.*ai_release: workflow "[^"]*" bundle.*)$/mg;
    is(scalar(grep { / -> (?:half-open|closed):/ } @all), 0,
       'no breaker left the open state (cooldown=60s)')
        or diag join "\n", @all;
}

check_change_lines($t);

$t->done;
done_testing;
