#!/usr/bin/perl
# The ai-release command-line tool (build/ai-release): digest, lint, gate,
# lock and lock --check, their messages, exit codes and --json output.  No
# nginx is started: the tool runs on manifests in a temporary directory.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest qw(slurp);
use AIRCli;
use Digest::SHA qw(sha256_hex);
use JSON::PP ();
use POSIX qw(strftime);
use Time::Local qw(timegm);

my $cli = cli_path();

plan skip_all => "$cli is not built (make cli)" unless -x $cli;

my $t = AIRTest->new;
my $dir = $t->dir;
my $json = JSON::PP->new->utf8;

# runs the tool in the test directory: (exit code, stdout, stderr)
sub run { cli_run($cli, $dir, @_) }

sub decode {
    my ($text) = @_;
    my $d = eval { $json->decode($text) };
    diag("not JSON: $@\n$text") unless $d;
    return $d;
}

sub iso { strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($_[0])) }

############################################################################
# usage

{
    my ($code, $out, $err) = run('--version');
    is($code, 0, '--version exits 0');
    like($out, qr/^ai-release \d+\.\d+\.\d+\n\z/, '--version prints it');

    ($code, $out) = run('--help');
    is($code, 0, '--help exits 0');
    like($out, qr/^usage: ai-release .*\bdigest\b.*\blint\b.*\bgate\b.*\block\b/s,
         '--help lists the commands');
    is((run('-h'))[0], 0, '-h exits 0');

    ($code, $out, $err) = run();
    is($code, 2, 'no command: exit 2');
    like($err, qr/no command given/, 'and says so');

    ($code, $out, $err) = run('deploy', 'x.yaml');
    is($code, 2, 'an unknown command: exit 2');
    like($err, qr/unknown command "deploy"/, 'and says so');

    ($code, $out, $err) = run('digest');
    is($code, 2, 'digest without a manifest: exit 2');
    like($err, qr/no manifest given/, 'and says so');

    ($code, $out, $err) = run('digest', '--require', 'x.yaml');
    is($code, 2, 'an option of another command: exit 2');
    like($err, qr/unknown option "--require"/, 'and says so');

    ($code, $out, $err) = run('gate', 'x.yaml', '--report-dir');
    is($code, 2, '--report-dir without a value: exit 2');

    # output that cannot be written (a full disk): exit 2, and a message
    for my $args (['--help'], ['--version'], ['lint', '--help']) {
        ($code, $out, $err) = cli_run('/bin/sh', $dir, '-c',
                                      'exec "$0" "$@" > /dev/full', $cli,
                                      @$args);
        is($code, 2, "@$args > /dev/full: exit 2");
        is($err, "ai-release: cannot write the output: No space left on "
                 . "device\n", "@$args > /dev/full: says so on stderr");
    }
}

############################################################################
# digest: the README's canonical form

my $prompt = "Summarise the ticket.\n";
$t->write_file('bundles/prompts/p.txt', $prompt);
$t->write_file('bundles/sum.yaml', <<'Y');
# a comment
name: sum
version: "1"
upstream: summary_stable
model: m-1
prompt:
  id: summary
  file: prompts/p.txt
retrieval: {top_k: 8, index: "kb"}
labels:
  owner: team-a
Y
$t->write_file('bundles/two.yaml', <<'Y');
name: two
version: b
upstream: up
model: m
---
name: two
version: a
upstream: up
model: m
Y

my $canonical = "ai-release-canonical-v1\n"
    . '{"model":"m-1","name":"sum","prompt":{"file":"prompts/p.txt",'
    . '"id":"summary"},"retrieval":{"index":"kb","top_k":"8"},'
    . '"upstream":"summary_stable","version":"1"}' . "\n"
    . sprintf("file prompt.file %d sha256:%s\n", length $prompt,
              sha256_hex($prompt));
my $sum_digest = 'sha256:' . sha256_hex($canonical);

