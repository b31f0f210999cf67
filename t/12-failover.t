#!/usr/bin/perl
# Failover: with "failover on;" a request whose bundle fails before any
# response byte reached the client (connection refused, reset, timeout, a
# counted 5xx) is sent once more, with the same body, to the known-good path
# (stable for a canary, the fallback for stable), built anew with that
# bundle's headers (README); X-AI-Release names the bundle that served and $ai_release_failover the one that failed; both
# attempts count against their own bundle's budget.  Without failover the
# client sees the error.
#
# Bundles are named after their upstream's behaviour: x@ok, x@dead (stopped),
# x@c500 and x@s500 (answer 500), x@hang, x@reset, x@fb (healthy fallback).

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use JSON::PP;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);

my $BODY = '{"model":"m","messages":[{"role":"user","content":"hello"}]}';

############################################################################
# helpers

sub annotate {
    my ($r) = @_;
    my $x = $r->{headers}{'x-ai-release'} // '';
    my ($b, $d, $v) = $x =~
        /^(\S+); digest=sha256:([0-9a-f]{12}); variant=(stable|canary|fallback)$/;
    $r->{bundle}    = $b // '';
    $r->{short}     = $d // '';
    $r->{variant}   = $v // '';
    $r->{served_by} = $r->{headers}{'x-served-by'} // '';
    $r->{worker}    = $r->{headers}{'x-worker'} // '';
    return $r;
}

