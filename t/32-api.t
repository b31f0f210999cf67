#!/usr/bin/perl
# ai_release_api: every action (rollback, pin, trip, reset, resume) and what
# it does to the routing of both workers at once, the overrides in the status
# JSON, every bad request (status codes, JSON error bodies, Allow on 405,
# 400, 404, 413), overrides across reloads (kept while the digests stay, gone
# for a canary with a new digest), "ai_release_api readonly", nginx's access
# rules in front of the API, and the notice log lines.  Other sites: a
# cross-site form (enctype=text/plain, the attack of issue 10), any Origin
# or Sec-Fetch-Site of another origin, a preflight (never answered with
# Access-Control-Allow-*) and a mutation without "Content-Type:
# application/json" are refused and change nothing, while same-origin
# requests and curl pass; "token_file=": 401 with WWW-Authenticate without
# the bearer token, reads stay open, and a bad token file fails nginx -t
# with the file and line.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRClient qw(ask_many wait_for status_doc wf_of bundle_of);
use JSON::PP;
use HTTP::Tiny;
use IO::Socket::INET;
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);
use MIME::Base64 qw(encode_base64);

my $BODY = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';
my $API  = '/ai-release/api';
my @USERS = map { "user-$_" } 1 .. 60;

############################################################################
# helpers

# several POSTs of $BODY at once, each on its own connection, read to EOF
sub many {
    my ($t, $reqs, %o) = @_;
    return ask_many($t, [ map { [ $_->[0], $_->[1], $BODY ] } @$reqs ], %o);
}

