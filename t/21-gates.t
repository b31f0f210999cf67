#!/usr/bin/perl
# Eval gates and the lock file, in nginx and in the ai-release tool: one
# table of cases, each run through both `nginx -t` (the bundle under test is
# a canary with a weight above 0) and `ai-release gate`, which must report
# the same failures; then what a gate does to start, reload and traffic in
# each ai_release_eval_gate mode, and ai_release_lock against
# `ai-release lock --check`.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest qw(slurp);
use AIRCli;
use JSON::PP ();
use POSIX qw(strftime);
use Time::Local qw(timegm);

my $cli = cli_path();

plan skip_all => "$cli is not built (make cli)" unless -x $cli;

my $t = AIRTest->new;
my $dir = $t->dir;
$t->upstream($_) for qw(stable canary);

my $R = 'evals/sd-4.json';                 # as written in the manifest
my $CANARY = "$dir/bundles/canary.yaml";
my $STABLE = "$dir/bundles/stable.yaml";

############################################################################
# helpers

# runs the tool: (exit code, stdout, stderr)
sub run { cli_run($cli, $dir, @_) }

sub iso { strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($_[0])) }

sub digest_of {
    my ($manifest) = @_;
    my ($code, $out, $err) = run('digest', $manifest);
    die "ai-release digest $manifest: $code $err" if $code != 0;
    my ($d) = $out =~ /^\S+ (sha256:[0-9a-f]{64})$/m or die "digest: $out";
    return $d;
}

my %DEFAULT_GATES = (
    pass_rate    => '">= 0.95"',
    regressions  => '"== 0"',
    refusal_rate => '"<= 0.02"',
);

