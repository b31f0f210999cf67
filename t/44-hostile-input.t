#!/usr/bin/perl
# Hostile input.  Requests: sticky keys and other request headers with
# bare CR, LF or NUL bytes (sent raw; nginx itself answers 400 for bare CR
# and NUL), obsolete line folding, invalid UTF-8, header values close to
# and over the large_client_header_buffers limit, client headers that
# collide with a bundle's header: every request either gets a clean 4xx
# from nginx or is served, no response header (X-AI-Release above all) and
# no header the model server receives (the mock echoes them) holds CR, LF
# or NUL, and no worker dies.  Bodies: 5 MB over client_max_body_size 1m
# -> 413; under a larger limit 5 MB (with a length, and chunked) reach the
# model server intact, also when the request fails over.  Manifests: names
# and versions outside [A-Za-z0-9._-] and a bundle header value with CR LF
# fail "nginx -t".  Status and API: the status location refuses every
# method but GET and HEAD (405 with Allow); a read-only API answers 403 to
# mutations and a denied client 403, and nothing changes; an oversized API
# body gets 413; PUT, DELETE and PATCH get 405 with Allow; API paths and
# bodies with CR, LF, NUL, invalid UTF-8, huge names or deep nesting get a
# clean JSON error and change nothing.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest qw(slurp);
use JSON::PP;
use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);
use POSIX ();

my $T0 = time;
my $BODY = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';

############################################################################
# setup

my $t = AIRTest->new;
$t->upstream($_) for qw(stable canary dead);
$t->stop_upstream('dead');    # refuses connections from now on

{
    my $y = '';
    for my $b (['h', 1, 'stable'], ['h', 2, 'canary'],
               ['big', 1, 'stable'], ['big', 2, 'dead'])
    {
        my ($n, $v, $up) = @$b;
        $y .= "---\nname: $n\nversion: \"$v\"\n"
            . "upstream: 127.0.0.1:" . $t->port($up) . "\n"
            . "model: model-$n-$v\n"
            . "headers:\n  X-Model-Route: $n-$v\n";
    }
    $t->write_file('bundles/all.yaml', $y);
}

