#!/usr/bin/perl
# The alerting rules of conf-examples/prometheus: "promtool check rules" and
# "promtool test rules" (every alert fires where it should and stays silent
# where it should not) pass, and a rules file with one alert broken fails
# them.  Against a real nginx with a canary workflow: every metric the rules
# read that the module exports today is in its Prometheus text, with every
# label and label value the rules match on; ai_release_breaker_open_info has
# a series only for a bundle whose breaker is not closed, labelled with the
# reason the status JSON gives (consecutive for a canary tripped by 500s,
# manual for a trip through the API), and none once it is reset; and the
# rules, fed that very scrape, fire exactly the alerts of that state.
#
# The workflow "support" has a drift rule (observe, never judged here), so
# ai_release_drift_breached is exported and checked; the metric of work in
# progress (ai_release_rollout_state of progressive rollouts) is checked
# only when the module exports it.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRClient qw(ask_many wait_for status_get http wf_of bundle_of);
use File::Copy qw(copy);

my $BODY     = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';
my $PROMTOOL = '/usr/bin/promtool';
my $DIR      = "$FindBin::Bin/../conf-examples/prometheus";
my $RULES    = "$DIR/ai-release.rules.yml";
my $TESTS    = "$DIR/ai-release.rules.test.yml";

# the metrics of work being built in parallel: checked when exported
my %WIP = map { $_ => 1 } qw(ai_release_rollout_state);

my $HAVE_PROMTOOL = -x $PROMTOOL;
my $NO_PROMTOOL = "$PROMTOOL is missing (apt-get install prometheus; "
                . 'make deps installs it)';

############################################################################
# helpers

sub slurp_file {
    my ($f) = @_;
    open my $fh, '<', $f or die "$f: $!";
    local $/;
    return <$fh>;
}

sub run {
    my (@cmd) = @_;
    my $cmd = join ' ', map { "'$_'" } @cmd;
    my $out = `$cmd 2>&1`;
    return ($? >> 8, $out);
}

# the expressions of the rules file: "expr: TEXT" or "expr: >-" and the
# lines indented below it
sub rule_exprs {
    my ($text) = @_;
    my (@e, $cur, $ind);
    for my $line (split /\n/, $text) {
        if (defined $cur) {
            if ($line =~ /^(\s*)\S/ && length $1 > $ind) {
                $cur .= " $line";
                next;
            }
            push @e, $cur;
            undef $cur;
        }
        my ($lead, $v) = $line =~ /^(\s*)(?:-\s+)?expr:\s*(.*)$/
            or next;
        if ($v =~ /^[>|]-?$/) {
            ($cur, $ind) = ('', length $lead);
        } else {
            push @e, $v;
        }
    }
    push @e, $cur if defined $cur;
    return @e;
}