{
    my ($code, $out, $err) = run('digest', 'bundles/sum.yaml',
                                 'bundles/two.yaml');
    is($code, 0, 'digest exits 0');
    is($err, '', 'and prints nothing on stderr');
    my @l = split /\n/, $out;
    is(scalar @l, 3, 'one line per bundle');
    is($l[0], "sum\@1 $sum_digest",
       'the digest is SHA-256 of the documented canonical form');
    like($l[1], qr/^two\@b sha256:[0-9a-f]{64}$/, 'load order: two@b');
    like($l[2], qr/^two\@a sha256:[0-9a-f]{64}$/, 'then two@a');

    ($code, $out) = run('digest', '--json', 'bundles/sum.yaml');
    my $d = decode($out);
    is($code, 0, 'digest --json exits 0');
    is_deeply([map { [$_->{id}, $_->{digest}] } @{ $d->{bundles} || [] }],
              [['sum@1', $sum_digest]], 'digest --json: id and digest');

    # duplicates across files are errors too
    $t->write_file('bundles/sum-copy.yaml', slurp("$dir/bundles/sum.yaml"));
    ($code, $out, $err) = run('digest', 'bundles/sum.yaml',
                              'bundles/sum-copy.yaml');
    is($code, 2, 'a duplicate name@version across files: exit 2');
    like($err, qr{^bundles/sum-copy\.yaml:2:1: duplicate bundle "sum\@1" \(first defined in bundles/sum\.yaml:2\)$}m,
         'and the duplicate is reported with file:line:column');
    is($out, '', 'nothing on stdout');
    unlink "$dir/bundles/sum-copy.yaml";

    ($code, $out, $err) = run('digest', 'bundles/missing.yaml');
    is($code, 2, 'a manifest that cannot be read: exit 2');
    is($err, "bundles/missing.yaml: cannot read manifest: No such file or directory\n",
       'and says why');

    ($code, $out, $err) = run('--json', 'digest', 'bundles/missing.yaml');
    is($code, 2, '--json before the command, load error: exit 2');
    $d = decode($out);
    ok($d && !$d->{ok} && $d->{errors}[0]{file} eq 'bundles/missing.yaml'
       && $d->{errors}[0]{message} =~ /cannot read manifest/,
       'the load error as JSON on stdout');
}

############################################################################
# lint

{
    my ($code, $out, $err) = run('lint', 'bundles/sum.yaml',
                                 'bundles/two.yaml');
    is($code, 0, 'lint of good manifests exits 0');
    is($out, "ok: 3 bundles\n", 'and says how many bundles');
    is($err, '', 'nothing on stderr');

    $t->write_file('bundles/bad.yaml', <<'Y');
name: bad
version: "1"
upstream: up
model: m
bogus: 1
headers:
  "X Bad": v
Y
    $t->write_file('bundles/bad-eval.yaml', <<'Y');
name: badeval
version: "1"
upstream: up
model: m
eval:
  set: golden
  report: r.json
  gates:
    pass_rate: "at least 0.95"
Y
    ($code, $out, $err) = run('lint', 'bundles/bad.yaml',
                              'bundles/bad-eval.yaml', 'bundles/sum.yaml');
    is($code, 1, 'lint with problems exits 1');
    is($out, '', 'nothing on stdout');
    like($err, qr{^bundles/bad\.yaml:5:1: unknown key "bogus"$}m,
         'an unknown key with file:line:column');
    like($err, qr{^bundles/bad\.yaml:7:3: header name "X Bad" is not a valid HTTP token$}m,
         'every problem of the file');
    like($err, qr{^bundles/bad-eval\.yaml:9:16: malformed gate expression "at least 0\.95" for metric "pass_rate": expected e\.g\. ">= 0\.95"$}m,
         'a malformed gate expression with file:line:column');

    ($code, $out, $err) = run('lint', '--json', 'bundles/bad.yaml',
                              'bundles/bad-eval.yaml');
    is($code, 1, 'lint --json with problems exits 1');
    my $d = decode($out);
    ok($d && !$d->{ok}, 'lint --json: ok is false');
    my ($e) = grep { $_->{message} =~ /unknown key "bogus"/ }
              @{ $d->{errors} || [] };
    is_deeply($e && [@$e{qw(file line column)}], ['bundles/bad.yaml', 5, 1],
              'lint --json: file, line and column of each error');
    is(scalar @{ $d->{errors} || [] }, 3, 'lint --json: every error');

    ($code, $out) = run('lint', '--json', 'bundles/sum.yaml');
    $d = decode($out);
    ok($code == 0 && $d && $d->{ok} && $d->{bundles} == 1
       && !@{ $d->{errors} }, 'lint --json of a good manifest');

    ($code, $out, $err) = run('lint', 'bundles/missing.yaml');
    is($code, 1, 'lint of a missing manifest is a problem found: exit 1');
    like($err, qr{^bundles/missing\.yaml: cannot read manifest}m,
         'and says so');
}

