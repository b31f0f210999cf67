#!/usr/bin/perl
# Reviewer corrections (issue 16): every answer of a workflow carries
# X-AI-Release-Id (stable, canary, failover, an upstream's error); a POST to
# ai_release_feedback counts each outcome in that bundle's slot, shown in
# the status JSON and Prometheus; correction_rate trips a bundle once
# min_feedback answers are judged and not before; counts survive a reload;
# every bad input is refused with its status and changes no counter (but
# the stale count of a 404); a forged id (a changed character, another
# workflow's fields, an id of an instance with another secret) never
# lands, while instances sharing ai_release_feedback_secret take each
# other's ids.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRClient;
use JSON::PP ();
use Time::HiRes qw(time sleep);

my $ID_RE = qr/^[A-Za-z0-9_-]{64}$/;

############################################################################
# setup: one instance with its own secret ($t), two sharing a secret file

my $t = AIRTest->new;
$t->upstream($_) for qw(stable canary fallback);

sub manifest {
    my ($port) = @_;
    return <<"Y";
name: wf
version: "1"
upstream: 127.0.0.1:$port
model: m-stable
Y
}

$t->write_file('bundles/wf.yaml', manifest($t->port('stable')) . <<"Y");
---
name: wf
version: "2"
upstream: 127.0.0.1:@{[ $t->port('canary') ]}
model: m-canary
---
name: wf
version: "3"
upstream: 127.0.0.1:@{[ $t->port('fallback') ]}
model: m-fallback
---
name: wf
version: "9"
upstream: 127.0.0.1:@{[ $t->port('dead') ]}
model: m-dead
Y

my $T = 'consecutive=0 min_requests=1000 window=60s cooldown=60s';