$t->config(<<'C', workers => 2);
    ai_release_bundles %%DIR%%/bundles/*.yaml;

    ai_release_workflow h {
        stable h@1;
        canary h@2 50%;
        sticky $http_x_user_id;
        failover on;
    }
    ai_release_workflow big {
        stable big@1;
        canary big@2 100%;
        failover on;
        trip off;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        large_client_header_buffers 4 8k;
        client_max_body_size 1m;

        location = /h { ai_release h; proxy_pass http://ai_release; }
        location = /big {
            client_max_body_size 8m;
            ai_release big;
            proxy_pass http://ai_release;
        }
        location = /status { ai_release_status; }
        location /api/ { ai_release_api; }
        location /ro/ { ai_release_api readonly; }
        location /denied/ {
            allow 127.0.0.2;
            deny all;
            ai_release_api;
        }
    }
C
$t->start;
my @workers = $t->worker_pids;
my $port = $t->port('nginx');

############################################################################
# a raw HTTP client: sends the bytes given (reading while it writes, so
# that an early answer to a large body is seen), returns the answer

sub raw {
    my ($bytes, %o) = @_;
    my $res = { status => 0, headers => {}, head => '', body => '' };
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5);
    unless ($s) { $res->{error} = "connect: $!"; return $res }
    binmode $s;
    $s->blocking(0);
    my ($off, $in) = (0, '');
    my $deadline = time + ($o{timeout} // 20);
    while (time < $deadline) {
        my $wsel = $off < length $bytes ? IO::Select->new($s) : undef;
        my ($r, $w) = IO::Select->select(IO::Select->new($s), $wsel, undef,
                                         0.5);
        if ($w && @$w) {
            my $n = syswrite($s, $bytes, 262144, $off);
            if (defined $n) { $off += $n }
            elsif (!$!{EAGAIN} && !$!{EINTR}) {
                $res->{write_error} = "$!";
                $off = length $bytes;
            }
        }
        if ($r && @$r) {
            my $n = sysread($s, $in, 65536, length $in);
            if (!defined $n) {
                next if $!{EAGAIN} || $!{EINTR};
                $res->{read_error} = "$!";
                last;
            }
            last if $n == 0;
            if ($in =~ /\r\n\r\n/) {
                my ($head, $body) = split /\r\n\r\n/, $in, 2;
                if ($head =~ /\r\ncontent-length: *(\d+)/i) {
                    last if length $body >= $1;
                } elsif ($head =~ /\r\ntransfer-encoding: *chunked/i) {
                    last if $body =~ /(?:^|\r\n)0\r\n\r\n\z/;
                }
            }
        }
    }
    close $s;
    my ($head, $body) = split /\r\n\r\n/, $in, 2;
    $res->{head} = $head // '';
    if (($res->{head}) =~ m{\A(?:.*\r\n)?transfer-encoding: *chunked}is) {
        my ($b, $p) = ('', $body // '');
        while ($p =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $n = hex $1;
            last unless $n;
            $b .= substr($p, 0, $n);
            substr($p, 0, $n + 2, '');
        }
        $body = $b;
    }
    $res->{body} = $body // '';
    my @l = split /\r\n/, $res->{head};
    ($res->{status}) = (shift(@l) // '') =~ m{^HTTP/1\.[01] (\d{3}) };
    $res->{status} //= 0;
    for (@l) {
        my ($k, $v) = /^([^:]+): ?(.*)$/s or next;
        $res->{headers}{lc $k} = exists $res->{headers}{lc $k}
            ? "$res->{headers}{lc $k}, $v" : $v;
    }
    $res->{json} = eval { JSON::PP->new->utf8->decode($res->{body}) };
    return $res;
}

sub request {
    my ($method, $path, %o) = @_;
    my @h = @{ $o{headers} || [] };
    my $body = $o{body};
    my $req = "$method $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n"
            . "Connection: close\r\n";
    $req .= "$h[$_ * 2]: $h[$_ * 2 + 1]\r\n" for 0 .. @h / 2 - 1;
    if (defined $body) {
        if ($o{chunked}) {
            $req .= "Transfer-Encoding: chunked\r\n";
            my $c = '';
            for (my $i = 0; $i < length $body; $i += 65536) {
                my $part = substr($body, $i, 65536);
                $c .= sprintf("%x\r\n", length $part) . $part . "\r\n";
            }
            $body = $c . "0\r\n\r\n";
        } else {
            $req .= "Content-Length: " . length($body) . "\r\n";
        }
        $req .= "Content-Type: application/json\r\n"
            unless grep { lc $_ eq 'content-type' } @h;
    }
    $req .= "\r\n" . ($body // '');
    return raw($req, %o);
}

# the response head: a status line and header lines, none of them with a
# bare CR or LF or a NUL; X-AI-Release well formed
sub head_clean {
    my ($r) = @_;
    my @l = split /\r\n/, $r->{head}, -1;
    return 'no status line' unless @l && $l[0] =~ m{^HTTP/1\.1 \d{3} [^\r\n\0]*$};
    for my $l (@l[1 .. $#l]) {
        return "bad header line: " . JSON::PP->new->ascii->encode([$l])
            unless $l =~ /^[!#\$%&'*+.^_`|~0-9A-Za-z-]+: [^\r\n\0]*$/;
    }
    if (defined(my $x = $r->{headers}{'x-ai-release'})) {
        return "X-AI-Release: $x" unless $x =~
            /^[A-Za-z0-9._-]+\@[A-Za-z0-9._-]+; digest=sha256:[0-9a-f]{12}; variant=(?:stable|canary|fallback)$/;
    }
    return '';
}

# the headers the model server got (the mock echoes them)
sub upstream_clean {
    my ($r) = @_;
    my $j = $r->{json};
    return 'no JSON from the model server' unless ref $j eq 'HASH'
        && ref $j->{request} eq 'HASH';
    my $h = $j->{request}{headers} || {};
    for my $k (sort keys %$h) {
        return "header name " . JSON::PP->new->ascii->encode([$k])
            if $k =~ /[\r\n\0:]/ || $k eq '';
        return "header $k: " . JSON::PP->new->ascii->encode([$h->{$k}])
            if $h->{$k} =~ /[\r\n\0]/;
    }
    my $route = $h->{'x-model-route'} // '';
    return "X-Model-Route: $route" unless $route =~ /^(h-[12]|big-1)(?:, \1)*$/;
    return '';
}

# a request that must get a clean 4xx from nginx or be served cleanly
sub hostile {
    my ($name, $bytes, %o) = @_;
    my $r = raw($bytes);
    my $why = head_clean($r);
    if (!$why && $r->{status} == 200) {
        $why = upstream_clean($r);
    } elsif (!$why && $r->{status} !~ /^4\d\d$/) {
        $why = "status $r->{status}";
    }
    if ($o{expect}) {
        is($r->{status}, $o{expect}, "$name: $o{expect}");
    }
    ok(!$why, "$name: " . ($r->{status} == 200 ? 'served' : "$r->{status}")
       . ', clean headers' . ($r->{status} == 200 ? ' both ways' : ''))
        or diag "$why\n" . substr($r->{head}, 0, 500);
    return $r;
}

sub base_req {
    my ($extra) = @_;
    return "POST /h HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nConnection: close\r\n"
         . "Content-Type: application/json\r\n"
         . "Content-Length: " . length($BODY) . "\r\n"
         . $extra . "\r\n" . $BODY;
}

sub bundle { ($_[0]{headers}{'x-ai-release'} // '') =~ /^(\S+);/ ? $1 : '' }

############################################################################
# sticky keys and request headers

my %cases;
{
    hostile('bare CR in the sticky key', base_req("X-User-Id: abc\rdef\r\n"),
            expect => 400);
    hostile('NUL in the sticky key', base_req("X-User-Id: abc\0def\r\n"),
            expect => 400);
    hostile('NUL in another header', base_req("X-Other: a\0b\r\n"),
            expect => 400);
    # nginx accepts CR CR LF as the end of a line
    hostile('CR CR LF at the end of the sticky key',
            base_req("X-User-Id: abc\r\r\n"));
    hostile('bare LF in the sticky key', base_req("X-User-Id: abc\ndef\r\n"));
    hostile('LF LF in the sticky key: an early end of the header',
            base_req("X-User-Id: abc\n\nX-Evil: 1\r\n"));
    hostile('obsolete line folding in the sticky key',
            base_req("X-User-Id: abc\r\n def\r\n"));
    hostile('an encoded CR LF in the sticky key (not decoded)',
            base_req("X-User-Id: abc%0d%0aX-Evil:%201\r\n"));
    hostile('DEL, tab and other control bytes in the key',
            base_req("X-User-Id: a\x7fb\tc\x01d\x1b[0m\r\n"));

    # invalid UTF-8: served, and sticky
    my @b;
    for (1 .. 3) {
        my $r = hostile("invalid UTF-8 in the sticky key ($_)",
                        base_req("X-User-Id: \xff\xfe\xc3\x28\xed\xa0\x80"
                                 . "\xf8\x88\x80\x80\x80\r\n"));
        push @b, bundle($r);
    }
    ok($b[0] && $b[0] eq $b[1] && $b[1] eq $b[2],
       "invalid UTF-8 key: the same bundle 3 times ($b[0])");

    # long values: up to the 8k header buffer, and over it
    my $long = 'k' x 8000;
    @b = ();
    for (1 .. 2) {
        my $r = hostile("an 8000-byte sticky key ($_)",
                        base_req("X-User-Id: $long\r\n"), expect => 200);
        push @b, bundle($r);
    }
    ok($b[0] && $b[0] eq $b[1], "8000-byte key: sticky ($b[0])");
    hostile('a 9000-byte sticky key (over the 8k buffer)',
            base_req('X-User-Id: ' . ('k' x 9000) . "\r\n"), expect => 400);
    hostile('four 7000-byte headers (the buffers are full)',
            base_req(join '', map { "X-Pad-$_: " . ('p' x 7000) . "\r\n" }
                                  1 .. 4));
    hostile('a 7000-byte key with invalid UTF-8 and high bytes',
            base_req('X-User-Id: ' . ("\xc3\xff\x80" x 2333) . "\r\n"),
            expect => 200);
    hostile('100 sticky key headers',
            base_req(join '', map { "X-User-Id: user$_\r\n" } 1 .. 100),
            expect => 200);

    # a client's copy of the bundle's header is replaced, never passed on
    my $r = hostile('client X-Model-Route headers (twice)',
                    base_req("X-Model-Route: evil\r\nx-model-route: evil2\r\n"
                             . "X-User-Id: u1\r\n"), expect => 200);
    unlike(JSON::PP->new->canonical->encode($r->{json}{request}{headers} || {}),
           qr/evil/, 'the model server never sees the client\'s values');
}

############################################################################
# bodies

{
    my $five = '{"pad":"' . ('0123456789abcdef' x (5 * 65536)) . '"}';
    my $len = length $five;
    my $r = request('POST', '/h', body => $five);
    is($r->{status}, 413, "a $len-byte body over client_max_body_size 1m: 413");
    ok(!head_clean($r), '413: clean headers');
    $r = request('POST', '/h', body => $five, chunked => 1);
    is($r->{status}, 413, 'the same, chunked: 413');

    $r = request('POST', '/big', body => $five, timeout => 30);
    is($r->{status}, 200, "a $len-byte body under client_max_body_size 8m, "
       . 'failed over from a dead canary: 200');
    is(($r->{json} || {})->{request}{body_length}, $len,
       "the model server got all $len bytes");
    is($r->{headers}{'x-served-by'}, 'stable', 'from stable, after failover');
    $r = request('POST', '/big', body => $five, chunked => 1, timeout => 30);
    is($r->{status}, 200, 'the same, chunked: 200');
    is(($r->{json} || {})->{request}{body_length}, $len,
       "chunked: the model server got all $len bytes");
}

############################################################################
# manifests and bundle headers that "nginx -t" refuses

{
    my $c = AIRTest->new;
    # the sanitizer build's default error log, before the configuration's
    mkdir $c->dir . '/logs';
    my $up = "127.0.0.1:" . $t->port('stable');
    my @bad = (
        [ 'a name with a space',      "name: \"bad name\"\nversion: \"1\"\n",
          qr/invalid name "bad name"/ ],
        [ 'a name with "@"',          "name: \"bad\@name\"\nversion: \"1\"\n",
          qr/invalid name "bad\@name"/ ],
        [ 'a name with "/"',          "name: \"a/../b\"\nversion: \"1\"\n",
          qr/invalid name "a\/\.\.\/b"/ ],
        [ 'a name in UTF-8',          "name: \"b\xc3\xa4d\"\nversion: \"1\"\n",
          qr/invalid name/ ],
        [ 'a name with CR LF',        "name: \"a\\r\\nb\"\nversion: \"1\"\n",
          qr/invalid name/ ],
        [ 'a model with an escape sequence',
          "name: ok\nversion: \"1\"\nupstream: UP\nmodel: \"m\\e[31mred\"\n",
          qr/invalid model/ ],
        [ 'a version with a space',   "name: ok\nversion: \"1 2\"\n",
          qr/invalid version "1 2"/ ],
        [ 'a version with "@"',       "name: ok\nversion: \"1\@2\"\n",
          qr/invalid version "1\@2"/ ],
        [ 'a version with a tab',     "name: ok\nversion: \"1\\t2\"\n",
          qr/invalid version/ ],
        [ 'a version with "%"',       "name: ok\nversion: \"1%0a\"\n",
          qr/invalid version "1%0a"/ ],
        [ 'a bundle header value with CR LF',
          "name: ok\nversion: \"1\"\nheaders:\n  X-Route: \"a\\r\\nX-Evil: 1\"\n",
          qr/header|control/i ],
    );
    for my $b (@bad) {
        my ($name, $yaml, $re) = @$b;
        $yaml =~ s/UP/$up/;
        $c->write_file('bundles/b.yaml', $yaml
            . ($yaml =~ /upstream:/ ? '' : "upstream: $up\nmodel: m\n"));
        $c->config(<<'C');
    ai_release_bundles %%DIR%%/bundles/*.yaml;
C
        my ($rc, $out) = $c->test_config;
        is($rc, 1, "manifest with $name: nginx -t fails");
        like($out, $re, "manifest with $name: the reason")
            or diag $out;
        unlike($out, qr/\[alert\]|\[crit\]|exited on signal|AddressSanitizer|runtime error: (?!null pointer passed as argument 2)/,
               "manifest with $name: no alert, no crash");
        unlike($out, qr/[\r\0\x1b]/,
               "manifest with $name: the message escapes control bytes");
    }
}

############################################################################
# status and API: only writable APIs change anything

sub state_of {
    my $r = request('GET', '/api/workflows');
    my $j = $r->{json} || {};
    return join ' | ', map {
        my $w = $_;
        "$w->{name}: overrides=" . scalar(@{ $w->{overrides} || [] }) . ' '
        . join(' ', map { "$_->{bundle}=$_->{breaker}{state}/"
                          . (0 + ($_->{weight}{effective} // -1)) }
                    @{ $w->{bundles} || [] })
    } @{ $j->{workflows} || [] };
}

my $before = state_of();
like($before, qr/^h: overrides=0 h\@1=closed\/0\.5 h\@2=closed\/0\.5 /,
     "the state before: $before");
my $api_notices = () = $t->error_log =~ /ai_release: api: /g;

sub json_error {
    my ($r, $status, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $j = $r->{json};
    my $ok = $r->{status} == $status && ref $j eq 'HASH'
        && ref $j->{error} eq 'HASH' && ($j->{error}{status} // 0) == $status
        && !head_clean($r);
    ok($ok, "$name: $status with a JSON error and clean headers")
        or diag "got $r->{status}: " . substr($r->{head} . "\n"
                                              . $r->{body}, 0, 400);
}

{
    for my $m (qw(POST PUT DELETE PATCH OPTIONS)) {
        my $r = request($m, '/status', body => $m eq 'POST' ? '{}' : undef);
        is($r->{status}, 405, "$m /status: 405");
        is($r->{headers}{allow} // '', 'GET, HEAD', "$m /status: Allow: GET, HEAD");
    }
    for my $m (qw(PUT DELETE PATCH)) {
        my $r = request($m, '/api/workflows/h/rollback', body => '{}');
        json_error($r, 405, "$m .../rollback");
        is($r->{headers}{allow} // '', 'POST', "$m .../rollback: Allow: POST");
        $r = request($m, '/api/workflows/h', body => '{}');
        json_error($r, 405, "$m .../workflows/h");
        like($r->{headers}{allow} // '', qr/^GET\b/,
             "$m .../workflows/h: Allow: GET ...");
    }

    for my $a (qw(rollback pin trip reset resume)) {
        my $r = request('POST', "/ro/workflows/h/$a",
                        body => '{"bundle":"h@2"}');
        json_error($r, 403, "read-only API: POST $a");
        $r = request('POST', "/denied/workflows/h/$a",
                     body => '{"bundle":"h@2"}');
        is($r->{status}, 403, "denied client: POST $a: 403");
    }
    is(state_of(), $before, 'read-only and denied: nothing changed');

    # oversized bodies: over the API's 16 KiB, and over nginx's
    # client_max_body_size (nginx's own 413 then)
    my $big = '{"bundle":"h@2","pad":"' . ('x' x (100 * 1024)) . '"}';
    my $r = request('POST', '/api/workflows/h/trip', body => $big);
    json_error($r, 413, 'a 100 KiB API body with a length');
    $r = request('POST', '/api/workflows/h/trip',
                 body => '{"pad":"' . ('x' x (3 * 1024 * 1024)) . '"}');
    is($r->{status}, 413, 'a 3 MiB API body with a length: 413');
    ok(!head_clean($r), '3 MiB: clean headers');
    $r = request('POST', '/api/workflows/h/trip',
                 body => substr($big, 0, 200 * 1024 - 2) . '"}', chunked => 1);
    json_error($r, 413, 'a 200 KiB chunked API body');
    $r = request('POST', '/api/workflows/h/trip', body => '{}',
                 headers => [ 'Content-Length' => '99999999999999999999' ]);
    ok($r->{status} == 400 || $r->{status} == 413,
       "an absurd Content-Length: $r->{status}");

    # hostile paths and bodies
    my @p = (
        [ '/api/workflows/h%0D%0AX-Evil:%201/rollback', 404, 'CR LF in the name' ],
        [ '/api/workflows/h%00/rollback', 400, 'NUL in the name (nginx '
          . 'refuses it)' ],
        [ '/api/workflows/%FF%FE/trip', 404, 'invalid UTF-8 in the name' ],
        [ '/api/workflows/' . ('w' x 3000) . '/rollback', 404, 'a 3000-byte name' ],
        [ '/api/workflows/' . ('%C3%A9' x 600) . '/pin', 404,
          'a long name of two-byte characters' ],
        [ '/api/workflows/h/rollback%0D%0A', 404, 'CR LF after the action' ],
        [ '/api/workflows/../workflows/h/rollback', 200, 'dot segments (nginx '
          . 'merges them)' ],
    );
    for my $p (@p) {
        my ($path, $want, $name) = @$p;
        my $r = request('POST', $path, body => '{}');
        if ($want == 200) {
            ok($r->{status} == 200 || $r->{status} == 400 || $r->{status} == 404,
               "$name: $r->{status}");
            ok(!head_clean($r), "$name: clean headers");
            request('POST', '/api/workflows/h/resume', body => '{}')
                if $r->{status} == 200;
        } elsif ($want == 400) {
            is($r->{status}, 400, "$name: 400");
            ok(!head_clean($r), "$name: clean headers");
        } else {
            json_error($r, $want, $name);
        }
    }
    my @b = (
        [ '{"bundle":"h@2\u0000"}', 'an escaped NUL after the bundle' ],
        [ "{\"bundle\":\"h\@2\0\"}", 'a raw NUL after the bundle' ],
        [ '{"bundle":"h@2\r\nX-Evil: 1"}', 'CR LF in the bundle' ],
        [ "{\"bundle\":\"h\@2\xff\"}", 'invalid UTF-8 in the bundle' ],
        [ "{\"bundle\":\"\xc3\"}", 'a truncated UTF-8 sequence' ],
        [ '{"bundle":"' . ('h' x 15000) . '"}', 'a 15000-byte bundle' ],
        [ ('[' x 16000), '16000 nested arrays' ],
        [ '{"a":' x 3000 . '1' . '}' x 3000, '3000 nested objects' ],
        [ '{"bundle":"h@2","bundle":"h@1"}', 'a duplicate key' ],
        [ '{"bundle":["h@2"]}', 'an array for the bundle' ],
    );
    for my $b (@b) {
        my ($body, $name) = @$b;
        my $r = request('POST', '/api/workflows/h/trip', body => $body);
        ok(($r->{status} == 400 || $r->{status} == 404 || $r->{status} == 413
            || ($name =~ /duplicate/ && $r->{status} == 200))
           && !head_clean($r) && ref $r->{json} eq 'HASH',
           "trip with $name: $r->{status}, a JSON answer, clean headers")
            or diag substr($r->{head} . "\n" . $r->{body}, 0, 400);
        request('POST', '/api/workflows/h/resume', body => '{}')
            if $r->{status} == 200;
    }
    my $r2 = request('GET', '/status?format=%0D%0A%00');
    ok($r2->{status} == 200 || $r2->{status} == 400,
       "status with a hostile format: $r2->{status}");
    ok(!head_clean($r2), 'status with a hostile format: clean headers');

    my $after = state_of();
    is($after, $before, 'after all of it: the state is unchanged');
}

############################################################################
# no worker died

is(join(',', $t->worker_pids), join(',', @workers),
   'the same worker processes: none died');
{
    my $r = raw(base_req("X-User-Id: after\r\n"));
    is($r->{status}, 200, 'still serving');
}
unlike($t->error_log, qr/exited on signal|\[alert\]/,
       'error.log: no worker exited on a signal, no alert');

my $elapsed = time - $T0;
ok($elapsed < 40, sprintf 'finished in %.1f s', $elapsed);

############################################################################
# bounds (issue 10): a 15 MB manifest of "---\nx: 1\n" (5 errors a
# document) gives 50 errors and a count of the rest, in nginx -t and on a
# reload, and leaves the master as small as it was; a lock file that is a
# FIFO or a device is refused at once, by nginx -t and by a reload

# the master's resident memory, in MB
sub rss_mb {
    my ($pid) = @_;
    my ($kb) = (slurp("/proc/$pid/status") // '') =~ /^VmRSS:\s+(\d+) kB/m;
    return defined $kb ? $kb / 1024 : -1;
}

{
    my $m = AIRTest->new;
    my $dir = $m->dir;
    mkdir "$dir/logs";
    my $up = "127.0.0.1:" . $t->port('stable');
    my $good = "name: g\nversion: \"1\"\nupstream: $up\nmodel: m\n";
    my $ndocs = int(15 * 1024 * 1024 / length "---\nx: 1\n");
    my $more = 5 * $ndocs - 50;
    my $big = "---\nx: 1\n" x $ndocs;
    my $B = "$dir/bundles/b.yaml";

    # at most 50 errors, one line with the count, in "FILE: MESSAGE in
    # nginx.conf:LINE" lines
    my $bounded = sub {
        my ($text, $name) = @_;
        my @e = grep { /\[emerg\].*ai_release bundle: \Q$B\E[:\s]/ }
                split /\n/, $text;
        is(scalar @e, 51, "$name: 51 error lines (of " . 5 * $ndocs . ")");
        like($e[-1] // '', qr/ai_release bundle: \Q$B\E: \.\.\. and $more more errors in /,
             "$name: the last one counts the rest");
        like($e[0] // '', qr/\Q$B\E:2:1: unknown key "x"/,
             "$name: the first is the first problem");
    };

    my $conf = sub {
        my ($lock) = @_;
        $m->config(($lock ? "    ai_release_lock $lock;\n" : '') . <<'C');
    ai_release_bundles %%DIR%%/bundles/*.yaml;
    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        location / { return 204; }
    }
C
    };
    $conf->();

    $m->write_file('bundles/b.yaml', $big);
    my ($rc, $out) = $m->test_config;
    is($rc, 1, "a 15 MB manifest of $ndocs bad documents: nginx -t fails");
    $bounded->($out, 'nginx -t');

    $m->write_file('bundles/b.yaml', $good);
    $m->start;
    my $master = $m->master_pid;
    my $rss0 = rss_mb($master);

    $m->write_file('bundles/b.yaml', $big);
    my $off = length $m->error_log;
    ok(!$m->reload(timeout => 60), 'a reload with the 15 MB manifest fails');
    $m->write_file('bundles/b.yaml', $good);
    ok($m->reload(timeout => 30), 'the next good reload succeeds');
    $bounded->(substr($m->error_log, $off), 'the failed reload');
    my $rss = rss_mb($master);
    diag(sprintf 'master RSS: %.1f MB at start, %.1f MB after the failed '
         . 'and the good reload', $rss0, $rss);
    SKIP: {
        # ASan keeps freed memory in quarantine
        skip 'the sanitizer build keeps freed memory', 1
            if $m->module eq '';
        ok($rss > 0 && $rss < 100, sprintf 'master RSS after the failed '
           . 'reload and a good one: %.1f MB < 100 MB', $rss);
    }

    # a lock file that is a FIFO with no writer (an open that waits for one
    # would hang nginx -t and the master), or a device

    my $fifo = "$dir/fifo.lock";
    POSIX::mkfifo($fifo, 0600) or die "mkfifo $fifo: $!";
    for my $lock ($fifo, '/dev/zero') {
        $conf->($lock);
        # timeout(1): a regression hangs no longer than 20 s
        ($rc, $out) = $m->_run('timeout', '20', $m->nginx_bin, '-p', "$dir/",
                               '-c', "$dir/nginx.conf", '-t');
        is($rc, 1, "a lock file $lock: nginx -t fails at once (not timed out)");
        like($out, qr/ai_release lock: \Q$lock\E: cannot read lock file: not a regular file in /,
             "a lock file $lock: the reason");
    }

    $conf->($fifo);
    $off = length $m->error_log;
    ok(!$m->reload(timeout => 20), 'a reload with a FIFO lock file fails');
    like(substr($m->error_log, $off), qr/cannot read lock file: not a regular file/,
         'a reload with a FIFO lock file: the reason');
    $conf->();
    ok($m->reload(timeout => 20),
       'the master is not blocked: the next good reload succeeds');

    $m->done(allow => qr/ai_release (?:bundle|lock): /);
}

$t->done;
done_testing;
