#!/usr/bin/perl
# A worker killed under load: 4 client processes keep sending requests
# while one nginx worker after the other is killed with SIGKILL.  The master
# respawns each (a new worker pid appears), requests are served again
# within a short settle time (all 200), the status counters are intact
# (no total smaller than before the kill), breakers opened before the kill
# (one through the API, one by the error budget) stay open, the shared
# zone was not left locked, and the API still works (rollback, resume).
# The only alert allowed in error.log is nginx's "worker process N exited
# on signal 9" for the killed pids.

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
my $KILLS = 3;
my $SETTLE = 1.5;    # seconds after a respawn until every request must pass
my $POLL = 0.02;     # seconds between the polls of wait_for (respawns are
                     # timed by them)

############################################################################
# setup

my $t = AIRTest->new;
$t->upstream($_) for qw(stable canary fallback bad slow);
$t->upstream_control('bad', "status=500\n");

my $yaml = '';
for my $wf (qw(live held auto probe)) {
    for my $b ([1, 'stable'], [2, $wf eq 'auto' ? 'bad'
                                : $wf eq 'probe' ? 'slow' : 'canary'],
               [3, 'fallback'])
    {
        $yaml .= "---\nname: $wf\nversion: \"$b->[0]\"\n"
               . "upstream: up_$b->[1]\nmodel: $wf-model-$b->[0]\n";
    }
}
$t->write_file('bundles/all.yaml', $yaml);