# user -> bundle for every user of @USERS, on fresh connections, 20 at a
# time; also returns the set of worker pids that answered
sub routes {
    my ($t, $path) = @_;
    my (%map, %pids);
    for (my $i = 0; $i < @USERS; $i += 20) {
        my @u = @USERS[$i .. ($i + 19 > $#USERS ? $#USERS : $i + 19)];
        my @r = many($t, [ map { [$path, { 'X-User-Id' => $_ }] } @u ]);
        for my $k (0 .. $#u) {
            $map{ $u[$k] } = $r[$k]{status} == 200 ? $r[$k]{bundle}
                                                    : "status $r[$k]{status}";
            $pids{ $r[$k]{worker} }++ if $r[$k]{worker};
        }
    }
    return wantarray ? (\%map, \%pids) : \%map;
}

sub summary {
    my ($map) = @_;
    my %n;
    $n{$_}++ for values %$map;
    return join(' ', map { "$_=$n{$_}" } sort keys %n);
}

sub all_to {
    my ($map, $b) = @_;
    return !grep { $_ ne $b } values %$map;
}

sub same_routes {
    my ($a, $b) = @_;
    my @diff = grep { ($a->{$_} // '') ne ($b->{$_} // '') } @USERS;
    diag('users routed differently: '
         . join(', ', map { "$_ $a->{$_} vs $b->{$_}" } @diff[0 .. ($#diff > 4 ? 4 : $#diff)]))
        if @diff;
    return !@diff;
}

sub api {
    my ($t, $method, $path, $body, %o) = @_;
    my %h = %{ $o{headers} || {} };
    $h{'Content-Type'} //= 'application/json' if defined $body;
    my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 0, proxy => undef,
                             http_proxy => undef, https_proxy => undef,
                             $o{from} ? (local_address => $o{from}) : ());
    my $r = $ua->request($method, 'http://127.0.0.1:' . $t->port('nginx')
                                  . $path,
                         { headers => \%h,
                           defined $body ? (content => $body) : () });
    my $j = eval { JSON::PP->new->utf8->decode($r->{content} // '') };
    return wantarray ? ($r, $j) : $r;
}

sub post { my ($t, $path, $body, %o) = @_; api($t, 'POST', $path, $body // '', %o) }

# a JSON error of the given status
sub is_error {
    my ($r, $status, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $j = eval { JSON::PP->new->utf8->decode($r->{content} // '') };
    my $ok = $r->{status} == $status
        && ($r->{headers}{'content-type'} // '') =~ m{^application/json}
        && ref $j eq 'HASH' && ref $j->{error} eq 'HASH'
        && ($j->{error}{status} // 0) == $status
        && defined $j->{error}{message} && !ref $j->{error}{message}
        && length $j->{error}{message};
    ok($ok, "$name: $status with a JSON error")
        or diag("got $r->{status} "
                . ($r->{headers}{'content-type'} // '-') . ": "
                . substr($r->{content} // '', 0, 300));
    return $j;
}

sub effective {
    my ($w) = @_;
    return join ' ', map { "$_->{bundle}=" . (0 + ($_->{weight}{effective} // -1)) }
                     @{ $w->{bundles} || [] };
}

sub iso {
    my ($s) = @_;
    return undef unless defined $s
        && $s =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$/;
    return timegm($6, $5, $4, $3, $2 - 1, $1);
}

sub override_ok {
    my ($list, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @l = @{ $list || [] };
    my @bad;
    push @bad, 'count ' . scalar(@l) . ' != ' . scalar(@$want)
        unless @l == @$want;
    for my $i (0 .. $#$want) {
        my ($o, $w) = ($l[$i] || {}, $want->[$i]);
        push @bad, "action $o->{action}" if ($o->{action} // '') ne $w->{action};
        push @bad, 'bundle ' . ($o->{bundle} // 'none')
            if ($o->{bundle} // '') ne ($w->{bundle} // '');
        push @bad, 'by ' . ($o->{by} // 'none')
            if ($o->{by} // '') ne ($w->{by} // '127.0.0.1');
        my $at = iso($o->{at});
        push @bad, 'at ' . ($o->{at} // 'none')
            unless $at && abs($at - time) < 120;
    }
    ok(!@bad, $name) or diag(join('; ', @bad) . ': '
                             . JSON::PP->new->canonical->encode(\@l));
}

sub notices {
    my ($t, $action, $wf, $by) = @_;
    $by //= '127.0.0.1';
    return scalar grep {
        /\[notice\] .*ai_release: api: \Q$action\E of workflow "\Q$wf\E"(?: .*)? by \Q$by\E\b/
    } split /\n/, $t->error_log;
}

# no response of the API grants anything to another origin
sub no_cors {
    my ($r, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my @h = grep { /^access-control-/i } keys %{ $r->{headers} || {} };
    ok(!@h, "$name: no Access-Control-* header") or diag("got: @h");
}

# what an action would have changed (routing aside): workflow w as
# configured, and no action logged since $n notices
sub api_notices { my ($t) = @_; scalar(() = $t->error_log =~ /ai_release: api: \w+ of workflow /g) }

sub w_unchanged {
    my ($t, $n, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $w = wf_of(status_doc($t), 'w');
    my @bad;
    push @bad, 'overrides ' . scalar(@{ $w->{overrides} || [] })
        if @{ $w->{overrides} || [] };
    push @bad, 'weights ' . effective($w)
        if effective($w) ne 'w@1=0.5 w@2=0.5 w@3=0';
    for my $id (qw(w@1 w@2 w@3)) {
        my $st = bundle_of($w, $id)->{breaker}{state} // 'none';
        push @bad, "$id $st" if $st ne 'closed';
    }
    push @bad, 'actions logged: ' . (api_notices($t) - $n)
        if api_notices($t) != $n;
    ok(!@bad, "$name: nothing changed") or diag(join '; ', @bad);
}

############################################################################
# setup

my $t = AIRTest->new;
$t->upstream($_) for qw(one two three);

# as "head -c 32 /dev/urandom | base64 > api.token" makes it
my $TOKEN = encode_base64(join('', map { chr int rand 256 } 1 .. 32), '');
$t->write_file('api.token', "$TOKEN\n");

sub write_bundles {
    my (%o) = @_;
    my $y = '';
    for my $b (['w', 1, 'one'], ['w', 2, 'two'], ['w', 3, 'three'],
               ['v', 1, 'one'], ['v', 2, 'two'])
    {
        my ($n, $v, $up) = @$b;
        my $model = $o{"$n\@$v"} // "model-$n-$v";
        $y .= "---\nname: $n\nversion: \"$v\"\n"
            . "upstream: 127.0.0.1:" . $t->port($up) . "\n"
            . "model: $model\n";
    }
    $t->write_file('bundles/all.yaml', $y);
}
write_bundles();

$t->config(<<"C", workers => 2, log_level => 'notice');
    ai_release_bundles %%DIR%%/bundles/*.yaml;

    ai_release_workflow w {
        stable   w\@1;
        canary   w\@2 50%;
        fallback w\@3;
        sticky   \$http_x_user_id;
        # a breaker opened by the error budget would be probed after 1s
        trip cooldown=1s;
    }

    ai_release_workflow v {
        stable   v\@1;
        canary   v\@2 50%;
        sticky   \$http_x_user_id;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%% reuseport;
        add_header X-Worker \$pid always;

        location /w { ai_release w; proxy_pass http://ai_release; }
        location /v { ai_release v; proxy_pass http://ai_release; }

        location = /status { ai_release_status; }

        location $API/ { ai_release_api; }

        location /ro/ { ai_release_api readonly; }

        location /tok/ { ai_release_api token_file=%%DIR%%/api.token; }

        location /denied/ {
            allow 127.0.0.2;
            deny  all;
            ai_release_api;
        }
    }
C
$t->start;

############################################################################
# the routing as configured

my ($base, $pids) = routes($t, '/w');
my $vbase = routes($t, '/v');
my @canary_users = grep { $base->{$_} eq 'w@2' } @USERS;
ok(@canary_users >= 10 && @canary_users <= 50,
   'w: 50% canary: ' . summary($base));
ok(!grep({ $_ !~ /^w\@[12]$/ } values %$base), 'w: stable or canary only');
is(scalar keys %$pids, 2, 'both workers answer (fresh connections, '
   . 'reuseport): ' . join(', ', map { "$_: $pids->{$_}" } sort keys %$pids));
{
    my $again = routes($t, '/w');
    ok(same_routes($base, $again), 'w: sticky routing is stable');
}

############################################################################
# reading

{
    my ($r, $j) = api($t, 'GET', "$API/workflows");
    is($r->{status}, 200, 'GET workflows: 200');
    like($r->{headers}{'content-type'} // '', qr{^application/json},
         'GET workflows: JSON');
    is(join(',', map { $_->{name} } @{ $j->{workflows} || [] }), 'w,v',
       'GET workflows: every workflow');
    my $doc = status_doc($t);
    is(join(' ', map { "$_->{role}:$_->{bundle}:$_->{digest}" }
                 @{ wf_of($j, 'w')->{bundles} || [] }),
       join(' ', map { "$_->{role}:$_->{bundle}:$_->{digest}" }
                 @{ wf_of($doc, 'w')->{bundles} || [] }),
       'GET workflows: the workflow objects of the status JSON');

    ($r, $j) = api($t, 'GET', "$API/workflows/w");
    is($r->{status}, 200, 'GET workflows/w: 200');
    is($j->{name}, 'w', 'GET workflows/w: the workflow object');
    is(scalar @{ $j->{bundles} || [] }, 3, 'GET workflows/w: 3 bundles');
    is_deeply($j->{overrides}, [], 'GET workflows/w: no overrides');
    is(effective($j), 'w@1=0.5 w@2=0.5 w@3=0', 'effective weights as '
       . 'configured');
}

############################################################################
# bad requests: nothing changes

{
    is_error(scalar api($t, 'GET', "$API/workflows/nope"), 404,
             'GET an unknown workflow');
    is_error(scalar api($t, 'GET', "$API/nope"), 404, 'GET an unknown path');
    # names that are not UTF-8 still get an error with a message
    is_error(scalar api($t, 'GET', "$API/workflows/%FF"), 404,
             'GET a workflow name that is not UTF-8');
    is_error(scalar api($t, 'GET', "$API/%FE%FF"), 404,
             'GET a path that is not UTF-8');
    is_error(scalar post($t, "$API/workflows/w/pin",
                         '{"bundle":"a' . ("\xc3\xa9" x 100) . '"}'),
             404, 'pin: a long unknown bundle name of two-byte characters');
    is_error(scalar api($t, 'GET', "$API/"), 404, 'GET the bare prefix');
    is_error(scalar post($t, "$API/workflows/w/bogus", '{}'), 404,
             'POST an unknown action');
    is_error(scalar post($t, "$API/workflows/w/rollback/more", '{}'), 404,
             'POST below an action');
    is_error(scalar post($t, "$API/workflows/nope/rollback", '{}'), 404,
             'POST rollback of an unknown workflow');
    is_error(scalar post($t, "$API/workflows/nope/pin", '{"bundle":"w@1"}'),
             404, 'POST pin of an unknown workflow');

    my %allow = (
        "POST $API/workflows"            => qr/^GET\b/,
        "POST $API/workflows/w"          => qr/^GET\b/,
        "DELETE $API/workflows/w"        => qr/^GET\b/,
        "PUT $API/workflows/w"           => qr/^GET\b/,
        "GET $API/workflows/w/rollback"  => qr/^POST$/,
        "GET $API/workflows/w/pin"       => qr/^POST$/,
        "PUT $API/workflows/w/trip"      => qr/^POST$/,
        "DELETE $API/workflows/w/resume" => qr/^POST$/,
    );
    for my $k (sort keys %allow) {
        my ($m, $p) = split / /, $k;
        my $r = api($t, $m, $p, $m eq 'GET' || $m eq 'DELETE' ? undef : '{}');
        is_error($r, 405, $k);
        like($r->{headers}{allow} // '', $allow{$k},
             "$k: Allow: " . ($r->{headers}{allow} // 'missing'));
        unlike($r->{headers}{allow} // '', qr/\b$m\b/,
               "$k: Allow does not list $m") unless $m eq 'GET';
    }

    for my $a (qw(pin trip reset)) {
        is_error(scalar post($t, "$API/workflows/w/$a", '{"bundle":'), 400,
                 "$a: malformed JSON");
        is_error(scalar post($t, "$API/workflows/w/$a", '{}'), 400,
                 "$a: no \"bundle\"");
        is_error(scalar post($t, "$API/workflows/w/$a", ''), 400,
                 "$a: no body");
        is_error(scalar post($t, "$API/workflows/w/$a", '{"bundle":2}'), 400,
                 "$a: \"bundle\" not a string");
        is_error(scalar post($t, "$API/workflows/w/$a", '{"bundel":"w@2"}'),
                 400, "$a: a misspelt key");
        is_error(scalar post($t, "$API/workflows/w/$a", '{"bundle":"w@9"}'),
                 404, "$a: an unknown bundle");
        is_error(scalar post($t, "$API/workflows/w/$a", '{"bundle":"v@1"}'),
                 404, "$a: a bundle of another workflow");
    }
    is_error(scalar post($t, "$API/workflows/w/rollback", 'not json'), 400,
             'rollback: malformed JSON');
    is_error(scalar post($t, "$API/workflows/w/pin", '["w@1"]'), 400,
             'pin: JSON that is not an object');

    # 18 KiB: too large, with a length and chunked
    my $big = '{"bundle":"w@2","pad":"' . ('x' x (18 * 1024 - 25)) . '"}';
    is(length $big, 18 * 1024, '18 KiB body');
    is_error(scalar post($t, "$API/workflows/w/pin", $big), 413,
             'pin: an 18 KiB body');
    is_error(scalar post($t, "$API/workflows/w/rollback", $big), 413,
             'rollback: an 18 KiB body');
    {
        my $s = $t->stream("$API/workflows/w/pin", sprintf("%x\r\n%s\r\n0\r\n\r\n",
                                                           length $big, $big),
                           { 'Transfer-Encoding' => 'chunked' });
        is($s->{status}, 413, 'pin: an 18 KiB chunked body: 413');
    }
    # 16 KiB exactly is allowed
    my $max = '{"pad":"' . ('y' x (16 * 1024 - 10)) . '"}';
    is(length $max, 16 * 1024, '16 KiB body');
    my ($r, $j) = post($t, "$API/workflows/w/resume", $max);
    is($r->{status}, 200, 'resume with a body of exactly 16 KiB: 200');

    my $doc = status_doc($t);
    is_deeply(wf_of($doc, 'w')->{overrides}, [], 'w: still no overrides');
    is(effective(wf_of($doc, 'w')), 'w@1=0.5 w@2=0.5 w@3=0',
       'w: weights unchanged');
    ok(same_routes($base, scalar routes($t, '/w')),
       'w: routing unchanged after the bad requests');
    is(notices($t, $_, 'w'), 0, "no \"$_\" logged") for qw(rollback pin trip);
}

############################################################################
# rollback: every canary user back to stable, on both workers, at once

my $rollback_at;
{
    my ($r, $j) = post($t, "$API/workflows/w/rollback", '');
    is($r->{status}, 200, 'rollback: 200');
    ok($j->{ok} && JSON::PP::is_bool($j->{ok}), 'rollback: "ok": true');
    is($j->{action}, 'rollback', 'rollback: "action": "rollback"');
    is($j->{workflow}{name}, 'w', 'rollback: the workflow after the change');
    is(effective($j->{workflow}), 'w@1=1 w@2=0 w@3=0',
       'rollback: canary effective weight 0, stable 1');
    override_ok($j->{workflow}{overrides}, [{ action => 'rollback' }],
                'rollback: listed in the answer');

    my ($m, $p) = routes($t, '/w');
    ok(all_to($m, 'w@1'), 'rollback: every user on stable: ' . summary($m));
    is(scalar keys %$p, 2, 'rollback: on both workers');

    my $doc = status_doc($t);
    my $w = wf_of($doc, 'w');
    override_ok($w->{overrides}, [{ action => 'rollback' }],
                'rollback: in the status JSON with by and at');
    $rollback_at = $w->{overrides}[0]{at};
    is(effective($w), 'w@1=1 w@2=0 w@3=0', 'rollback: status weights');
    is(bundle_of($w, 'w@2')->{weight}{configured}, 0.5,
       'rollback: configured weight kept');
    is(bundle_of($w, 'w@2')->{breaker}{state}, 'closed',
       'rollback: the canary breaker is not touched');
    is_deeply(wf_of($doc, 'v')->{overrides}, [], 'rollback: v untouched');
    ok(same_routes($vbase, scalar routes($t, '/v')), 'v: routing untouched');
    ok(wait_for(3, sub { notices($t, 'rollback', 'w') == 1 }),
       'rollback: logged at notice');
}

# a reload with the same configuration keeps it
{
    ok($t->reload, 'reload, same configuration');
    my ($m, $p) = routes($t, '/w');
    ok(all_to($m, 'w@1'), 'after the reload: still every user on stable: '
       . summary($m));
    is(scalar keys %$p, 2, 'after the reload: both new workers');
    my $w = wf_of(status_doc($t), 'w');
    override_ok($w->{overrides}, [{ action => 'rollback' }],
                'after the reload: the rollback is still listed');
    is($w->{overrides}[0]{at}, $rollback_at, 'after the reload: same time');
    is(effective($w), 'w@1=1 w@2=0 w@3=0', 'after the reload: weights');
}

# resume restores the configured routing
{
    my ($r, $j) = post($t, "$API/workflows/w/resume", '{}');
    is($r->{status}, 200, 'resume: 200');
    is($j->{action}, 'resume', 'resume: action');
    is_deeply($j->{workflow}{overrides}, [], 'resume: no overrides left');
    is(effective($j->{workflow}), 'w@1=0.5 w@2=0.5 w@3=0',
       'resume: configured weights');
    ok(same_routes($base, scalar routes($t, '/w')),
       'resume: every user back on the configured bundle');
    ok(wait_for(3, sub { notices($t, 'resume', 'w') >= 1 }),
       'resume: logged at notice');
}

############################################################################
# pin

{
    my ($r, $j) = post($t, "$API/workflows/w/pin", '{"bundle":"w@2"}');
    is($r->{status}, 200, 'pin w@2: 200');
    is($j->{action}, 'pin', 'pin: action');
    is(effective($j->{workflow}), 'w@1=0 w@2=1 w@3=0',
       'pin: the pinned bundle 1, every other 0');
    override_ok($j->{workflow}{overrides},
                [{ action => 'pin', bundle => 'w@2' }], 'pin: listed');
    my ($m, $p) = routes($t, '/w');
    ok(all_to($m, 'w@2'), 'pin w@2: all traffic to w@2: ' . summary($m));
    is(scalar keys %$p, 2, 'pin: on both workers');
    my $w = wf_of(status_doc($t), 'w');
    override_ok($w->{overrides}, [{ action => 'pin', bundle => 'w@2' }],
                'pin: in the status JSON');

    # the fallback can be pinned too; a new pin replaces the old one
    ($r, $j) = post($t, "$API/workflows/w/pin", '{"bundle":"w@3"}');
    is($r->{status}, 200, 'pin w@3: 200');
    is(effective($j->{workflow}), 'w@1=0 w@2=0 w@3=1', 'pin w@3: weights');
    override_ok($j->{workflow}{overrides},
                [{ action => 'pin', bundle => 'w@3' }],
                'pin w@3: replaces the pin of w@2');
    $m = routes($t, '/w');
    ok(all_to($m, 'w@3'), 'pin w@3: all traffic to the fallback: '
       . summary($m));
    ok(wait_for(3, sub { notices($t, 'pin', 'w') >= 2 }),
       'pin: logged at notice');

    ($r, $j) = post($t, "$API/workflows/w/resume", '');
    is($r->{status}, 200, 'resume after pin: 200');
    ok(same_routes($base, scalar routes($t, '/w')),
       'resume after pin: configured routing');
}

############################################################################
# trip and reset

{
    my $before = bundle_of(wf_of(status_doc($t), 'w'), 'w@2');
    ok($before->{window}{total} > 0, 'w@2 has counts in its window: '
       . $before->{window}{total});

    my ($r, $j) = post($t, "$API/workflows/w/trip", '{"bundle":"w@2"}');
    my $t_trip = time;
    is($r->{status}, 200, 'trip w@2: 200');
    is($j->{action}, 'trip', 'trip: action');
    my $b = bundle_of($j->{workflow}, 'w@2');
    is($b->{breaker}{state}, 'open', 'trip: breaker open');
    is($b->{breaker}{last_trip_reason}, 'manual', 'trip: last_trip_reason '
       . 'manual');
    ok($b->{breaker}{manual}, 'trip: manual true');
    is($b->{weight}{effective}, 0, 'trip: effective weight 0');
    override_ok($j->{workflow}{overrides},
                [{ action => 'trip', bundle => 'w@2' }], 'trip: listed');

    my ($m, $p) = routes($t, '/w');
    ok(all_to($m, 'w@1'), 'trip: the canary users go to stable: '
       . summary($m));
    is(scalar keys %$p, 2, 'trip: on both workers');

    # no automatic recovery: with cooldown=1s an automatic trip would be
    # probed by now
    my ($rounds, $leak) = (0, 0);
    while (time < $t_trip + 2.5 || $rounds < 2) {
        $m = routes($t, '/w');
        $leak++ unless all_to($m, 'w@1');
        $rounds++;
    }
    ok(!$leak, "trip: no request reached w\@2 for 2.5 s ($rounds rounds), "
       . 'no probes');
    my $w = wf_of(status_doc($t), 'w');
    $b = bundle_of($w, 'w@2');
    is($b->{breaker}{state}, 'open', 'trip: still open after the cooldown');
    is($b->{breaker}{last_trip_reason}, 'manual', 'trip: status JSON: manual');
    ok($b->{breaker}{manual}, 'trip: status JSON: manual true');
    override_ok($w->{overrides}, [{ action => 'trip', bundle => 'w@2' }],
                'trip: in the status JSON');
    ok(wait_for(3, sub { notices($t, 'trip', 'w') >= 1 }),
       'trip: logged at notice');

    ($r, $j) = post($t, "$API/workflows/w/reset", '{"bundle":"w@2"}');
    is($r->{status}, 200, 'reset w@2: 200');
    is($j->{action}, 'reset', 'reset: action');
    $b = bundle_of($j->{workflow}, 'w@2');
    is($b->{breaker}{state}, 'closed', 'reset: breaker closed');
    ok(!$b->{breaker}{manual}, 'reset: manual false');
    is($b->{window}{total}, 0, 'reset: fresh window counters');
    is_deeply($j->{workflow}{overrides}, [], 'reset: the manual trip is gone');
    ok(same_routes($base, scalar routes($t, '/w')),
       'reset: the canary users are back');
    ok(wait_for(3, sub { notices($t, 'reset', 'w') >= 1 }),
       'reset: logged at notice');
}

# a tripped stable sends its users to the fallback; resume clears the trip
{
    my ($r, $j) = post($t, "$API/workflows/w/trip", '{"bundle":"w@1"}');
    is($r->{status}, 200, 'trip w@1 (stable): 200');
    my $m = routes($t, '/w');
    my @bad = grep { $m->{$_} ne ($base->{$_} eq 'w@1' ? 'w@3' : 'w@2') }
              @USERS;
    ok(!@bad, 'trip stable: its users go to the fallback, the canary users '
       . 'stay: ' . summary($m));

    ($r, $j) = post($t, "$API/workflows/w/resume", '');
    is($r->{status}, 200, 'resume: 200');
    is(bundle_of($j->{workflow}, 'w@1')->{breaker}{state}, 'closed',
       'resume: drops the manual trip');
    is_deeply($j->{workflow}{overrides}, [], 'resume: no overrides');
    ok(same_routes($base, scalar routes($t, '/w')),
       'resume: configured routing');
}

############################################################################
# ai_release_api readonly: reads work, POSTs answer 403, nothing changes

{
    my ($r, $j) = api($t, 'GET', '/ro/workflows');
    is($r->{status}, 200, 'readonly: GET workflows: 200');
    is(join(',', map { $_->{name} } @{ $j->{workflows} || [] }), 'w,v',
       'readonly: the workflows');
    ($r, $j) = api($t, 'GET', '/ro/workflows/w');
    is($r->{status}, 200, 'readonly: GET workflows/w: 200');

    my $n = () = $t->error_log =~ /ai_release: api: /g;
    for my $a (qw(rollback resume)) {
        is_error(scalar post($t, "/ro/workflows/w/$a", '{}'), 403,
                 "readonly: POST $a");
    }
    for my $a (qw(pin trip reset)) {
        is_error(scalar post($t, "/ro/workflows/w/$a", '{"bundle":"w@2"}'),
                 403, "readonly: POST $a");
    }
    my $doc = status_doc($t);
    is_deeply(wf_of($doc, 'w')->{overrides}, [], 'readonly: no overrides');
    is(effective(wf_of($doc, 'w')), 'w@1=0.5 w@2=0.5 w@3=0',
       'readonly: weights unchanged');
    is(bundle_of(wf_of($doc, 'w'), 'w@2')->{breaker}{state}, 'closed',
       'readonly: w@2 not tripped');
    ok(same_routes($base, scalar routes($t, '/w')),
       'readonly: routing unchanged');
    my $n2 = () = $t->error_log =~ /ai_release: api: /g;
    is($n2, $n, 'readonly: no action logged');
}

############################################################################
# allow/deny in front of the API

{
    my $n = () = $t->error_log =~ /ai_release: api: /g;
    my $r = post($t, '/denied/workflows/w/rollback', '{}');
    is($r->{status}, 403, 'denied: POST rollback from 127.0.0.1: 403');
    $r = post($t, '/denied/workflows/w/pin', '{"bundle":"w@2"}');
    is($r->{status}, 403, 'denied: POST pin from 127.0.0.1: 403');
    $r = api($t, 'GET', '/denied/workflows');
    is($r->{status}, 403, 'denied: GET from 127.0.0.1: 403');

    my $doc = status_doc($t);
    is_deeply(wf_of($doc, 'w')->{overrides}, [], 'denied: no overrides');
    is(effective(wf_of($doc, 'w')), 'w@1=0.5 w@2=0.5 w@3=0',
       'denied: weights unchanged');
    ok(same_routes($base, scalar routes($t, '/w')),
       'denied: routing unchanged');
    my $n2 = () = $t->error_log =~ /ai_release: api: /g;
    is($n2, $n, 'denied: no action logged');

    # the allowed address gets through, and is named as the author
    SKIP: {
        my $probe = IO::Socket::INET->new(LocalAddr => '127.0.0.2',
                                          PeerAddr => '127.0.0.1',
                                          PeerPort => $t->port('nginx'),
                                          Proto => 'tcp', Timeout => 3);
        skip 'cannot connect from 127.0.0.2', 5 unless $probe;
        close $probe;
        my ($r, $j) = post($t, '/denied/workflows/w/rollback', '{}',
                           from => '127.0.0.2');
        is($r->{status}, 200, 'allowed: rollback from 127.0.0.2: 200');
        override_ok($j->{workflow}{overrides},
                    [{ action => 'rollback', by => '127.0.0.2' }],
                    'allowed: "by" names 127.0.0.2');
        ok(all_to(scalar routes($t, '/w'), 'w@1'), 'allowed: rolled back');
        ok(wait_for(3, sub {
               notices($t, 'rollback', 'w', '127.0.0.2') == 1 }),
           'allowed: logged with 127.0.0.2');
        ($r) = post($t, '/denied/workflows/w/resume', '', from => '127.0.0.2');
        is($r->{status}, 200, 'allowed: resume from 127.0.0.2: 200');
    }
    ok(same_routes($base, scalar routes($t, '/w')), 'configured routing');
}

############################################################################
# a reload with a new digest for the rolled-back canary brings it back;
# the override of a workflow whose digests stay is kept

{
    my $old = bundle_of(wf_of(status_doc($t), 'w'), 'w@2')->{digest};
    my ($r) = post($t, "$API/workflows/w/rollback", '');
    is($r->{status}, 200, 'rollback w');
    ($r) = post($t, "$API/workflows/v/rollback", '');
    is($r->{status}, 200, 'rollback v');
    ok(all_to(scalar routes($t, '/w'), 'w@1'), 'w rolled back');
    ok(all_to(scalar routes($t, '/v'), 'v@1'), 'v rolled back');

    write_bundles('w@2' => 'model-w-2-fixed');
    ok($t->reload, 'reload with a new model (digest) for w@2');

    my $doc = status_doc($t);
    my $w = wf_of($doc, 'w');
    my $b = bundle_of($w, 'w@2');
    isnt($b->{digest}, $old, 'w@2 has a new digest');
    is($b->{model}, 'model-w-2-fixed', 'w@2: the new model');
    is_deeply($w->{overrides}, [], 'w: the rollback is gone with the old '
       . 'digest');
    is(effective($w), 'w@1=0.5 w@2=0.5 w@3=0', 'w: configured weights');
    my ($m, $p) = routes($t, '/w');
    ok(same_routes($base, $m), 'w: the canary is back for its users: '
       . summary($m));
    is(scalar keys %$p, 2, 'w: on both workers');

    override_ok(wf_of($doc, 'v')->{overrides}, [{ action => 'rollback' }],
                'v: the rollback is kept (digests unchanged)');
    ok(all_to(scalar routes($t, '/v'), 'v@1'), 'v: still rolled back');

    ($r) = post($t, "$API/workflows/v/resume", '');
    is($r->{status}, 200, 'resume v');
    ok(same_routes($vbase, scalar routes($t, '/v')), 'v: configured routing');
}

############################################################################
# other sites: an operator's browser is on an allowed address, so the
# address rules cannot stop a page elsewhere from posting through it

my $ORIGIN = 'http://127.0.0.1:' . $t->port('nginx');
{
    my $n = api_notices($t);

    # the attack of issue 10: a cross-site HTML form, enctype=text/plain,
    # whose one field makes the body {"bundle":"w@1","x":"="}; as Chromium
    # sends it
    my %form = ('Content-Type' => 'text/plain',
                'Origin' => 'http://evil.example',
                'Sec-Fetch-Site' => 'cross-site',
                'Sec-Fetch-Mode' => 'navigate',
                'Sec-Fetch-Dest' => 'document');
    my $r = post($t, "$API/workflows/w/trip", '{"bundle":"w@1","x":"="}',
                 headers => \%form);
    my $j = is_error($r, 403, 'a cross-site text/plain form posting trip');
    # (the first of the two headers that tells)
    like($j->{error}{message} // '',
         qr/^cross-site request: (?:Origin "http:\/\/evil\.example"|Sec-Fetch-Site is "cross-site")/,
         'the error says why: ' . ($j->{error}{message} // ''));
    no_cors($r, 'cross-site form');
    ok(same_routes($base, scalar routes($t, '/w')),
       'the cross-site form did not trip stable: routing unchanged');

    # the same form from a browser that sends neither Origin nor
    # Sec-Fetch-Site: its Content-Type stops it
    $r = post($t, "$API/workflows/w/trip", '{"bundle":"w@1","x":"="}',
              headers => { 'Content-Type' => 'text/plain' });
    $j = is_error($r, 415, 'a text/plain body without Origin');
    like($j->{error}{message} // '', qr{"text/plain".*application/json},
         'the error names the Content-Type and what is needed');

    # rollback and resume need no body, but still Content-Type
    for my $a (qw(rollback resume)) {
        $j = is_error(scalar api($t, 'POST', "$API/workflows/w/$a", undef),
                      415, "$a without a body nor Content-Type");
        like($j->{error}{message} // '', qr/no Content-Type/,
             "$a: the error says Content-Type is missing");
    }

    # every form encoding, and types that only start like JSON
    for my $ct ('application/x-www-form-urlencoded',
                'multipart/form-data; boundary=x', 'text/plain;charset=UTF-8',
                'text/plain; application/json', 'application/json-patch+json',
                'application/jsonx', 'application/octet-stream', 'json')
    {
        is_error(scalar post($t, "$API/workflows/w/rollback", '{}',
                             headers => { 'Content-Type' => $ct }),
                 415, "rollback with Content-Type \"$ct\"");
    }

    # other origins, however they are spelt
    my $port = $t->port('nginx');
    my %origins = (
        'null'                        => 'Origin: null (a sandboxed page)',
        'http://evil.example'         => 'another host',
        "http://localhost:$port"      => 'the same port on another name',
        "https://127.0.0.1:$port"     => 'another scheme',
        'http://127.0.0.1:' . ($port + 1) => 'another port',
        'http://127.0.0.1'            => 'the default port',
        "$ORIGIN/"                    => 'a path after the origin',
        "$ORIGIN http://evil.example" => 'a list of origins',
        "http://127.0.0.1:$port.evil.example" => 'a longer host',
    );
    for my $o (sort keys %origins) {
        $r = post($t, "$API/workflows/w/rollback", '',
                  headers => { Origin => $o });
        is_error($r, 403, "Origin \"$o\" ($origins{$o}): rollback");
    }
    $r = post($t, "$API/workflows/w/rollback", '',
              headers => { Origin => [ $ORIGIN, 'http://evil.example' ] });
    is_error($r, 403, 'two Origin headers, one of them another site');
    {
        # HTTP/1.0 needs no Host: nothing to compare an Origin with
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp',
                                      Timeout => 5);
        print $s "POST $API/workflows/w/rollback HTTP/1.0\r\n"
                 . "Content-Type: application/json\r\nOrigin: $ORIGIN\r\n\r\n";
        local $/;
        my $raw = <$s> // '';
        close $s;
        like($raw, qr{\AHTTP/1\.\d 403 .*Origin .* and no Host header}s,
             'an Origin without a Host (HTTP/1.0): 403, and why');
    }

    for my $s ('cross-site', 'same-site', 'nonsense') {
        $r = post($t, "$API/workflows/w/rollback", '',
                  headers => { Origin => $ORIGIN, 'Sec-Fetch-Site' => $s });
        $j = is_error($r, 403, "Sec-Fetch-Site: $s, even with the same Origin");
        like($j->{error}{message} // '', qr/Sec-Fetch-Site is "\Q$s\E"/,
             "Sec-Fetch-Site: $s: the error says why");
    }

    # reads too: a page elsewhere gets nothing, not even an error to time
    $r = api($t, 'GET', "$API/workflows",  undef,
             headers => { Origin => 'http://evil.example' });
    is_error($r, 403, 'GET workflows with another Origin');
    no_cors($r, 'GET from another origin');
    $r = api($t, 'GET', "$API/workflows/w", undef,
             headers => { 'Sec-Fetch-Site' => 'cross-site',
                          'Sec-Fetch-Mode' => 'no-cors' });
    is_error($r, 403, 'GET workflows/w with Sec-Fetch-Site: cross-site');

    # the CORS preflight a cross-site fetch with JSON would need: refused,
    # with nothing that would let the browser go on
    $r = api($t, 'OPTIONS', "$API/workflows/w/trip", undef,
             headers => { Origin => 'http://evil.example',
                          'Access-Control-Request-Method' => 'POST',
                          'Access-Control-Request-Headers' => 'content-type' });
    is_error($r, 403, 'a cross-site preflight');
    no_cors($r, 'cross-site preflight');
    $r = api($t, 'OPTIONS', "$API/workflows/w/trip", undef);
    is_error($r, 405, 'OPTIONS from here');
    no_cors($r, 'OPTIONS from here');

    w_unchanged($t, $n, 'after the refused requests');
    is(scalar(() = $t->error_log
                   =~ /\[warn\] .*ai_release: api: POST refused \(403\): cross-site request: .* request: "POST \Q$API\E\/workflows\/w\/trip /g),
       1, 'the cross-site form is logged at warn, once');
    ok($t->error_log =~ /\[warn\] .*ai_release: api: POST refused \(415\): /,
       'a refused Content-Type is logged at warn');

    # what passes: the same origin as a browser sends it, the user typing
    # the address, and any case or parameter of application/json
    my @pass = (
        [ { Origin => $ORIGIN, 'Sec-Fetch-Site' => 'same-origin' },
          'a same-origin fetch' ],
        [ { Origin => "HTTP://127.0.0.1:$port" }, 'the Origin in capitals' ],
        [ { 'Sec-Fetch-Site' => 'none' }, 'Sec-Fetch-Site: none' ],
        [ { 'Content-Type' => 'application/json; charset=utf-8' },
          'application/json; charset=utf-8' ],
        [ { 'Content-Type' => 'Application/JSON;charset=UTF-8' },
          'Application/JSON;charset=UTF-8' ],
    );
    for my $p (@pass) {
        my ($h, $name) = @$p;
        ($r, $j) = post($t, "$API/workflows/w/resume", '', headers => $h);
        is($r->{status}, 200, "$name: resume 200");
        no_cors($r, $name);
    }
    {
        my $s = $t->stream("$API/workflows/w/resume", '',
                           { Host => 'LocalHost:' . $port,
                             Origin => "http://localhost:$port" });
        is($s->{status}, 200, 'Origin and Host of the same name in other '
           . 'cases: 200');
    }
    ($r, $j) = api($t, 'GET', "$API/workflows/w", undef,
                   headers => { Origin => $ORIGIN,
                                'Sec-Fetch-Site' => 'same-origin' });
    is($r->{status}, 200, 'a same-origin GET: 200');
    no_cors($r, 'a same-origin GET');
}

# curl, as the README and the demo show it
SKIP: {
    my $curl = (grep { -x "$_/curl" } split /:/, $ENV{PATH} // '')[0];
    skip 'no curl', 4 unless $curl;
    my $url = "$ORIGIN$API/workflows/w/rollback";
    my $run = sub {
        open my $fh, '-|', "$curl/curl", '-s', '-o', '/dev/null',
             '-w', '%{http_code}', @_ or return '';
        local $/;
        my $out = <$fh> // '';
        close $fh;
        return $out;
    };
    is($run->('-X', 'POST', $url), '415',
       'curl -X POST without Content-Type: 415');
    is($run->('-d', '{}', $url), '415',
       'curl -d (a form body for curl): 415');
    is($run->('-X', 'POST', '-H', 'Content-Type: application/json', $url),
       '200', 'curl -X POST -H "Content-Type: application/json": 200');
    is($run->('-X', 'POST', '-H', 'Content-Type: application/json',
              "$ORIGIN$API/workflows/w/resume"),
       '200', 'curl: resume: 200');
}

############################################################################
# token_file: mutations need the bearer token; reads do not

{
    my $n = api_notices($t);
    my ($r, $j) = api($t, 'GET', '/tok/workflows/w');
    is($r->{status}, 200, 'token: GET without the token: 200');
    is($j->{name}, 'w', 'token: GET: the workflow');

    my $k = length $TOKEN;
    my $last = substr($TOKEN, -1) eq 'A' ? 'B' : 'A';
    my %bad = (
        'none'                 => undef,
        'another token of the same length' => 'Bearer ' . substr($TOKEN, 0, $k - 1) . $last,
        'the token minus its last byte'    => 'Bearer ' . substr($TOKEN, 0, $k - 1),
        'the token and one more byte'      => "Bearer ${TOKEN}x",
        'the token twice'                  => "Bearer $TOKEN$TOKEN",
        'an empty bearer'                  => 'Bearer',
        'the token without "Bearer"'       => $TOKEN,
        'the token as Basic'               => "Basic $TOKEN",
    );
    for my $name (sort keys %bad) {
        my %h = defined $bad{$name} ? (Authorization => $bad{$name}) : ();
        $r = post($t, '/tok/workflows/w/trip', '{"bundle":"w@1"}',
                  headers => \%h);
        $j = is_error($r, 401, "token: $name");
        is($r->{headers}{'www-authenticate'} // '', 'Bearer',
           "token: $name: WWW-Authenticate: Bearer");
    }
    like($j->{error}{message} // '', qr/bearer token/i,
         'token: the error says a bearer token is needed');

    # the token replaces neither the Content-Type nor the Origin check
    my %auth = (Authorization => "Bearer $TOKEN");
    is_error(scalar post($t, '/tok/workflows/w/rollback', '{}',
                         headers => { %auth, 'Content-Type' => 'text/plain' }),
             415, 'token: the right token with text/plain');
    is_error(scalar post($t, '/tok/workflows/w/rollback', '{}',
                         headers => { %auth, Origin => 'http://evil.example' }),
             403, 'token: the right token from another site');
    w_unchanged($t, $n, 'token: after the refused requests');
    unlike($t->error_log, qr/\Q$TOKEN\E/, 'token: never in error.log');
    like($t->error_log, qr/\[warn\] .*ai_release: api: POST refused \(401\): /,
         'token: a refusal is logged at warn');

    ($r, $j) = post($t, '/tok/workflows/w/rollback', '', headers => \%auth);
    is($r->{status}, 200, 'token: rollback with the token: 200');
    is(effective($j->{workflow}), 'w@1=1 w@2=0 w@3=0',
       'token: rolled back');
    ($r, $j) = post($t, '/tok/workflows/w/resume', '',
                    headers => { Authorization => "bearer  $TOKEN" });
    is($r->{status}, 200, 'token: resume with "bearer" in lower case and '
       . 'two blanks: 200');
    is_deeply($j->{workflow}{overrides}, [], 'token: resumed');
    ok(same_routes($base, scalar routes($t, '/w')),
       'token: configured routing');
}

# every action was logged at notice
for my $a (qw(rollback pin trip reset resume)) {
    ok(notices($t, $a, 'w') >= 1, "\"ai_release: api: $a of workflow \"w\" "
       . '... by 127.0.0.1" at notice');
}

$t->done;

############################################################################
# token_file at nginx -t: the file is read when the configuration is
# loaded; every problem names the file and the nginx.conf line

sub line_of {
    my ($text, $re) = @_;
    my @l = split /\n/, $text;
    for my $i (0 .. $#l) { return $i + 1 if $l[$i] =~ $re }
    return 0;
}

{
    my @cases = (
        [ 'a missing file', 'token_file=%%DIR%%/nope', undef,
          qr/cannot read the API token file "[^"]*\/nope" .*No such file/ ],
        [ 'a directory', 'token_file=%%DIR%%/adir', undef,
          qr/cannot read the API token file "[^"]*\/adir" .*Is a directory/ ],
        [ 'an empty file', 'token_file=%%DIR%%/tok', '',
          qr/invalid API token file "[^"]*\/tok": the token is empty/ ],
        [ 'only a newline', 'token_file=%%DIR%%/tok', "\n",
          qr/invalid API token file "[^"]*\/tok": the token is empty/ ],
        [ '15 bytes', 'token_file=%%DIR%%/tok', ('a' x 15) . "\n",
          qr/the token is 15 bytes long, it must be at least 16/ ],
        [ 'a blank inside', 'token_file=%%DIR%%/tok', "abcdefgh ijklmnop\n",
          qr/the token has a byte other than visible ASCII at offset 8/ ],
        [ 'two lines', 'token_file=%%DIR%%/tok', ('a' x 20) . "\n" . ('b' x 20) . "\n",
          qr/byte other than visible ASCII at offset 20/ ],
        [ 'over 1024 bytes', 'token_file=%%DIR%%/tok', ('a' x 1025) . "\n",
          qr/the token is longer than 1024 bytes/ ],
        [ 'no path', 'token_file=', undef, qr/"token_file=" needs a path/ ],
        [ 'twice', 'token_file=%%DIR%%/good token_file=%%DIR%%/good', undef,
          qr/invalid number of arguments|duplicate "token_file=" parameter/ ],
        [ 'with readonly', 'readonly token_file=%%DIR%%/good', undef,
          qr/"readonly" and "token_file=" exclude each other/ ],
        [ 'an unknown parameter', 'token=abc', undef,
          qr/invalid parameter "token=abc", it must be "readonly" or "token_file=PATH"/ ],
    );
    for my $c (@cases) {
        my ($name, $args, $content, $re) = @$c;
        my $u = AIRTest->new;
        $u->write_file('good', ('g' x 16) . "\r\n");
        $u->write_file('tok', $content) if defined $content;
        mkdir $u->dir . '/adir';
        my $conf = $u->config(<<"C");
    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        location /api/ {
            ai_release_api $args;
        }
    }
C
        my ($rc, $out) = $u->test_config;
        isnt($rc, 0, "nginx -t: $name: fails");
        like($out, $re, "nginx -t: $name: the message") or diag($out);
        my $line = line_of($conf, qr/ai_release_api /);
        like($out, qr/\[emerg\] .* in \S+nginx\.conf:$line\b/,
             "nginx -t: $name: names nginx.conf:$line");
        unlike($out, qr/g{16}|a{15}|abcdefgh/, "nginx -t: $name: no token "
               . 'bytes in the message');
    }

    # 16 bytes and CR LF: the shortest token; a relative path is relative
    # to the prefix
    my $u = AIRTest->new;
    $u->write_file('good', ('g' x 16) . "\r\n");
    $u->write_file('bundles/x.yaml', "name: x\nversion: \"1\"\n"
                   . 'upstream: 127.0.0.1:' . $u->port('up') . "\nmodel: m\n");
    $u->config(<<'C');
    ai_release_bundles %%DIR%%/bundles/*.yaml;
    ai_release_workflow x { stable x@1; }
    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        location /api/ { ai_release_api token_file=good; }
    }
C
    ok($u->start, 'a 16-byte token with CR LF, by a relative path: starts');
    my $r = $u->post('/api/workflows/x/rollback', '',
                     { Authorization => 'Bearer ' . ('g' x 16) });
    is($r->{status}, 200, 'the 16 bytes without CR LF are the token');
    $r = $u->post('/api/workflows/x/resume', '',
                  { Authorization => 'Bearer ' . ('g' x 15) });
    is($r->{status}, 401, 'and 15 of them are not');
    $u->done;
}

done_testing;
