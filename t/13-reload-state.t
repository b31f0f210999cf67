#!/usr/bin/perl
# Error-budget state lives in shared memory: counters and breakers survive
# "nginx -s reload" while a bundle's digest is unchanged (a new digest starts
# clean), and the counts of both workers add up exactly.

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
$t->upstream($_) for qw(stable ca cb cc cd);

sub bundles {
    my ($prefix, $canary, %o) = @_;
    $t->write_file("bundles/$prefix.yaml", <<"Y");
name: $prefix
version: "1"
upstream: 127.0.0.1:@{[ $t->port('stable') ]}
model: ${\ ($o{stable_model} // "$prefix-stable") }
---
name: $prefix
version: "2"
upstream: 127.0.0.1:@{[ $t->port($canary) ]}
model: ${\ ($o{canary_model} // "$prefix-canary") }
Y
}
bundles(a => 'ca');
bundles(b => 'cb');
bundles(c => 'cc');
bundles(d => 'cd');

$t->config(alog_format() . <<'C', workers => 2);

    ai_release_zone air_budgets 1m;
    ai_release_bundles %%DIR%%/bundles/*.yaml;

    ai_release_workflow wa {
        stable a@1;
        canary a@2 100%;
        trip consecutive=3 min_requests=1000 window=60s cooldown=60s;
    }
    ai_release_workflow wb {
        stable b@1;
        canary b@2 100%;
        trip error_rate=50% min_requests=10 consecutive=0 window=60s
             cooldown=60s;
    }
    ai_release_workflow wc {
        stable c@1;
        canary c@2 100%;
        trip consecutive=3 min_requests=1000 window=60s cooldown=60s;
    }
    ai_release_workflow wd {
        stable d@1;
        canary d@2 100%;
        trip error_rate=100% min_requests=200 consecutive=0 window=60s
             cooldown=60s;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%% reuseport;
        access_log %%DIR%%/air.log air;
        add_header X-Worker $pid always;

        location = /wa { ai_release wa; proxy_pass http://ai_release; }
        location = /wb { ai_release wb; proxy_pass http://ai_release; }
        location = /wc { ai_release wc; proxy_pass http://ai_release; }
        location = /wd { ai_release wd; proxy_pass http://ai_release; }
    }
C
$t->start;

$t->upstream_control($_, "status=500\n") for qw(ca cb cc cd);

############################################################################
# the counts of both workers add up exactly: min_requests=200,
# error_rate=100%: 199 errors keep the canary, the 200th trips it

{
    my @r;
    for my $batch (1 .. 19) {    # 190 requests, 10 at a time
        push @r, ask_many($t, [ map { ["/wd?n=$batch-$_"] } 1 .. 10 ]);
    }
    push @r, ask($t, "/wd?n=s$_") for 1 .. 9;
    is(scalar @r, 199, 'wd: 199 requests');
    is(scalar(grep { $_->{variant} eq 'canary' && $_->{status} == 500 } @r),
       199, 'wd: all 199 served by the failing canary');
    my %pids;
    $pids{ $_->{worker} }++ for @r;
    is(scalar keys %pids, 2, 'wd: both workers recorded errors ('
       . join(', ', map { "$_: $pids{$_}" } sort keys %pids) . ')');
    is(ntrans($t, 'wd', 'd@2', 'closed', 'open'), 0, 'wd: not tripped yet');

    my $r = ask($t, '/wd?n=200');
    is($r->{variant}, 'canary', 'wd: the 200th request still goes to the '
       . 'canary');
    $r = ask($t, '/wd?n=201');
    is($r->{variant}, 'stable', 'wd: the 201st goes to stable: tripped at '
       . 'exactly 200 errors');
    ok(wait_for(2, sub { ntrans($t, 'wd', 'd@2', 'closed', 'open') }),
       'wd: logged');
}

############################################################################
# before the reload: wa and wc tripped, wb halfway

my %digest;
{
    my @r = map { ask($t, "/wa?n=e$_") } 1 .. 3;
    push @r, ask($t, '/wa?n=t');
    is(variants(@r), 'canary,canary,canary,stable', 'wa: tripped by 3 errors');
    $digest{a2} = $r[0]{short};
    $digest{a1} = $r[3]{short};

    @r = map { ask($t, "/wb?n=$_") } 1 .. 6;
    is(variants(@r), join(',', ('canary') x 6),
       'wb: 6 errors, below min_requests=10');

    @r = map { ask($t, "/wc?n=e$_") } 1 .. 3;
    push @r, ask($t, '/wc?n=t');
    is(variants(@r), 'canary,canary,canary,stable', 'wc: tripped by 3 errors');
    $digest{c2} = $r[0]{short};
}

############################################################################
# reload with the same configuration

ok($t->reload, 'reload, same configuration');
{
    is(ask($t, '/wa?n=r1')->{variant}, 'stable', 'wa: still tripped');
    $t->upstream_control('ca', undef);    # healthy: still open (cooldown)
    my @r = map { ask($t, "/wa?n=r2-$_") } 1 .. 10;
    is(variants(@r), join(',', ('stable') x 10),
       'wa: still open after the reload, on both new workers');
    my @a = grep { $_->{n} =~ /^r/ } alog($t, 'wa');
    is(scalar(grep { $_->{r} eq 'tripped' } @a), 11, 'wa: r=tripped');

    is(ask($t, '/wd?n=r1')->{variant}, 'stable', 'wd: still tripped');
    is(ask($t, '/wc?n=r1')->{variant}, 'stable', 'wc: still tripped');

    @r = map { ask($t, "/wb?n=$_") } 7 .. 10;
    is(variants(@r), 'canary,canary,canary,canary',
       'wb: errors 7 to 10 after the reload still on the canary');
    is(ask($t, '/wb?n=11')->{variant}, 'stable',
       'wb: the counts from before the reload count: tripped at the 10th');

    wait_for(2, sub { ntrans($t, 'wb', 'b@2', 'closed', 'open') });
    my %n = map { $_ => ntrans($t, "w$_", "$_\@2", 'closed', 'open') }
            qw(a b c d);
    is_deeply(\%n, { a => 1, b => 1, c => 1, d => 1 },
              'one "closed -> open" line per canary, none repeated by the '
              . 'reload');
}

############################################################################
# reload with new digests: c@2 (the canary of wc) and a@1 (the stable of wa)

bundles(c => 'cc', canary_model => 'c-canary-fixed');
bundles(a => 'ca', stable_model => 'a-stable-new');
ok($t->reload, 'reload with a new model for c@2 and a@1');
{
    my @r = map { ask($t, "/wc?n=n$_") } 1 .. 3;
    is(variants(@r), 'canary,canary,canary',
       'wc: the canary with a new digest serves right after the reload, '
       . 'and 2 errors (still failing) do not trip it: fresh counters');
    isnt($r[0]{short}, $digest{c2}, 'wc: under its new digest');
    is(ask($t, '/wc?n=n4')->{variant}, 'stable',
       'wc: the 3rd error trips the new digest');
    ok(wait_for(2, sub { ntrans($t, 'wc', 'c@2', 'closed', 'open') >= 2 }),
       'wc: second trip logged');
    my @l = transitions($t, 'wc', 'c@2', 'closed', 'open');
    my %d = map { /\(sha256:([0-9a-f]{12})\)/ ? ($1 => 1) : () } @l;
    is(scalar keys %d, 2, 'wc: the two trips name two digests');

    my $r = ask($t, '/wa?n=n1');
    is($r->{variant}, 'stable', 'wa: a new stable digest does not reset the '
       . 'canary: still tripped');
    isnt($r->{short}, $digest{a1}, 'wa: served by the new stable digest');
    is(ask($t, '/wb?n=n1')->{variant}, 'stable', 'wb: still tripped');
    is(ask($t, '/wd?n=n1')->{variant}, 'stable', 'wd: still tripped');
    is(ntrans($t, 'wa', 'a@2', 'closed', 'open'), 1, 'wa: still one line');
}

check_change_lines($t);

$t->done;
done_testing;
