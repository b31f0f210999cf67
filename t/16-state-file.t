#!/usr/bin/perl
# ai_release_state: a rollback, a pin or a trip stays in force after nginx
# stops and starts again, and after a binary upgrade; an automatic trip's
# cooldown keeps counting while nginx is down; a new digest drops the old
# entry; unusable files (truncated, empty, binary, FIFO, over-large, wrong
# owner) are moved aside with an alert and nginx starts; killing workers in
# the middle of bursts of API changes never leaves a torn file and loses no
# acknowledged change; requests never write the file.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest qw(slurp);
use AIRClient;
use AIRCli;
use JSON::PP ();
use POSIX qw(mkfifo);
use Time::HiRes qw(time sleep);

my $cli = cli_path();
plan skip_all => "$cli is not built (make cli)" unless -x $cli;

my $t = AIRTest->new;
my $dir = $t->dir;
$t->upstream($_) for qw(s c);
# the sanitizer build's default error log, before the configuration's
mkdir "$dir/logs";

# the workers (nobody, as the master runs as root) write the file
mkdir "$dir/state";
chmod 0777, "$dir/state";
my $STATE = "$dir/state/ai-release.state";

sub bundles {
    my ($cv) = @_;
    my $y = '';
    for my $w (qw(a b c d)) {
        $y .= "---\nname: $w\nversion: \"1\"\nupstream: 127.0.0.1:"
            . $t->port('s') . "\nmodel: $w-stable\n"
            . "---\nname: $w\nversion: \"2\"\nupstream: 127.0.0.1:"
            . $t->port('c') . "\nmodel: $w-canary" . ($cv // '') . "\n";
    }
    $t->write_file('bundles/all.yaml', $y);
}
bundles();

sub conf {
    my (%o) = @_;
    my $state = exists $o{state} ? $o{state} : $STATE;
    my $c = "    ai_release_eval_gate off;\n";
    $c .= "    ai_release_state $state;\n" if defined $state;
    $c .= "    ai_release_bundles %%DIR%%/bundles/*.yaml;\n";
    for my $w (qw(a b c d)) {
        $c .= "    ai_release_workflow $w { stable $w\@1; canary $w\@2 50%; "
            . "sticky \$http_x_user; trip error_rate=50% min_requests=4 "
            . "consecutive=0 window=60s cooldown=" . ($o{cooldown} // '60s')
            . "; }\n";
    }
    $c .= "    server {\n        listen 127.0.0.1:%%PORT_nginx%%;\n"
        . "        location = /status { ai_release_status; }\n"
        . "        location /api/ { ai_release_api; }\n";
    $c .= "        location = /$_ { ai_release $_; "
        . "proxy_pass http://ai_release; }\n" for qw(a b c d);
    $c .= "    }\n";
    $t->config($c, workers => $o{workers} // 2);
}

sub api {
    my ($path, $body) = @_;
    my ($r) = http($t, 'POST', "/api/workflows/$path", $body);
    return $r->{status};
}

sub overrides {
    my ($d, $wf) = @_;
    return join ', ', map { join ' ', grep { defined } $_->{action},
                                $_->{bundle}, "($_->{source})" }
                      @{ wf_of($d, $wf)->{overrides} || [] };
}

sub served {
    my ($wf) = @_;
    my %seen;
    $seen{ ask($t, "/$wf", headers => { 'X-User' => "u$_" })->{bundle} }++
        for 1 .. 12;
    return join ' ', sort keys %seen;
}

sub state_json {
    my $text = slurp($STATE) // return;
    return eval { JSON::PP->new->decode($text) };
}

############################################################################
# 1. rollback, pin and manual trip survive a stop and a start

conf();
$t->start;
is(served('a'), 'a@1 a@2', 'before: workflow a serves stable and canary');
is(api('a/rollback'), 200, 'roll back a');
is(api('b/pin', '{"bundle":"b@2"}'), 200, 'pin b to its canary');
is(api('c/trip', '{"bundle":"c@2"}'), 200, 'trip c@2 by hand');
ok(-f $STATE, 'the state file is written');
my $j = state_json();
is(scalar @{ $j->{entries} || [] }, 3,
   'it holds 3 entries (a@2 rollback, b@2 pin, c@2 trip)')
    or diag slurp($STATE);

my ($code, $out, $err) = cli_run($cli, $dir, 'state', $STATE);
is($code, 0, 'ai-release state FILE checks it') or diag $err;
like($out, qr/"workflow": "c"/, 'and prints it as JSON');

$t->stop;
$t->start;
my $d = status_doc($t);
is(overrides($d, 'a'), 'rollback (state file)',
   'after a restart: a is still rolled back, from the state file');
is(overrides($d, 'b'), 'pin b@2 (state file)', 'b is still pinned');
is(overrides($d, 'c'), 'trip c@2 (state file)', 'c@2 is still tripped');
is(bundle_of(wf_of($d, 'c'), 'c@2')->{breaker}{state}, 'open',
   'c@2\'s breaker is open');
ok(bundle_of(wf_of($d, 'c'), 'c@2')->{breaker}{restored},
   'and says it was restored');
is(served('a'), 'a@1', 'a serves stable only');
is(served('b'), 'b@2', 'b serves its pin only');
is(served('c'), 'c@1', 'c serves stable only');
like($t->error_log, qr/\[notice\] .*ai_release state file "\Q$STATE\E": workflow "c" bundle "c\@2" \(sha256:[0-9a-f]{12}\): trip, open breaker restored/,
     'the restore is logged');

# a new change through the API is "api" again
is(api('a/resume'), 200, 'resume a');
is(overrides(status_doc($t), 'a'), '', 'a has no override now');

############################################################################
# 2. a binary upgrade (USR2, then QUIT of the old master)

is(api('a/rollback'), 200, 'roll back a again');
{
    my $old = $t->master_pid;
    kill 'USR2', $old;
    my $ok = 0;
    for (1 .. 100) {
        my $new = $t->master_pid;
        if ($new && $new != $old && -f "$dir/nginx.pid.oldbin") {
            $ok = 1;
            last;
        }
        sleep 0.1;
    }
    ok($ok, 'USR2: a new master runs beside the old one');
    sleep 0.5;
    kill 'QUIT', $old;
    for (1 .. 100) { last unless kill 0, $old; sleep 0.1 }
    ok(!kill(0, $old), 'the old master is gone');
    $d = status_doc($t);
    is(overrides($d, 'a'), 'rollback (state file)',
       'after the upgrade a is still rolled back');
    is(overrides($d, 'b'), 'pin b@2 (state file)', 'b is still pinned');
    is(overrides($d, 'c'), 'trip c@2 (state file)', 'c@2 is still tripped');
    is(served('a'), 'a@1', 'a serves stable only');
}

############################################################################
# 3. a new digest drops the old entry

bundles('-new');
my $off = length $t->error_log;
$t->stop;
$t->start;
$d = status_doc($t);
is(overrides($d, 'a'), '', 'a new canary digest: a\'s rollback is gone');
is(overrides($d, 'c'), '', 'and c@2\'s trip');
is(overrides($d, 'b'), '', 'and b@2\'s pin (b@1 had none)');
my $log = substr($t->error_log, $off);
like($log, qr/\[notice\] .*ai_release state file "\Q$STATE\E": workflow "a" has no bundle "a\@2" with digest sha256:[0-9a-f]{12} any more: its rollback dropped/,
     'one notice per dropped entry');
is(served('a'), 'a@1 a@2', 'a serves stable and the new canary');
# nothing was decided since the start: the file still holds the old entries
$t->stop;

############################################################################
# 4. an automatic trip's cooldown keeps counting while nginx is down

bundles();
unlink $STATE;
conf(cooldown => '8s');
$t->start;
$t->upstream_control('c', "status=500\n");
ask($t, '/d', headers => { 'X-User' => "k$_" }) for 1 .. 40;
$d = status_doc($t);
my $b = bundle_of(wf_of($d, 'd'), 'd@2');
is($b->{breaker}{state}, 'open', 'd@2 tripped on its errors');
my $tripped = time;
$t->upstream_control('c', '');
$t->stop;
sleep 4;
$t->start;
$d = status_doc($t);
$b = bundle_of(wf_of($d, 'd'), 'd@2');
is($b->{breaker}{state}, 'open', 'after a restart 4 s later: still open');
is($b->{breaker}{last_trip_reason}, 'error_rate', 'with its reason');
ok($b->{breaker}{restored}, 'restored from the state file');
# 8 s after the trip (not 8 s after the start) it is probed
my $restarted = time;
sleep(($tripped + 8.3) - time) if time < $tripped + 8.3;
my $probed;
for my $i (1 .. 100) {
    if (ask($t, '/d', headers => { 'X-User' => "p$i" })->{bundle} eq 'd@2') {
        $probed = time;
        last;
    }
}
note sprintf 'first request to d@2 %.1f s after the trip, %.1f s after the '
     . 'restart', ($probed // time) - $tripped, ($probed // time) - $restarted;
ok($probed && $probed < $restarted + 8,
   'the cooldown kept counting: d@2 is probed before 8 s have passed since '
   . 'the restart');
$t->stop;

############################################################################
# 5. requests never write the file; API changes do

unlink $STATE;
conf();
$t->start;
is(api('a/rollback'), 200, 'roll back a');
my @st = stat $STATE;
ask($t, '/b', headers => { 'X-User' => "r$_" }) for 1 .. 100;
sleep 1.5;    # past the flush timer
my @st2 = stat $STATE;
is("$st2[1] $st2[9]", "$st[1] $st[9]",
   '100 requests: the file was not written (same inode, same mtime)');
is(api('a/resume'), 200, 'resume a');
@st2 = stat $STATE;
isnt($st2[1], $st[1], 'an API change writes it (a new inode, by rename)');
$t->stop;

############################################################################
# 6. kill -9 of workers in the middle of bursts of API changes

{
    unlink $STATE;
    conf();
    $t->start;
    my $torn = 0;
    my $kills = 0;
    my $T0 = time;
    for my $i (1 .. 200) {
        my @w = $t->worker_pids;
        my $pid = fork // die;
        if ($pid == 0) {
            # a burst of changes on two connections' worth of workers
            for my $k (1 .. 3) {
                my $wf = (qw(a b c d))[($i + $k) % 4];
                http($t, 'POST', "/api/workflows/$wf/"
                     . (($i + $k) % 2 ? 'rollback' : 'resume'));
            }
            exit 0;
        }
        sleep(0.002 * ($i % 5));
        if (@w) {
            kill 'KILL', $w[$i % @w];
            $kills++;
        }
        waitpid $pid, 0;
        if (-e $STATE) {
            my $text = slurp($STATE);
            $torn++ unless eval { JSON::PP->new->decode($text // '') };
        }
        # the master respawns the worker
        for (1 .. 50) { last if $t->worker_pids >= 2; sleep 0.02 }
    }
    note sprintf '%d kills in %.1f s', $kills, time - $T0;
    is($torn, 0, "$kills kill -9 of workers during API bursts: the file "
       . 'always parses');
    sleep 0.2;
    # the decisions now in force, then a clean stop
    my @set;
    for my $wf (qw(a b c d)) {
        my $ok = api("$wf/" . ($wf =~ /[ac]/ ? 'rollback' : 'resume'));
        push @set, $ok;
    }
    is(join(',', @set), '200,200,200,200', 'four last changes acknowledged');
    $d = status_doc($t);
    my $want = join ';', map { "$_:" . overrides($d, $_) } qw(a b c d);
    $t->stop;
    $t->start;
    $d = status_doc($t);
    my $got = join ';', map { "$_:" . overrides($d, $_) } qw(a b c d);
    $got =~ s/state file/api/g;
    is($got, $want, 'after a clean stop and start: exactly the acknowledged '
       . 'overrides');
    $t->stop;
}

############################################################################
# 7. unusable state files: alert, moved aside, nginx starts

my %bad = (
    truncated => sub { $t->write_file('state/ai-release.state',
                       '{"ai_release_state": 1, "entries": [{"workflow": "a"') },
    empty     => sub { $t->write_file('state/ai-release.state', '') },
    binary    => sub { $t->write_file('state/ai-release.state',
                       join '', map { chr(($_ * 37) % 256) } 0 .. 999) },
    fifo      => sub { mkfifo($STATE, 0600) or die "mkfifo: $!" },
    large     => sub {
        open my $fh, '>', $STATE or die;
        print $fh '{"ai_release_state": 1, "entries": ['
                  . (' ' x (17 * 1024 * 1024)) . ']}';
        close $fh;
    },
    owner     => sub {
        $t->write_file('state/ai-release.state',
                       '{"ai_release_state": 1, "entries": []}');
        chown 12345, 12345, $STATE;
    },
);
my %why = (truncated => qr/line \d+, column \d+/, empty => qr/empty/,
           binary => qr/line \d+|column/, fifo => qr/not a regular file/,
           large => qr/larger than/, owner => qr/owned by uid 12345/);

for my $case (sort keys %bad) {
    unlink $STATE, "$STATE.bad";
    $bad{$case}->();
    conf();
    my ($rc, $out) = $t->test_config;
    is($rc, 0, "$case: nginx -t passes");
    like($out, qr/\[warn\] .*ai_release state file "\Q$STATE\E" is unusable: .*$why{$case}/,
         "$case: nginx -t warns why");
    ok(-e $STATE && !-e "$STATE.bad", "$case: nginx -t moves nothing");
    $off = length $t->error_log;
    $t->start;
    $log = substr($t->error_log, $off);
    like($log, qr/\[alert\] .*ai_release state file "\Q$STATE\E" is unusable: .*$why{$case}.*moved to "\Q$STATE.bad\E"/,
         "$case: one alert naming the file and the problem");
    ok(-e "$STATE.bad" && !-e $STATE || -f $STATE,
       "$case: the file is moved aside");
    is(served('a'), 'a@1 a@2', "$case: nginx serves from the configuration");
    is(api('a/rollback'), 200, "$case: a change through the API");
    ok(state_json(), "$case: writes a new, good file");
    $t->stop;
}

unlink $STATE, "$STATE.bad";
# nginx's own UBSan report with the sanitizer build when the binary upgrade
# starts the new master (a memcpy of 0 bytes from NULL in ngx_pstrdup,
# nginx core, not this module) is allowed, as in t/42
$t->done(allow => qr/\[alert\] .*(?:ai_release state file ".*" is unusable|worker process \d+ exited on signal 9)|ngx_string\.c:\d+:\d+: runtime error: null pointer passed as argument 2/);
done_testing;