############################################################################
# gate

my $sd = <<'Y';
name: support-drafts
version: "4"
upstream: support_canary
model: big-model-2026-11
prompt:
  file: prompts/support-draft-v13.txt
eval:
  set: support-drafts-golden-v7
  report: evals/support-drafts-4.json
  max_age: 14d
  gates:
    pass_rate: ">= 0.95"
    regressions: "== 0"
    refusal_rate: "<= 0.02"
Y
$t->write_file('bundles/prompts/support-draft-v13.txt', "Draft a reply.\n");
$t->write_file('bundles/sd.yaml', $sd);
$t->write_file('bundles/safe.yaml', <<'Y');
name: support-drafts
version: safe-1
upstream: support_fallback
model: small-model
Y

my ($sd_digest) = (run('digest', 'bundles/sd.yaml'))[1] =~ / (\S+)\n/;
like($sd_digest, qr/^sha256:[0-9a-f]{64}$/, 'the digest of support-drafts@4');

sub report {
    my (%o) = @_;
    my %r = (
        bundle      => 'support-drafts@4',
        digest      => $sd_digest,
        eval_set    => 'support-drafts-golden-v7',
        finished_at => iso(time - 86400),
        runner      => 'evalkit',
        metrics     => { pass_rate => 0.97, regressions => 0,
                         refusal_rate => 0.01 },
    );
    for my $k (keys %o) {
        if (defined $o{$k}) { $r{$k} = $o{$k} } else { delete $r{$k} }
    }
    my $path = delete $r{path} // 'bundles/evals/support-drafts-4.json';
    $t->write_file($path, JSON::PP->new->canonical->encode(\%r));
}

my $R = 'evals/support-drafts-4.json';
my $F = 'support-drafts@4 fails its eval gate: ';

sub gate_fails {
    my ($args, $want, $name) = @_;
    my ($code, $out, $err) = run('gate', 'bundles/sd.yaml', @$args);
    is($code, 1, "$name: exit 1");
    is($err, join('', map { "$F$_\n" } @$want), "$name: the message");
}

