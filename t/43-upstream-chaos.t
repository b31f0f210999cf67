#!/usr/bin/perl
# Upstream chaos under load, with "failover on" and a fallback: 4 client
# processes send requests while the canary's and then the stable's model
# server goes through four failure modes, each followed by a recovery:
# refusing connections (stopped), hanging (proxy_read_timeout 1s), cutting
# the answer after its header (mode=cut), and answering 500.  nginx keeps
# serving throughout (the same worker pids, a clean error.log), the broken
# bundle's breaker opens in the status JSON while it is broken and closes
# again once it has healed (short cooldown), and the share of client
# requests that fail stays below 5% (only cut answers, which reach the
# client before they break, can fail).

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
my $BUDGET = 33;    # seconds for the phases, so that the file ends < 40 s

############################################################################
# helpers

# bundle => breaker state
sub states {
    my ($t) = @_;
    my ($r, $j) = http($t, 'GET', '/status', undef, timeout => 5);
    return unless ref $j eq 'HASH';
    my ($w) = grep { $_->{name} eq 'chat' } @{ $j->{workflows} || [] };
    return map { $_->{bundle} => $_->{breaker}{state} } @{ $w->{bundles} || [] };
}

############################################################################
# setup

my $t = AIRTest->new;
$t->upstream($_) for qw(stable canary fallback);

my $yaml = '';
for my $b ([1, 'stable'], [2, 'canary'], [3, 'fallback']) {
    $yaml .= "---\nname: chat\nversion: \"$b->[0]\"\n"
           . "upstream: up_$b->[1]\nmodel: chat-model-$b->[0]\n";
}
$t->write_file('bundles/all.yaml', $yaml);

