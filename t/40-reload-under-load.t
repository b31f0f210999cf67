#!/usr/bin/perl
# Reloads under load: 4 client processes send requests (keep-alive and
# fresh connections) to a workflow with a canary, to two workflows with API
# overrides, to the status JSON and to the API, while nginx is reloaded 20
# times ("nginx -s reload", one about every 0.3 s, alternating between two
# configurations that differ only in a comment and a log_format, so every
# bundle keeps its digest).  No client request may fail (a request whose
# keep-alive connection was closed before any response byte is retried, as
# HTTP clients do, and counted apart); the status totals never go backwards
# while the reloads happen; a breaker tripped through the API before the
# reloads is still open after them, and a rollback is still listed and
# obeyed by every generation of workers.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRLoad;
use AIRClient;
use IO::Socket::INET;
use IO::Select;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

my $T0 = time;
my $BODY = '{"model":"m","messages":[{"role":"user","content":"hello"}]}';
my $API = '/ai-release/api';
my $RELOADS = 20;

############################################################################
# setup

my $t = AIRTest->new;
$t->upstream($_) for qw(stable canary fallback);

my $yaml = '';
for my $wf (qw(live held rolled)) {
    for my $b ([1, 'stable'], [2, 'canary'], [3, 'fallback']) {
        $yaml .= "---\nname: $wf\nversion: \"$b->[0]\"\n"
               . "upstream: up_$b->[1]\nmodel: $wf-model-$b->[0]\n"
               . "headers:\n  X-Model-Route: $wf-$b->[0]\n";
    }
}
$t->write_file('bundles/all.yaml', $yaml);

