#!/usr/bin/perl
# Names as long as a configuration may have them: a workflow name of the
# documented maximum (128 characters) with bundles whose ids are about 100
# characters (stable, two canaries, a fallback), a second such workflow,
# and a bundle whose id is 1,000 characters long.  nginx -t accepts them,
# so the status must give them back whole: the Prometheus text answers 200
# (it was a 500, "metrics do not fit in 32768 bytes", when its buffer was
# sized by the number of bundles, not by the length of their labels),
# passes "promtool check metrics", and has every series of every bundle
# with its full labels and the JSON's counts (the contract answers of the
# two bundles with an output contract, one of them the longest, too); so
# does ?workflow=NAME, and HEAD gives the length GET sends.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRClient qw(ask wait_for status_get);

my @CLASSES = qw(ok 5xx connect timeout invalid 429 slow contract rejected);
my @RESULTS = qw(ok status content_type max_bytes json required non_empty
                 model_prefix stream_end max_first_byte max_latency unread);

my $t = AIRTest->new;
$t->upstream('up');

# names of exactly $len characters
sub name_of {
    my ($head, $len) = @_;
    return $head . ('x' x ($len - length $head));
}

my $W1 = name_of('support-drafts-long-', 128);
my $W2 = name_of('summaries-long-', 128);
is(length $W1, 128, 'a workflow name of 128 characters');

# bundle name@version ids of about 100 characters, and one of 1,000
my %b = (
    s  => name_of('stable-bundle-', 97),
    c1 => name_of('canary-one-bundle-', 97),
    c2 => name_of('canary-two-bundle-', 97),
    f  => name_of('fallback-bundle-', 97),
    t  => name_of('two-stable-', 97),
    tc => name_of('two-canary-', 997),
);
my %id = map { $_ => "$b{$_}\@1.0" } keys %b;
my %contract = map { $id{$_} => 1 } qw(f tc);    # have an output_contract
is(length $id{s}, 101, 'bundle ids of 101 characters');
is(length $id{tc}, 1001, 'and one of 1001');

my $yaml = '';
for my $k (sort keys %b) {
    $yaml .= "---\nname: $b{$k}\nversion: \"1.0\"\n"
           . "upstream: 127.0.0.1:" . $t->port('up') . "\n"
           . "model: model-$k\n"
           . ($contract{ $id{$k} } ? "output_contract:\n  status: [200]\n"
                                   : '');
}
$t->write_file('bundles/all.yaml', $yaml);