{
    report();
    my ($code, $out, $err) = run('gate', 'bundles/sd.yaml');
    is($code, 0, 'a passing report: exit 0');
    is($out, "support-drafts\@4 passes its eval gate\n", 'and says so');
    is($err, '', 'nothing on stderr');

    report(metrics => { pass_rate => 0.91, regressions => 0,
                        refusal_rate => 0.01 });
    gate_fails([], ["pass_rate 0.91 < 0.95 ($R)"], 'pass_rate below');

    report(metrics => { pass_rate => 0.99, regressions => 2,
                        refusal_rate => 0.015 });
    gate_fails([], ["regressions 2 != 0 ($R)"], 'regressions');

    report(metrics => { pass_rate => 0.5, regressions => 1,
                        refusal_rate => 0.03 });
    gate_fails([], ["pass_rate 0.5 < 0.95 ($R)", "regressions 1 != 0 ($R)",
                    "refusal_rate 0.03 > 0.02 ($R)"],
               'every failing gate is reported');

    my $other = 'sha256:' . ('ab' x 32);
    report(digest => $other);
    gate_fails([], ["report \"$R\" tested digest sha256:abababababab, but "
                    . "the bundle's digest is " . substr($sd_digest, 0, 19)
                    . ": the evals did not test what ships"],
               'the report tested another digest');

    report(bundle => 'support-drafts@3');
    gate_fails([], ["report \"$R\" is for bundle \"support-drafts\@3\", "
                    . "not \"support-drafts\@4\""], 'another bundle');

    report(eval_set => 'support-drafts-golden-v6');
    gate_fails([], ["report \"$R\" is for eval set "
                    . "\"support-drafts-golden-v6\", not "
                    . "\"support-drafts-golden-v7\""], 'another eval set');

    my $old = iso(time - 20 * 86400);
    report(finished_at => $old);
    gate_fails([], ["report \"$R\" finished at $old, more than max_age 14d "
                    . "ago"], 'a report older than max_age');

    # a report from the future: more than 5 minutes of clock skew fails
    report(finished_at => iso(time + 60));
    ($code, $out, $err) = run('gate', 'bundles/sd.yaml');
    is($code, 0, 'a report finished a minute in the future: clock skew');

    my $years = int((timegm(0, 0, 0, 1, 0, 2099) - time) / (365 * 86400));
    report(finished_at => '2099-01-01T00:00:00Z');
    gate_fails([], ["report \"$R\" finished at 2099-01-01T00:00:00Z, "
                    . "$years years in the future (clock skew allowed: "
                    . "5 minutes)"], 'a report finished in 2099');

    # a digest with a space is shown whole
    (my $spaced = $sd_digest) =~ s/^sha256:/sha256: /;
    report(digest => $spaced);
    gate_fails([], ["report \"$R\" tested digest \"$spaced\", which is not "
                    . "\"sha256:\" and 64 hex digits, but the bundle's "
                    . "digest is $sd_digest: the evals did not test what "
                    . "ships"], 'a digest with a space');

    report(finished_at => 'last tuesday');
    gate_fails([], ["report \"$R\" has an invalid finished_at "
                    . "\"last tuesday\""], 'an invalid finished_at');

    report(digest => undef);
    gate_fails([], ["report \"$R\" has no \"digest\""], 'no digest');

    report(metrics => { regressions => 'none', refusal_rate => 0 });
    gate_fails([], ["pass_rate is missing from report \"$R\"",
                    "regressions in report \"$R\" is not a number"],
               'a missing metric, a metric that is not a number');

    $t->write_file("bundles/$R", "{\"bundle\": \"support-drafts\@4\",\n");
    ($code, $out, $err) = run('gate', 'bundles/sd.yaml');
    is($code, 1, 'a report that is not JSON: exit 1');
    like($err, qr/^\Q$F\Ereport "\Q$R\E" is not valid JSON: .+ at line \d+, column \d+\n\z/,
         'a report that is not JSON: one message');

    unlink "$dir/bundles/$R";
    gate_fails([], ["report \"$R\" cannot be read: No such file or "
                    . "directory"], 'a missing report');

    # --report-dir: DIR/basename(report)
    report(path => 'ci/out/support-drafts-4.json');
    ($code, $out, $err) = run('gate', 'bundles/sd.yaml', '--report-dir',
                              'ci/out');
    is($code, 0, '--report-dir: the report is found there');
    report(path => 'ci/out/support-drafts-4.json',
           metrics => { pass_rate => 0.9, regressions => 0,
                        refusal_rate => 0 });
    gate_fails(['--report-dir=ci/out'], ["pass_rate 0.9 < 0.95 ($R)"],
               '--report-dir=DIR: the path as written in the manifest');

    # no eval section
    report();
    ($code, $out, $err) = run('gate', 'bundles/sd.yaml', 'bundles/safe.yaml');
    is($code, 0, 'a bundle without eval: exit 0');
    is($err, "support-drafts\@safe-1 has no eval section\n", 'a notice');

    ($code, $out, $err) = run('gate', '--require', 'bundles/sd.yaml',
                              'bundles/safe.yaml');
    is($code, 1, '--require: a bundle without eval fails');
    is($err, "support-drafts\@safe-1 has no eval section (required)\n",
       '--require: the message');

    # --json
    report(metrics => { pass_rate => 0.91, regressions => 0,
                        refusal_rate => 0.01 });
    ($code, $out, $err) = run('gate', '--json', 'bundles/sd.yaml',
                              'bundles/safe.yaml');
    is($code, 1, 'gate --json: exit 1 on a failure');
    my $d = decode($out);
    ok($d && !$d->{ok}, 'gate --json: ok is false');
    is_deeply([map { [$_->{bundle}, $_->{status}, $_->{failures}] }
               @{ $d->{results} || [] }],
              [['support-drafts@4', 'fail', ["pass_rate 0.91 < 0.95 ($R)"]],
               ['support-drafts@safe-1', 'none', []]],
              'gate --json: status and failures per bundle');
    is($err, '', 'gate --json: nothing on stderr');

    report();
    ($code, $out) = run('gate', '--json', 'bundles/sd.yaml');
    $d = decode($out);
    ok($code == 0 && $d && $d->{ok} && $d->{results}[0]{status} eq 'pass',
       'gate --json: pass');

    # a malformed eval section, a manifest that does not load
    ($code, $out, $err) = run('gate', 'bundles/bad-eval.yaml');
    is($code, 1, 'a malformed eval section: exit 1');
    like($err, qr{^bundles/bad-eval\.yaml:9:16: malformed gate expression}m,
         'with file:line:column');

    ($code, $out, $err) = run('gate', 'bundles/sd.yaml', 'bundles/bad.yaml');
    is($code, 2, 'gate with a manifest that does not load: exit 2');
    like($err, qr{^bundles/bad\.yaml:5:1: unknown key "bogus"$}m,
         'the load errors, like lint');
}