# samples of a Prometheus text: [name, {labels}, value]
sub samples_of {
    my ($text) = @_;
    my @s;
    for my $line (split /\n/, $text) {
        next if $line =~ /^#/ || $line !~ /\S/;
        my ($name, $lab, $v) = $line =~ /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/
            or next;
        my %l;
        while (($lab // '') =~ /(\w+)="((?:[^"\\]|\\.)*)"/g) { $l{$1} = $2 }
        push @s, [$name, \%l, $v];
    }
    return @s;
}

sub scrape {
    my ($t, $query) = @_;
    my ($r) = status_get($t, '?format=prometheus' . ($query // ''));
    return $r->{content} // '';
}

sub open_info {
    my ($text) = @_;
    return join ' ', sort map {
        my $l = $_->[1];
        "$l->{workflow}/$l->{bundle}/$l->{digest}/$l->{variant}"
        . "/reason=$l->{reason}=$_->[2]"
    } grep { $_->[0] eq 'ai_release_breaker_open_info' } samples_of($text);
}

############################################################################
# promtool check rules, test rules, and a broken alert failing them

SKIP: {
    skip "promtool: $NO_PROMTOOL", 4 unless $HAVE_PROMTOOL;

    my ($rc, $out) = run($PROMTOOL, 'check', 'rules', $RULES);
    is($rc, 0, 'promtool check rules ai-release.rules.yml') or diag($out);
    my ($n) = $out =~ /SUCCESS: (\d+) rules found/;
    my @alerts = slurp_file($RULES) =~ /^\s*-\s+alert:\s*(\S+)/mg;
    is($n, scalar @alerts, "it finds the $n rules, all alerts ("
       . join(' ', @alerts) . ')');

    ($rc, $out) = run($PROMTOOL, 'test', 'rules', $TESTS);
    is($rc, 0, 'promtool test rules ai-release.rules.test.yml') or diag($out);

    # the same tests on a copy of the rules whose stable alert looks at
    # the canaries' breakers: the firing and the silent cases catch it
    my $t0 = AIRTest->new;
    my $broken = slurp_file($RULES);
    $broken =~ s/ai_release_breaker_open_info\{variant="stable"\}/
                 ai_release_breaker_open_info{variant!="fallback"}/x
        or die 'no AIReleaseStableTripped expression to break';
    $t0->write_file('ai-release.rules.yml', $broken);
    copy($TESTS, $t0->dir . '/ai-release.rules.test.yml') or die $!;
    ($rc, $out) = run($PROMTOOL, 'test', 'rules',
                      $t0->dir . '/ai-release.rules.test.yml');
    ok($rc != 0 && $out =~ /AIReleaseStableTripped/,
       'a rules file with AIReleaseStableTripped broken fails the tests')
        or diag($out);
}

############################################################################
# nginx: a workflow with a canary, stable and fallback; the canary has an
# output contract; its upstream's health is the mock's control file

my $t = AIRTest->new;
$t->upstream($_) for qw(stable canary fallback);

my $yaml = '';
for my $b (['a', 1, 'stable', ''],
           ['a', 2, 'canary', "output_contract:\n  json: true\n"],
           ['a', 3, 'fallback', ''],
           ['q', 1, 'stable', ''])
{
    my ($n, $v, $up, $extra) = @$b;
    $yaml .= "---\nname: $n\nversion: \"$v\"\n"
           . "upstream: 127.0.0.1:" . $t->port($up) . "\n"
           . "model: model-$n-$v\n$extra";
}
$t->write_file('bundles/all.yaml', $yaml);

$t->config(<<'C', workers => 2);
    ai_release_bundles %%DIR%%/bundles/*.yaml;

    ai_release_workflow support {
        stable   a@1;
        canary   a@2 50%;
        fallback a@3;
        sticky   $http_x_user_id;
        trip     consecutive=3 min_requests=1000 cooldown=10m;
        format   openai-chat;
        drift    output_tokens=1.5x min_answers=1000 mode=observe;
    }

    ai_release_workflow quiet {
        stable q@1;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%%;

        location /support { ai_release support; proxy_pass http://ai_release; }
        location /quiet   { ai_release quiet;   proxy_pass http://ai_release; }

        location = /status { ai_release_status; }
        location /api/     { ai_release_api; }
    }
C
$t->start;

my @users = map { "user-$_" } 1 .. 40;

my @r = ask_many($t, [ map { ['/support', { 'X-User-Id' => $_ }, $BODY] }
                       @users ]);
is(scalar(grep { $_->{status} == 200 } @r), 40, 'healthy: 40 answers 200');

############################################################################
# healthy: the family, no series

my $prom = scrape($t);
like($prom, qr/^\# \s HELP \s ai_release_breaker_open_info \s \S.*\n
               ^\# \s TYPE \s ai_release_breaker_open_info \s gauge$/mx,
     'breaker_open_info: HELP, and TYPE gauge');
is(open_info($prom), '', 'every breaker closed: no breaker_open_info series');

############################################################################
# the canary's upstream answers 500: three in a row trip it (consecutive)

$t->upstream_control('canary', "status=500\n");
ask_many($t, [ map { ['/support', { 'X-User-Id' => $_ }, $BODY] } @users ]);

my $doc;
wait_for(10, sub {
    (undef, $doc) = status_get($t);
    return (bundle_of(wf_of($doc, 'support'), 'a@2')->{breaker}{state} // '')
           eq 'open';
});
my %b = map { $_ => bundle_of(wf_of($doc, 'support'), $_) } qw(a@1 a@2 a@3);
is($b{'a@2'}{breaker}{state}, 'open', 'the canary tripped');
is($b{'a@2'}{breaker}{last_trip_reason}, 'consecutive',
   'JSON: last_trip_reason consecutive');

$prom = scrape($t);
is(open_info($prom),
   "support/a\@2/$b{'a@2'}{digest_short}/canary/reason=consecutive=1",
   'breaker_open_info: the canary alone, reason="consecutive", 1');

############################################################################
# stable tripped through the API: reason "manual", traffic to the fallback

{
    my ($r, $j) = http($t, 'POST', '/api/workflows/support/trip',
                       '{"bundle": "a@1"}');
    is($r->{status}, 200, 'API: trip a@1');
}
(undef, $doc) = status_get($t);
is(bundle_of(wf_of($doc, 'support'), 'a@1')->{breaker}{last_trip_reason},
   'manual', 'JSON: stable last_trip_reason manual');

$prom = scrape($t);
is(open_info($prom),
   join(' ', sort
        "support/a\@1/$b{'a@1'}{digest_short}/stable/reason=manual=1",
        "support/a\@2/$b{'a@2'}{digest_short}/canary/reason=consecutive=1"),
   'breaker_open_info: stable reason="manual", the canary still '
   . 'reason="consecutive"');
unlike(scrape($t, '&workflow=quiet'), qr/^ai_release_breaker_open_info/m,
       '?workflow=quiet: no breaker_open_info series of the other workflow');

SKIP: {
    skip "promtool check metrics: $NO_PROMTOOL", 1 unless $HAVE_PROMTOOL;
    my $f = $t->write_file('metrics.txt', $prom);
    my $out = `'$PROMTOOL' check metrics < '$f' 2>&1`;
    is($? >> 8, 0, 'promtool check metrics accepts the text with '
       . 'breaker_open_info series') or diag($out);
}

############################################################################
# every metric the rules read, with the labels and values they match on

{
    my @samples = samples_of($prom);
    my (%labels, %values);
    for my $s (@samples) {
        for my $k (keys %{ $s->[1] }) {
            $labels{ $s->[0] }{$k} = 1;
            $values{ $s->[0] }{$k}{ $s->[1]{$k} } = 1;
        }
    }
    my %family = map { $_ => 1 } $prom =~ /^# TYPE (\S+)/mg;

    my @exprs = rule_exprs(slurp_file($RULES));
    is(scalar @exprs, scalar(() = slurp_file($RULES) =~ /^\s*-\s+alert:/mg),
       'an expression read for every alert');

    my (%used, @bad, @wip);
    for my $e (@exprs) {
        $used{$1} = 1 while $e =~ /\b(ai_release_\w+)/g;
    }
    for my $m (sort keys %used) {
        if ($WIP{$m} && !$family{$m}) {
            push @wip, $m;
            next;
        }
        push @bad, "$m: not exported" unless $family{$m};
    }
    for my $e (@exprs) {
        while ($e =~ /\b(ai_release_\w+)\{([^}]*)\}/g) {
            my ($m, $sel) = ($1, $2);
            next if $WIP{$m} && !$family{$m};
            while ($sel =~ /(\w+)\s*(?:=~|!~|!=|=)\s*"([^"]*)"/g) {
                my ($k, $v) = ($1, $2);
                if (!$labels{$m}{$k}) {
                    push @bad, "$m: no label $k";
                    next;
                }
                push @bad, "$m: no $k=\"$_\""
                    for grep { !$values{$m}{$k}{$_} } split /\|/, $v;
            }
        }
    }
    ok(!@bad, 'the metrics the rules read are exported, with the labels '
       . 'and values they match on: ' . join(' ', sort keys %used))
        or diag(join "\n", @bad);
    note("not exported yet (work in progress), not checked: @wip") if @wip;
}

############################################################################
# the rules on this scrape, held for 30 minutes: exactly the alerts of
# this state fire

SKIP: {
    skip "promtool test rules: $NO_PROMTOOL", 1 unless $HAVE_PROMTOOL;

    my $inst = '127.0.0.1:' . $t->port('nginx');
    my $series = "      - series: 'up{job=\"ai-release\",instance=\"$inst\"}'\n"
               . "        values: '1x30'\n";
    for my $s (samples_of($prom)) {
        my %l = (%{ $s->[1] }, job => 'ai-release', instance => $inst);
        my $v = $s->[2];
        $v = 0 if $v =~ /^[+-]?Inf$/i;
        $series .= "      - series: '$s->[0]\{"
                 . join(',', map { "$_=\"$l{$_}\"" } sort keys %l)
                 . "}'\n        values: '${v}x30'\n";
    }
    my ($d1, $d2) = ($b{'a@1'}{digest_short}, $b{'a@2'}{digest_short});
    my $f = $t->write_file('scrape.test.yml', <<"Y");
rule_files:
  - $RULES
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
$series
    promql_expr_test:
      - expr: count by (alertname, workflow, bundle, digest, variant, reason) (ALERTS{alertstate="firing"})
        eval_time: 20m
        exp_samples:
          - labels: '{alertname="AIReleaseBundleTripped",workflow="support",bundle="a\@2",digest="$d2",variant="canary",reason="consecutive"}'
            value: 1
          - labels: '{alertname="AIReleaseStableTripped",workflow="support",bundle="a\@1",digest="$d1",variant="stable",reason="manual"}'
            value: 1
          - labels: '{alertname="AIReleaseOnFallback",workflow="support",bundle="a\@3",digest="$b{'a@3'}{digest_short}",variant="fallback"}'
            value: 1
Y
    my ($rc, $out) = run($PROMTOOL, 'test', 'rules', $f);
    is($rc, 0, 'the rules on this scrape: the canary (consecutive) and '
       . 'stable (manual) tripped, the workflow on its fallback, nothing '
       . 'else') or diag($out);
}

############################################################################
# reset: the series goes with the open breaker

{
    my ($r) = http($t, 'POST', '/api/workflows/support/reset',
                   '{"bundle": "a@1"}');
    is($r->{status}, 200, 'API: reset a@1');
}
is(open_info(scrape($t)),
   "support/a\@2/$b{'a@2'}{digest_short}/canary/reason=consecutive=1",
   'after the reset of stable: only the canary\'s series');

$t->done;
done_testing;