$t->config(<<"C", workers => 2);
    ai_release_bundles %%DIR%%/bundles/*.yaml;

    ai_release_workflow $W1 {
        stable   $id{s};
        canary   $id{c1} 10%;
        canary   $id{c2} 20%;
        fallback $id{f};
        sticky   \$http_x_user_id;
    }

    ai_release_workflow $W2 {
        stable $id{t};
        canary $id{tc} 50%;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%%;

        location = /one { ai_release $W1; proxy_pass http://ai_release; }
        location = /two { ai_release $W2; proxy_pass http://ai_release; }
        location = /status { ai_release_status; }
    }
C

ok($t->test_config, 'nginx -t accepts the names');
$t->start;

# traffic to every bundle but the fallback: sticky users spread over the
# stable and the canaries
my %served;
for my $i (1 .. 40) {
    my $r = ask($t, '/one', headers => { 'X-User-Id' => "user$i" });
    $served{ $r->{bundle} }++ if $r->{status} == 200;
    $r = ask($t, '/two');
    $served{ $r->{bundle} }++ if $r->{status} == 200;
}
ok($served{ $id{s} } && $served{ $id{c1} } && $served{ $id{c2} }
   && $served{ $id{t} } && $served{ $id{tc} },
   'traffic reached the stable and the canaries of both workflows');

my ($res, $doc);
wait_for(10, sub {
    ($res, $doc) = status_get($t);
    my $n = 0;
    for my $w (@{ ($doc || {})->{workflows} || [] }) {
        $n += $_->{totals}{total} for @{ $w->{bundles} };
    }
    return $n >= 80;
});
ok($doc, 'the status JSON');
$doc ||= {};

############################################################################
# the Prometheus text

# samples: [name, {labels}, value]; undef for a line that does not parse
sub parse_prom {
    my ($text) = @_;
    my (@s, @bad);
    for my $line (split /\n/, $text) {
        next if $line =~ /^# (?:HELP|TYPE) / || $line eq '';
        my ($name, $lab, $v) =
            $line =~ /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/
            or do { push @bad, $line; next };
        my %l;
        my $rest = $lab // '';
        while ($rest =~ s/^(\w+)="((?:[^"\\]|\\.)*)",?//) { $l{$1} = $2 }
        push @bad, $line if $rest ne '' || $v !~ /^(?:\d+(?:\.\d+)?|\+Inf)$/;
        push @s, [$name, \%l, $v];
    }
    return (\@s, \@bad);
}

sub check_bundles {
    my ($what, $samples, @wfs) = @_;
    my (@missing, @wrong);
    for my $w (@wfs) {
        for my $b (@{ $w->{bundles} || [] }) {
            my %k = (workflow => $w->{name}, bundle => $b->{bundle},
                     digest => $b->{digest_short}, variant => $b->{role});
            my $id = substr($w->{name}, 0, 20) . '.../'
                   . substr($b->{bundle}, 0, 20) . '...';
            my $of = sub {
                my ($name, %more) = @_;
                my %want = (%k, %more);
                return grep {
                    my $s = $_;
                    $s->[0] eq $name && keys %{ $s->[1] } == keys %want
                        && !grep { ($s->[1]{$_} // "\0") ne $want{$_} }
                           keys %want
                } @$samples;
            };
            for my $o (@CLASSES) {
                my @s = $of->('ai_release_requests_total', outcome => $o);
                push @missing, "$id requests_total $o" if @s != 1;
                push @wrong, "$id requests_total $o"
                    if @s && $s[0][2] != $b->{totals}{$o};
            }
            # the bucket series carry le too: match them by the others
            my @le = grep {
                my $s = $_;
                $s->[0] eq 'ai_release_upstream_latency_seconds_bucket'
                    && !grep { ($s->[1]{$_} // "\0") ne $k{$_} } keys %k
            } @$samples;
            push @missing, "$id latency buckets (" . scalar(@le) . ')'
                if @le != @{ $b->{latency}{buckets} };
            my ($inf) = grep { $_->[1]{le} eq '+Inf' } @le;
            push @wrong, "$id le=+Inf"
                unless $inf && $inf->[2] == $b->{latency}{count};
            for my $m (qw(sum count)) {
                push @missing, "$id latency _$m"
                    if $of->("ai_release_upstream_latency_seconds_$m") != 1;
            }
            for my $st (qw(closed open half-open)) {
                push @missing, "$id breaker_state $st"
                    if $of->('ai_release_breaker_state', state => $st) != 1;
            }
            for my $kind (qw(configured effective)) {
                push @missing, "$id weight_ratio $kind"
                    if $of->('ai_release_weight_ratio', kind => $kind) != 1;
            }
            push @missing, "$id trips_total"
                if $of->('ai_release_trips_total') != 1;
            # where the bundle has a contract: each result once
            for my $r (@RESULTS) {
                my $n = $of->('ai_release_contract_answers_total',
                              result => $r);
                push @missing, "$id contract_answers_total $r: $n"
                    if $n != ($contract{ $b->{bundle} } ? 1 : 0);
            }
            push @wrong, "$id contract_answers_total without a contract"
                if !$contract{ $b->{bundle} } && grep {
                    my $s = $_;
                    $s->[0] eq 'ai_release_contract_answers_total'
                        && !grep { ($s->[1]{$_} // "\0") ne $k{$_} } keys %k
                } @$samples;
        }
    }
    ok(!@missing, "$what: every series of every bundle, with its labels "
       . 'whole') or diag(join "\n", @missing[0 .. ($#missing > 9 ? 9 : $#missing)]);
    ok(!@wrong, "$what: the counts of the JSON")
        or diag(join "\n", @wrong);
}

my $p = $t->get('/status?format=prometheus');
is($p->{status}, 200, 'prometheus: 200 with names of the maximum length');
my $prom = $p->{content} // '';
unlike($t->error_log, qr/metrics do not fit/, 'no "metrics do not fit"');

SKIP: {
    skip 'promtool check metrics: /usr/bin/promtool is missing '
         . '(apt-get install prometheus)', 1 unless -x '/usr/bin/promtool';
    my $f = $t->write_file('metrics.txt', $prom);
    my $out = `/usr/bin/promtool check metrics < '$f' 2>&1`;
    is($? >> 8, 0, 'promtool check metrics accepts the text') or diag($out);
}

my ($samples, $bad) = parse_prom($prom);
ok(@$samples > 200, scalar(@$samples) . ' samples in '
   . length($prom) . ' bytes');
is(scalar @$bad, 0, 'every line parses') or diag(join "\n", @$bad[0 .. 2]);

my %wfs = map { $_ => 1 } map { $_->[1]{workflow} // () } @$samples;
is_deeply([ sort keys %wfs ], [ sort $W1, $W2 ],
          'the two workflows, their names whole');
my %bundles = map { $_ => 1 } map { $_->[1]{bundle} // () } @$samples;
is_deeply([ sort keys %bundles ], [ sort values %id ],
          'the six bundles, their ids whole (101 and 1001 characters)');
is(scalar @{ $doc->{workflows} || [] }, 2, 'the JSON has both workflows');
is(join(' ', map { length $_->{bundle} } grep { $_->{contract} }
             map { @{ $_->{bundles} || [] } } @{ $doc->{workflows} || [] }),
   '101 1001', 'a contract in the JSON of the two bundles that have one');
check_bundles('prometheus', $samples, @{ $doc->{workflows} || [] });

# one workflow of the two
{
    my $r = $t->get("/status?format=prometheus&workflow=$W1");
    is($r->{status}, 200, 'prometheus ?workflow=<128 characters>: 200');
    my ($s1, $bad1) = parse_prom($r->{content} // '');
    is(scalar @$bad1, 0, '?workflow=: every line parses');
    my %w = map { $_ => 1 } map { $_->[1]{workflow} // () } @$s1;
    is_deeply([ keys %w ], [ $W1 ], '?workflow=: that workflow only');
    check_bundles('?workflow=', $s1,
                  grep { $_->{name} eq $W1 } @{ $doc->{workflows} || [] });
}

# HEAD: the length GET sends (the same state: no traffic in between)
{
    my $g = $t->get('/status?format=prometheus');
    my $h = $t->request('HEAD', '/status?format=prometheus');
    is($h->{status}, 200, 'HEAD: 200');
    is($h->{headers}{'content-length'}, length($g->{content} // ''),
       'HEAD: Content-Length is the length of the GET body');
}

# the JSON and the HTML keep working with the same names
is($res->{status}, 200, 'JSON: 200');
is($t->get('/status?format=html')->{status}, 200, 'HTML: 200');

$t->done;
done_testing;