############################################################################
# lock and lock --check

{
    my ($code, $out, $err) = run('lock', 'bundles/sd.yaml', 'bundles/safe.yaml',
                                 'bundles/sum.yaml');
    is($code, 0, 'lock exits 0');
    my $lock = $out;
    like($lock, qr/\A# ai-release lock v1: name\@version digest, then the hash of each part\n/,
         'the lock starts with its header');

    my @ids = $lock =~ /^(\S+\@\S+) sha256:/mg;
    is_deeply(\@ids, ['sum@1', 'support-drafts@4', 'support-drafts@safe-1'],
              'bundles sorted by name@version');
    like($lock, qr/^support-drafts\@4 \Q$sd_digest\E\n/m,
         'each bundle with its digest');
    my $m = 'sha256:' . sha256_hex('"big-model-2026-11"');
    my $p = 'sha256:' . sha256_hex("Draft a reply.\n");
    like($lock, qr/^support-drafts\@4 \S+\n(?:  key \S+ \S+\n)*  key model \Q$m\E\n/m,
         'a key part: the SHA-256 of its canonical value');
    like($lock, qr/^  key version \S+\n  file prompt\.file \Q$p\E\nsupport/m,
         'a file part: the SHA-256 of its bytes, after the keys');
    $t->write_file('bundles.lock', $lock);

    ($code, $out, $err) = run('lock', '--check', 'bundles.lock',
                              'bundles/sd.yaml', 'bundles/safe.yaml',
                              'bundles/sum.yaml');
    is($code, 0, 'lock --check of unchanged bundles: exit 0');
    is($out, "ok: 3 bundles match the lock file \"bundles.lock\"\n",
       'and says so');
    is($err, '', 'nothing on stderr');

    # an edited prompt file, the same version
    $t->write_file('bundles/prompts/support-draft-v13.txt',
                   "Draft a longer reply.\n");
    ($code, $out, $err) = run('lock', '--check', 'bundles.lock',
                              'bundles/sd.yaml', 'bundles/safe.yaml');
    is($code, 1, 'an edited prompt file without a new version: exit 1');
    is($err, 'bundle "support-drafts@4" changed without a new version: '
             . 'prompt.file changed (prompts/support-draft-v13.txt); give it '
             . 'a new version, or if this change is intended, update the '
             . "lock with \"ai-release lock\"\n",
       'the changed file is named, with its path');

    # and the model too
    (my $sd2 = $sd) =~ s/big-model-2026-11/big-model-2026-12/;
    $t->write_file('bundles/sd.yaml', $sd2);
    ($code, $out, $err) = run('lock', '--check', 'bundles.lock',
                              'bundles/sd.yaml');
    like($err, qr/: prompt\.file changed \(prompts\/support-draft-v13\.txt\), model changed; give it/,
         'every changed part is named');

    # eval and labels are not part of the digest
    $t->write_file('bundles/prompts/support-draft-v13.txt', "Draft a reply.\n");
    (my $sd3 = $sd) =~ s/max_age: 14d/max_age: 7d/;
    $t->write_file('bundles/sd.yaml', $sd3 . "labels: {owner: x}\n");
    ($code, $out, $err) = run('lock', '--check', 'bundles.lock',
                              'bundles/sd.yaml');
    is($code, 0, 'another eval section and labels: still matches');

    # a version not in the lock
    (my $sd5 = $sd) =~ s/version: "4"/version: "5"/;
    $t->write_file('bundles/sd5.yaml', $sd5);
    ($code, $out, $err) = run('lock', '--check', 'bundles.lock',
                              'bundles/sd.yaml', 'bundles/sd5.yaml');
    is($code, 1, 'a bundle not in the lock: exit 1');
    is($err, 'bundle "support-drafts@5" is not in the lock file '
             . '"bundles.lock": add it with "ai-release lock MANIFEST... > '
             . "bundles.lock\"\n", 'the missing message');

    # --json
    $t->write_file('bundles/prompts/support-draft-v13.txt', "Edited.\n");
    ($code, $out, $err) = run('lock', '--check', 'bundles.lock', '--json',
                              'bundles/sd.yaml', 'bundles/sd5.yaml',
                              'bundles/safe.yaml');
    is($code, 1, 'lock --check --json: exit 1');
    my $d = decode($out);
    ok($d && !$d->{ok}, 'lock --check --json: ok is false');
    is_deeply([map { [$_->{bundle}, $_->{status}] } @{ $d->{results} || [] }],
              [['support-drafts@4', 'changed'], ['support-drafts@5', 'missing'],
               ['support-drafts@safe-1', 'ok']],
              'lock --check --json: a status per bundle');
    like($d->{results}[0]{message} // '', qr/prompt\.file changed/,
         'lock --check --json: the message');
    ok(!defined $d->{results}[2]{message}, 'no message when ok');

    ($code, $out) = run('lock', '--json', 'bundles/safe.yaml');
    $d = decode($out);
    ok($code == 0 && $d && $d->{bundles}[0]{id} eq 'support-drafts@safe-1'
       && grep({ $_->{kind} eq 'key' && $_->{name} eq 'model' }
               @{ $d->{bundles}[0]{parts} }),
       'lock --json: bundles with their parts');

    # a malformed lock
    $t->write_file('broken.lock', "# x\nsupport-drafts\@4 sha256:1234\n");
    ($code, $out, $err) = run('lock', '--check', 'broken.lock',
                              'bundles/safe.yaml');
    is($code, 2, 'a malformed lock file: exit 2');
    like($err, qr/^broken\.lock:2: malformed line/m, 'with file:line');

    ($code, $out, $err) = run('lock', '--check', 'none.lock',
                              'bundles/safe.yaml');
    is($code, 2, 'a missing lock file: exit 2');
    like($err, qr/^none\.lock: cannot read lock file: No such file/m,
         'and says so');

    # a FIFO with no writer, a device: refused at once (timeout(1) ends a
    # regression that waits, with 124)
    POSIX::mkfifo("$dir/fifo.lock", 0600) or die "mkfifo: $!";
    for my $lock ('fifo.lock', '/dev/zero') {
        ($code, $out, $err) = cli_run('timeout', $dir, '20', $cli, 'lock',
                                      '--check', $lock, 'bundles/safe.yaml');
        is($code, 2, "lock --check $lock: exit 2 at once (not timed out)");
        is($err, "$lock: cannot read lock file: not a regular file\n",
           "lock --check $lock: says why");
    }
}