# One request on a fresh connection, read until nginx closes it.  A GET
# without a body, so that the request's outcome has been recorded when this
# returns: nginx runs the log phase before it closes such a connection,
# while for a request with a body it uses lingering close (the client sees
# EOF first, the log phase runs when the client has closed too).
sub ask {
    my ($t, $path, %o) = @_;
    my $method = defined $o{body} ? 'POST' : 'GET';
    my $r = $t->stream($path, $o{body} // '', $o{headers} || {},
                       { method => $method, timeout => $o{timeout} // 20 });
    return annotate($r);
}

# several requests at once, each on its own connection, read to EOF (GETs,
# see ask)
sub ask_many {
    my ($t, $reqs, %o) = @_;
    my $port = $t->port('nginx');
    my $sel = IO::Select->new;
    my (@res, %idx);
    for my $i (0 .. $#$reqs) {
        my ($path, $h, $body) = @{ $reqs->[$i] };
        my %h = (Host => "127.0.0.1:$port", Connection => 'close',
                 %{ $h || {} });
        my $method = 'GET';
        if (defined $body) {
            $method = 'POST';
            $h{'Content-Type'} = 'application/json';
            $h{'Content-Length'} = length $body;
        }
        $body //= '';
        my $req = "$method $path HTTP/1.1\r\n"
                . join('', map { "$_: $h{$_}\r\n" } sort keys %h)
                . "\r\n" . $body;
        $res[$i] = { status => 0, headers => {}, raw => '' };
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp',
                                      Timeout => 5);
        unless ($s) { $res[$i]{error} = "connect: $!"; next }
        binmode $s;
        my $off = 0;
        while ($off < length $req) {
            my $n = syswrite($s, $req, length($req) - $off, $off);
            unless (defined $n) {
                next if $!{EINTR};
                $res[$i]{error} = "write: $!";
                last;
            }
            $off += $n;
        }
        $idx{fileno $s} = $i;
        $sel->add($s);
    }
    my $deadline = time + ($o{timeout} // 20);
    while ($sel->count) {
        my $left = $deadline - time;
        last if $left <= 0;
        for my $s ($sel->can_read($left)) {
            my $i = $idx{fileno $s};
            my $n = sysread($s, my $buf, 65536);
            next if !defined $n && ($!{EINTR} || $!{EAGAIN});
            if (!$n) {
                $sel->remove($s);
                close $s;
                $res[$i]{done} = 1;
                next;
            }
            $res[$i]{raw} .= $buf;
        }
    }
    for my $s ($sel->handles) { $sel->remove($s); close $s }
    for my $r (@res) {
        my ($head, $body) = split /\r\n\r\n/, $r->{raw}, 2;
        my @l = split /\r\n/, $head // '';
        my $sl = shift(@l) // '';
        ($r->{status}) = $sl =~ m{^HTTP/\d\.\d (\d{3})};
        $r->{status} //= 0;
        for my $l (@l) {
            my ($k, $v) = $l =~ /^([^:]+):\s*(.*?)\s*$/ or next;
            $r->{headers}{lc $k} = $v;
        }
        $r->{body} = $body // '';
        annotate($r);
    }
    return @res;
}

sub wait_for {
    my ($secs, $cb) = @_;
    my $end = time + $secs;
    while (1) {
        my $v = $cb->();
        return $v if $v || time > $end;
        sleep 0.05;
    }
}

# state-change lines of error.log
sub transitions {
    my ($t, $wf, $bundle, $from, $to) = @_;
    my $re = qr/\[warn\] .*ai_release: workflow "\Q$wf\E" bundle "\Q$bundle\E" \(sha256:[0-9a-f]{12}\) \Q$from\E -> \Q$to\E: /;
    return grep { $_ =~ $re } split /\n/, $t->error_log;
}

sub ntrans { scalar(my @l = transitions(@_)) }

# every state-change line: warn level, and says where the traffic goes
# (the README words recoveries as "traffic returns to it")
sub check_change_lines {
    my ($t) = @_;
    my @all = grep { /ai_release: workflow "[^"]*" bundle "[^"]*" \(sha256:/ }
              split /\n/, $t->error_log;
    ok(@all, scalar(@all) . ' state-change lines logged');
    my @bad = grep {
        !/\[warn\] .*ai_release: workflow "[^"]+" bundle "[^"]+\@[^"]+" \(sha256:[0-9a-f]{12}\) (?:closed|open|half-open) -> (?:closed|open|half-open): .*traffic (?:goes|returns) to \S/
    } @all;
    is(scalar @bad, 0, 'every state-change line is at warn level and has the '
       . 'form workflow "W" bundle "B" (sha256:...) OLD -> NEW: ... '
       . 'traffic goes (or returns) to ...')
        or diag join "\n", map { substr($_, 0, 300) } @bad[0 .. ($#bad > 4 ? 4 : $#bad)];
}

# lines of the "air" access log, as hashes
sub alog {
    my ($t, $wf) = @_;
    open my $fh, '<', $t->dir . '/air.log' or return ();
    my @r;
    while (my $l = <$fh>) {
        chomp $l;
        my ($w, $status, @kv) = split / /, $l;
        next if defined $wf && $w ne $wf;
        my %h = (wf => $w, status => $status,
                 map { /^(\w+)=(.*)$/ ? ($1, $2) : () } @kv);
        $h{f} = '' if ($h{f} // '') eq '-';
        push @r, \%h;
    }
    close $fh;
    return @r;
}

sub variants { join ',', map { $_->{variant} || "?($_->{status})" } @_ }

############################################################################
# setup

my $t = AIRTest->new;
my %mock = (ok => 'stable', dead => 'dead', c500 => 'c500', hang => 'hang',
            reset => 'reset', s500 => 's500', fb => 'fallback');
$t->upstream($_) for sort values %mock;
$t->upstream_control('c500', "status=500\n");
$t->upstream_control('s500', "status=500\n");
$t->upstream_control('hang', "mode=hang\n");
$t->upstream_control('reset', "mode=reset\n");
$t->stop_upstream('dead');    # connection refused from now on

$t->write_file('bundles/x.yaml', join '', map { <<"Y" } sort keys %mock);
---
name: x
version: $_
upstream: 127.0.0.1:@{[ $t->port($mock{$_}) ]}
model: model-$_
headers:
  X-Model-Route: route-$_
Y

my @wf = (
    [ dead50  => "stable x\@ok;\ncanary x\@dead 50%;\nfailover on;\ntrip off;" ],
    [ deadall => "stable x\@ok;\ncanary x\@dead 100%;\nfailover on;\ntrip off;" ],
    [ c500    => "stable x\@ok;\ncanary x\@c500 100%;\nfailover on;\ntrip off;" ],
    [ hang    => "stable x\@ok;\ncanary x\@hang 100%;\nfailover on;\ntrip off;",
      'proxy_read_timeout 1s;' ],
    [ reset   => "stable x\@ok;\ncanary x\@reset 100%;\nfailover on;\ntrip off;" ],
    [ sfb     => "stable x\@s500;\nfallback x\@fb;\nfailover on;\ntrip off;" ],
    [ offdead => "stable x\@ok;\ncanary x\@dead 100%;\nfailover off;\ntrip off;" ],
    [ off500  => "stable x\@ok;\ncanary x\@c500 100%;\ntrip off;" ],
    [ counted => "stable x\@ok;\ncanary x\@c500 100%;\nfailover on;\n"
               . "trip consecutive=5 min_requests=1000 window=30s cooldown=60s;" ],
    [ both    => "stable x\@s500;\ncanary x\@c500 100%;\nfallback x\@fb;\n"
               . "failover on;\n"
               . "trip consecutive=3 min_requests=1000 window=30s cooldown=60s;" ],
);

my $conf = <<'C';
    log_format air '$ai_release_workflow $status n=$arg_n u=$http_x_user_id '
                   'v=$ai_release_variant b=$ai_release_bundle '
                   'st=$ai_release_state r=$ai_release_reason '
                   'f=$ai_release_failover pid=$pid';

    ai_release_bundles %%DIR%%/bundles/*.yaml;
C
for my $w (@wf) {
    my ($name, $body) = @$w;
    $body =~ s/^/        /mg;
    $conf .= "\n    ai_release_workflow $name {\n$body\n    }\n";
}
$conf .= <<'C';

    server {
        listen 127.0.0.1:%%PORT_nginx%% reuseport;
        access_log %%DIR%%/air.log air;
        add_header X-Worker $pid always;
        client_max_body_size 10m;
C
for my $w (@wf) {
    my ($name, undef, $extra) = @$w;
    $conf .= "        location = /$name { ai_release $name; "
           . "proxy_pass http://ai_release; " . ($extra // '') . " }\n";
}
$conf .= "    }\n";

$t->config($conf, workers => 2);
$t->start;

sub uri_count {
    my ($name, $path) = @_;
    return scalar grep { m{ [A-Z]+ \Q$path\E(?:\?|$)} } $t->upstream_log($name);
}

sub body_length {
    my ($r) = @_;
    my $j = eval { decode_json($r->{body} // $r->{content} // '') };
    return $j ? $j->{request}{body_length} : undef;
}

############################################################################
# a dead 50% canary costs the clients nothing

{
    my (%status, %variant, %served, $bad);
    for my $n (1 .. 200) {
        my $r = annotate($t->post("/dead50?n=$n", $BODY));
        $status{ $r->{status} }++;
        $variant{ $r->{variant} }++;
        $served{ $r->{served_by} }++;
        $bad++ if $r->{bundle} ne 'x@ok';
    }
    is_deeply(\%status, { 200 => 200 }, 'dead50: 200 requests, 200 OK each');
    is_deeply(\%variant, { stable => 200 },
              'dead50: X-AI-Release says variant=stable every time');
    is_deeply(\%served, { stable => 200 }, 'dead50: stable answered them all');
    ok(!$bad, 'dead50: X-AI-Release names x@ok');

    ok(wait_for(5, sub { alog($t, 'dead50') >= 200 }), 'dead50: all logged');
    my @a = alog($t, 'dead50');
    my @fo = grep { $_->{f} ne '' } @a;
    ok(@fo > 50 && @fo < 150, 'dead50: about half failed over ('
       . scalar(@fo) . ')');
    is(scalar(grep { $_->{f} eq 'x@dead' && $_->{v} eq 'stable'
                     && $_->{b} eq 'x@ok' && $_->{r} eq 'failover'
                     && $_->{status} == 200 } @fo), scalar(@fo),
       'dead50: those log f=x@dead r=failover v=stable b=x@ok')
        or diag explain [ @fo[0 .. 2] ];
    is(scalar(grep { $_->{r} eq 'weight' } @a), 200 - @fo,
       'dead50: the others r=weight, f empty');
    is(scalar(grep { $_->{st} eq 'closed' } @a), 200,
       'dead50: st=closed (trip off)');
    is(uri_count('stable', '/dead50'), 200,
       'dead50: the stable upstream got every request exactly once');
}

############################################################################
# the request body reaches stable intact

{
    my $big = '{"model":"m","messages":[{"role":"user","content":"'
            . ('0123456789abcdef' x 8192) . '"}]}';
    for my $case ([deadall => 'connection refused'], [c500 => '500']) {
        my ($wf, $why) = @$case;
        for my $body ($BODY, $big) {
            my $r = ask($t, "/$wf?n=body", body => $body);
            is($r->{status}, 200, "$wf: " . length($body)
               . "-byte body, canary $why: 200");
            is($r->{served_by}, 'stable', "$wf: from stable");
            is(body_length($r), length($body),
               "$wf: stable got all " . length($body) . ' bytes');
            my $j = eval { decode_json($r->{body}) } || {};
            is($j->{request}{headers}{'x-model-route'} // '', 'route-ok',
               "$wf: with stable's bundle headers, not the canary's");
        }
    }
    is(uri_count('c500', '/c500'), 2, 'c500: each request tried the canary '
       . 'once');
}

############################################################################
# 5xx, reset and timeout fail over

{
    my @r = map { ask($t, "/c500?n=$_") } 1 .. 5;
    is(join(',', map { "$_->{status} $_->{variant} $_->{served_by}" } @r),
       join(',', ('200 stable stable') x 5),
       'c500: the canary\'s 500s become stable\'s 200s');
    my @a = grep { $_->{n} =~ /^\d$/ } alog($t, 'c500');
    is(scalar(grep { $_->{f} eq 'x@c500' && $_->{r} eq 'failover' } @a), 5,
       'c500: f=x@c500 r=failover');

    my $r = ask($t, '/reset?n=1');
    is("$r->{status} $r->{variant} $r->{served_by}", '200 stable stable',
       'reset: a connection reset fails over');

    $r = ask($t, '/hang?n=1');
    is("$r->{status} $r->{variant} $r->{served_by}", '200 stable stable',
       'hang: a read timeout fails over');
    ok($r->{elapsed} >= 0.9, sprintf 'hang: after proxy_read_timeout '
       . '(%.2fs)', $r->{elapsed});
    wait_for(2, sub { grep { $_->{wf} eq 'reset' || $_->{wf} eq 'hang' }
                      alog($t) });
    my %f = map { $_->{wf} => $_->{f} } grep { $_->{wf} =~ /^(?:reset|hang)$/ }
            alog($t);
    is_deeply(\%f, { reset => 'x@reset', hang => 'x@hang' },
              'reset/hang: $ai_release_failover names the canary');
}

############################################################################
# a failing stable fails over to the fallback

{
    my @r = map { ask($t, "/sfb?n=$_") } 1 .. 3;
    is(join(',', map { "$_->{status} $_->{variant} $_->{bundle} "
                       . $_->{served_by} } @r),
       join(',', ('200 fallback x@fb fallback') x 3),
       'sfb: stable\'s 500s become the fallback\'s 200s');
    my @a = alog($t, 'sfb');
    is(scalar(grep { $_->{f} eq 'x@s500' && $_->{v} eq 'fallback' } @a), 3,
       'sfb: f=x@s500 v=fallback in the access log');
}

############################################################################
# failover off: the client sees the error

{
    my $r = ask($t, '/offdead?n=1');
    is($r->{status}, 502, 'offdead: connection refused: 502');
    is($r->{variant}, 'canary', 'offdead: from the canary');
    is($r->{bundle}, 'x@dead', 'offdead: X-AI-Release names x@dead');

    $r = ask($t, '/off500?n=1');
    is($r->{status}, 500, 'off500: the canary\'s 500');
    is($r->{served_by}, 'c500', 'off500: passed on');
    is($r->{variant}, 'canary', 'off500: variant=canary');
    wait_for(2, sub { grep { $_->{wf} eq 'off500' } alog($t) });
    my @a = grep { $_->{wf} =~ /^off/ } alog($t);
    is(scalar(grep { $_->{f} eq '' && $_->{r} eq 'weight' } @a), 2,
       'off: f empty, r=weight');
}

############################################################################
# failed attempts count although the clients saw no error

{
    my @r = map { ask($t, "/counted?n=$_") } 1 .. 5;
    is(join(',', map { "$_->{status} $_->{variant}" } @r),
       join(',', ('200 stable') x 5),
       'counted: 5 failovers, no error seen by the clients');
    ok(wait_for(2, sub { ntrans($t, 'counted', 'x@c500', 'closed', 'open') }),
       'counted: the canary tripped after 5 failed attempts');
    my $r = ask($t, '/counted?n=6');
    is("$r->{status} $r->{variant}", '200 stable', 'counted: then stable');
    is(uri_count('c500', '/counted'), 5,
       'counted: the tripped canary got no 6th attempt');
    my %l = map { $_->{n} => $_ } alog($t, 'counted');
    is(join(',', map { ($l{$_}{r} // '?') . '/' . ($l{$_}{f} || '-') } 1 .. 6),
       join(',', ('failover/x@c500') x 5, 'tripped/-'),
       'counted: r and f in the access log');
    is(ntrans($t, 'counted', 'x@c500', 'closed', 'open'), 1,
       'counted: logged once');
}

# canary and stable both fail: the failover attempt counts for stable
{
    my @r = map { ask($t, "/both?n=$_") } 1 .. 3;
    is(join(',', map { "$_->{status} $_->{variant} $_->{served_by}" } @r),
       join(',', ('500 stable s500') x 3),
       'both: the canary fails, the failover to stable fails: stable\'s 500');
    is(uri_count('c500', '/both'), 3, 'both: 3 attempts on the canary');
    is(uri_count('s500', '/both'), 3, 'both: 3 on stable');
    is(uri_count('fallback', '/both'), 0,
       'both: one failover per request, not two');
    ok(wait_for(2, sub { ntrans($t, 'both', 'x@c500', 'closed', 'open') }),
       'both: the canary tripped');
    ok(wait_for(2, sub { ntrans($t, 'both', 'x@s500', 'closed', 'open') }),
       'both: stable tripped on the failover attempts alone');
    my $r = ask($t, '/both?n=4');
    is("$r->{status} $r->{variant} $r->{served_by}", '200 fallback fallback',
       'both: canary and stable tripped: the fallback serves');
    my %l = map { $_->{n} => $_ } alog($t, 'both');
    is($l{1}{f} // '', 'x@c500', 'both: f=x@c500 on the failed failover');
}

check_change_lines($t);

$t->done;
done_testing;
