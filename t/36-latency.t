#!/usr/bin/perl
# Latency percentiles against the latencies nginx measured: the access log
# has $upstream_response_time of every request, the value the module
# counts.  Answers of a millisecond or less (from a server of this nginx),
# and answers of the mock upstream, some delayed by 120 ms and 300 ms:
# p50, p95 and p99 of the status JSON are
# within 1/8 of the exact percentiles (the rank ceil(q * n) of the logged
# latencies), no longer interpolated within coarse buckets (answers of about
# 1 ms used to show p50 25 ms); every exported bucket bound counts exactly
# the answers at or below it, in the JSON and in the Prometheus histogram;
# the count and the sum are the log's.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRClient qw(ask wait_for status_get);
use POSIX qw(ceil);

my $t = AIRTest->new;
$t->upstream('up');

$t->write_file('bundles/l.yaml', "name: l\nversion: \"1\"\n"
               . "upstream: 127.0.0.1:" . $t->port('up') . "\n"
               . "model: m\n---\nname: f\nversion: \"1\"\n"
               . "upstream: 127.0.0.1:" . $t->port('self') . "\n"
               . "model: m\n");

$t->config(<<'C', workers => 2);
    ai_release_bundles %%DIR%%/bundles/*.yaml;

    log_format lat '$ai_release_workflow $upstream_response_time';

    ai_release_workflow lat {
        stable l@1;
        trip off;
    }

    ai_release_workflow fast {
        stable f@1;
        trip off;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%%;

        location /lat {
            ai_release lat;
            proxy_pass http://ai_release;
            access_log %%DIR%%/lat.log lat;
        }
        location /fast {
            ai_release fast;
            proxy_pass http://ai_release;
            access_log %%DIR%%/lat.log lat;
        }
        location = /status { ai_release_status; }
    }

    # the upstream of "fast": answers at once
    server {
        listen 127.0.0.1:%%PORT_self%%;
        access_log off;
        location / { return 200 '{"ok":true}'; }
    }
C
$t->start;

# the latencies nginx logged for a workflow, in ms
sub logged {
    my ($wf) = @_;
    open my $fh, '<', $t->dir . '/lat.log' or return ();
    my @ms;
    while (my $l = <$fh>) {
        my ($w, $v) = split ' ', $l;
        push @ms, sprintf('%.0f', $v * 1000)
            if $w eq $wf && $v =~ /^\d+\.\d{3}$/;
    }
    return @ms;
}

# the exact q-quantile: the latency of rank ceil(q * n)
sub exact {
    my ($q, @sorted) = @_;
    my $rank = ceil($q * @sorted - 1e-9);
    return $sorted[($rank < 1 ? 1 : $rank) - 1];
}

sub latency_of {
    my ($doc, $wf) = @_;
    my ($w) = grep { $_->{name} eq $wf } @{ $doc->{workflows} || [] };
    return (($w || {})->{bundles} || [])->[0]{latency} || {};
}

# one request at a time, each read to EOF (its latency is then counted)
sub traffic {
    my ($wf, $n, $delay) = @_;
    my $ok = 0;
    for (1 .. $n) {
        my $r = ask($t, "/$wf", headers => $delay
                    ? { 'X-Mock-Delay-Ms' => $delay } : {});
        $ok++ if $r->{status} == 200;
    }
    return $ok;
}

sub check {
    my ($wf, $what, $n) = @_;
    my ($doc, @ms);
    wait_for(10, sub {
        $doc = (status_get($t))[1] or return 0;
        @ms = logged($wf);
        return latency_of($doc, $wf)->{count} == $n && @ms == $n;
    });
    my $l = latency_of($doc, $wf);
    is($l->{count}, $n, "$what: $n answers counted");
    is(scalar @ms, $n, "$what: $n latencies logged");
    my @sorted = sort { $a <=> $b } @ms;
    my $sum = 0;
    $sum += $_ for @ms;
    is($l->{sum_ms}, $sum, "$what: sum_ms $sum is the log's");

    for my $q (qw(50 95 99)) {
        my $want = exact($q / 100, @sorted);
        my $got = $l->{"p${q}_ms"};
        my $err = $want ? abs($got - $want) / $want : $got;
        ok(defined $got && ($want ? $err < 1 / 8 : $got == 0),
           sprintf('%s: p%s %.2f ms, exact %d ms (error %.1f%%, < 12.5%%)',
                   $what, $q, $got // -1, $want, 100 * $err));
    }

    # the exported bounds: exact cumulative counts, here and in Prometheus
    my ($cum, @bad) = (0);
    my $prom = $t->get('/status?format=prometheus')->{content} // '';
    my %le;
    $le{$1} = $2 while $prom =~
        /^ai_release_upstream_latency_seconds_bucket\{workflow="\Q$wf\E",[^}]*le="([^"]+)"\} (\d+)$/mg;
    for my $b (@{ $l->{buckets} || [] }) {
        $cum += $b->{count};
        my $at = defined $b->{le_ms}
               ? grep { $_ <= $b->{le_ms} } @ms : scalar @ms;
        my $key = defined $b->{le_ms}
                ? sprintf('%.3f', $b->{le_ms} / 1000) : '+Inf';
        push @bad, "le_ms " . ($b->{le_ms} // 'null')
                   . ": JSON $cum, prometheus " . ($le{$key} // 'none')
                   . ", log $at"
            unless $cum == $at && ($le{$key} // -1) == $at;
    }
    ok(@{ $l->{buckets} || [] } && !@bad, "$what: each bucket bound counts "
       . 'the answers at or below it (JSON and Prometheus)')
        or diag(join "\n", @bad);
    return \@sorted;
}

# answers of a millisecond or less
is(traffic('fast', 40), 40, 'fast: 40 answers');
my $fast = check('fast', 'fast', 40);
ok($fast->[int(@$fast / 2)] <= 5, 'fast: most answers took at most 5 ms: '
   . "$fast->[0] .. $fast->[-1] ms");

# the mock upstream's, without and with delays
is(traffic('lat', 20), 20, 'lat: 20 answers without delay');
is(traffic('lat', 10, 120), 10, 'lat: 10 answers delayed 120 ms');
is(traffic('lat', 10, 300), 10, 'lat: 10 answers delayed 300 ms');
my $all = check('lat', 'lat: none, 120 ms and 300 ms', 40);
ok($all->[-1] >= 300, "lat: the slowest answer took $all->[-1] ms");

$t->done;
done_testing;