############################################################################
# params: JSON values in the canonical form, a part of the lock

{
    my $yaml = <<'Y';
name: gen
version: "1"
upstream: up
model: m
params:
  temperature: 0.2
  top_p: "0.9"
  stop: END
  logprobs: true
Y
    $t->write_file('bundles/gen.yaml', $yaml);

    my $gen_canonical = "ai-release-canonical-v1\n"
        . '{"model":"m","name":"gen","params":{"logprobs":true,'
        . '"stop":"END","temperature":0.2,"top_p":"0.9"},"upstream":"up",'
        . '"version":"1"}' . "\n";

    my ($code, $out, $err) = run('digest', 'bundles/gen.yaml');
    is($code, 0, 'digest of a bundle with params: exit 0');
    is($out, 'gen@1 sha256:' . sha256_hex($gen_canonical) . "\n",
       'params: numbers and true as JSON, the rest as strings');

    ($code, $out) = run('lock', 'bundles/gen.yaml');
    is($code, 0, 'lock of a bundle with params: exit 0');
    like($out, qr/^  key params sha256:[0-9a-f]{64}\n/m, 'params is a part');
    $t->write_file('gen.lock', $out);

    ($code, $out, $err) = run('lock', '--check', 'gen.lock',
                              'bundles/gen.yaml');
    is($code, 0, 'lock --check with params unchanged: exit 0');

    (my $quoted = $yaml) =~ s/temperature: 0\.2/temperature: "0.2"/;
    $t->write_file('bundles/gen.yaml', $quoted);
    ($code, $out, $err) = run('lock', '--check', 'gen.lock',
                              'bundles/gen.yaml');
    is($code, 1, 'a number become a string in params: exit 1');
    like($err, qr/"gen\@1" changed without a new version: params changed;/,
         'and params is named');

    $t->write_file('bundles/gen.yaml', $yaml . "  model: x\n");
    ($code, $out, $err) = run('lint', 'bundles/gen.yaml');
    is($code, 1, 'lint: a reserved params key: exit 1');
    like($err, qr{^bundles/gen\.yaml:10:3: params key "model" is reserved}m,
         'with file:line:column');
    unlink "$dir/bundles/gen.yaml";
}

