#!/usr/bin/perl
# Failover: with "failover on;" a request whose bundle fails before any
# response byte reached the client (connection refused, reset, timeout, a
# counted 5xx) is sent once more, with the same body, to the known-good path
# (stable for a canary, the fallback for stable), built anew with that
# bundle's headers (README); X-AI-Release names the bundle that served and $ai_release_failover the one that failed; both
# attempts count against their own bundle's budget.  Without failover the
# client sees the error.
#
# Bundles are named after their upstream's behaviour: x@ok, x@dead (stopped),
# x@c500 and x@s500 (answer 500), x@hang, x@reset, x@fb (healthy fallback).
#
# t/15-failover-variable.t runs this file again with
# "proxy_pass http://$ai_release_upstream;" in every location.

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

my $BODY = '{"model":"m","messages":[{"role":"user","content":"hello"}]}';

our $PROXY_PASS //= 'http://ai_release';
note("proxy_pass $PROXY_PASS");

############################################################################
# setup

my $t = AIRTest->new;
my %mock = (ok => 'stable', dead => 'dead', c500 => 'c500', hang => 'hang',
            reset => 'reset', s500 => 's500', fb => 'fallback');
$t->upstream($_) for sort values %mock;
$t->upstream_control('c500', "status=500\n");
$t->upstream_control('s500', "status=500\n");
$t->upstream_control('hang', "mode=hang\n");
$t->upstream_control('reset', "mode=reset\n");
$t->stop_upstream('dead');    # connection refused from now on

$t->write_file('bundles/x.yaml', join '', map { <<"Y" } sort keys %mock);
---
name: x
version: $_
upstream: 127.0.0.1:@{[ $t->port($mock{$_}) ]}
model: model-$_
headers:
  X-Model-Route: route-$_
Y

my @wf = (
    [ dead50  => "stable x\@ok;\ncanary x\@dead 50%;\nfailover on;\ntrip off;" ],
    [ deadall => "stable x\@ok;\ncanary x\@dead 100%;\nfailover on;\ntrip off;" ],
    [ c500    => "stable x\@ok;\ncanary x\@c500 100%;\nfailover on;\ntrip off;" ],
    [ hang    => "stable x\@ok;\ncanary x\@hang 100%;\nfailover on;\ntrip off;",
      'proxy_read_timeout 1s;' ],
    [ reset   => "stable x\@ok;\ncanary x\@reset 100%;\nfailover on;\ntrip off;" ],
    [ sfb     => "stable x\@s500;\nfallback x\@fb;\nfailover on;\ntrip off;" ],
    [ offdead => "stable x\@ok;\ncanary x\@dead 100%;\nfailover off;\ntrip off;" ],
    [ off500  => "stable x\@ok;\ncanary x\@c500 100%;\ntrip off;" ],
    [ counted => "stable x\@ok;\ncanary x\@c500 100%;\nfailover on;\n"
               . "trip consecutive=5 min_requests=1000 window=30s cooldown=60s;" ],
    [ both    => "stable x\@s500;\ncanary x\@c500 100%;\nfallback x\@fb;\n"
               . "failover on;\n"
               . "trip consecutive=3 min_requests=1000 window=30s cooldown=60s;" ],
);

