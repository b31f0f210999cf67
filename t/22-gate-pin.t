#!/usr/bin/perl
# No override gives traffic to a bundle that is short of the eval gate its
# workflow requires: a canary at 0% may be unproven (nginx -t passes), but
# the API refuses to pin it (409), and a pin it got while the gate was off
# is dropped by the reload that turns the gate on.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRClient;
use AIRCli;
use JSON::PP ();
use POSIX qw(strftime);

my $cli = cli_path();
plan skip_all => "$cli is not built (make cli)" unless -x $cli;

my $t = AIRTest->new;
my $dir = $t->dir;
$t->upstream($_) for qw(s c);

sub manifest {
    my ($v, $up, $eval) = @_;
    my $y = "name: w\nversion: \"$v\"\nupstream: 127.0.0.1:"
          . $t->port($up) . "\nmodel: m$v\n";
    $y .= "eval:\n  set: golden\n  report: evals/w-$v.json\n  max_age: 14d\n"
        . "  gates:\n    pass_rate: \">= 0.95\"\n" if $eval;
    return $y;
}

sub report {
    my ($v, $pass) = @_;
    my (undef, $out) = cli_run($cli, $dir, 'digest',
                               "$dir/bundles/w$v.yaml");
    my ($d) = $out =~ /(sha256:[0-9a-f]{64})/;
    $t->write_file("bundles/evals/w-$v.json", JSON::PP->new->encode({
        bundle => "w\@$v", digest => $d, eval_set => 'golden',
        finished_at => strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time - 3600)),
        metrics => { pass_rate => $pass } }));
}

$t->write_file('bundles/w2.yaml', manifest(2, 's', 1));    # stable, gated
$t->write_file('bundles/w1.yaml', manifest(1, 'c', 0));    # no eval section
$t->write_file('bundles/w3.yaml', manifest(3, 'c', 1));    # fails its gate
report(2, 0.99);
report(3, 0.50);

sub conf {
    my ($mode) = @_;
    $t->config(<<"C");
    ai_release_eval_gate $mode;
    ai_release_bundles %%DIR%%/bundles/*.yaml;
    ai_release_workflow w {
        stable w\@2;
        canary w\@1 0%;
        canary w\@3 0%;
    }
    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        location = /status { ai_release_status; }
        location /api/ { ai_release_api; }
        location / { ai_release w; proxy_pass http://ai_release; }
    }
C
}

sub pin {
    my ($id) = @_;
    return http($t, 'POST', '/api/workflows/w/pin',
                JSON::PP->new->encode({ bundle => $id }));
}

sub served {
    my %seen;
    $seen{ ask($t, "/x$_")->{bundle} }++ for 1 .. 10;
    return join ' ', sort keys %seen;
}

# the gate off: pins to w@1 work, and stick
conf('off');
$t->start;
my ($r, $j) = pin('w@1');
is($r->{status}, 200, 'gate off: pin w@1 (no eval section)');
is(served(), 'w@1', 'gate off: every request goes to w@1');

# require: nginx -t passes (0% canaries), the reload drops the pin
conf('require');
my ($rc, $out) = $t->test_config;
is($rc, 0, 'require with ungated canaries at 0%: nginx -t passes')
    or diag $out;
like($out, qr/canary w\@1 at 0% gets no traffic and cannot be pinned: it has no eval section/,
     'nginx -t says w@1 cannot be pinned');
like($out, qr/canary w\@3 at 0% gets no traffic and cannot be pinned: it does not pass its eval gate: pass_rate 0\.5 < 0\.95/,
     'and w@3, with its gate failure');

my $off = length $t->error_log;
ok($t->reload, 'reload with ai_release_eval_gate require');
like(substr($t->error_log, $off),
     qr/\[warn\] .*workflow "w": the pin on bundle "w\@1" is dropped: it has no eval section/,
     'the reload drops the pin on w@1, with a warning');
is(served(), 'w@2', 'every request goes to stable w@2');
my $d = status_doc($t);
is(scalar @{ wf_of($d, 'w')->{overrides} || [] }, 0,
   'the status shows no override');

for my $id (qw(w@1 w@3)) {
    ($r, $j) = pin($id);
    is($r->{status}, 409, "require: pin $id answers 409");
    like($j->{error}{message} // '',
         qr/bundle "\Q$id\E" of workflow "w" cannot be pinned: it/,
         "with a message saying why");
}
is(served(), 'w@2', 'still every request to stable w@2');

($r, $j) = pin('w@2');
is($r->{status}, 200, 'pinning the gated stable works');

# "on" lets an ungated bundle serve, but not a failing one
conf('on');
ok($t->reload, 'reload with ai_release_eval_gate on');
is((pin('w@1'))[0]{status}, 200, 'on: w@1 (no eval section) may be pinned');
is((pin('w@3'))[0]{status}, 409, 'on: w@3 (fails its gate) may not');

$t->done;
done_testing;
