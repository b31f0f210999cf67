#!/usr/bin/perl
# Progressive rollout: "canary ID steps=... every=... min_requests=...".
# Steps advance while the canary is healthy and served enough requests; a
# trip aborts the plan and sends every request to stable from the next one
# on; sticky users only ever move stable -> canary through every step
# (10,000 keys); the plan's position survives a reload with the same digest
# and plan and starts over with a new digest or plan; pause, resume and
# advance through the API; "complete" is logged once across workers; the
# plan shows in the status JSON and the Prometheus text; bad plans fail
# "nginx -t" with the nginx.conf line.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRClient;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);


############################################################################
# configuration errors, each with its nginx.conf line

my @bad = (
    [ 'steps not increasing', 'steps=1%,5%,5% every=1m',
      qr/step "5%" in "steps=" of workflow "e" is not above the step before it/ ],
    [ 'a step over 100%', 'steps=10%,150% every=1m',
      qr/invalid step "150%" in "steps=" of workflow "e"/ ],
    [ 'a step of 0%', 'steps=0%,5% every=1m',
      qr/invalid step "0%" in "steps=" of workflow "e"/ ],
    [ 'a plan and a fixed weight', '5% steps=1%,5% every=1m',
      qr/"canary" of workflow "e" has both a fixed weight and "steps="/ ],
    [ 'one step', 'steps=5% every=1m',
      qr/"steps=" of workflow "e" has one step/ ],
    [ 'every=0', 'steps=1%,5% every=0s',
      qr/invalid "every=0s" in "canary" of workflow "e"/ ],
    [ 'every without steps', 'every=1m',
      qr/"canary" of workflow "e" has a plan's parameters but no "steps="/ ],
    [ 'unknown parameter', 'steps=1%,5% each=1m',
      qr/invalid parameter "each=1m" in "canary" of workflow "e"/ ],
    [ 'duplicate parameter', 'steps=1%,5% every=1m every=2m',
      qr/duplicate "every=2m" in "canary" of workflow "e"/ ],
    [ 'bad min_requests', 'steps=1%,5% min_requests=many',
      qr/invalid "min_requests=many" in "canary" of workflow "e"/ ],
    [ 'last step over the room left', 'steps=10%,95% every=1m',
      qr/canary weights of workflow "e" add up to more than 100% \(a plan counts its last step\)/ ],
);

for my $c (@bad) {
    my ($name, $args, $expect) = @$c;
    my $t = AIRTest->new;
    $t->write_file('bundles/e.yaml', join "---\n", map { <<"Y" } 1 .. 3);
name: e
version: "$_"
upstream: 127.0.0.1:1
model: m-$_
Y
    my $conf = $t->config(<<"C");
    ai_release_bundles %%DIR%%/bundles/*.yaml;
    ai_release_workflow e {
        stable e\@1;
        canary e\@3 10%;
        canary e\@2 $args;
    }
C
    my ($rc, $out) = $t->test_config;
    isnt($rc, 0, "$name: nginx -t fails");
    like($out, $expect, "$name: message") or diag($out);
    my @conf = split /\n/, $conf;
    my ($want) = grep { $conf[$_ - 1] =~ /canary e\@2/ } 1 .. @conf;
    my @l = grep { /\[emerg\]/ } split /\n/, $out;
    like($l[0] // '', qr{ in \S+nginx\.conf:$want$},
         "$name: names nginx.conf:$want");
}


############################################################################
# one nginx, two workers, a workflow per part

my $t = AIRTest->new;
$t->upstream($_) for qw(stable canary bad);

sub bundles {
    my ($name, $canary_up, %o) = @_;
    $t->write_file("bundles/$name.yaml", <<"Y");
name: $name
version: "1"
upstream: 127.0.0.1:@{[ $t->port('stable') ]}
model: $name-stable
---
name: $name
version: "2"
upstream: 127.0.0.1:@{[ $t->port($canary_up) ]}
model: ${\ ($o{model} // "$name-canary") }
---
name: $name
version: "3"
upstream: 127.0.0.1:@{[ $t->port('canary') ]}
model: $name-third
Y
}

bundles(g => 'canary');
bundles(n => 'canary');
bundles(x => 'bad');
bundles(s => 'canary');
bundles(k => 'canary');
bundles(c => 'canary');
bundles(f => 'canary');
bundles(i => 'canary');

my $KEEP_PLAN = 'steps=10%,20%,30%,40% every=1h min_requests=0';

sub config {
    my (%o) = @_;
    my $keep = $o{keep} // $KEEP_PLAN;
    $t->config(<<"C", workers => 2);
    ai_release_bundles %%DIR%%/bundles/*.yaml;

    ai_release_workflow grow {
        stable g\@1;
        canary g\@2 steps=20%,50%,80% every=1s min_requests=3;
    }
    ai_release_workflow needy {
        stable n\@1;
        canary n\@2 steps=20%,50% every=1s min_requests=100000;
    }
    ai_release_workflow trips {
        stable x\@1;
        canary x\@2 steps=20%,50%,80% every=1h min_requests=0;
        trip consecutive=3 min_requests=1000 window=60s cooldown=1s;
    }
    ai_release_workflow sticky {
        stable s\@1;
        canary s\@2 steps=1%,5%,25%,50% every=1h min_requests=0;
        canary s\@3 10%;
        sticky \$http_x_user_id;
    }
    ai_release_workflow keep {
        stable k\@1;
        canary k\@2 $keep;
    }
    ai_release_workflow ctl {
        stable c\@1;
        canary c\@2 steps=10%,20%,30% every=1s min_requests=0;
    }
    ai_release_workflow idle {
        stable i\@1;
        canary i\@2 steps=10%,20%,30% every=1s min_requests=0;
    }
    ai_release_workflow fixed {
        stable f\@1;
        canary f\@2 5%;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%% reuseport;
        keepalive_requests 100000;

        # a batch of pipelined requests (500 of about 55 bytes) fits the
        # first header buffer: a request that crosses its end makes nginx
        # 1.22 move it to a large buffer, where its own pointer arithmetic
        # on unset fields is a report of UBSan (ngx_http_request.c:1692),
        # nginx's and not the module's
        client_header_buffer_size 64k;

        location /grow   { ai_release grow;   proxy_pass http://ai_release; }
        location /needy  { ai_release needy;  proxy_pass http://ai_release; }
        location /trips  { ai_release trips;  proxy_pass http://ai_release; }
        location /keep   { ai_release keep;   proxy_pass http://ai_release; }
        location /ctl    { ai_release ctl;    proxy_pass http://ai_release; }
        location /fixed  { ai_release fixed;  proxy_pass http://ai_release; }
        location = /who  { ai_release sticky; return 200 "\$ai_release_bundle\\n"; }

        location = /status { ai_release_status; }
        location /api/ { ai_release_api; }
    }
C
}

config();
$t->start;

# ctl is paused from the start (every=1s: status reads would step it)
my ($CTL_PAUSE) = http($t, 'POST', '/api/workflows/ctl/pause', '{}');

sub rollout {
    my ($wf, $bundle) = @_;
    return bundle_of(wf_of(status_doc($t, "?workflow=$wf"), $wf), $bundle)
               ->{rollout} || {};
}

sub api {
    my ($wf, $action) = @_;
    return http($t, 'POST', "/api/workflows/$wf/$action", '{}');
}

sub log_count {
    my ($re) = @_;
    return scalar(() = $t->error_log =~ /$re/g);
}

sub near {
    my ($got, $want, $name) = @_;
    ok(defined $got && abs($got - $want) < 1e-9, $name)
        or diag('got ' . ($got // 'undef') . ", want $want");
}


############################################################################
# the status of a plan at its start

{
    my $ro = rollout('grow', 'g@2');
    is($ro->{state}, 'running', 'grow: running at the start');
    is($ro->{step}, 1, 'grow: on step 1');
    is_deeply($ro->{steps}, [0.2, 0.5, 0.8], 'grow: the steps');
    near($ro->{weight_now}, 0.2, 'grow: weight now is the first step');
    is($ro->{min_requests}, 3, 'grow: min_requests');
    is($ro->{every_ms}, 1000, 'grow: every=1s');
    ok(defined $ro->{next_step_in_ms} && $ro->{next_step_in_ms} <= 1000,
       'grow: next_step_in_ms within the interval');
    is($ro->{waiting_for}, 'interval', 'grow: waiting for the interval');
    is($ro->{reason}, undef, 'grow: no reason');

    my $w = wf_of(status_doc($t), 'fixed');
    ok(!exists bundle_of($w, 'f@2')->{rollout},
       'a canary with a fixed weight has no "rollout"');

    my ($r) = api('fixed', 'pause');
    is($r->{status}, 409, 'pause of a workflow without a plan: 409');
    like($r->{content}, qr/no canary with a plan/, '... and why');
}


############################################################################
# steps advance while healthy; each waits for its interval; complete is
# said once across both workers and never promotes

{
    # the first sight of each step: the time before and after the status
    # read, and the time left of its interval then; a step that honours
    # its interval is seen no earlier than the previous one's interval end
    my (%seen, %first);
    my $t0 = time;
    while (time - $t0 < 10) {
        ask_many($t, [ map { ["/grow?n=$_"] } 1 .. 10 ]);
        my $before = time;
        my $ro = rollout('grow', 'g@2');
        my $after = time;
        $seen{ $ro->{step} }++;
        $first{ $ro->{step} } //= { before => $before, after => $after,
                                    left => $ro->{next_step_in_ms} };
        last if ($ro->{state} // '') eq 'complete';
        sleep 0.1;
    }
    my $ro = rollout('grow', 'g@2');
    is($ro->{state}, 'complete', 'grow: complete after its steps');
    is($ro->{step}, 3, 'grow: on its last step');
    near($ro->{weight_now}, 0.8, 'grow: weight now is the last step');
    is($ro->{next_step_in_ms}, undef, 'grow: no next step');
    is_deeply([ sort keys %seen ], [1, 2, 3], 'grow: went through 1, 2, 3');
    for my $s (1, 2) {
        my ($p, $n) = ($first{$s} || {}, $first{ $s + 1 } || {});
        ok(defined $p->{left} && defined $n->{after}
           && $n->{after} >= $p->{before} + $p->{left} / 1000,
           "grow: step @{[ $s + 1 ]} no earlier than step ${s}'s interval "
           . 'end') or diag(explain \%first);
    }

    # more traffic and time: no more steps, no promotion
    for (1 .. 3) {
        ask_many($t, [ map { ["/grow?m=$_"] } 1 .. 10 ]);
        sleep 0.5;
    }
    $ro = rollout('grow', 'g@2');
    is($ro->{state}, 'complete', 'grow: still complete');
    my @r = ask_many($t, [ map { ["/grow?z=$_"] } 1 .. 40 ]);
    ok(scalar(grep { $_->{variant} eq 'stable' } @r),
       'grow: stable still serves: complete never promotes');

    is(log_count(qr/canary "g\@2" \(sha256:[0-9a-f]{12}\): plan complete at 80\.00%, step 3 of 3/),
       1, 'grow: "plan complete" logged once across two workers');
    is(log_count(qr/canary "g\@2" \(sha256:[0-9a-f]{12}\): plan step 2 of 3, weight 50\.00%/),
       1, 'grow: step 2 logged once');
}


############################################################################
# without requests or status reads, a worker's timer steps a plan that
# needs no requests

{
    my $done = qr/workflow "idle" canary "i\@2" \(sha256:[0-9a-f]{12}\): plan complete at 30\.00%, step 3 of 3/;
    ok(wait_for(6, sub { $t->error_log =~ $done }, 0.1),
       'idle: steps and completes on the timer alone');
    like($t->error_log,
         qr/workflow "idle" canary "i\@2" \(sha256:[0-9a-f]{12}\): plan step 2 of 3, weight 20\.00%$/m,
         'idle: step 2 logged');
    ok(log_count(qr/workflow "idle" canary "i\@2" [^\n]*plan complete/) == 1,
       'idle: complete logged once');
}


############################################################################
# a step waits for min_requests

{
    ask_many($t, [ map { ["/needy?n=$_"] } 1 .. 10 ]);
    sleep 1.2;
    ask_many($t, [ map { ["/needy?m=$_"] } 1 .. 10 ]);
    my $ro = rollout('needy', 'n@2');
    is($ro->{step}, 1, 'needy: still on step 1 after its interval');
    is($ro->{waiting_for}, 'requests', 'needy: waiting for requests');
    is($ro->{next_step_in_ms}, 0, 'needy: its interval is over');
    cmp_ok($ro->{served_this_step}, '>', 0, 'needy: served counted');
}


############################################################################
# a trip at any step aborts the plan: from the next request on, all of
# the traffic goes to stable, and it stays there after the breaker is
# reset, until "resume" starts the plan over

{
    my ($r) = api('trips', 'advance');
    is($r->{status}, 200, 'trips: advance');
    my $ro = rollout('trips', 'x@2');
    is($ro->{step}, 2, 'trips: on step 2');

    $t->upstream_control('bad', "status=500\n");

    my ($errors, $n) = (0, 0);
    while ($errors < 3 && $n++ < 200) {
        my $x = ask($t, "/trips?n=$n");
        $errors++ if $x->{variant} eq 'canary' && $x->{status} == 500;
    }
    is($errors, 3, 'trips: three canary errors');
    my $next = ask($t, '/trips?n=next');
    is($next->{variant}, 'stable', 'trips: the next request goes to stable');

    $ro = rollout('trips', 'x@2');
    is($ro->{state}, 'aborted', 'trips: aborted');
    like($ro->{reason} // '', qr/breaker tripped \(consecutive\)/,
         'trips: the reason');
    is($ro->{aborted_at_step}, 2, 'trips: aborted at step 2');
    near($ro->{weight_now}, 0, 'trips: weight now 0');
    is($ro->{waiting_for}, undef, 'trips: waiting for nothing');
    ok(log_count(qr/\[warn\] .*workflow "trips" canary "x\@2" \(sha256:[0-9a-f]{12}\): plan aborted at step 2 of 3 \(50\.00%\): breaker tripped \(consecutive\)/) == 1,
       'trips: the abort logged once');

    # the breaker reset: the plan keeps the canary at 0
    $t->upstream_control('bad', '');
    ($r) = http($t, 'POST', '/api/workflows/trips/reset',
                '{"bundle":"x@2"}');
    is($r->{status}, 200, 'trips: breaker reset');
    my @all = ask_many($t, [ map { ["/trips?a=$_"] } 1 .. 40 ]);
    is(scalar(grep { $_->{variant} eq 'stable' } @all), 40,
       'trips: 40 of 40 requests to stable after the reset');

    ($r) = api('trips', 'advance');
    is($r->{status}, 409, 'trips: advance of an aborted plan: 409');

    ($r) = api('trips', 'resume');
    is($r->{status}, 200, 'trips: resume');
    $ro = rollout('trips', 'x@2');
    is($ro->{state}, 'running', 'trips: running again');
    is($ro->{step}, 1, 'trips: from the first step');
    near($ro->{weight_now}, 0.2, 'trips: at 20%');
    @all = ask_many($t, [ map { ["/trips?b=$_"] } 1 .. 60 ]);
    ok(scalar(grep { $_->{variant} eq 'canary' } @all),
       'trips: the canary serves again');

    # a trip at step 1 aborts too
    $t->upstream_control('bad', "status=500\n");
    ($errors, $n) = (0, 0);
    while ($errors < 3 && $n++ < 400) {
        my $x = ask($t, "/trips?c=$n");
        $errors++ if $x->{variant} eq 'canary' && $x->{status} == 500;
    }
    $next = ask($t, '/trips?c=next');
    is($next->{variant}, 'stable', 'trips: step 1: the next request goes '
       . 'to stable');
    $ro = rollout('trips', 'x@2');
    is($ro->{state}, 'aborted', 'trips: step 1: aborted');
    is($ro->{aborted_at_step}, 1, 'trips: aborted at step 1');
    $t->upstream_control('bad', '');
}


############################################################################
# sticky users only ever move stable -> canary, through every step; the
# fixed canary after the planned one keeps exactly its users

my @KEYS = map { "user-$_" } 1 .. 10000;

# the bundle of each key, through pipelined requests on one keep-alive
# connection
sub assign {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $t->port('nginx'),
                                  Proto => 'tcp', Timeout => 10)
        or die "connect: $!";
    binmode $s;
    my (%got, $buf);
    $buf = '';
    my $batch = 500;
    for (my $i = 0; $i < @KEYS; $i += $batch) {
        my $last = $i + $batch - 1;
        $last = $#KEYS if $last > $#KEYS;
        my @b = @KEYS[$i .. $last];
        my $req = join '', map {
            "GET /who HTTP/1.1\r\nHost: x\r\nX-User-Id: $_\r\n\r\n" } @b;
        my $off = 0;
        while ($off < length $req) {
            my $w = syswrite($s, $req, length($req) - $off, $off);
            die "write: $!" unless defined $w;
            $off += $w;
        }
        my $k = 0;
        while ($k < @b) {
            if ($buf =~ /\r\n\r\n/) {
                my $h = index($buf, "\r\n\r\n");
                my ($len) = substr($buf, 0, $h) =~ /Content-Length: (\d+)/i;
                die "no Content-Length" unless defined $len;
                if (length($buf) >= $h + 4 + $len) {
                    my $body = substr($buf, $h + 4, $len);
                    substr($buf, 0, $h + 4 + $len) = '';
                    chomp $body;
                    $got{ $b[$k++] } = $body;
                    next;
                }
            }
            my $n = sysread($s, my $chunk, 65536);
            die "read: " . ($n // $!) unless $n;
            $buf .= $chunk;
        }
    }
    close $s;
    return \%got;
}

{
    my $prev = assign();
    my %third = map { $_ => 1 } grep { $prev->{$_} eq 's@3' } @KEYS;
    my $n3 = keys %third;
    ok($n3 > 800 && $n3 < 1200, "sticky: the fixed 10% canary has $n3 keys");

    my @weights = (0.01, 0.05, 0.25, 0.50);
    my $t0 = time;

    for my $step (1 .. 4) {
        if ($step > 1) {
            my ($r) = api('sticky', 'advance');
            is($r->{status}, 200, "sticky: advance to step $step");
        }
        my $cur = $step == 1 ? $prev : assign();
        my @canary = grep { $cur->{$_} eq 's@2' } @KEYS;
        my $share = @canary / @KEYS;
        ok(abs($share - $weights[$step - 1]) < 0.02,
           "sticky: step $step: canary has " . scalar(@canary)
           . " of 10000 keys (weight $weights[$step - 1])");

        my @back = grep { $prev->{$_} eq 's@2' && $cur->{$_} ne 's@2' } @KEYS;
        is(scalar @back, 0, "sticky: step $step: no key left the canary")
            or diag("e.g. $back[0]: $cur->{$back[0]}");
        my @moved = grep { $prev->{$_} ne $cur->{$_}
                           && !($prev->{$_} eq 's@1' && $cur->{$_} eq 's@2') }
                    @KEYS;
        is(scalar @moved, 0, "sticky: step $step: keys only moved "
           . 'stable -> canary') or diag("e.g. $moved[0]: $prev->{$moved[0]} "
                                         . "-> $cur->{$moved[0]}");
        my %t3 = map { $_ => 1 } grep { $cur->{$_} eq 's@3' } @KEYS;
        is_deeply(\%t3, \%third, "sticky: step $step: the fixed canary "
                  . 'keeps its keys');
        $prev = $cur;
    }
    diag(sprintf 'sticky: 5 x 10,000 keys in %.1f s', time - $t0);

    my $ro = rollout('sticky', 's@2');
    is($ro->{state}, 'complete', 'sticky: complete at 50%');

    # rollback of a planned workflow: its users back to stable; resume:
    # the same users back on the canary
    my ($r) = api('sticky', 'rollback');
    is($r->{status}, 200, 'sticky: rollback');
    my $rb = assign();
    is(scalar(grep { $rb->{$_} ne 's@1' } @KEYS), 0,
       'sticky: rollback: every key on stable');
    ($r) = api('sticky', 'resume');
    is($r->{status}, 200, 'sticky: resume');
    my $back = assign();
    is(scalar(grep { $back->{$_} ne $prev->{$_} } @KEYS), 0,
       'sticky: resume: every key where it was');
}


############################################################################
# pause, resume, advance through the API

{
    my $r = $CTL_PAUSE;
    is($r->{status}, 200, 'ctl: pause');
    my $ro = rollout('ctl', 'c@2');
    is($ro->{state}, 'paused', 'ctl: paused');
    is($ro->{waiting_for}, 'pause', 'ctl: waiting for the pause');
    my $left = $ro->{next_step_in_ms};
    ok(defined $left && $left <= 1000, "ctl: $left ms of its interval left");

    sleep 1.3;
    ask_many($t, [ map { ["/ctl?n=$_"] } 1 .. 10 ]);
    $ro = rollout('ctl', 'c@2');
    is($ro->{step}, 1, 'ctl: paused: no step after the interval');
    is($ro->{next_step_in_ms}, $left, 'ctl: paused: the clock stands');

    ($r) = api('ctl', 'advance');
    is($r->{status}, 200, 'ctl: advance while paused');
    $ro = rollout('ctl', 'c@2');
    is($ro->{step}, 2, 'ctl: advanced to step 2');
    is($ro->{state}, 'paused', 'ctl: still paused');
    near($ro->{weight_now}, 0.2, 'ctl: weight 20%');

    ($r) = api('ctl', 'resume');
    is($r->{status}, 200, 'ctl: resume');
    $ro = rollout('ctl', 'c@2');
    is($ro->{state}, 'running', 'ctl: running');

    my $ok = wait_for(4, sub {
        ask_many($t, [ map { ["/ctl?m=$_"] } 1 .. 5 ]);
        (rollout('ctl', 'c@2')->{state} // '') eq 'complete';
    }, 0.2);
    ok($ok, 'ctl: resumed, it steps on its own to complete');

    ($r) = api('ctl', 'advance');
    is($r->{status}, 409, 'ctl: advance of a complete plan: 409');
    like($r->{content}, qr/complete/, '... says it is complete');
    ($r) = api('ctl', 'pause');
    is($r->{status}, 409, 'ctl: pause of a complete plan: 409');

    is(log_count(qr/ai_release: api: (?:pause|advance|resume) of workflow "ctl"/),
       3, 'ctl: the API actions logged');
}


############################################################################
# Prometheus

{
    my $r = $t->get('/status?format=prometheus');
    my $p = $r->{content};
    like($p, qr/^ai_release_rollout_state\{workflow="grow",bundle="g\@2",digest="sha256:[0-9a-f]{12}",variant="canary",state="complete"\} 1$/m,
         'prometheus: grow complete');
    like($p, qr/^ai_release_rollout_state\{workflow="grow",bundle="g\@2",digest="sha256:[0-9a-f]{12}",variant="canary",state="running"\} 0$/m,
         'prometheus: grow not running');
    like($p, qr/^ai_release_rollout_state\{workflow="trips",[^}]*state="aborted"\} 1$/m,
         'prometheus: trips aborted');
    like($p, qr/^ai_release_rollout_step\{workflow="sticky",bundle="s\@2",[^}]*\} 4$/m,
         'prometheus: sticky on step 4');
    like($p, qr/^ai_release_rollout_next_step_seconds\{workflow="keep",[^}]*\} \d+\.\d{3}$/m,
         'prometheus: keep has a next step');
    unlike($p, qr/^ai_release_rollout_next_step_seconds\{workflow="grow"/m,
           'prometheus: a complete plan has no next step');
    unlike($p, qr/ai_release_rollout_\w+\{workflow="fixed"/,
           'prometheus: nothing for a fixed canary');
    is(scalar(() = $p =~ /^# TYPE ai_release_rollout_state gauge$/mg), 1,
       'prometheus: one TYPE line');
}


############################################################################
# reloads: the same digest and plan keep the position, a changed plan or a
# new digest starts over

{
    api('keep', 'advance') for 1 .. 2;
    my $ro = rollout('keep', 'k@2');
    is($ro->{step}, 3, 'keep: on step 3');
    my $d1 = bundle_of(wf_of(status_doc($t), 'keep'), 'k@2')->{digest};

    ok($t->reload, 'reload, the same configuration');
    $ro = rollout('keep', 'k@2');
    is($ro->{step}, 3, 'keep: still on step 3 after the reload');
    near($ro->{weight_now}, 0.3, 'keep: still at 30%');
    is(rollout('grow', 'g@2')->{state}, 'complete',
       'grow: still complete after the reload');
    is(rollout('trips', 'x@2')->{state}, 'aborted',
       'trips: still aborted after the reload');

    config(keep => 'steps=10%,20%,30%,40% every=2h min_requests=0');
    ok($t->reload, 'reload, the plan changed (every=2h)');
    $ro = rollout('keep', 'k@2');
    is($ro->{step}, 1, 'keep: a changed plan starts over');
    near($ro->{weight_now}, 0.1, 'keep: at 10%');

    api('keep', 'advance');
    is(rollout('keep', 'k@2')->{step}, 2, 'keep: advanced to step 2');

    bundles(k => 'canary', model => 'k-canary-next');
    ok($t->reload, 'reload, a new digest for k@2');
    my $d2 = bundle_of(wf_of(status_doc($t), 'keep'), 'k@2')->{digest};
    isnt($d2, $d1, 'keep: the digest changed');
    $ro = rollout('keep', 'k@2');
    is($ro->{step}, 1, 'keep: a new digest starts over');
    is($ro->{state}, 'running', 'keep: running');
}

$t->done;
done_testing;