my $conf = alog_format() . <<'C';

    ai_release_bundles %%DIR%%/bundles/*.yaml;
C
for my $w (@wf) {
    my ($name, $body) = @$w;
    $body =~ s/^/        /mg;
    $conf .= "\n    ai_release_workflow $name {\n$body\n    }\n";
}
$conf .= <<'C';

    server {
        listen 127.0.0.1:%%PORT_nginx%% reuseport;
        access_log %%DIR%%/air.log air;
        add_header X-Worker $pid always;
        client_max_body_size 10m;
C
for my $w (@wf) {
    my ($name, undef, $extra) = @$w;
    $conf .= "        location = /$name { ai_release $name; "
           . "proxy_pass $PROXY_PASS; " . ($extra // '') . " }\n";
}
# a bundle's upstream used by name, not for a workflow
$conf .= "        location = /direct { proxy_pass http://127.0.0.1:"
       . $t->port('stable') . "; }\n";
$conf .= "    }\n";

$t->config($conf, workers => 2);
$t->start;

sub uri_count {
    my ($name, $path) = @_;
    return scalar grep { m{ [A-Z]+ \Q$path\E(?:\?|$)} } $t->upstream_log($name);
}

sub body_length {
    my ($r) = @_;
    my $j = eval { decode_json($r->{body} // $r->{content} // '') };
    return $j ? $j->{request}{body_length} : undef;
}

############################################################################
# a dead 50% canary costs the clients nothing

{
    my (%status, %variant, %served, $bad);
    for my $n (1 .. 200) {
        my $r = annotate($t->post("/dead50?n=$n", $BODY));
        $status{ $r->{status} }++;
        $variant{ $r->{variant} }++;
        $served{ $r->{served_by} }++;
        $bad++ if $r->{bundle} ne 'x@ok';
    }
    is_deeply(\%status, { 200 => 200 }, 'dead50: 200 requests, 200 OK each');
    is_deeply(\%variant, { stable => 200 },
              'dead50: X-AI-Release says variant=stable every time');
    is_deeply(\%served, { stable => 200 }, 'dead50: stable answered them all');
    ok(!$bad, 'dead50: X-AI-Release names x@ok');

    ok(wait_for(5, sub { alog($t, 'dead50') >= 200 }), 'dead50: all logged');
    my @a = alog($t, 'dead50');
    my @fo = grep { $_->{f} ne '' } @a;
    ok(@fo > 50 && @fo < 150, 'dead50: about half failed over ('
       . scalar(@fo) . ')');
    is(scalar(grep { $_->{f} eq 'x@dead' && $_->{v} eq 'stable'
                     && $_->{b} eq 'x@ok' && $_->{r} eq 'failover'
                     && $_->{status} == 200 } @fo), scalar(@fo),
       'dead50: those log f=x@dead r=failover v=stable b=x@ok')
        or diag explain [ @fo[0 .. 2] ];
    is(scalar(grep { $_->{r} eq 'weight' } @a), 200 - @fo,
       'dead50: the others r=weight, f empty');
    is(scalar(grep { $_->{st} eq 'closed' } @a), 200,
       'dead50: st=closed (trip off)');
    is(uri_count('stable', '/dead50'), 200,
       'dead50: the stable upstream got every request exactly once');
}

############################################################################
# the request body reaches stable intact

{
    my $big = '{"model":"m","messages":[{"role":"user","content":"'
            . ('0123456789abcdef' x 8192) . '"}]}';
    for my $case ([deadall => 'connection refused'], [c500 => '500']) {
        my ($wf, $why) = @$case;
        for my $body ($BODY, $big) {
            my $r = ask($t, "/$wf?n=body", body => $body);
            is($r->{status}, 200, "$wf: " . length($body)
               . "-byte body, canary $why: 200");
            is($r->{served_by}, 'stable', "$wf: from stable");
            is(body_length($r), length($body),
               "$wf: stable got all " . length($body) . ' bytes');
            my $j = eval { decode_json($r->{body}) } || {};
            is($j->{request}{headers}{'x-model-route'} // '', 'route-ok',
               "$wf: with stable's bundle headers, not the canary's");
        }
    }
    is(uri_count('c500', '/c500'), 2, 'c500: each request tried the canary '
       . 'once');
}

############################################################################
# 5xx, reset and timeout fail over

{
    my @r = map { ask($t, "/c500?n=$_") } 1 .. 5;
    is(join(',', map { "$_->{status} $_->{variant} $_->{served_by}" } @r),
       join(',', ('200 stable stable') x 5),
       'c500: the canary\'s 500s become stable\'s 200s');
    my @a = grep { $_->{n} =~ /^\d$/ } alog($t, 'c500');
    is(scalar(grep { $_->{f} eq 'x@c500' && $_->{r} eq 'failover' } @a), 5,
       'c500: f=x@c500 r=failover');

    my $r = ask($t, '/reset?n=1');
    is("$r->{status} $r->{variant} $r->{served_by}", '200 stable stable',
       'reset: a connection reset fails over');

    $r = ask($t, '/hang?n=1');
    is("$r->{status} $r->{variant} $r->{served_by}", '200 stable stable',
       'hang: a read timeout fails over');
    ok($r->{elapsed} >= 0.9, sprintf 'hang: after proxy_read_timeout '
       . '(%.2fs)', $r->{elapsed});
    wait_for(2, sub { grep { $_->{wf} eq 'reset' || $_->{wf} eq 'hang' }
                      alog($t) });
    my %f = map { $_->{wf} => $_->{f} } grep { $_->{wf} =~ /^(?:reset|hang)$/ }
            alog($t);
    is_deeply(\%f, { reset => 'x@reset', hang => 'x@hang' },
              'reset/hang: $ai_release_failover names the canary');
}

############################################################################
# a failing stable fails over to the fallback

{
    my @r = map { ask($t, "/sfb?n=$_") } 1 .. 3;
    is(join(',', map { "$_->{status} $_->{variant} $_->{bundle} "
                       . $_->{served_by} } @r),
       join(',', ('200 fallback x@fb fallback') x 3),
       'sfb: stable\'s 500s become the fallback\'s 200s');
    my @a = alog($t, 'sfb');
    is(scalar(grep { $_->{f} eq 'x@s500' && $_->{v} eq 'fallback' } @a), 3,
       'sfb: f=x@s500 v=fallback in the access log');
}

############################################################################
# failover off: the client sees the error

{
    my $r = ask($t, '/offdead?n=1');
    is($r->{status}, 502, 'offdead: connection refused: 502');
    is($r->{variant}, 'canary', 'offdead: from the canary');
    is($r->{bundle}, 'x@dead', 'offdead: X-AI-Release names x@dead');

    $r = ask($t, '/off500?n=1');
    is($r->{status}, 500, 'off500: the canary\'s 500');
    is($r->{served_by}, 'c500', 'off500: passed on');
    is($r->{variant}, 'canary', 'off500: variant=canary');
    wait_for(2, sub { grep { $_->{wf} eq 'off500' } alog($t) });
    my @a = grep { $_->{wf} =~ /^off/ } alog($t);
    is(scalar(grep { $_->{f} eq '' && $_->{r} eq 'weight' } @a), 2,
       'off: f empty, r=weight');
}

############################################################################
# failed attempts count although the clients saw no error

{
    my @r = map { ask($t, "/counted?n=$_") } 1 .. 5;
    is(join(',', map { "$_->{status} $_->{variant}" } @r),
       join(',', ('200 stable') x 5),
       'counted: 5 failovers, no error seen by the clients');
    ok(wait_for(2, sub { ntrans($t, 'counted', 'x@c500', 'closed', 'open') }),
       'counted: the canary tripped after 5 failed attempts');
    my $r = ask($t, '/counted?n=6');
    is("$r->{status} $r->{variant}", '200 stable', 'counted: then stable');
    is(uri_count('c500', '/counted'), 5,
       'counted: the tripped canary got no 6th attempt');
    my %l = map { $_->{n} => $_ } alog($t, 'counted');
    is(join(',', map { ($l{$_}{r} // '?') . '/' . ($l{$_}{f} || '-') } 1 .. 6),
       join(',', ('failover/x@c500') x 5, 'tripped/-'),
       'counted: r and f in the access log');
    is(ntrans($t, 'counted', 'x@c500', 'closed', 'open'), 1,
       'counted: logged once');
}

# canary and stable both fail: the failover attempt counts for stable
{
    my @r = map { ask($t, "/both?n=$_") } 1 .. 3;
    is(join(',', map { "$_->{status} $_->{variant} $_->{served_by}" } @r),
       join(',', ('500 stable s500') x 3),
       'both: the canary fails, the failover to stable fails: stable\'s 500');
    is(uri_count('c500', '/both'), 3, 'both: 3 attempts on the canary');
    is(uri_count('s500', '/both'), 3, 'both: 3 on stable');
    is(uri_count('fallback', '/both'), 0,
       'both: one failover per request, not two');
    ok(wait_for(2, sub { ntrans($t, 'both', 'x@c500', 'closed', 'open') }),
       'both: the canary tripped');
    ok(wait_for(2, sub { ntrans($t, 'both', 'x@s500', 'closed', 'open') }),
       'both: stable tripped on the failover attempts alone');
    my $r = ask($t, '/both?n=4');
    is("$r->{status} $r->{variant} $r->{served_by}", '200 fallback fallback',
       'both: canary and stable tripped: the fallback serves');
    my %l = map { $_->{n} => $_ } alog($t, 'both');
    is($l{1}{f} // '', 'x@c500', 'both: f=x@c500 on the failed failover');
}

# the stable bundle's upstream, used by name in a location without
# ai_release: a plain proxy, counted nowhere
{
    my $r = ask($t, '/direct?n=1');
    is("$r->{status} $r->{served_by}", '200 stable',
       'direct: a bundle\'s upstream by name still proxies');
    is($r->{headers}{'x-ai-release'}, undef, 'direct: no X-AI-Release');
}

check_change_lines($t);

$t->done;
done_testing;