sub conf {
    my ($which) = @_;
    # the two configurations differ in a comment and a log_format only
    my $fmt = $which eq 'a' ? '$ai_release_workflow $status'
                            : '$ai_release_workflow $status cfg=b';
    my $c = upstream_blocks(qw(stable canary fallback)) . <<"C";
    # configuration $which
    log_format air '$fmt \$ai_release_bundle \$ai_release_reason';

    ai_release_bundles %%DIR%%/bundles/*.yaml;

    ai_release_workflow live {
        stable   live\@1;
        canary   live\@2 30%;
        fallback live\@3;
    }
    ai_release_workflow held {
        stable   held\@1;
        canary   held\@2 50%;
        fallback held\@3;
    }
    ai_release_workflow rolled {
        stable   rolled\@1;
        canary   rolled\@2 50%;
        fallback rolled\@3;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%% reuseport;
        access_log %%DIR%%/air.log air;
        keepalive_requests 10000;

        location = /live   { ai_release live;   proxy_pass http://ai_release;
                             proxy_http_version 1.1;
                             proxy_set_header Connection ""; }
        location = /held   { ai_release held;   proxy_pass http://ai_release;
                             proxy_http_version 1.1;
                             proxy_set_header Connection ""; }
        location = /rolled { ai_release rolled; proxy_pass http://ai_release;
                             proxy_http_version 1.1;
                             proxy_set_header Connection ""; }
        location = /status { ai_release_status; }
        location $API/ { ai_release_api; }
    }
C
    return $c;
}

$t->config(conf('a'), workers => 2);
$t->start;

# reload with "nginx -s reload"; waits for the new workers
sub reload_cmd {
    my ($which) = @_;
    $t->config(conf($which), workers => 2);
    my %old = map { $_ => 1 } $t->worker_pids(all => 1);
    my $off = -s $t->dir . '/error.log' // 0;
    my ($rc, $out) = $t->_run($t->nginx_bin, '-p', $t->dir . '/', '-c',
                              $t->dir . '/nginx.conf', '-s', 'reload');
    return (0, "nginx -s reload: exit $rc: $out") if $rc != 0;
    my $why = '';
    my $ok = wait_for(10, sub {
        my $log = substr($t->error_log, $off);
        if ($log =~ /(\[(?:emerg|alert|crit)\][^\n]*)/) { $why = $1; return 1 }
        return grep({ !$old{$_} } $t->worker_pids) >= 2;
    });
    return (0, $why || 'no new workers') if $why || !$ok;
    return (1, '');
}

############################################################################
# before the reloads: a manual trip and a rollback through the API

my $doc0;
{
    my ($r, $j) = http($t, 'POST', "$API/workflows/held/trip",
                       '{"bundle":"held@2"}');
    is($r->{status}, 200, 'API: trip held@2');
    ($r, $j) = http($t, 'POST', "$API/workflows/rolled/rollback", '');
    is($r->{status}, 200, 'API: rollback of workflow rolled');

    # some traffic, so that the totals are not all zero
    for my $n (1 .. 10) {
        for my $p (qw(/live /held /rolled)) {
            my ($r) = http($t, 'POST', $p, $BODY);
            $r->{status} == 200 or diag "warm-up $p: $r->{status}";
        }
    }
    ok(wait_for(5, sub {
        my $d = status_doc($t) or return 0;
        my $tot = totals($d);
        my $n = 0;
        $n += $tot->{$_} for grep { m{^live/} } keys %$tot;
        return 0 unless $n >= 10;
        $doc0 = $d;
    }), 'warm-up: 10 requests per workflow counted');
    $doc0 ||= {};
    my $b = bundle_of(wf_of($doc0, 'held'), 'held@2');
    is($b->{breaker}{state}, 'open', 'held@2 is open before the reloads');
}

############################################################################
# the load and the reloads

my @reqs = (
    { method => 'POST', path => '/live',   body => $BODY, tag => 'live' },
    { method => 'POST', path => '/live',   body => $BODY, tag => 'live' },
    { method => 'POST', path => '/live',   body => $BODY, tag => 'live' },
    { method => 'POST', path => '/held',   body => $BODY, tag => 'held' },
    { method => 'POST', path => '/rolled', body => $BODY, tag => 'rolled' },
    { method => 'GET',  path => '/status', tag => 'status' },
    { method => 'GET',  path => "$API/workflows/live", tag => 'api' },
    { method => 'POST', path => '/live',   body => $BODY, tag => 'live',
      headers => { 'X-User-Id' => 'u' . int(rand(1e6)) } },
);

my $masters = $t->master_pid;
my $duration = 0.3 * $RELOADS + 2.5;
my $load = load_start(port => $t->port('nginx'), clients => 4,
                      duration => $duration, reqs => \@reqs, timeout => 10);
sleep 1;

my (@reload_fail, @polls, @backwards, $poll_fail);
my $prev = totals($doc0);
my $prev_gen = $doc0->{generation} // 0;
my $poll = sub {
    my $d = status_doc($t);
    unless ($d) { $poll_fail++; return }
    my $cur = totals($d);
    for my $k (sort keys %$prev) {
        push @backwards, "$k: $prev->{$k} -> " . ($cur->{$k} // 'missing')
            if ($cur->{$k} // -1) < $prev->{$k};
    }
    push @backwards, "generation: $prev_gen -> $d->{generation}"
        if ($d->{generation} // -1) < $prev_gen;
    $prev_gen = $d->{generation} // $prev_gen;
    $prev = $cur;
    push @polls, time;
};

my $reloads = 0;
for my $i (1 .. $RELOADS) {
    my $t1 = time;
    my ($ok, $why) = reload_cmd($i % 2 ? 'b' : 'a');
    if ($ok) { $reloads++ } else { push @reload_fail, "reload $i: $why" }
    $poll->();
    while (time < $t1 + 0.3) { $poll->(); sleep 0.05 }
}
my $t_reloads = time;
while (time < $load->{start} + $duration - 0.2) { $poll->(); sleep 0.1 }
my $sum = load_wait($load);

is($reloads, $RELOADS, "$RELOADS reloads under load, each with 2 new workers")
    or diag join "\n", @reload_fail;
is($t->master_pid, $masters, 'the same master process throughout');
diag load_summary($sum);
diag 'per path: ' . join(', ', map {
    my $x = $sum->{tags}{$_};
    "$_ " . join('/', map { $x->{$_} // 0 } qw(ok bad err))
} sort keys %{ $sum->{tags} }) . ' (ok/non-2xx/errors)';
ok($sum->{counts}{requests} >= 200,
   "the clients sent $sum->{counts}{requests} requests");
is($sum->{clients}, 4, 'all 4 clients reported');
is($sum->{counts}{bad} + $sum->{counts}{err}, 0,
   'no client request failed (non-2xx or socket error)')
    or diag fail_diag($sum);
is($sum->{counts}{retry_fresh}, 0,
   'no fresh connection was closed before its response');
note "keep-alive connections closed by a reload before any response "
   . "byte, retried: $sum->{counts}{retry_reused}";
# each client holds one connection, which a reload can close at most once
ok($sum->{counts}{retry_reused} <= $RELOADS * $sum->{clients},
   "retried connections ($sum->{counts}{retry_reused}) at most one per "
   . "client and reload ($RELOADS x $sum->{clients})");

ok(@polls >= $RELOADS, scalar(@polls) . ' status polls during the load');
ok(!$poll_fail, 'every status poll answered') or diag "$poll_fail failed";
is(scalar @backwards, 0, 'the status totals and the generation never went '
   . 'backwards') or diag join "\n", @backwards[0 .. ($#backwards > 9 ? 9 : $#backwards)];

# the overrides were obeyed by every generation of workers
{
    my $v = $sum->{variants};
    my %held = %{ $v->{held} || {} };
    my %rolled = %{ $v->{rolled} || {} };
    is(join(',', sort keys %held), 'held@1',
       'held: every request went to stable while its canary was tripped: '
       . join(' ', map { "$_=$held{$_}" } sort keys %held));
    is(join(',', sort keys %rolled), 'rolled@1',
       'rolled: every request went to stable (rollback): '
       . join(' ', map { "$_=$rolled{$_}" } sort keys %rolled));
    my %live = %{ $v->{live} || {} };
    ok(($live{'live@2'} // 0) > 0 && ($live{'live@1'} // 0) > 0,
       'live: the canary and stable both served: '
       . join(' ', map { "$_=$live{$_}" } sort keys %live));
}

############################################################################
# after the reloads

my $doc1;
wait_for(5, sub {
    $doc1 = status_doc($t) or return 0;
    my $tot = totals($doc1);
    my $n = 0;
    $n += $tot->{$_} - ($prev->{$_} // 0) for keys %$tot;
    $prev = $tot;
    return 0 if $n;            # still counting
    return 1;
});
$doc1 ||= {};
{
    ok(($doc1->{generation} // 0) >= ($doc0->{generation} // 0) + $RELOADS,
       "generation $doc0->{generation} -> $doc1->{generation}");
    my $b = bundle_of(wf_of($doc1, 'held'), 'held@2');
    is($b->{breaker}{state}, 'open',
       'held@2: the breaker tripped through the API is still open');
    ok($b->{breaker}{manual}, 'held@2: still a manual trip');
    is($b->{weight}{effective}, 0, 'held@2: effective weight 0');
    my @o = @{ wf_of($doc1, 'rolled')->{overrides} || [] };
    is(join(',', map { $_->{action} } @o), 'rollback',
       'rolled: the rollback is still listed');
    is(bundle_of(wf_of($doc1, 'rolled'), 'rolled@2')->{weight}{effective}, 0,
       'rolled: the canary\'s effective weight is still 0');
    my @h = @{ wf_of($doc1, 'held')->{overrides} || [] };
    is(join(',', map { "$_->{action}:" . ($_->{bundle} // '') } @h),
       'trip:held@2', 'held: the manual trip is still listed');

    # every request served is counted, exactly once
    my $t0 = totals($doc0);
    my $t1 = totals($doc1);
    for my $wf (qw(live held rolled)) {
        my $delta = 0;
        $delta += $t1->{$_} - ($t0->{$_} // 0) for grep { m{^$wf/} } keys %$t1;
        my $served = ($sum->{tags}{$wf}{ok} // 0) + ($sum->{tags}{$wf}{bad} // 0);
        is($delta, $served, "$wf: the totals grew by the $served requests "
           . "the clients got an answer for");
    }
}

# everything still works after the reloads
{
    my %st;
    for (1 .. 20) {
        my ($r) = http($t, 'POST', '/live', $BODY);
        $st{ $r->{status} }++;
    }
    is_deeply(\%st, { 200 => 20 }, 'after the reloads: 20 requests, 200 each');
    my ($r, $j) = http($t, 'POST', "$API/workflows/held/reset",
                       '{"bundle":"held@2"}');
    is($r->{status}, 200, 'API after the reloads: reset held@2');
    ($r, $j) = http($t, 'POST', "$API/workflows/rolled/resume", '');
    is($r->{status}, 200, 'API after the reloads: resume rolled');
    is_deeply($j->{workflow}{overrides}, [], 'rolled: no overrides left');
}

# not a speed check (the machines are shared): only that the run ended,
# far from any hang; the time is reported
my $elapsed = time - $T0;
note(sprintf 'finished in %.1f s', $elapsed);
ok($elapsed < 300, 'the run ended by itself (no hang)');
diag sprintf 'RESULT reloads=%d requests=%d ok=%d failed=%d retried_reused=%d '
    . 'retried_fresh=%d polls=%d', $reloads, $sum->{counts}{requests},
    $sum->{counts}{ok}, $sum->{counts}{bad} + $sum->{counts}{err},
    $sum->{counts}{retry_reused}, $sum->{counts}{retry_fresh}, scalar @polls;

$t->done;
done_testing;