# the manifest of sd@VERSION; gates => { metric => expression as YAML },
# eval => 0 for none
sub manifest {
    my (%o) = @_;
    my $v = $o{version} // '4';
    my $up = $o{upstream} // 'canary';
    my $y = "name: sd\nversion: \"$v\"\n"
          . "upstream: 127.0.0.1:" . $t->port($up) . "\n"
          . "model: model-$v\n"
          . "prompt:\n  id: draft\n  file: prompts/draft.txt\n";
    return $y if defined $o{eval} && !$o{eval};
    my $g = $o{gates} // \%DEFAULT_GATES;
    $y .= "eval:\n"
        . "  set: " . ($o{set} // 'sd-golden-v7') . "\n"
        . "  report: " . ($o{report} // "evals/sd-$v.json") . "\n"
        . "  max_age: " . ($o{max_age} // '14d') . "\n"
        . "  gates:\n"
        . join('', map { "    $_: $g->{$_}\n" } sort keys %$g);
    return $y;
}

# a report; metrics and fields as given (undef deletes a field)
sub report_json {
    my (%o) = @_;
    my %r = (
        bundle      => 'sd@4',
        digest      => undef,
        eval_set    => 'sd-golden-v7',
        finished_at => iso(time - 86400),
        runner      => 'evalkit 3.1',
        metrics     => { pass_rate => 0.97, regressions => 0,
                         refusal_rate => 0.01 },
    );
    for my $k (keys %o) {
        if (defined $o{$k}) { $r{$k} = $o{$k} } else { delete $r{$k} }
    }
    return JSON::PP->new->canonical->encode(\%r);
}

$t->write_file('bundles/prompts/draft.txt', "Draft a reply.\n");
$t->write_file('bundles/stable.yaml',
               manifest(version => '1', upstream => 'stable'));
my $stable_digest = digest_of($STABLE);
$t->write_file('bundles/evals/sd-1.json',
               report_json(bundle => 'sd@1', digest => $stable_digest));

$t->write_file('bundles/canary.yaml', manifest());
my $canary_digest = digest_of($CANARY);
isnt($canary_digest, $stable_digest, 'the two bundles differ');

my $good_report = report_json(digest => $canary_digest);

# nginx.conf: workflow w, stable sd@1, canary sd@4 (or another) at a weight
sub conf {
    my (%o) = @_;
    my $weight = $o{weight} // '100%';
    my $canary = $o{canary} // 'sd@4';
    my $files = $o{files} // [qw(stable canary)];
    my $http = '';
    $http .= "    ai_release_eval_gate $o{mode};\n" if defined $o{mode};
    $http .= "    ai_release_lock $o{lock};\n" if defined $o{lock};
    $http .= "    ai_release_bundles %%DIR%%/bundles/$_.yaml;\n" for @$files;
    my $wf = defined $o{wf_mode} ? "        ai_release_eval_gate $o{wf_mode};\n"
                                 : '';
    my $text = $t->config(<<"C", log_level => $o{log_level} // 'notice');
$http
    ai_release_workflow w {
$wf        stable sd\@1;
        canary $canary $weight;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%%;

        location / {
            ai_release w;
            proxy_pass http://ai_release;
        }
    }
C
    return line_of($text, qr/^\s*canary /);
}

# the text of each message of LEVEL in nginx's output, in either form:
# "nginx: [emerg] MSG" or "DATE TIME [emerg] PID#TID: MSG" (an error log of
# stderr, as Debian's nginx has by default)
sub nginx_messages {
    my ($text, $level) = @_;
    $level //= 'emerg';
    my @m;
    for (split /\n/, $text) {
        push @m, $1 if /^(?:nginx: |\S+ \S+ )\[\Q$level\E\] (?:\d+#\d+: )?(.*)$/;
    }
    return @m;
}

sub line_of {
    my ($text, $re) = @_;
    my @l = split /\n/, $text;
    for my $i (0 .. $#l) {
        return $i + 1 if $l[$i] =~ $re;
    }
    die "no line matches $re";
}

# the 1-based line and column of a gate's value in the canary manifest
sub position_of {
    my ($metric) = @_;
    my @l = split /\n/, slurp($CANARY);
    for my $i (0 .. $#l) {
        if ($l[$i] =~ /^(\s*\Q$metric\E: )/) {
            return ($i + 1, length($1) + 1);
        }
    }
    die "no gate $metric";
}

############################################################################
# the table: nginx -t and ai-release gate agree

my $OTHER_OLD = '2020-01-01T00:00:00Z';

sub short { substr($_[0], 0, 19) }

my @cases = (
    {
        name => 'a passing report',
        report => sub { $good_report },
        pass => 1,
    },
    {
        name => 'the report is missing',
        report => sub { undef },
        expect => ["report \"$R\" cannot be read: No such file or directory"],
    },
    {
        name => 'the report is not JSON',
        report => sub { "{\"bundle\": \"sd\@4\",\n" },
        expect => [qr/^report "\Q$R\E" is not valid JSON: .+ at line \d+, column \d+$/],
    },
    {
        name => 'the report is for another bundle',
        report => sub { report_json(digest => $canary_digest,
                                    bundle => 'sd@3') },
        expect => ["report \"$R\" is for bundle \"sd\@3\", not \"sd\@4\""],
    },
    {
        name => "the report's digest is another bundle's",
        report => sub { report_json(digest => $stable_digest) },
        expect => ["report \"$R\" tested digest " . short($stable_digest)
                   . ", but the bundle's digest is " . short($canary_digest)
                   . ": the evals did not test what ships"],
    },
    {
        name => 'another eval set',
        report => sub { report_json(digest => $canary_digest,
                                    eval_set => 'sd-golden-v6') },
        expect => ["report \"$R\" is for eval set \"sd-golden-v6\", not "
                   . "\"sd-golden-v7\""],
    },
    {
        name => 'older than max_age',
        report => sub { report_json(digest => $canary_digest,
                                    finished_at => $OTHER_OLD) },
        expect => ["report \"$R\" finished at $OTHER_OLD, more than max_age "
                   . "14d ago"],
    },
    {
        name => 'finished a minute in the future (clock skew)',
        report => sub { report_json(digest => $canary_digest,
                                    finished_at => iso(time + 60)) },
        pass => 1,
    },
    {
        # within max_age forever, were it not refused
        name => 'finished in 2099',
        report => sub { report_json(digest => $canary_digest,
                                    finished_at => '2099-01-01T00:00:00Z') },
        expect => ["report \"$R\" finished at 2099-01-01T00:00:00Z, "
                   . int((timegm(0, 0, 0, 1, 0, 2099) - time) / (365 * 86400))
                   . " years in the future (clock skew allowed: 5 minutes)"],
    },
    {
        name => 'a digest with a space, shown whole',
        report => sub { report_json(digest => "sha256: "
                                              . substr($canary_digest, 7)) },
        expect => ["report \"$R\" tested digest \"sha256: "
                   . substr($canary_digest, 7) . "\", which is not "
                   . "\"sha256:\" and 64 hex digits, but the bundle's digest "
                   . "is $canary_digest: the evals did not test what ships"],
    },
    (map {
        my ($op, $bound, $value, $neg) = @$_;
        +{
            name => "a failing \"$op\" gate",
            gates => { score => "\"$op $bound\"" },
            report => sub { report_json(digest => $canary_digest,
                                        metrics => { score => $value + 0 }) },
            expect => ["score $value $neg $bound ($R)"],
        }
    } (['>=', '0.95', '0.9',  '<'],
       ['>',  '0.5',  '0.5',  '<='],
       ['<=', '0.02', '0.03', '>'],
       ['<',  '10',   '12',   '>='],
       ['==', '0',    '2',    '!='],
       ['!=', '1',    '1',    '=='])),
    {
        # whole numbers print as written (once printed as "1e+01")
        name => 'a failing gate on a round number',
        report => sub { report_json(digest => $canary_digest,
                                    metrics => { pass_rate => 0.99,
                                                 regressions => 10,
                                                 refusal_rate => 0 }) },
        expect => ["regressions 10 != 0 ($R)"],
    },
    {
        name => 'a metric missing from the report',
        report => sub { report_json(digest => $canary_digest,
                                    metrics => { pass_rate => 0.99,
                                                 regressions => 0 }) },
        expect => ["refusal_rate is missing from report \"$R\""],
    },
    {
        name => 'several failures at once',
        report => sub { report_json(digest => $stable_digest,
                                    eval_set => 'sd-golden-v6',
                                    finished_at => $OTHER_OLD,
                                    metrics => { pass_rate => 0.5,
                                                 refusal_rate => 0.03 }) },
        expect => ["report \"$R\" tested digest " . short($stable_digest)
                   . ", but the bundle's digest is " . short($canary_digest)
                   . ": the evals did not test what ships",
                   "report \"$R\" is for eval set \"sd-golden-v6\", not "
                   . "\"sd-golden-v7\"",
                   "report \"$R\" finished at $OTHER_OLD, more than max_age "
                   . "14d ago",
                   "pass_rate 0.5 < 0.95 ($R)",
                   "regressions is missing from report \"$R\"",
                   "refusal_rate 0.03 > 0.02 ($R)"],
    },
    {
        name => 'a malformed gate expression',
        gates => { %DEFAULT_GATES, pass_rate => '"at least 0.95"',
                   regressions => '"=> 0"' },
        report => sub { $good_report },
        malformed => [
            [pass_rate => 'malformed gate expression "at least 0.95" for '
                          . 'metric "pass_rate": expected e.g. ">= 0.95"'],
            [regressions => 'malformed gate expression "=> 0" for metric '
                            . '"regressions": expected e.g. ">= 0.95"'],
        ],
    },
);

sub write_report {
    my ($text) = @_;
    if (defined $text) {
        $t->write_file("bundles/$R", $text);
    } else {
        unlink "$dir/bundles/$R";
    }
}

for my $c (@cases) {
    my $n = $c->{name};

    $t->write_file('bundles/canary.yaml',
                   manifest(%{ $c->{gates} ? { gates => $c->{gates} } : {} }));
    is(digest_of($CANARY), $canary_digest, "$n: eval is not in the digest")
        if $c->{gates};
    write_report($c->{report}->());
    my $cline = conf(weight => '50%');

    my ($nrc, $nout) = $t->test_config;
    my ($crc, $cout, $cerr) = run('gate', $CANARY);

    my $conf = "$dir/nginx.conf";
    my (@nginx, @tool, @other);

    if ($c->{malformed}) {
        for (nginx_messages($nout)) {
            if (/^ai_release bundle: (.*) in \Q$conf\E:(\d+)$/) {
                push @nginx, $1;
                is($2, $cline, "$n: nginx names the canary line") if @nginx == 1;
            }
        }
        @tool = split /\n/, $cerr;
        my @want = map { my ($l, $col) = position_of($_->[0]);
                         "$CANARY:$l:$col: $_->[1]" } @{ $c->{malformed} };
        is_deeply([sort @nginx], [sort @want],
                  "$n: nginx -t reports it with file:line:column");
        is_deeply([sort @tool], [sort @want],
                  "$n: ai-release gate reports it with file:line:column");

    } else {
        for (nginx_messages($nout)) {
            if (/^workflow "w": (\w+) (\S+) fails its eval gate: (.*) in \Q$conf\E:(\d+)$/) {
                push @nginx, $3;
                push @other, $_ if $1 ne 'canary' || $2 ne 'sd@4'
                                   || $4 != $cline;
            }
        }
        for (split /\n/, $cerr) {
            if (/^sd\@4 fails its eval gate: (.*)$/) {
                push @tool, $1;
            } else {
                push @other, "tool: $_";
            }
        }
        is_deeply(\@other, [], "$n: every message names canary sd\@4 and its"
                               . " nginx.conf line");
    }

    is_deeply([sort @nginx], [sort @tool],
              "$n: nginx -t and ai-release gate report the same failures");
    is(scalar @nginx, scalar @tool, "$n: as many of them");
    is($nrc != 0 ? 'fails' : 'passes', $crc != 0 ? 'fails' : 'passes',
       "$n: nginx -t fails exactly when ai-release gate exits non-zero");

    if ($c->{pass}) {
        is($nrc, 0, "$n: nginx -t passes") or diag($nout);
        is($crc, 0, "$n: ai-release gate exits 0");
        is($cout, "sd\@4 passes its eval gate\n", "$n: and says so");
        is_deeply(\@nginx, [], "$n: no failure reported");
        next;
    }

    isnt($nrc, 0, "$n: nginx -t fails");
    isnt($crc, 0, "$n: ai-release gate exits non-zero");
    is($crc, 1, "$n: exit 1");
    ok(scalar @nginx, "$n: the failures are named") or diag($nout);

    if ($c->{expect}) {
        my @want = @{ $c->{expect} };
        is(scalar @tool, scalar @want, "$n: the expected number of failures")
            or diag(join "\n", @tool);
        for my $w (@want) {
            local our $TODO = $c->{todo};
            ok((grep { ref $w ? $_ =~ $w : $_ eq $w } @tool),
               "$n: " . (ref $w ? "matches $w" : $w))
                or diag("nginx:\n$nout\ntool:\n$cerr");
        }
    }
}

############################################################################
# a canary at 0% is not checked; off, warn, require, on

$t->write_file('bundles/canary.yaml', manifest());
write_report(report_json(digest => $canary_digest,
                         metrics => { pass_rate => 0.5, regressions => 0,
                                      refusal_rate => 0 }));
my $FAIL = "pass_rate 0.5 < 0.95 ($R)";

{
    conf(weight => '0%');
    my ($rc, $out) = $t->test_config;
    is($rc, 0, 'a canary at 0% with a failing report: nginx -t passes')
        or diag($out);
    unlike($out, qr/fails its eval gate/, 'and no failure is reported');

    conf(weight => '0.01%');
    ($rc, $out) = $t->test_config;
    isnt($rc, 0, 'the same canary at 0.01%: nginx -t fails');
    like($out, qr/\[emerg\] .*workflow "w": canary sd\@4 fails its eval gate: \Q$FAIL\E in /,
         'naming the failure');

    conf(mode => 'off');
    ($rc, $out) = $t->test_config;
    is($rc, 0, 'ai_release_eval_gate off: a failing report passes nginx -t')
        or diag($out);
    unlike($out, qr/eval gate|eval section/, 'and nothing is said about it');

    write_report("not JSON at all");
    ($rc, $out) = $t->test_config;
    is($rc, 0, 'ai_release_eval_gate off: a report that is not JSON too')
        or diag($out);

    $t->write_file('bundles/canary.yaml',
                   manifest(gates => { pass_rate => '"at least 0.95"' }));
    ($rc, $out) = $t->test_config;
    is($rc, 0, 'ai_release_eval_gate off: the eval section is not even '
               . 'parsed (a malformed gate expression passes)')
        or diag($out);
    $t->write_file('bundles/canary.yaml', manifest());
    write_report(report_json(digest => $canary_digest,
                             metrics => { pass_rate => 0.5, regressions => 0,
                                          refusal_rate => 0 }));
}

# require: a bundle without an eval section is refused; the workflow's own
# "ai_release_eval_gate off" overrides it
$t->write_file('bundles/ungated.yaml', manifest(version => '5', eval => 0));
{
    my $files = [qw(stable canary ungated)];

    my $cline = conf(mode => 'require', canary => 'sd@5', files => $files);
    my ($rc, $out) = $t->test_config;
    isnt($rc, 0, 'require: an ungated canary fails nginx -t');
    like($out, qr/\[emerg\] .*workflow "w": canary sd\@5 has no eval section, and "ai_release_eval_gate require" refuses ungated bundles in \Q$dir\E\/nginx\.conf:$cline$/m,
         'require: the message names the bundle and the canary line');

    my ($code, $cout, $cerr) = run('gate', '--require',
                                   "$dir/bundles/ungated.yaml");
    is($code, 1, 'ai-release gate --require agrees: exit 1');
    is($cerr, "sd\@5 has no eval section (required)\n",
       'ai-release gate --require: the message');
    ($code, $cout, $cerr) = run('gate', "$dir/bundles/ungated.yaml");
    is($code, 0, 'ai-release gate without --require: exit 0');
    is($cerr, "sd\@5 has no eval section\n", 'with a notice');

    conf(mode => 'require', wf_mode => 'off', canary => 'sd@5',
         files => $files);
    ($rc, $out) = $t->test_config;
    is($rc, 0, 'the workflow\'s "ai_release_eval_gate off" overrides the '
               . 'http-level require') or diag($out);

    conf(mode => 'require', wf_mode => 'off', files => $files);
    ($rc, $out) = $t->test_config;
    is($rc, 0, 'and lets a failing canary through') or diag($out);

    conf(mode => 'off', wf_mode => 'require', canary => 'sd@5',
         files => $files);
    ($rc, $out) = $t->test_config;
    isnt($rc, 0, 'the workflow\'s "require" overrides the http-level off');

    conf(mode => 'on', canary => 'sd@5', files => $files);
    ($rc, $out) = $t->test_config;
    is($rc, 0, 'on: an ungated canary passes nginx -t') or diag($out);
    like($out, qr/\[notice\] .*workflow "w": canary sd\@5 has no eval section, serving it ungated/,
         'on: with a notice');
}

############################################################################
# start, reload and traffic

sub served_by {
    my $r = $t->get('/v1/chat');
    return ($r->{headers}{'x-served-by'} // "status $r->{status}",
            $r->{headers}{'x-ai-release'} // '');
}

sub canary_serves {
    my ($name) = @_;
    my $before = $t->upstream_count('canary');
    my @by = map { (served_by())[0] } 1 .. 5;
    is_deeply(\@by, [('canary') x 5], "$name: requests reach the canary");
    is($t->upstream_count('canary') - $before, 5,
       "$name: the canary upstream saw them");
}

sub log_since {
    my ($off) = @_;
    return substr($t->error_log, $off);
}

{
    write_report($good_report);
    conf();
    $t->start;
    my (undef, $hdr) = served_by();
    like($hdr, qr/^sd\@4; digest=\Q${\ short($canary_digest)}\E; variant=canary$/,
         'a passing gate: nginx started with the canary');
    canary_serves('passing gate');

    # a reload after the report went bad is refused
    write_report(report_json(digest => $canary_digest,
                             metrics => { pass_rate => 0.5, regressions => 0,
                                          refusal_rate => 0 }));
    my $off = length $t->error_log;
    ok(!$t->reload, 'a reload with a failing gate is refused');
    like(log_since($off), qr/\[emerg\] .*workflow "w": canary sd\@4 fails its eval gate: \Q$FAIL\E in \Q$dir\E\/nginx\.conf:\d+$/m,
         'error.log names the failure');
    canary_serves('after the refused reload, the old configuration');

    # warn: logged at warn, and the canary serves
    conf(mode => 'warn');
    $off = length $t->error_log;
    ok($t->reload, 'warn: a reload with a failing gate is accepted');
    like(log_since($off), qr/\[warn\] .*workflow "w": canary sd\@4 fails its eval gate: \Q$FAIL\E in /,
         'warn: the failure is logged at warn');
    unlike(log_since($off), qr/\[emerg\]/, 'warn: no emerg');
    canary_serves('warn');

    # on: an ungated canary serves, with a notice
    conf(canary => 'sd@5', files => [qw(stable canary ungated)],
         log_level => 'notice');
    $off = length $t->error_log;
    ok($t->reload, 'on: a reload with an ungated canary is accepted');
    like(log_since($off), qr/\[notice\] .*workflow "w": canary sd\@5 has no eval section, serving it ungated/,
         'on: a notice says it is ungated');
    my (undef, $h5) = served_by();
    like($h5, qr/^sd\@5; .*variant=canary$/, 'on: the ungated canary serves');
    canary_serves('ungated canary');

    # require refuses it on reload; the old configuration keeps serving
    conf(mode => 'require', canary => 'sd@5',
         files => [qw(stable canary ungated)]);
    $off = length $t->error_log;
    ok(!$t->reload, 'require: a reload with an ungated canary is refused');
    like(log_since($off), qr/canary sd\@5 has no eval section, and "ai_release_eval_gate require" refuses ungated bundles/,
         'require: error.log says why');
    (undef, $h5) = served_by();
    like($h5, qr/^sd\@5; /, 'require: the old configuration keeps serving');

    $t->stop;
}

############################################################################
# the lock file: ai_release_lock and ai-release lock --check agree

{
    $t->write_file('bundles/canary.yaml', manifest());
    my ($code, $lock, $err) = run('lock', $STABLE, $CANARY);
    is($code, 0, 'ai-release lock exits 0');
    my $LOCK = $t->write_file('bundles.lock', $lock);

    # the gates are not what this is about
    conf(mode => 'off', lock => $LOCK);
    my ($rc, $out) = $t->test_config;
    is($rc, 0, 'ai_release_lock with a fresh lock: nginx -t passes')
        or diag($out);
    ($code, $out, $err) = run('lock', '--check', $LOCK, $STABLE, $CANARY);
    is($code, 0, 'ai-release lock --check: exit 0');

    my $lock_line = line_of(slurp("$dir/nginx.conf"), qr/ai_release_lock /);

    # nginx's messages: "MESSAGE in nginx.conf:LINE" at the lock directive
    my $nginx_msgs = sub {
        my ($text) = @_;
        my @m;
        for (nginx_messages($text)) {
            push @m, $1 if /^(bundle ".*) in \Q$dir\E\/nginx\.conf:\Q$lock_line\E$/;
        }
        return @m;
    };

    # the prompt edited in place, without a new version
    $t->write_file('bundles/prompts/draft.txt', "Draft a longer reply.\n");
    ($rc, $out) = $t->test_config;
    isnt($rc, 0, 'an edited prompt file without a new version: nginx -t fails');
    my @n = $nginx_msgs->($out);
    ($code, undef, $err) = run('lock', '--check', $LOCK, $STABLE, $CANARY);
    is($code, 1, 'ai-release lock --check: exit 1');
    my @c = split /\n/, $err;
    is(scalar @n, 2, 'nginx: both bundles (they share the prompt) are named')
        or diag($out);
    like($_, qr/^bundle "sd\@[14]" changed without a new version: prompt\.file changed \(prompts\/draft\.txt\); give it a new version/,
         'nginx: names prompt.file') for @n;
    is_deeply([sort @n], [sort @c],
              'nginx -t and ai-release lock --check say the same');

    # a bundle missing from the lock
    $t->write_file('bundles/prompts/draft.txt', "Draft a reply.\n");
    conf(mode => 'off', lock => $LOCK, canary => 'sd@5',
         files => [qw(stable canary ungated)]);
    ($rc, $out) = $t->test_config;
    isnt($rc, 0, 'a bundle missing from the lock: nginx -t fails');
    @n = $nginx_msgs->($out);
    my $U = "$dir/bundles/ungated.yaml";
    ($code, undef, $err) = run('lock', '--check', $LOCK, $STABLE, $CANARY, $U);
    is($code, 1, 'ai-release lock --check: exit 1');
    @c = split /\n/, $err;
    is_deeply(\@n, ["bundle \"sd\@5\" is not in the lock file \"$LOCK\": add "
                    . "it with \"ai-release lock MANIFEST... > $LOCK\""],
              'nginx: the missing bundle, and how to add it') or diag($out);
    is_deeply(\@c, \@n, 'ai-release lock --check says the same');
}

$t->done(allow => qr/fails its eval gate|refuses ungated bundles/);
done_testing;
