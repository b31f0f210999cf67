#!/usr/bin/perl
# The zone over many releases and resizes:
# 1. at the size "nginx -t" recommends, any number of releases that give
#    every bundle a new digest load (the zone holds the running and the new
#    configuration's slots, never three generations), and a refused reload
#    leaves room for the very next attempt;
#    a slot takes less than 4 KiB of the zone (a 2 KiB chunk for the
#    slot, a 1 KiB chunk for its latency histogram);
# 2. a reload that changes the zone's size (the default zone growing with
#    the workflows, or an edited ai_release_zone size) keeps counters,
#    latency histograms, breaker states and API overrides;
# 3. a failover never goes back to the bundle that just failed.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRClient;
use Time::HiRes qw(time sleep);

my $t = AIRTest->new;
$t->upstream('s');
$t->upstream('hang');
mkdir $t->dir . '/logs';

my $port = $t->port('s');

# bundle b@1 .. b@40 (one upstream, a digest each)
{
    my $y = '';
    for my $v (1 .. 40) {
        $y .= "---\nname: b\nversion: \"$v\"\nupstream: 127.0.0.1:$port\n"
            . "model: m$v\n";
    }
    $t->write_file('bundles/b.yaml', $y);
}

# workflows w1..wN whose stable, canary and fallback are release $k's
sub conf {
    my ($n, $k, %o) = @_;
    my ($s, $c, $f) = (3 * $k + 1, 3 * $k + 2, 3 * $k + 3);
    my $z = defined $o{size} ? "    ai_release_zone z $o{size};\n" : '';
    my $x = "    ai_release_eval_gate off;\n$z"
          . "    ai_release_bundles %%DIR%%/bundles/*.yaml;\n";
    $x .= "    ai_release_workflow w$_ { stable b\@$s; canary b\@$c 50%; "
        . "fallback b\@$f; sticky \$http_x_user; }\n" for 1 .. $n;
    $x .= "    server {\n        listen 127.0.0.1:%%PORT_nginx%%;\n"
        . "        location = /status { ai_release_status; }\n"
        . "        location /api/ { ai_release_api; }\n";
    $x .= "        location = /w$_ { ai_release w$_; "
        . "proxy_pass http://ai_release; }\n" for 1 .. $n;
    return $x . "    }\n";
}

sub emerg_lines {
    return grep { /\[emerg\]/ } split /\n/, $_[0];
}

############################################################################
# 1. ten releases at the recommended size, a refused one and its retry

my $need;
{
    $t->config(conf(20, 0, size => '64k'));
    my ($rc, $out) = $t->test_config;
    ($need) = $out =~ /and (\d+)k to keep room for a reload/;
    ok($rc && $need, "nginx -t names the recommended size (${\ ($need // '?') }k)");
}

