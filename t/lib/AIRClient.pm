package AIRClient;

# Client helpers shared by the tests that send traffic through nginx
# (t/10-13, t/30-32, t/40-43): requests read to EOF so that their outcome
# is recorded when they return, concurrent requests, polling, plain HTTP
# requests, the status JSON, the breakers' state-change lines and the
# access log.

use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use HTTP::Tiny;
use JSON::PP ();
use Time::HiRes qw(time sleep);
use Exporter 'import';

our @EXPORT = qw(annotate ask ask_many wait_for http status_get status_doc
                 wf_of bundle_of totals transitions ntrans check_change_lines
                 alog_format alog variants wf_blocks wf_locations);

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

# One request on a fresh connection (Connection: close), read until nginx
# closes it, not only to the end of the body, so that the request's outcome
# has been counted and its access log line written when this returns: nginx
# runs the log phase after it has sent the response but before it closes
# such a connection.  Use a GET without a body for that: for a request with
# a body nginx may use lingering close (the client sees EOF first, the log
# phase runs when the client has closed too).
sub ask {
    my ($t, $path, %o) = @_;
    my $method = defined $o{body} ? 'POST' : 'GET';
    my $r = $t->stream($path, $o{body} // '', $o{headers} || {},
                       { method => $method, timeout => $o{timeout} // 20,
                         until_eof => 1 });
    return annotate($r);
}

# several requests at once, each on its own connection, read to EOF (GETs,
# see ask); a request with a body is a POST of JSON
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

# calls $cb every $every seconds (default 0.05) until it returns true or
# $secs have passed; returns its last value
sub wait_for {
    my ($secs, $cb, $every) = @_;
    my $end = time + $secs;
    while (1) {
        my $v = $cb->();
        return $v if $v || time > $end;
        sleep $every // 0.05;
    }
}

# one request through HTTP::Tiny on a fresh connection, with Content-Type
# application/json; $o{timeout} in seconds (default 10).  Returns the
# response and its body decoded as JSON (undef if it is not JSON).
sub http {
    my ($t, $method, $path, $body, %o) = @_;
    my $ua = HTTP::Tiny->new(timeout => $o{timeout} // 10, keep_alive => 0,
                             proxy => undef, http_proxy => undef,
                             https_proxy => undef);
    my $r = $ua->request($method, 'http://127.0.0.1:' . $t->port('nginx')
                                  . $path,
                         { headers => { 'Content-Type' => 'application/json' },
                           defined $body ? (content => $body) : () });
    my $j = eval { JSON::PP->new->utf8->decode($r->{content} // '') };
    return ($r, $j);
}

# GET /status ($query appended, e.g. "?format=prometheus"): the response
# and the status document, undef unless the answer is a 200 with a JSON
# object
sub status_get {
    my ($t, $query) = @_;
    my $r = $t->get('/status' . ($query // ''));
    my $j = $r->{status} == 200 ? $t->json($r) : undef;
    return ($r, ref $j eq 'HASH' ? $j : undef);
}

# the status document alone (undef as for status_get)
sub status_doc { (status_get(@_))[1] }

# a workflow of a status document, a bundle of such a workflow ({} when
# there is none)
sub wf_of {
    my ($doc, $name) = @_;
    return (grep { $_->{name} eq $name } @{ $doc->{workflows} || [] })[0]
           || {};
}

sub bundle_of {
    my ($w, $id) = @_;
    return (grep { $_->{bundle} eq $id } @{ $w->{bundles} || [] })[0] || {};
}

# "workflow/bundle" => totals.total, for every bundle of every workflow of a
# status document
sub totals {
    my ($doc) = @_;
    my %t;
    for my $w (@{ $doc->{workflows} || [] }) {
        for my $b (@{ $w->{bundles} || [] }) {
            $t{"$w->{name}/$b->{bundle}"} = $b->{totals}{total} // 0;
        }
    }
    return \%t;
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

# the log_format "air", which alog reads: for the http{} level of a
# configuration whose server logs with "access_log %%DIR%%/air.log air;"
sub alog_format {
    return <<'F';
    log_format air '$ai_release_workflow $status n=$arg_n u=$http_x_user_id '
                   'v=$ai_release_variant b=$ai_release_bundle '
                   'st=$ai_release_state r=$ai_release_reason '
                   'f=$ai_release_failover pid=$pid';
F
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

# configurations that serve workflow NAME at /NAME/... (the prefix is
# rewritten away): $wf is [[NAME, "its directives"], ...]; the http{} text
# of the workflows, and the server{} text of their locations, each with the
# lines $extra->{NAME} (if any) before its proxy_pass
sub wf_blocks {
    my ($wf) = @_;
    return join '', map { "\n    ai_release_workflow $_->[0] {\n"
                          . "        $_->[1]\n    }\n" } @$wf;
}

sub wf_locations {
    my ($wf, $extra) = @_;
    return join '', map {
        my $n = $_->[0];
        "        location /$n/ {\n"
      . "            ai_release $n;\n"
      . "            rewrite ^/$n(/.*)\$ \$1 break;\n"
      . (($extra || {})->{$n} // '')
      . "            proxy_pass http://ai_release;\n"
      . "        }\n"
    } @$wf;
}

sub variants { join ',', map { $_->{variant} || "?($_->{status})" } @_ }


1;