my $upstreams = upstream_blocks(qw(stable canary fallback bad));
$t->config($upstreams . <<"C", workers => 2);
    ai_release_bundles %%DIR%%/bundles/*.yaml;

    upstream up_slow     { server 127.0.0.1:%%PORT_slow%% max_fails=0; }

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
    ai_release_workflow auto {
        stable   auto\@1;
        canary   auto\@2 50%;
        fallback auto\@3;
        trip consecutive=3 min_requests=1000 cooldown=300s;
    }
    ai_release_workflow probe {
        stable   probe\@1;
        canary   probe\@2 100%;
        trip consecutive=2 min_requests=1000 cooldown=1s max_cooldown=1s
             probes=1 probe_timeout=2s;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%% reuseport;
        keepalive_requests 10000;

        location = /live { ai_release live; proxy_pass http://ai_release;
                           proxy_http_version 1.1;
                           proxy_set_header Connection ""; }
        location = /held { ai_release held; proxy_pass http://ai_release;
                           proxy_http_version 1.1;
                           proxy_set_header Connection ""; }
        location = /auto { ai_release auto; proxy_pass http://ai_release;
                           proxy_http_version 1.1;
                           proxy_set_header Connection ""; }
        location = /probe { ai_release probe; proxy_pass http://ai_release;
                            proxy_read_timeout 20s; }
        location = /status { ai_release_status; }
        location $API/ { ai_release_api; }
    }
C
$t->start;

my @workers0 = $t->worker_pids;
is(scalar @workers0, 2, 'two workers: ' . join(', ', @workers0));
my $master = $t->master_pid;

############################################################################
# before the kills: a manual trip, an automatic trip

{
    my ($r) = http($t, 'POST', "$API/workflows/held/trip",
                   '{"bundle":"held@2"}');
    is($r->{status}, 200, 'API: trip held@2');
    # the failing canary of "auto" trips after 3 errors in a row
    my $n = 0;
    for (1 .. 40) {
        my ($r) = http($t, 'POST', '/auto', $BODY);
        last if ++$n >= 10 && bundle_of(wf_of(status_doc($t) || {}, 'auto'),
                                        'auto@2')->{breaker}{state} eq 'open';
    }
    my $d = status_doc($t) || {};
    is(bundle_of(wf_of($d, 'auto'), 'auto@2')->{breaker}{state}, 'open',
       'auto@2 tripped by the error budget');
    is(bundle_of(wf_of($d, 'held'), 'held@2')->{breaker}{state}, 'open',
       'held@2 tripped through the API');
}

############################################################################
# load, and SIGKILL one worker after the other

my @reqs = (
    { method => 'POST', path => '/live', body => $BODY, tag => 'live' },
    { method => 'POST', path => '/live', body => $BODY, tag => 'live' },
    { method => 'POST', path => '/held', body => $BODY, tag => 'held' },
    { method => 'POST', path => '/auto', body => $BODY, tag => 'auto' },
    { method => 'GET',  path => '/status', tag => 'status' },
    { method => 'POST', path => '/live', body => $BODY, tag => 'live',
      headers => { 'X-User-Id' => 'u' . int(rand(1e6)) } },
);

my $duration = 1.5 + $KILLS * 2.2 + 0.5;
my $load = load_start(port => $t->port('nginx'), clients => 4,
                      duration => $duration, reqs => \@reqs, timeout => 10);
sleep 1.5;

my (@killed, @kill_at, @respawn_at, @respawn_fail, @backwards, %first);
my $before = status_doc($t) || {};
my $prev = totals($before);
for my $k (1 .. $KILLS) {
    my @w = $t->worker_pids;
    my $victim = $w[ $k % @w ];
    my $d = status_doc($t);
    if ($d) {
        my $cur = totals($d);
        push @backwards, map { "$_: $prev->{$_} -> " . ($cur->{$_} // 'none') }
            grep { ($cur->{$_} // -1) < $prev->{$_} } sort keys %$prev;
        $prev = $cur;
    }
    kill 'KILL', $victim;
    push @killed, $victim;
    push @kill_at, time;
    my %old = map { $_ => 1 } @w;
    my $new;
    if (wait_for(10, sub {
            my @n = grep { !$old{$_} } $t->worker_pids;
            $new = $n[0];
            return @n && $t->worker_pids == 2 && !grep { $_ == $victim }
                                                  $t->worker_pids;
        }, $POLL))
    {
        push @respawn_at, time;
    } else {
        push @respawn_fail, "kill $k: no new worker for $victim";
        push @respawn_at, time;
    }
    $first{$victim} = $new;
    # the counters right after the respawn
    $d = status_doc($t);
    if ($d) {
        my $cur = totals($d);
        push @backwards, map { "$_: $prev->{$_} -> " . ($cur->{$_} // 'none') }
            grep { ($cur->{$_} // -1) < $prev->{$_} } sort keys %$prev;
        $prev = $cur;
    }
    sleep 2.2 - (time - $kill_at[-1]) if time - $kill_at[-1] < 2.2;
}
my $sum = load_wait($load);

is(scalar @respawn_fail, 0, "the master respawned each of the $KILLS "
   . 'killed workers') or diag join "\n", @respawn_fail;
is($t->master_pid, $master, 'the same master');
ok(kill(0, $master), 'the master is alive');
is(scalar(my @w = $t->worker_pids), 2, 'two workers again: '
   . join(', ', $t->worker_pids));
diag 'killed ' . join(', ', map { "$_ -> " . ($first{$_} // 'none') } @killed)
    . sprintf(' (respawned after %s s)', join(', ', map {
        sprintf '%.3f', $respawn_at[$_] - $kill_at[$_] } 0 .. $#kill_at));
diag load_summary($sum);
is($sum->{clients}, 4, 'all 4 clients reported');

# failures only around the kills, none once the new worker has settled
{
    my @late;
    for my $f (@{ $sum->{fail} }, @{ $sum->{retries} }) {
        my $near = grep { $f->{at} >= $kill_at[$_] - 0.05
                          && $f->{at} <= $respawn_at[$_] + $SETTLE }
                   0 .. $#kill_at;
        push @late, $f unless $near;
    }
    my $failed = $sum->{counts}{bad} + $sum->{counts}{err};
    my $retried = $sum->{counts}{retry_reused} + $sum->{counts}{retry_fresh};
    is(scalar @late, 0, "every failed ($failed) or retried ($retried) "
       . "request of $sum->{counts}{requests} was in flight at a kill or "
       . "within ${SETTLE}s of the respawn")
        or diag fail_diag({ fail => \@late });
    my $after = 0;
    for my $i (0 .. $#kill_at) {
        my $to = $i < $#kill_at ? $kill_at[$i + 1] : $load->{start} + $duration;
        my $c = load_between($sum, $respawn_at[$i] + $SETTLE, $to);
        $after += $c->{ok};
    }
    ok($after > 50, "$after requests served after the settle times");
    diag "RESULT kills=" . scalar(@killed) . " requests=$sum->{counts}{requests} "
        . "failed=$failed retried_reused=$sum->{counts}{retry_reused} "
        . "retried_fresh=$sum->{counts}{retry_fresh}";
}

# the next requests are all served
{
    my %st;
    for (1 .. 20) {
        my ($r) = http($t, 'POST', '/live', $BODY);
        $st{ $r->{status} }++;
    }
    is_deeply(\%st, { 200 => 20 }, 'after the kills: 20 requests, 200 each');
}

############################################################################
# the shared state survived

my $after = status_doc($t) || {};
{
    my $cur = totals($after);
    push @backwards, map { "$_: $prev->{$_} -> " . ($cur->{$_} // 'none') }
        grep { ($cur->{$_} // -1) < $prev->{$_} } sort keys %$prev;
    is(scalar @backwards, 0, 'no status total went backwards across the '
       . 'kills') or diag join "\n", @backwards;
    my $b = totals($before);
    my @less = grep { ($cur->{$_} // -1) < $b->{$_} } sort keys %$b;
    is(scalar @less, 0, 'every total after the kills >= before the kills')
        or diag join "\n", map { "$_: $b->{$_} -> $cur->{$_}" } @less;
    my ($n0, $n1) = (0, 0);
    $n0 += $b->{$_} for grep { m{^live/} } keys %$b;
    $n1 += $cur->{$_} for grep { m{^live/} } keys %$cur;
    ok($n1 > $n0, "live: the totals went on counting ($n0 -> $n1)");

    is(bundle_of(wf_of($after, 'held'), 'held@2')->{breaker}{state}, 'open',
       'held@2: the breaker opened through the API is still open');
    ok(bundle_of(wf_of($after, 'held'), 'held@2')->{breaker}{manual},
       'held@2: still manual');
    my $a2 = bundle_of(wf_of($after, 'auto'), 'auto@2');
    is($a2->{breaker}{state}, 'open',
       'auto@2: the breaker opened by the error budget is still open');
    is($a2->{breaker}{trips}, 1, 'auto@2: tripped once');
    my %v = %{ $sum->{variants}{held} || {} };
    is(join(',', sort keys %v), 'held@1', 'held: only stable served during '
       . 'the kills: ' . join(' ', map { "$_=$v{$_}" } sort keys %v));
    %v = %{ $sum->{variants}{auto} || {} };
    is(join(',', sort keys %v), 'auto@1', 'auto: only stable served during '
       . 'the kills: ' . join(' ', map { "$_=$v{$_}" } sort keys %v));
}

# the API still works, and its mutex was not left locked
{
    my ($r, $j) = http($t, 'POST', "$API/workflows/live/rollback", '');
    is($r->{status}, 200, 'API: rollback of live after the kills');
    is(join(',', map { $_->{action} } @{ $j->{workflow}{overrides} || [] }),
       'rollback', 'live: the rollback is listed');
    my %b;
    for (1 .. 20) {
        my ($r) = http($t, 'POST', '/live', $BODY);
        my ($id) = ($r->{headers}{'x-ai-release'} // '') =~ /^(\S+);/;
        $b{ $id // "status $r->{status}" }++;
    }
    is_deeply(\%b, { 'live@1' => 20 }, 'live: rolled back on both workers');
    ($r, $j) = http($t, 'POST', "$API/workflows/live/resume", '');
    is($r->{status}, 200, 'API: resume of live');
    is_deeply($j->{workflow}{overrides}, [], 'live: no overrides left');
    ($r, $j) = http($t, 'POST', "$API/workflows/held/reset",
                    '{"bundle":"held@2"}');
    is($r->{status}, 200, 'API: reset held@2');
    is(bundle_of($j->{workflow}, 'held@2')->{breaker}{state}, 'closed',
       'held@2 closed again');
}


############################################################################
# a worker killed while its request is the half-open probe of a breaker:
# the breaker must not wait for that probe's verdict forever

# the worker process that holds the nginx end of a client connection
sub worker_of {
    my ($t, $sock) = @_;
    my $cport = $sock->sockport;
    my $nport = $t->port('nginx');
    my %inode;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $f or next;
        while (<$fh>) {
            my @x = split ' ';
            next unless @x > 9 && $x[1] =~ /:([0-9A-F]{4})$/;
            my $lp = hex $1;
            next unless $x[2] =~ /:([0-9A-F]{4})$/;
            my $rp = hex $1;
            $inode{ $x[9] } = 1 if $lp == $nport && $rp == $cport;
        }
        close $fh;
    }
    for my $pid ($t->worker_pids) {
        opendir my $dh, "/proc/$pid/fd" or next;
        for my $fd (readdir $dh) {
            my $l = readlink "/proc/$pid/fd/$fd" // next;
            return $pid if $l =~ /^socket:\[(\d+)\]$/ && $inode{$1};
        }
    }
    return undef;
}

my $probe_victim;
{
    $t->upstream_control('slow', "status=500\n");
    http($t, 'POST', '/probe', $BODY) for 1 .. 2;
    my $d = status_doc($t) || {};
    is(bundle_of(wf_of($d, 'probe'), 'probe@2')->{breaker}{state}, 'open',
       'probe@2 tripped by 2 errors in a row');
    # healthy again, but slow: the probe takes 4 s
    $t->upstream_control('slow', "delay_ms=4000\n");
    sleep 1.3;    # the cooldown is over
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port('nginx'),
                                  Proto => 'tcp', Timeout => 5);
    ok($s, 'a client for the probe');
    syswrite($s, "POST /probe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                 . "Content-Type: application/json\r\nContent-Length: "
                 . length($BODY) . "\r\n\r\n$BODY") if $s;
    my $state;
    wait_for(3, sub {
        $state = bundle_of(wf_of(status_doc($t) || {}, 'probe'),
                           'probe@2')->{breaker}{state} // '';
        $state eq 'half-open';
    }, $POLL);
    is($state, 'half-open', 'probe@2 is half-open, its probe in flight');
    $probe_victim = $s ? worker_of($t, $s) : undef;
    ok($probe_victim, 'the worker serving the probe: '
       . ($probe_victim // 'not found'));
    SKIP: {
        skip 'no worker found', 4 unless $probe_victim;
        my %old = map { $_ => 1 } $t->worker_pids;
        kill 'KILL', $probe_victim;
        push @killed, $probe_victim;
        ok(wait_for(10, sub { grep({ !$old{$_} } $t->worker_pids)
                              && !grep { $_ == $probe_victim } $t->worker_pids },
                    $POLL),
           "killed $probe_victim in the middle of the probe: respawned");
        close $s;
        $t->upstream_control('slow', undef);    # healthy and fast now

        # the canary should be probed again and come back within a few
        # cooldowns
        my ($back, %seen) = (0);
        my $end = time + 6;
        while (time < $end && !$back) {
            my ($r) = http($t, 'POST', '/probe', $BODY);
            my ($id) = ($r->{headers}{'x-ai-release'} // '') =~ /^(\S+);/;
            $seen{ $id // "status $r->{status}" }++;
            $back = 1 if ($id // '') eq 'probe@2';
            sleep 0.1;
        }
        my $st = bundle_of(wf_of(status_doc($t) || {}, 'probe'),
                           'probe@2')->{breaker}{state};
        # probe_timeout=2s: a probe without a verdict is sent again
        ok($back, 'within 6 s after the kill the healthy canary serves '
           . 'again (state ' . ($st // '?') . '; served: '
           . join(' ', map { "$_=$seen{$_}" } sort keys %seen) . ')');
        diag "RESULT probe_kill: canary back within 6 s: "
            . ($back ? 'yes' : 'no') . ", state $st";
        my ($r, $j) = http($t, 'POST', "$API/workflows/probe/reset",
                           '{"bundle":"probe@2"}');
        is($r->{status}, 200, 'API: reset probe@2');
        ($r) = http($t, 'POST', '/probe', $BODY);
        like($r->{headers}{'x-ai-release'} // '', qr/^probe\@2;/,
             'after the reset the canary serves');
    }
}

{
    my $log = $t->error_log;
    my @locked = grep { /was locked/ } split /\n/, $log;
    is(scalar @locked, 0, 'no "shared memory zone ... was locked" line')
        or diag join "\n", @locked;
    my %exited = map { $_ => 1 }
        $log =~ /\[alert\] \d+#\d+: worker process (\d+) exited on signal 9/g;
    is(scalar(grep { $exited{$_} } @killed), scalar @killed,
       'nginx logged the exit of each killed worker');
}

my $elapsed = time - $T0;
ok($elapsed < 40, sprintf 'finished in %.1f s', $elapsed);

my $pids = join '|', @killed;
$t->done(allow => qr/\[alert\] \d+#\d+: worker process (?:$pids) exited on signal 9\s*$/);
done_testing;