SKIP: {
    skip 'no recommended size', 14 unless $need;

    $t->config(conf(20, 0, size => "${need}k"));
    $t->start;
    my $d = status_doc($t);
    is($d->{zone}{slots}, 60, "release 0 at ${need}k: 60 slots");

    my ($ok, $d1) = (0);
    for my $k (1 .. 10) {
        my $off = length $t->error_log;
        $t->config(conf(20, $k % 11, size => "${need}k"));
        if ($t->reload) {
            $ok++;
        } else {
            diag "release $k: " . join "\n", emerg_lines(
                substr($t->error_log, $off));
        }
        $d1 = status_doc($t) if $k == 1;
    }
    is($ok, 10, "10 releases with all-new digests load at ${need}k");

    # the first release added 60 slots to full pages: what they took
    my $slots = ($d1->{zone}{slots} // 0) - $d->{zone}{slots};
    my $per = $slots ? (($d1->{zone}{used} // 0) - $d->{zone}{used}) / $slots
                     : 0;
    ok($slots == 60 && $per > 0 && $per < 4096,
       "a slot takes less than 4 KiB of the zone: $per bytes");

    $d = status_doc($t);
    is($d->{zone}{slots}, 120,
       'the zone holds the running and the previous release: 120 slots');
    my $r = ask($t, '/w7', headers => { 'X-User' => 'u1' });
    like($r->{bundle}, qr/^b\@3[123]$/, 'release 10 serves');

    # refused: 40 workflows do not fit; then the same release as before
    # with new digests must load at once
    my $off = length $t->error_log;
    $t->config(conf(40, 0, size => "${need}k"));
    ok(!$t->reload, 'a release of 40 workflows is refused');
    my @e = emerg_lines(substr($t->error_log, $off));
    like($e[0] // '', qr/ai_release zone "z" is full/,
         'refused with "zone is full"');
    $r = ask($t, '/w7', headers => { 'X-User' => 'u1' });
    like($r->{bundle}, qr/^b\@3[123]$/, 'the running release still serves');

    $off = length $t->error_log;
    $t->config(conf(20, 1, size => "${need}k"));
    ok($t->reload, 'the next release loads right after the refused one')
        or diag join "\n", emerg_lines(substr($t->error_log, $off));
    $off = length $t->error_log;
    $t->config(conf(20, 2, size => "${need}k"));
    ok($t->reload, 'and the one after it')
        or diag join "\n", emerg_lines(substr($t->error_log, $off));
    $r = ask($t, '/w7', headers => { 'X-User' => 'u1' });
    like($r->{bundle}, qr/^b\@[789]$/, 'release 2 serves');
    $d = status_doc($t);
    is($d->{zone}{slots}, 120, 'still 120 slots');
    $t->stop;
}

############################################################################
# 2. resizes keep counters, breakers and overrides

sub api {
    my ($path, $body) = @_;
    my ($r, $j) = http($t, 'POST', "/api/$path", $body);
    return $r->{status};
}

# the latency of each bundle of w1 .. w6, and the answers they counted
sub latencies {
    my ($d) = @_;
    my %l;
    for my $w (map { wf_of($d, "w$_") } 1 .. 6) {
        for my $b (@{ $w->{bundles} || [] }) {
            my $x = $b->{latency} || {};
            $l{"$w->{name}/$b->{bundle}"} = {
                map { $_ => $x->{$_} } qw(count sum_ms p50_ms p99_ms buckets)
            };
        }
    }
    return \%l;
}

sub latency_count {
    my $l = latencies($_[0]);
    my $n = 0;
    $n += $_->{count} // 0 for values %$l;
    return $n;
}

sub overrides {
    my ($d, $wf) = @_;
    return join ', ', map { join ' ', grep { defined } $_->{action},
                                                   $_->{bundle} }
                      @{ wf_of($d, $wf)->{overrides} || [] };
}

for my $case (['default zone grows', undef, undef, 30, 100],
              ['ai_release_zone raised', '1m', '2m', 30, 30])
{
    my ($name, $s1, $s2, $n1, $n2) = @$case;
    my %sz1 = defined $s1 ? (size => $s1) : ();
    my %sz2 = defined $s2 ? (size => $s2) : ();

    $t->config(conf($n1, 0, %sz1));
    $t->start;
    my $d0 = status_doc($t);

    # traffic, a manual trip, a rollback and a pin; three slow answers
    ask($t, "/w$_", headers => { 'X-User' => "u$_" }) for 1 .. 6;
    ask($t, '/w4', headers => { 'X-User' => 'u4', 'X-Mock-Delay-Ms' => 150 })
        for 1 .. 3;
    wait_for(10, sub { latency_count(status_doc($t)) == 9 });
    is(api('workflows/w1/trip', '{"bundle":"b@2"}'), 200, "$name: trip w1");
    is(api('workflows/w2/rollback'), 200, "$name: roll back w2");
    is(api('workflows/w3/pin', '{"bundle":"b@3"}'), 200, "$name: pin w3");
    my $d1 = status_doc($t);
    my $tot1 = totals($d1);
    my $lat1 = latencies($d1);

    my $off = length $t->error_log;
    $t->config(conf($n2, 0, %sz2));
    ok($t->reload, "$name: reload");
    my $log = substr($t->error_log, $off);
    my $d2 = status_doc($t);
    isnt($d2->{zone}{size}, $d0->{zone}{size},
         "$name: the zone's size changed ($d0->{zone}{size} -> "
         . "$d2->{zone}{size})");
    like($log, qr/ai_release zone "\w+" resized from \d+ to \d+ bytes: \d+ slots carried over/,
         "$name: the resize is logged");
    is($d2->{generation}, $d1->{generation} + 1,
       "$name: generation goes on ($d1->{generation} -> $d2->{generation})");

    is(bundle_of(wf_of($d2, 'w1'), 'b@2')->{breaker}{state}, 'open',
       "$name: w1's tripped canary stays open");
    is(overrides($d2, 'w1'), 'trip b@2', "$name: w1's manual trip is kept");
    is(overrides($d2, 'w2'), 'rollback', "$name: w2's rollback is kept");
    is(overrides($d2, 'w3'), 'pin b@3', "$name: w3's pin is kept");
    my $tot2 = totals($d2);
    is(join(',', map { $tot2->{"w$_/b\@1"} + $tot2->{"w$_/b\@2"} } 1 .. 6),
       join(',', map { $tot1->{"w$_/b\@1"} + $tot1->{"w$_/b\@2"} } 1 .. 6),
       "$name: counters are kept");
    my $lat2 = latencies($d2);
    is(latency_count($d2), 9, "$name: 9 latencies counted before and after");
    is_deeply($lat2, $lat1, "$name: latency histograms are kept");
    my ($slow) = grep { /^w4\// && $lat2->{$_}{count} == 4 } keys %$lat2;
    ok($slow && $lat2->{$slow}{p50_ms} >= 150 * 7 / 8,
       "$name: w4's p50 of 3 slow answers in 4 is kept: "
       . ($slow ? "$lat2->{$slow}{p50_ms} ms" : 'none'));

    # the overrides still steer traffic
    my %seen;
    for my $u (1 .. 20) {
        $seen{"w1 " . ask($t, '/w1', headers => { 'X-User' => "k$u" })->{bundle}}++;
        $seen{"w2 " . ask($t, '/w2', headers => { 'X-User' => "k$u" })->{bundle}}++;
        $seen{"w3 " . ask($t, '/w3', headers => { 'X-User' => "k$u" })->{bundle}}++;
    }
    is(join(' ', sort keys %seen), 'w1 b@1 w2 b@1 w3 b@3',
       "$name: after the resize w1 and w2 serve stable only, w3 its pin");
    $t->stop;
}

############################################################################
# 3. failover never retries the bundle that failed

$t->write_file('bundles/h.yaml', join '', map {
    "---\nname: h\nversion: \"$_\"\nupstream: 127.0.0.1:"
    . $t->port('hang') . "\nmodel: h$_\n" } 1 .. 3);
$t->config(<<'C', log_level => 'info');
    ai_release_eval_gate off;
    ai_release_bundles %%DIR%%/bundles/*.yaml;
    ai_release_workflow hang {
        stable h@1; fallback h@3;
        failover on;
        trip error_rate=100% min_requests=1000 consecutive=0 window=60s;
    }
    ai_release_workflow refuse {
        stable h@1; fallback h@3;
        failover on;
        trip error_rate=100% min_requests=1000 consecutive=0 window=60s;
    }
    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        location = /status { ai_release_status; }
        location /api/ { ai_release_api; }
        location = /hang {
            ai_release hang;
            proxy_read_timeout 1s;
            proxy_http_version 1.1;
            proxy_pass http://ai_release;
        }
        location = /refuse {
            ai_release refuse;
            proxy_connect_timeout 1s;
            proxy_pass http://ai_release;
        }
    }
C
$t->start;

# the fallback is tripped: stable's failover target can take nothing
is(api('workflows/hang/trip', '{"bundle":"h@3"}'), 200, 'trip h@3 of "hang"');
my $off = length $t->error_log;
my $t0 = time;
my $r = ask($t, '/hang', headers => { 'X-Mock-Delay-Ms' => 3000,
                                        'X-User' => 'x' },
            timeout => 15);
my $took = time - $t0;
note sprintf 'stable timed out, fallback tripped: %d after %.1f s',
     $r->{status}, $took;
is($r->{status}, 504, 'the first failure (504) is the answer');
my $log = substr($t->error_log, $off);
unlike($log, qr/request fails over to stable "h\@1"/,
       'no failover from stable to stable');
my $d = status_doc($t);
my $w = wf_of($d, 'hang');
my $tries = 0;
$tries += bundle_of($w, $_)->{totals}{total} // 0 for qw(h@1 h@3);
is($tries, 1, 'one attempt counted in all (no second try at the same '
   . 'bundle)');


# stable and fallback both refuse connections: stable -> fallback, once
$t->stop_upstream('hang');
$off = length $t->error_log;
$r = ask($t, '/refuse');
is($r->{status}, 502, 'stable and fallback refuse: 502');
$log = substr($t->error_log, $off);
my @fo = $log =~ /(request fails over to \w+ "[^"]+")/g;
is(join('; ', @fo), 'request fails over to fallback "h@3"',
   'one failover, to the fallback');
$w = wf_of(status_doc($t), 'refuse');
is(join(' ', map { bundle_of($w, $_)->{totals}{total} // 0 } qw(h@1 h@3)),
   '1 1', 'one attempt at stable, one at the fallback');

# the fallback tripped too: stable's failure is the answer, no retry of it
is(api('workflows/refuse/trip', '{"bundle":"h@3"}'), 200,
   'trip h@3 of "refuse"');
$off = length $t->error_log;
$r = ask($t, '/refuse');
is($r->{status}, 502, 'fallback tripped: stable\'s 502 is the answer');
$log = substr($t->error_log, $off);
unlike($log, qr/fails over/, 'no failover line');
$w = wf_of(status_doc($t), 'refuse');
is(bundle_of($w, 'h@1')->{totals}{total}, 2,
   'stable counted once more, not twice');

$t->stop;
$t->done(allow => qr/\[emerg\] .*ai_release zone "z" is full: no room for /);
done_testing;