############################################################################
# at most 50 errors a manifest, then the count of the rest

{
    $t->write_file('bundles/many-errors.yaml', "---\nx: 1\n" x 1000);
    my ($code, $out, $err) = run('lint', 'bundles/many-errors.yaml');
    my @l = split /\n/, $err;
    is($code, 1, 'lint of 1000 bad documents: exit 1');
    is(scalar @l, 51, 'lint of 1000 bad documents: 51 lines, not 5000');
    is($l[-1], 'bundles/many-errors.yaml: ... and 4950 more errors',
       'the last line counts the rest');

    ($code, $out) = run('lint', '--json', 'bundles/many-errors.yaml');
    my $d = decode($out);
    is(scalar @{ $d->{errors} || [] }, 51, 'lint --json: 51 errors');
}

############################################################################
# diff: what differs between two bundles, component by component

{
    my $base = <<'Y';
name: sd
version: "4"
upstream: up
model: gpt-x
prompt:
  file: prompts/d.txt
retrieval: {index: kb, top_k: 8}
params: {temperature: 0.2}
eval: {set: golden}
Y
    $t->write_file('diff/prompts/d.txt', "Draft.\n");
    $t->write_file('diff/old.yaml', $base);
    $t->write_file('diff/same.yaml', "labels: {x: y}\n" . $base);

    my ($code, $out, $err) = run('diff', 'diff/old.yaml', 'diff/same.yaml');
    is($code, 0, 'diff of the same behaviour: exit 0');
    is($out . $err, '', 'and prints nothing');

    (my $new = $base) =~ s/version: "4"/version: "5"/;
    $new =~ s/model: gpt-x/model: gpt-y/;
    $new =~ s/top_k: 8/top_k: 12/;
    # the new release beside a prompt file of other bytes
    $t->write_file('diff/b/new.yaml', $new);
    $t->write_file('diff/b/prompts/d.txt', "Draft a reply.\n");

    ($code, $out, $err) = run('diff', 'diff/old.yaml', 'diff/b/new.yaml');
    is($code, 1, 'diff of two releases: exit 1');
    is($out, "sd\@4 -> \@5: model gpt-x -> gpt-y, prompt.file changed, "
             . "retrieval.top_k 8 -> 12\n",
       'one line: each component that changed, and nothing else');
    is($err, '', 'nothing on stderr');

    (my $ver = $base) =~ s/version: "4"/version: "6"/;
    $t->write_file('diff/b/ver.yaml', $ver);
    ($code, $out) = run('diff', 'diff/b/new.yaml', 'diff/b/ver.yaml');
    is($code, 1, 'diff back to the old behaviour under a new version: exit 1');
    is($out, "sd\@5 -> \@6: model gpt-y -> gpt-x, "
             . "retrieval.top_k 12 -> 8\n",
       'the prompt file is the same file: not named');

    (my $only = $base) =~ s/version: "4"/version: "7"/;
    $t->write_file('diff/b/only.yaml', $only);
    ($code, $out) = run('diff', 'diff/b/ver.yaml', 'diff/b/only.yaml');
    is($code, 1, 'a new version alone: exit 1 (another digest)');
    is($out, "sd\@6 -> \@7: no other change\n", 'and says so');

    ($code, $out) = run('--json', 'diff', 'diff/old.yaml',
                          'diff/b/new.yaml');
    my $d = decode($out);
    is($code, 1, 'diff --json of two releases: exit 1');
    is_deeply([ @{$d}{qw(ok identical components)},
                $d->{old}{id}, $d->{new}{id} ],
              [ JSON::PP::true, JSON::PP::false, 3, 'sd@4', 'sd@5' ],
              'diff --json: ids and the count');
    like($d->{new}{digest} // '', qr/^sha256:[0-9a-f]{64}$/,
         'diff --json: the digests');
    is($d->{changes}, 'model gpt-x -> gpt-y, prompt.file changed, '
                      . 'retrieval.top_k 8 -> 12', 'diff --json: the text');

    # name@version from the manifests of a glob
    $t->write_file('diff/b/two.yaml', $new . "---\n" . $only);
    ($code, $out, $err) = run('diff', '--bundles', 'diff/b/t*.yaml',
                              'sd@5', 'sd@7');
    is($code, 1, 'diff --bundles GLOB name@version name@version: exit 1');
    is($out, "sd\@5 -> \@7: model gpt-y -> gpt-x, "
             . "retrieval.top_k 12 -> 8\n", 'both found in the glob');

    ($code, $out, $err) = run('diff', 'diff/b/two.yaml', 'diff/old.yaml');
    is($code, 2, 'a manifest of two bundles: exit 2');
    like($err, qr{^diff/b/two\.yaml: holds 2 bundles: name one as }m,
         'file: message');

    ($code, $out, $err) = run('diff', '--bundles=diff/b/t*.yaml', 'sd@9',
                              'sd@5');
    is($code, 2, 'an unknown name@version: exit 2');
    like($err, qr{^diff/b/t\*\.yaml: no bundle "sd\@9"}m, 'and says which');

    $t->write_file('diff/bad.yaml', "name: sd\nversion: 1\nmodel: [\n");
    ($code, $out, $err) = run('diff', 'diff/old.yaml', 'diff/bad.yaml');
    is($code, 2, 'a manifest that does not load: exit 2');
    like($err, qr{^diff/bad\.yaml:\d+:\d+: }m, 'file:line:column: message');

    ($code, $out, $err) = run('diff', 'diff/old.yaml');
    is($code, 2, 'diff of one bundle: exit 2');
    like($err, qr/diff: expected two bundles/, 'and says so');

    ($code, $out) = run('--help');
    like($out, qr/^  diff OLD NEW/m, '--help names diff');
}

$t->done;
done_testing;
