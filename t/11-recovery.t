#!/usr/bin/perl
# Recovery: after the cooldown an open canary becomes half-open and gets
# exactly `probes` requests across both workers; all succeeding closes it
# (traffic back per weight); a failed probe reopens it with the cooldown
# doubled (up to max_cooldown); recover=manual keeps it open past the
# cooldown and across a reload, until its digest changes.
#
# Each scenario has its own canary upstream (the mock's control file drives
# its health), the stable upstream is shared and always healthy.

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


############################################################################
# setup

my $t = AIRTest->new;
$t->upstream($_) for qw(stable cp cd cx cm);

sub bundles {
    my ($prefix, $canary, $model) = @_;
    $t->write_file("bundles/$prefix.yaml", <<"Y");
name: $prefix
version: "1"
upstream: 127.0.0.1:@{[ $t->port('stable') ]}
model: $prefix-stable
---
name: $prefix
version: "2"
upstream: 127.0.0.1:@{[ $t->port($canary) ]}
model: ${\ ($model // "$prefix-canary") }
Y
}
bundles(p => 'cp');
bundles(d => 'cd');
bundles(x => 'cx');
bundles(m => 'cm');

my $conf = alog_format() . <<'C';

    ai_release_bundles %%DIR%%/bundles/*.yaml;

    ai_release_workflow probe {
        stable p@1;
        canary p@2 100%;
        trip consecutive=2 min_requests=1000 window=30s cooldown=1s probes=3;
    }

    ai_release_workflow double {
        stable d@1;
        canary d@2 100%;
        trip consecutive=1 min_requests=1000 window=30s cooldown=1s
             max_cooldown=1m probes=1;
    }

    ai_release_workflow cap {
        stable x@1;
        canary x@2 100%;
        trip consecutive=1 min_requests=1000 window=30s cooldown=1s
             max_cooldown=1200ms probes=1;
    }

    ai_release_workflow manual {
        stable m@1;
        canary m@2 100%;
        trip consecutive=1 min_requests=1000 window=30s cooldown=1s
             recover=manual;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%% reuseport;
        access_log %%DIR%%/air.log air;
        add_header X-Worker $pid always;

        location = /probe  { ai_release probe;  proxy_pass http://ai_release; }
        location = /double { ai_release double; proxy_pass http://ai_release; }
        location = /cap    { ai_release cap;    proxy_pass http://ai_release; }
        location = /manual { ai_release manual; proxy_pass http://ai_release; }
    }
C
$t->config($conf, workers => 2);
$t->start;

sub uri_count {
    my ($name, $path) = @_;
    return scalar grep { m{ [A-Z]+ \Q$path\E(?:\?|$)} } $t->upstream_log($name);
}

############################################################################
# recover=manual: trip it first, look at it again at the end

$t->upstream_control('cm', "status=500\n");
my $rm = ask($t, '/manual?n=trip');
is($rm->{variant}, 'canary', 'manual: the canary fails once');
my $Tm = time;
$t->upstream_control('cm', undef);    # healthy again, but recover=manual
my $manual_digest = $rm->{short};

############################################################################
# half-open admits exactly `probes` requests across both workers

{
    $t->upstream_control('cp', "status=500\n");
    my @r = map { ask($t, "/probe?n=e$_") } 1 .. 2;
    my $T0 = time;
    is(variants(@r), 'canary,canary', 'probe: two errors on the canary');
    ok(wait_for(2, sub { ntrans($t, 'probe', 'p@2', 'closed', 'open') }),
       'probe: tripped');
    my $r = ask($t, '/probe?n=open');
    is($r->{variant}, 'stable', 'probe: open: stable serves');

    # healthy but slow: probes are still in flight when all requests arrive
    $t->upstream_control('cp', "delay_ms=1500\n");
    my $c0 = $t->upstream_count('cp');
    my $wait = $T0 + 1.3 - time;
    sleep $wait if $wait > 0;

    my @h = ask_many($t, [ map { ["/probe?n=h$_"] } 1 .. 16 ]);
    is(scalar(grep { $_->{status} == 200 } @h), 16,
       'probe: 16 concurrent requests in half-open, all answered');
    is($t->upstream_count('cp') - $c0, 3,
       'probe: exactly probes=3 of them reached the canary');
    is(scalar(grep { $_->{variant} eq 'canary' } @h), 3,
       'probe: 3 answers name the canary');
    is(scalar(grep { $_->{variant} eq 'stable' } @h), 13,
       'probe: 13 were served by stable');
    my %pids;
    $pids{ $_->{worker} }++ for @h;
    is(scalar keys %pids, 2, 'probe: both workers took part ('
       . join(', ', map { "$_: $pids{$_}" } sort keys %pids) . ')');

    ok(wait_for(3, sub { ntrans($t, 'probe', 'p@2', 'half-open', 'closed') }),
       'probe: "half-open -> closed" logged');
    is(ntrans($t, 'probe', 'p@2', 'open', 'half-open'), 1,
       'probe: "open -> half-open" logged once');
    is(ntrans($t, 'probe', 'p@2', 'half-open', 'closed'), 1,
       'probe: "half-open -> closed" logged once');

    my @pl = grep { $_->{n} =~ /^h/ } alog($t, 'probe');
    is(scalar(grep { $_->{r} eq 'probe' && $_->{v} eq 'canary' } @pl), 3,
       'probe: three access log lines with r=probe')
        or diag explain \@pl;
    is(scalar(grep { $_->{r} eq 'tripped' && $_->{v} eq 'stable' } @pl), 13,
       'probe: the others with r=tripped');

    # closed: traffic goes back to the canary, per weight
    $t->upstream_control('cp', undef);
    my @a = map { ask($t, "/probe?n=a$_") } 1 .. 5;
    is(variants(@a), join(',', ('canary') x 5),
       'probe: after the probes succeeded the canary gets its traffic back');
    my @al = grep { $_->{n} =~ /^a/ } alog($t, 'probe');
    is(scalar(grep { $_->{r} eq 'weight' && $_->{st} eq 'closed' } @al), 5,
       'probe: r=weight st=closed again');

    # closed again: a single error does not trip it (consecutive=2)
    $t->upstream_control('cp', "status=500\n");
    ask($t, '/probe?n=f1');
    $t->upstream_control('cp', undef);
    is(ask($t, '/probe?n=f2')->{variant}, 'canary',
       'probe: one error after the recovery does not trip it');
    is(ntrans($t, 'probe', 'p@2', 'closed', 'open'), 1,
       'probe: no new trip');
}

############################################################################
# a failed probe doubles the cooldown (double: cooldown=1s -> 2s), up to
# max_cooldown (cap: 1s -> 1.2s)

{
    $t->upstream_control('cd', "status=500\n");
    $t->upstream_control('cx', "status=500\n");
    my $rd = ask($t, '/double?n=trip');
    my $T0d = time;
    my $rx = ask($t, '/cap?n=trip');
    my $T0x = time;
    is($rd->{variant} . ',' . $rx->{variant}, 'canary,canary',
       'double/cap: one error each on the canary');

    my (@pd, @px);
    my $deadline = time + 15;
    while (time < $deadline && (@pd < 2 || @px < 2)) {
        if (@pd < 2) {
            my $t0 = time;
            my $r = ask($t, '/double?n=poll');
            if ($r->{variant} eq 'canary') {
                push @pd, $t0;
                # the first probe failed; let the second one succeed
                $t->upstream_control('cd', undef) if @pd == 1;
            }
        }
        if (@px < 2) {
            my $t0 = time;
            my $r = ask($t, '/cap?n=poll');
            push @px, $t0 if $r->{variant} eq 'canary';
        }
        sleep 0.02;
    }
    is(scalar @pd, 2, 'double: two probes seen');
    is(scalar @px, 2, 'cap: two probes seen');
    if (@pd == 2 && @px == 2) {
        my ($g1, $g2) = ($pd[0] - $T0d, $pd[1] - $pd[0]);
        my ($h1, $h2) = ($px[0] - $T0x, $px[1] - $px[0]);
        note(sprintf 'double: %.2fs then %.2fs; cap: %.2fs then %.2fs',
             $g1, $g2, $h1, $h2);
        ok($g1 >= 0.9 && $g1 < 1.8,
           sprintf 'double: first probe after the 1s cooldown (%.2fs)', $g1);
        ok($g2 >= 1.75 && $g2 < 3.2,
           sprintf 'double: second probe after a 2s cooldown (%.2fs)', $g2);
        ok($g2 / $g1 > 1.4, sprintf 'double: the open period doubled '
           . '(ratio %.2f)', $g2 / $g1);
        ok($h1 >= 0.9 && $h1 < 1.8,
           sprintf 'cap: first probe after the 1s cooldown (%.2fs)', $h1);
        ok($h2 >= 0.9 && $h2 < 1.65, sprintf 'cap: second probe after '
           . 'max_cooldown=1200ms, not 2s (%.2fs)', $h2);
    }

    # double: the second probe succeeded, so the canary serves again
    my @a = map { ask($t, "/double?n=a$_") } 1 .. 3;
    is(variants(@a), 'canary,canary,canary',
       'double: closed after the successful probe');
    ok(wait_for(2, sub { ntrans($t, 'double', 'd@2', 'half-open', 'closed') }),
       'double: "half-open -> closed" logged');
    is(ntrans($t, 'double', 'd@2', 'closed', 'open'), 1,
       'double: "closed -> open" once');
    is(ntrans($t, 'double', 'd@2', 'open', 'half-open'), 2,
       'double: "open -> half-open" twice');
    is(ntrans($t, 'double', 'd@2', 'half-open', 'open'), 1,
       'double: "half-open -> open" once');
    is(ntrans($t, 'double', 'd@2', 'half-open', 'closed'), 1,
       'double: "half-open -> closed" once');
    is(ntrans($t, 'cap', 'x@2', 'half-open', 'open'), 2,
       'cap: "half-open -> open" twice');
    is(ntrans($t, 'cap', 'x@2', 'half-open', 'closed'), 0,
       'cap: never closed');
    is(uri_count('cd', '/double'), 6, 'double: the canary got the trip, '
       . '2 probes and 3 requests');
    is(uri_count('cx', '/cap'), 3, 'cap: the canary got the trip and 2 probes');
}

############################################################################
# recover=manual: still open long after the cooldown, and after a reload
# with the same bundles; a new digest starts clean

{
    my $wait = $Tm + 2.5 - time;
    sleep $wait if $wait > 0;
    my @r = map { ask($t, "/manual?n=m$_") } 1 .. 5;
    is(variants(@r), join(',', ('stable') x 5),
       'manual: still open ' . sprintf('%.1f', time - $Tm)
       . 's after the trip (cooldown=1s)');
    is(uri_count('cm', '/manual'), 1, 'manual: no probe reached the canary');
    is(ntrans($t, 'manual', 'm@2', 'open', 'half-open'), 0,
       'manual: never half-open');

    ok($t->reload, 'manual: reload, same configuration');
    @r = map { ask($t, "/manual?n=r$_") } 1 .. 5;
    is(variants(@r), join(',', ('stable') x 5),
       'manual: still open after the reload');

    bundles(m => 'cm', 'm-canary-fixed');
    ok($t->reload, 'manual: reload with a new digest for the canary');
    @r = map { ask($t, "/manual?n=d$_") } 1 .. 3;
    is(variants(@r), 'canary,canary,canary',
       'manual: the new digest starts with a closed breaker');
    isnt($r[0]{short}, $manual_digest, 'manual: under a new digest');
    is(ntrans($t, 'manual', 'm@2', 'closed', 'open'), 1,
       'manual: one trip logged in all');
}

check_change_lines($t);

$t->done;
done_testing;