my $upstreams = upstream_blocks(qw(stable canary fallback));
$t->config($upstreams . <<'C', workers => 2);
    ai_release_bundles %%DIR%%/bundles/*.yaml;

    ai_release_workflow chat {
        stable   chat@1;
        canary   chat@2 30%;
        fallback chat@3;
        failover on;
        trip error_rate=50% min_requests=10 window=10s consecutive=3
             cooldown=500ms max_cooldown=1s probes=3;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%% reuseport;
        keepalive_requests 10000;

        location = /chat {
            ai_release chat;
            proxy_pass http://ai_release;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_connect_timeout 1s;
            proxy_send_timeout 1s;
            proxy_read_timeout 1s;
        }
        location = /status { ai_release_status; }
    }
C
$t->start;

my @workers = $t->worker_pids;
is(scalar @workers, 2, 'two workers: ' . join(', ', @workers));

my %BUNDLE = (canary => 'chat@2', stable => 'chat@1');

sub break_it {
    my ($who, $mode) = @_;
    if ($mode eq 'refuse') { $t->stop_upstream($who) }
    elsif ($mode eq 'hang') { $t->upstream_control($who, "mode=hang\n") }
    elsif ($mode eq 'cut')  { $t->upstream_control($who, "mode=cut\n") }
    elsif ($mode eq '500')  { $t->upstream_control($who, "status=500\n") }
}

sub heal_it {
    my ($who, $mode) = @_;
    if ($mode eq 'refuse') { $t->upstream($who) }
    else { $t->upstream_control($who, undef) }
}

############################################################################
# the load, and the phases

my $stop = $t->dir . '/stop-load';
my $load = load_start(port => $t->port('nginx'), clients => 4,
                      duration => $BUDGET + 2, reqs => [
    { method => 'POST', path => '/chat', body => $BODY, tag => 'chat' },
], timeout => 10, stop_file => $stop);

sleep 1;
my $t_base = time;
my @phases;
my $skipped = 0;
for my $who (qw(canary stable)) {
    for my $mode (qw(refuse hang cut 500)) {
        if (time - $T0 > $BUDGET - 4) { $skipped++; next }
        my $b = $BUNDLE{$who};
        my %p = (name => "$who $mode", who => $who, mode => $mode,
                 start => time);
        break_it($who, $mode);
        $p{broken} = time;    # stopping a server takes a moment
        # broken: at least 1 s, and until its breaker is open (at most 4 s)
        my %seen;
        my $end = $p{broken} + 4;
        while (time < $end) {
            my %s = states($t);
            $seen{ $s{$b} // 'none' }++;
            if (($s{$b} // '') eq 'open' && !$p{opened}) {
                $p{opened} = time - $p{broken};
            }
            last if $p{opened} && time - $p{broken} >= 1;
            sleep 0.05;
        }
        $p{healed_at} = time;
        heal_it($who, $mode);
        # healed: until both breakers are closed again (at most 6 s)
        $end = time + 6;
        while (time < $end) {
            my %s = states($t);
            if (($s{$b} // '') eq 'closed' && ($s{'chat@1'} // '') eq 'closed'
                && ($s{'chat@2'} // '') eq 'closed')
            {
                $p{closed} = time - $p{healed_at};
                last;
            }
            sleep 0.05;
        }
        $p{end} = time;
        push @phases, \%p;
    }
}
my $t_end = time;
sleep 0.5;
$t->write_file($stop, '');
my $sum = load_wait($load);

############################################################################
# results

is($skipped, 0, 'all 8 phases ran within the time budget');
diag load_summary($sum);
is($sum->{clients}, 4, 'all 4 clients reported');
ok($sum->{counts}{requests} > 500, "$sum->{counts}{requests} requests");

for my $p (@phases) {
    # requests: from the counts per tenth of a second; failures: from the
    # exact times of the failed requests
    my $c = load_between($sum, $p->{start}, $p->{end});
    my $n = $c->{ok} + $c->{bad} + $c->{err};
    $p->{n} = $n;
    my @f = grep { $_->{at} >= $p->{start} && $_->{at} < $p->{end} }
            @{ $sum->{fail} };
    $p->{failed} = @f;
    ok(defined $p->{opened}, sprintf '%s: the %s breaker opened (after %s s)',
       $p->{name}, $p->{who}, defined $p->{opened}
       ? sprintf('%.2f', $p->{opened}) : 'never');
    ok(defined $p->{closed}, sprintf '%s: closed again after healing (%s s)',
       $p->{name}, defined $p->{closed} ? sprintf('%.2f', $p->{closed})
                                        : 'not within 6');
    diag sprintf 'RESULT phase "%s": %d requests, %d failed (%.2f%%), open '
        . 'after %s s, closed %s s after healing', $p->{name}, $n,
        $p->{failed}, $n ? 100 * $p->{failed} / $n : 0,
        defined $p->{opened} ? sprintf('%.2f', $p->{opened}) : '-',
        defined $p->{closed} ? sprintf('%.2f', $p->{closed}) : '-';
    if ($p->{mode} ne 'cut') {
        is($p->{failed}, 0, "$p->{name}: no client request failed (failover)")
            or diag fail_diag({ fail => \@f });
    }
}
{
    my $failed = $sum->{counts}{bad} + $sum->{counts}{err};
    my $frac = $sum->{counts}{requests}
             ? $failed / $sum->{counts}{requests} : 1;
    ok($frac < 0.05, sprintf 'failed client requests: %d of %d (%.2f%%), '
       . 'below 5%%', $failed, $sum->{counts}{requests}, 100 * $frac)
        or diag fail_diag($sum, 20);
    note "failed requests:\n" . fail_diag($sum, 20) if @{ $sum->{fail} };
    my %why;
    $why{ $_->{status} ? "status $_->{status}" : $_->{error} }++
        for @{ $sum->{fail} };
    diag 'failures: ' . join(', ', map { "$_: $why{$_}" } sort keys %why)
        if %why;
    diag sprintf 'RESULT chaos requests=%d failed=%d (%.2f%%) retried_reused=%d '
        . 'retried_fresh=%d', $sum->{counts}{requests}, $failed, 100 * $frac,
        $sum->{counts}{retry_reused}, $sum->{counts}{retry_fresh};
}

# nginx kept serving with the same workers
is(join(',', $t->worker_pids), join(',', @workers),
   'the same worker processes as at the start: no worker died');
{
    my %st;
    for (1 .. 20) {
        my ($r) = http($t, 'POST', '/chat', $BODY, timeout => 5);
        $st{ $r->{status} }++;
    }
    is_deeply(\%st, { 200 => 20 }, 'after the chaos: 20 requests, 200 each');
    my %s = states($t);
    is(join(' ', map { "$_=" . ($s{$_} // '?') } sort keys %s),
       'chat@1=closed chat@2=closed chat@3=closed', 'every breaker closed');
}
unlike($t->error_log, qr/exited on signal|\[alert\]|\[crit\]/,
       'error.log: no worker exited on a signal, no alert');

my $elapsed = time - $T0;
ok($elapsed < 40, sprintf 'finished in %.1f s', $elapsed);

$t->done;
done_testing;