sub tconf {
    my ($gone_canary) = @_;
    return <<"C";
    ai_release_bundles %%DIR%%/bundles/*.yaml;

    ai_release_workflow fc {
        stable wf\@1;
        canary wf\@2 50%;
        sticky \$http_x_user_id;
        trip $T;
    }
    ai_release_workflow ft {
        stable wf\@1;
        canary wf\@2 100%;
        trip correction_rate=50% min_feedback=6 $T;
    }
    ai_release_workflow fm {
        stable wf\@1;
        canary wf\@2 50%;
        sticky \$http_x_user_id;
        trip correction_rate=90% min_feedback=20 canary_margin=5% $T;
    }
    ai_release_workflow fo {
        stable wf\@1;
        canary wf\@9 100%;
        failover on;
        trip off;
    }
    ai_release_workflow other {
        stable wf\@1;
    }
    ai_release_workflow gone {
        stable wf\@1;
        canary wf\@$gone_canary 100%;
        trip $T;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        proxy_http_version 1.1;
        proxy_set_header Connection "";

        location /fc    { ai_release fc;    proxy_pass http://ai_release; }
        location /ft    { ai_release ft;    proxy_pass http://ai_release; }
        location /fm    { ai_release fm;    proxy_pass http://ai_release; }
        location /fo    { ai_release fo;    proxy_pass http://ai_release; }
        location /other { ai_release other; proxy_pass http://ai_release; }
        location /gone  { ai_release gone;  proxy_pass http://ai_release; }
        location /quiet {
            ai_release other;
            ai_release_response_header off;
            proxy_pass http://ai_release;
        }
        location = /feedback { ai_release_feedback; }
        location = /status { ai_release_status; }
    }
C
}

$t->config(tconf(2), workers => 2);
$t->start;

# the fleet: two instances of one secret file, their bundles those of $t
my @fleet;
for my $i (0, 1) {
    my $f = AIRTest->new;
    $f->write_file('secret', "fleet-secret-0123456789abcdef\n");
    $f->write_file('bundles/wf.yaml', manifest($t->port('stable')));
    $f->config(<<'C');
    ai_release_bundles %%DIR%%/bundles/*.yaml;
    ai_release_feedback_secret %%DIR%%/secret;
    ai_release_workflow fc {
        stable wf@1;
    }
    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        location /fc { ai_release fc; proxy_pass http://ai_release; }
        location = /feedback { ai_release_feedback; }
        location = /status { ai_release_status; }
    }
C
    $f->start;
    push @fleet, $f;
}

############################################################################
# helpers

sub get_id {
    my ($inst, $path, %h) = @_;
    my $r = $inst->get($path, \%h);
    my $x = annotate($r);
    return ($x->{headers}{'x-ai-release-id'} // '', $x);
}

sub post_fb {
    my ($inst, $body) = @_;
    my $r = $inst->post('/feedback', $body);
    return ($r->{status}, $inst->json($r), $r);
}

sub one { JSON::PP::encode_json({ release_id => $_[0], outcome => $_[1] }) }

sub many {
    JSON::PP::encode_json([ map { { release_id => $_->[0],
                                    outcome => $_->[1] } } @_ ]);
}

# every bundle's feedback counts and the stale count, as one string
sub counters {
    my ($inst) = @_;
    my $doc = status_doc($inst) or return 'no status';
    my @c;
    for my $w (@{ $doc->{workflows} }) {
        for my $b (@{ $w->{bundles} }) {
            my $f = $b->{feedback} || {};
            push @c, join '/', $w->{name}, $b->{bundle},
                map { $f->{$_} // 'x' } qw(accepted corrected rejected);
        }
    }
    return join(' ', @c) . " stale=" . ($doc->{zone}{feedback_stale} // 'x');
}

sub fb_of {
    my ($inst, $wf, $bundle) = @_;
    return bundle_of(wf_of(status_doc($inst), $wf), $bundle)->{feedback}
           || {};
}

# a base64url id with character $i changed
sub flip {
    my ($id, $i) = @_;
    my $c = substr($id, $i, 1);
    substr($id, $i, 1) = $c eq 'A' ? 'B' : 'A';
    return $id;
}

############################################################################
# ids on every response

my (%seen, @stable_ids, @canary_ids);
for my $u (1 .. 40) {
    my ($id, $x) = get_id($t, "/fc?n=$u", 'X-User-Id' => "user$u");
    $seen{$id}++;
    push @stable_ids, $id if $x->{variant} eq 'stable' && $id =~ $ID_RE;
    push @canary_ids, $id if $x->{variant} eq 'canary' && $id =~ $ID_RE;
    last if @stable_ids >= 6 && @canary_ids >= 6;
}
ok(@stable_ids >= 6 && @canary_ids >= 6,
   'stable and canary answers each carry a 64-character base64url '
   . 'X-AI-Release-Id');
is(scalar(grep { $_ > 1 } values %seen), 0, 'no two answers share an id');

{
    my ($id, $x) = get_id($t, '/fo');
    is($x->{variant}, 'stable', 'failover: the stable bundle served');
    like($id, $ID_RE, 'failover: the answer carries an id');
    my ($st) = post_fb($t, one($id, 'accepted'));
    is($st, 200, 'failover: feedback on it is taken');
    is(fb_of($t, 'fo', 'wf@1')->{accepted}, 1,
       'failover: counted for the bundle that served (wf@1)');
    is(fb_of($t, 'fo', 'wf@9')->{accepted}, 0,
       'failover: not for the one that failed');

    my ($eid, $e) = get_id($t, '/other', 'X-Mock-Status' => 500);
    is($e->{status}, 500, 'an upstream error reaches the client');
    like($eid, $ID_RE, 'and carries an id too');

    my ($qid, $q) = get_id($t, '/quiet');
    ok(!exists $q->{headers}{'x-ai-release'} && $qid =~ $ID_RE,
       'ai_release_response_header off: no X-AI-Release, but an id');

    my $r = $t->get('/status');
    ok(!exists $r->{headers}{'x-ai-release-id'},
       'a location without a workflow: no id');
}

############################################################################
# counts

{
    my $before = fb_of($t, 'fc', 'wf@1');
    my ($st, $j) = post_fb($t, one($stable_ids[0], 'accepted'));
    is($st, 200, 'one object: 200');
    is($j->{counted}, 1, 'one object: counted 1');

    ($st, $j) = post_fb($t, many([ $stable_ids[1], 'corrected' ],
                                 [ $stable_ids[2], 'rejected' ],
                                 [ $stable_ids[3], 'accepted' ],
                                 [ $canary_ids[0], 'corrected' ]));
    is($st, 200, 'an array: 200');
    is($j->{counted}, 4, 'an array: counted 4');

    my $f = fb_of($t, 'fc', 'wf@1');
    is(join('/', map { $f->{$_} } qw(accepted corrected rejected)), '2/1/1',
       'stable: 2 accepted, 1 corrected, 1 rejected');
    is($f->{correction_rate}, 0.5, 'stable: correction rate 0.5');
    is(join('/', map { $f->{window}{$_} } qw(accepted corrected rejected)),
       '2/1/1', 'stable: the window holds them too');
    my $c = fb_of($t, 'fc', 'wf@2');
    is(join('/', map { $c->{$_} } qw(accepted corrected rejected)), '0/1/0',
       'canary: 1 corrected, beside stable');

    # the same id again counts again: an answer may be reviewed twice
    ($st) = post_fb($t, one($stable_ids[0], 'accepted'));
    is(fb_of($t, 'fc', 'wf@1')->{accepted}, 3, 'a second review counts');

    my $p = $t->get('/status?format=prometheus')->{content} // '';
    like($p, qr/^ai_release_feedback_total\{workflow="fc",bundle="wf\@1",[^}]*variant="stable",outcome="accepted"\} 3$/m,
         'Prometheus: ai_release_feedback_total, accepted');
    like($p, qr/^ai_release_feedback_total\{workflow="fc",bundle="wf\@2",[^}]*variant="canary",outcome="corrected"\} 1$/m,
         'Prometheus: the canary beside it');
    like($p, qr/^ai_release_feedback_stale_total\{zone="[^"]+"\} 0$/m,
         'Prometheus: the stale count');

    # a body held in a file (over client_body_buffer_size)
    my $pad = one($stable_ids[4], 'accepted') . (' ' x 40000);
    ($st) = post_fb($t, $pad);
    is($st, 200, 'a 40 KB body (read from a file) is taken');
    is(fb_of($t, 'fc', 'wf@1')->{accepted}, 4, 'and counted');
}

############################################################################
# every bad input: its status, a JSON error, no counter changed

my $good = $stable_ids[5];

my @bad = (
    [ 'malformed JSON', 400, '{"release_id":' ],
    [ 'unknown outcome', 400, one($good, 'fine') ],
    [ 'an outcome of another case', 400, one($good, 'Accepted') ],
    [ 'no release_id', 400, '{"outcome":"accepted"}' ],
    [ 'an empty array', 400, '[]' ],
    [ '101 items', 400, many(map { [ $good, 'accepted' ] } 1 .. 101) ],
    [ 'a good item and an unknown outcome', 400,
      many([ $good, 'accepted' ], [ $good, 'meh' ]) ],
    [ 'a flipped character', 403, one(flip($good, 20), 'corrected') ],
    [ 'a flipped MAC character', 403, one(flip($good, 60), 'corrected') ],
    [ 'a good item and a forged one', 403,
      many([ $good, 'accepted' ], [ flip($good, 30), 'accepted' ]) ],
    [ 'an id of no length', 403, one('', 'accepted') ],
    [ 'an id too long', 403, one($good . 'A', 'accepted') ],
);

for my $b (@bad) {
    my ($name, $want, $body) = @$b;
    my $before = counters($t);
    my ($st, $j) = post_fb($t, $body);
    is($st, $want, "$name: $want");
    ok(ref $j eq 'HASH' && $j->{error}{status} == $want
       && length($j->{error}{message} // ''), "$name: a JSON error")
        or diag explain $j;
    is(counters($t), $before, "$name: no counter changed");
}

{
    my $before = counters($t);
    my $r = $t->get('/feedback');
    is($r->{status}, 405, 'GET: 405');
    like($r->{headers}{allow} // '', qr/^POST$/, 'GET: Allow: POST');
    is(($t->json($r) || {})->{error}{status}, 405, 'GET: a JSON error');
    $r = $t->request('PUT', '/feedback', content => one($good, 'accepted'));
    is($r->{status}, 405, 'PUT: 405');

    $r = $t->post('/feedback', one($good, 'accepted') . (' ' x 70000));
    is($r->{status}, 413, 'a body over 64 KiB: 413');
    is(($t->json($r) || {})->{error}{status}, 413, '413: a JSON error');
    is(counters($t), $before, 'wrong method, too long: no counter changed');
}

############################################################################
# forged ids never land

{
    my ($oid) = get_id($t, '/other');
    # the version and workflow tag of an fc id on other's digest and MAC
    my $spliced = substr($good, 0, 12) . substr($oid, 12);
    my $before = counters($t);
    my ($st) = post_fb($t, one($spliced, 'rejected'));
    is($st, 403, "another workflow's id moved onto fc: 403");
    is(counters($t), $before, 'and no counter changed');

    # the genuine one lands in its own workflow only
    ($st) = post_fb($t, one($oid, 'rejected'));
    is($st, 200, "other's own id: 200");
    is(fb_of($t, 'other', 'wf@1')->{rejected}, 1, 'counted in other');
    is(fb_of($t, 'fc', 'wf@1')->{rejected}, 1, 'not in fc');

    # an instance with another secret refuses $t's ids, and $t theirs
    my ($fid) = get_id($fleet[0], '/fc');
    like($fid, $ID_RE, 'the fleet instance gives ids');
    my $fb = counters($fleet[1]);
    ($st) = post_fb($fleet[1], one($good, 'corrected'));
    is($st, 403, 'an id replayed at an instance with another secret: 403');
    is(counters($fleet[1]), $fb, 'and no counter changed there');
    $before = counters($t);
    ($st) = post_fb($t, one($fid, 'corrected'));
    is($st, 403, "the fleet's id at \$t: 403");
    is(counters($t), $before, 'and no counter changed');

    # a shared secret: feedback reaches any instance of the fleet
    ($st) = post_fb($fleet[1], one($fid, 'corrected'));
    is($st, 200, 'an id of one fleet instance is taken by another');
    is(fb_of($fleet[1], 'fc', 'wf@1')->{corrected}, 1, 'and counted there');
}

############################################################################
# correction_rate: not below min_feedback, then trips

{
    my @ids = map { (get_id($t, "/ft?n=$_"))[0] } 1 .. 6;
    my ($st) = post_fb($t, many([ $ids[0], 'corrected' ],
                                [ $ids[1], 'rejected' ],
                                [ $ids[2], 'corrected' ],
                                [ $ids[3], 'rejected' ]));
    is($st, 200, 'ft: 4 bad of 4 taken');
    my $b = bundle_of(wf_of(status_doc($t), 'ft'), 'wf@2');
    is($b->{breaker}{state}, 'closed',
       'ft: 100% corrected but 4 < min_feedback=6: closed');
    my (undef, $x) = get_id($t, '/ft?n=7');
    is($x->{variant}, 'canary', 'ft: the canary still serves');

    ($st) = post_fb($t, many([ $ids[4], 'accepted' ],
                             [ $ids[5], 'accepted' ]));
    is($st, 200, 'ft: 2 accepted more');
    $b = bundle_of(wf_of(status_doc($t), 'ft'), 'wf@2');
    is($b->{breaker}{state}, 'open', 'ft: 4 bad of 6 (67% >= 50%): open');
    is($b->{breaker}{last_trip_reason}, 'correction_rate',
       'ft: the trip reason is correction_rate');
    ok(abs(($b->{feedback}{window}{correction_rate} // 0) - 4 / 6) < 1e-6,
       'ft: the window\'s correction rate is 4/6');
    (undef, $x) = get_id($t, '/ft?n=8');
    is($x->{variant}, 'stable', 'ft: traffic goes to stable');
    is(ntrans($t, 'ft', 'wf@2', 'closed', 'open'), 1,
       'ft: one "closed -> open" line');
    my @l = transitions($t, 'ft', 'wf@2', 'closed', 'open');
    like($l[0] // '', qr/correction_rate: 2 corrected and 2 rejected of 6/,
         'ft: the line says why');
    my $p = $t->get('/status?format=prometheus')->{content} // '';
    like($p, qr/^ai_release_breaker_open_info\{workflow="ft",bundle="wf\@2",[^}]*,reason="correction_rate"\} 1$/m,
         'Prometheus: the open breaker with its reason');
}

############################################################################
# a canary against stable with the canary margin (correction_rate=90% is
# never reached): judged when the canary's own feedback is counted

{
    my (@s, @c);
    for my $u (1 .. 400) {
        my ($id, $x) = get_id($t, "/fm?n=$u", 'X-User-Id' => "m$u");
        push @s, $id if $x->{variant} eq 'stable' && @s < 40;
        push @c, $id if $x->{variant} eq 'canary' && @c < 21;
        last if @s >= 40 && @c >= 21;
    }
    ok(@s == 40 && @c == 21, 'fm: 40 stable and 21 canary ids');
    post_fb($t, many(map { [ $_, 'accepted' ] } @s[0 .. 9]));
    my ($st) = post_fb($t, many((map { [ $_, 'accepted' ] } @c[0 .. 9]),
                                (map { [ $_, 'corrected' ] } @c[10 .. 19])));
    is($st, 200, 'fm: the canary has 10 corrected of 20');
    is(bundle_of(wf_of(status_doc($t), 'fm'), 'wf@2')->{breaker}{state},
       'closed', 'fm: stable has 10 < min_feedback: no comparison, closed');
    post_fb($t, many(map { [ $_, 'accepted' ] } @s[10 .. 39]));
    is(bundle_of(wf_of(status_doc($t), 'fm'), 'wf@2')->{breaker}{state},
       'closed', "fm: stable's feedback does not judge the canary");
    ($st) = post_fb($t, one($c[20], 'accepted'));
    my $b = bundle_of(wf_of(status_doc($t), 'fm'), 'wf@2');
    is($b->{breaker}{state}, 'open',
       'fm: 10 of 21 against stable\'s 0 of 40: open by the margin');
    is($b->{breaker}{last_trip_reason}, 'correction_rate',
       'fm: reason correction_rate');
    like((transitions($t, 'fm', 'wf@2', 'closed', 'open'))[0] // '',
         qr/worse than stable by the canary margin/, 'fm: the line says so');
    is(bundle_of(wf_of(status_doc($t), 'fm'), 'wf@1')->{breaker}{state},
       'closed', 'fm: stable stays closed');
}

############################################################################
# reload: counts survive (same digest); a bundle no longer configured: 404

{
    my ($gid) = get_id($t, '/gone');
    my ($st) = post_fb($t, one($gid, 'accepted'));
    is($st, 200, 'gone: feedback on its canary wf@2 is taken');

    my $before = counters($t);
    $t->config(tconf(3), workers => 2);
    ok($t->reload, 'reload: the gone workflow\'s canary is now wf@3');

    my $after = counters($t);
    my %b = map { /^(\w+\/[^\/]+)\/(.*)$/ ? ($1 => $2) : () } split / /,
            $before;
    my %a = map { /^(\w+\/[^\/]+)\/(.*)$/ ? ($1 => $2) : () } split / /,
            $after;
    is(join(' ', map { "$_=$a{$_}" } grep { !/^gone/ } sort keys %a),
       join(' ', map { "$_=$b{$_}" } grep { !/^gone/ } sort keys %b),
       'every other count survives the reload');
    is($a{'gone/wf@1'}, $b{'gone/wf@1'}, "gone's stable keeps its counts");

    # ids made before the reload still verify: the secret is the zone's
    ($st) = post_fb($t, one($stable_ids[0], 'accepted'));
    is($st, 200, 'an id made before the reload is taken after it');
    is(fb_of($t, 'fc', 'wf@1')->{accepted}, 5, 'and counted');

    my $stale0 = status_doc($t)->{zone}{feedback_stale};
    $before = counters($t);
    my $j;
    ($st, $j) = post_fb($t, many([ $stable_ids[1], 'accepted' ],
                                 [ $gid, 'corrected' ]));
    is($st, 404, 'an id of a bundle no longer configured: 404');
    like($j->{error}{message} // '', qr/no longer configured/,
         '404: says so');
    (my $want = $before) =~ s/stale=(\d+)/'stale=' . ($1 + 1)/e;
    is(counters($t), $want,
       '404: nothing counted, not even the good item; stale +1');
    is($stale0, 0, 'no stale id before');
}

############################################################################
# the secret file: nginx -t refuses a short, missing or duplicate one

{
    my $c = AIRTest->new;
    $c->write_file('bundles/wf.yaml', manifest($t->port('stable')));
    $c->write_file('short', "too-short\n");
    $c->write_file('ok', "fleet-secret-0123456789abcdef\n");
    my @cases = (
        [ 'short', "ai_release_feedback_secret %%DIR%%/short;",
          qr/feedback secret file ".*short" holds 9 bytes, fewer than 16/ ],
        [ 'missing', "ai_release_feedback_secret %%DIR%%/nothing;",
          qr/open\(\) ".*nothing" failed/ ],
        [ 'duplicate', "ai_release_feedback_secret %%DIR%%/ok;\n"
                     . "    ai_release_feedback_secret %%DIR%%/ok;",
          qr/"ai_release_feedback_secret" directive is duplicate/ ],
        [ 'args', "ai_release_feedback_secret;", qr/invalid number of arguments/ ],
    );
    for my $k (@cases) {
        my ($name, $line, $re) = @$k;
        $c->config(<<"C");
    ai_release_bundles %%DIR%%/bundles/*.yaml;
    $line
    ai_release_workflow fc {
        stable wf\@1;
    }
    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        location = /feedback { ai_release_feedback; }
    }
C
        my ($rc, $out) = $c->test_config;
        isnt($rc, 0, "secret $name: nginx -t fails");
        like($out, $re, "secret $name: says why, in nginx.conf:")
            or diag $out;
        like($out, qr/in \S+nginx\.conf:\d+/, "secret $name: with the line");
    }
}

$t->check_log;
$_->check_log for @fleet;

done_testing();
