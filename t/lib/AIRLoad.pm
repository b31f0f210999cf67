package AIRLoad;

# A load generator for the fault tests (t/40, t/41, t/43): forked clients
# send requests in a loop for a bounded time, on keep-alive and on fresh
# connections, and report their counts.  Also the upstream blocks these
# tests' configurations share.

use strict;
use warnings;
use JSON::PP;
use IO::Socket::INET;
use IO::Select;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use Exporter 'import';

our @EXPORT = qw(lg_request lg_client load_start load_wait load_between
                 load_summary fail_diag upstream_blocks);

############################################################################
# load generator: forked clients, each sending requests in a loop for a
# bounded time on keep-alive and on fresh connections; the results come
# back through a pipe as one JSON document per client.
#
# A request is retried (once, on a fresh connection) only when its
# connection was closed before any byte of the response arrived: the
# keep-alive race every HTTP client handles.  Such retries are counted
# apart (retry_reused: the connection had served requests before;
# retry_fresh: a new connection).

my @LOAD_PIDS;
my $LOAD_OWNER = $$;

END {
    if ($$ == $LOAD_OWNER) {
        kill 'KILL', grep { $_ } @LOAD_PIDS;
        waitpid($_, 0) for grep { $_ } @LOAD_PIDS;
    }
}

# one request on $$sref (connected when undef); returns a hash:
#   status, headers, body, bytes (response bytes seen), error, closed_early
sub lg_request {
    my ($sref, $port, $req, $timeout) = @_;
    my $res = { status => 0, headers => {}, body => '', bytes => 0 };
    my $s = $$sref;
    my $fresh = 0;
    unless ($s) {
        $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                   Proto => 'tcp', Timeout => 5);
        unless ($s) { $res->{error} = "connect: $!"; return $res }
        binmode $s;
        $$sref = $s;
        $fresh = 1;
    }
    $res->{fresh} = $fresh;
    my $deadline = time + $timeout;
    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite($s, $req, length($req) - $off, $off);
        if (!defined $n) {
            next if $!{EINTR} || $!{EAGAIN};
            $res->{error} = "write: $!";
            $res->{closed_early} = 1;
            return $res;
        }
        $off += $n;
    }
    my $sel = IO::Select->new($s);
    my $buf = '';
    my ($have, $mode, $need, $chunks) = (0, '', 0, '');
    while (1) {
        my $left = $deadline - time;
        if ($left <= 0) { $res->{error} = 'timeout'; return $res }
        my @r = $sel->can_read($left);
        next if !@r && $!{EINTR};
        unless (@r) { $res->{error} = 'timeout'; return $res }
        my $n = sysread($s, $buf, 65536, length $buf);
        if (!defined $n) {
            next if $!{EINTR} || $!{EAGAIN};
            $res->{error} = "read: $!";
            $res->{closed_early} = 1 if $res->{bytes} == 0;
            return $res;
        }
        $res->{bytes} += $n;
        if ($n == 0) {
            if ($have && $mode eq 'close') {
                $res->{body} = $buf;
                $res->{done} = 1;
                $res->{close} = 1;
                return $res;
            }
            $res->{error} = $res->{bytes} ? 'closed mid-response' : 'closed';
            $res->{closed_early} = 1 if $res->{bytes} == 0;
            return $res;
        }
        unless ($have) {
            next unless $buf =~ /\r\n\r\n/;
            my ($head, $rest) = split /\r\n\r\n/, $buf, 2;
            my @l = split /\r\n/, $head;
            ($res->{status}) = (shift(@l) // '') =~ m{^HTTP/1\.[01] (\d{3})};
            $res->{status} //= 0;
            for (@l) {
                my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
                $res->{headers}{lc $k} = $v;
            }
            $have = 1;
            $buf = $rest // '';
            my $h = $res->{headers};
            if (($h->{'transfer-encoding'} // '') =~ /chunked/i) {
                $mode = 'chunked';
            } elsif (defined $h->{'content-length'}) {
                $mode = 'length';
                $need = $h->{'content-length'};
            } elsif ($res->{status} == 204 || $res->{status} == 304
                     || $req =~ /^HEAD /) {
                $mode = 'length';
                $need = 0;
            } else {
                $mode = 'close';
            }
        }
        if ($mode eq 'length' && length $buf >= $need) {
            $res->{body} = substr($buf, 0, $need);
            $res->{done} = 1;
            last;
        }
        if ($mode eq 'chunked') {
            # decode as far as possible
            my $body = '';
            my $p = $buf;
            my $complete = 0;
            while (1) {
                last unless $p =~ s/\A([0-9a-fA-F]+)[^\r\n]*\r\n//;
                my $size = hex $1;
                if ($size == 0) {
                    $complete = 1 if $p =~ /\A(?:[^\r\n]+\r\n)*\r\n/;
                    last;
                }
                last if length $p < $size + 2;
                $body .= substr($p, 0, $size);
                substr($p, 0, $size + 2, '');
            }
            if ($complete) {
                $res->{body} = $body;
                $res->{done} = 1;
                last;
            }
        }
    }
    $res->{close} = 1 if ($res->{headers}{connection} // '') =~ /close/i;
    return $res;
}

# the client process: returns its counts
sub lg_client {
    my (%o) = @_;
    $SIG{PIPE} = 'IGNORE';
    srand($$ ^ int(time * 1000));
    my $port = $o{port};
    my $end = $o{start} + $o{duration};
    my %c = (ok => 0, bad => 0, err => 0, retry_reused => 0,
             retry_fresh => 0, requests => 0, conns => 0);
    my (%status, %tag, %variant, @fail, @retries, %sec);
    my ($s, $on_conn, $conn_max, $ka) = (undef, 0, 0, 1);
    my $i = int(rand(1000));
    while (time < $end) {
        last if $o{stop_file} && -e $o{stop_file};
        unless ($s) {
            # every other connection is a keep-alive one, for a random
            # number of requests; the others send "Connection: close"
            $ka = !$ka;
            $conn_max = $ka ? 1 + int(rand(30)) : 1;
            $on_conn = 0;
        }
        my $spec = $o{reqs}[$i++ % @{ $o{reqs} }];
        my %h = (Host => "127.0.0.1:$port", %{ $spec->{headers} || {} });
        $h{Connection} = ($ka && $on_conn + 1 < $conn_max) ? 'keep-alive'
                                                           : 'close';
        my $body = $spec->{body} // '';
        if (length $body || $spec->{method} eq 'POST') {
            $h{'Content-Type'} //= 'application/json';
            $h{'Content-Length'} = length $body;
        }
        my $req = "$spec->{method} $spec->{path} HTTP/1.1\r\n"
                . join('', map { "$_: $h{$_}\r\n" } sort keys %h)
                . "\r\n" . $body;
        $c{conns}++ unless $s;
        my $reused = $s ? 1 : 0;
        my $r = lg_request(\$s, $port, $req, $o{timeout} // 10);
        if ($r->{error} && $r->{closed_early}) {
            # closed before any response byte: retry once, fresh connection
            $c{ $reused ? 'retry_reused' : 'retry_fresh' }++;
            push @retries, { at => time, tag => $spec->{tag} // $spec->{path},
                             reused => $reused, error => $r->{error} }
                if @retries < 200;
            close $s if $s;
            $s = undef;
            $c{conns}++;
            $r = lg_request(\$s, $port, $req, $o{timeout} // 10);
        }
        $c{requests}++;
        my $t = $spec->{tag} // $spec->{path};
        my $now = time;
        my $outcome;
        if ($r->{error}) {
            $outcome = 'err';
        } elsif ($r->{status} >= 200 && $r->{status} < 300) {
            $outcome = 'ok';
        } else {
            $outcome = 'bad';
        }
        $c{$outcome}++;
        $tag{$t}{$outcome}++;
        $status{ $r->{status} }++ unless $r->{error};
        $sec{ int($now * 10) }{$outcome}++;    # tenths of a second
        if (my $x = $r->{headers}{'x-ai-release'}) {
            my ($b) = $x =~ /^(\S+);/;
            $variant{$t}{ $b // '?' }++ if $outcome eq 'ok';
        }
        if ($outcome ne 'ok' && @fail < 200) {
            push @fail, { at => $now, tag => $t, status => $r->{status},
                          error => $r->{error} // '', bytes => $r->{bytes},
                          reused => $reused,
                          body => substr($r->{body} // '', 0, 200) };
        }
        if ($o{check}) {
            my $why = $o{check}->($spec, $r);
            if ($why) {
                $c{check_failed}++;
                push @fail, { at => $now, tag => $t, check => $why }
                    if @fail < 200;
            }
        }
        $on_conn++;
        if (!$s || $r->{error} || $r->{close} || $on_conn >= $conn_max) {
            close $s if $s;
            $s = undef;
        }
        select(undef, undef, undef, $o{pause}) if $o{pause};
    }
    close $s if $s;
    return { counts => \%c, status => \%status, tags => \%tag,
             variants => \%variant, fail => \@fail, retries => \@retries,
             tenths => \%sec };
}

# starts N clients; returns a handle for load_wait
sub load_start {
    my (%o) = @_;
    $o{start} = time;
    my @kids;
    for my $n (1 .. $o{clients}) {
        pipe(my $r, my $w) or die "pipe: $!";
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            close $r;
            my $res = eval { lg_client(%o, id => $n) }
                   || { counts => { crashed => 1 }, error => "$@" };
            binmode $w;
            print $w JSON::PP->new->canonical->encode($res);
            close $w;
            POSIX::_exit(0);
        }
        close $w;
        push @LOAD_PIDS, $pid;
        push @kids, { pid => $pid, fh => $r };
    }
    return { kids => \@kids, start => $o{start},
             deadline => $o{start} + $o{duration} + ($o{timeout} // 10) * 2
                         + 10 };
}

# waits for the clients, returns the sum of their results
sub load_wait {
    my ($h) = @_;
    my %sum = (counts => {}, status => {}, tags => {}, variants => {},
               fail => [], retries => [], tenths => {}, clients => 0);
    for my $k (@{ $h->{kids} }) {
        my $fh = $k->{fh};
        my $sel = IO::Select->new($fh);
        my $data = '';
        while (1) {
            my $left = $h->{deadline} - time;
            last if $left <= 0;
            last unless $sel->can_read($left);
            my $n = sysread($fh, $data, 65536, length $data);
            last unless $n;
        }
        close $fh;
        if (waitpid($k->{pid}, WNOHANG) == 0) {
            kill 'KILL', $k->{pid};
            waitpid($k->{pid}, 0);
        }
        @LOAD_PIDS = grep { $_ != $k->{pid} } @LOAD_PIDS;
        my $r = eval { JSON::PP->new->decode($data) };
        unless ($r) {
            $sum{counts}{lost_clients}++;
            next;
        }
        $sum{clients}++;
        $sum{error} .= $r->{error} if $r->{error};
        $sum{counts}{$_} += $r->{counts}{$_} for keys %{ $r->{counts} };
        $sum{status}{$_} += $r->{status}{$_} for keys %{ $r->{status} || {} };
        for my $t (keys %{ $r->{tags} || {} }) {
            $sum{tags}{$t}{$_} += $r->{tags}{$t}{$_}
                for keys %{ $r->{tags}{$t} };
        }
        for my $t (keys %{ $r->{variants} || {} }) {
            $sum{variants}{$t}{$_} += $r->{variants}{$t}{$_}
                for keys %{ $r->{variants}{$t} };
        }
        for my $s (keys %{ $r->{tenths} || {} }) {
            $sum{tenths}{$s}{$_} += $r->{tenths}{$s}{$_}
                for keys %{ $r->{tenths}{$s} };
        }
        push @{ $sum{fail} }, @{ $r->{fail} || [] };
        push @{ $sum{retries} }, @{ $r->{retries} || [] };
    }
    $sum{counts}{$_} //= 0 for qw(ok bad err retry_reused retry_fresh
                                  requests);
    @{ $sum{fail} } = sort { ($a->{at} // 0) <=> ($b->{at} // 0) }
                      @{ $sum{fail} };
    return \%sum;
}

# outcome counts between two times (epoch seconds)
sub load_between {
    my ($sum, $from, $to) = @_;
    my %c = (ok => 0, bad => 0, err => 0);
    for my $s (keys %{ $sum->{tenths} }) {
        my $t = $s / 10;
        next if $t < $from || $t >= $to;
        $c{$_} += $sum->{tenths}{$s}{$_} for keys %{ $sum->{tenths}{$s} };
    }
    return \%c;
}

sub load_summary {
    my ($sum) = @_;
    my $c = $sum->{counts};
    return sprintf '%d requests by %d clients on %d connections: %d ok, '
         . '%d non-2xx, %d socket errors; retried after an early close: '
         . '%d on reused, %d on fresh connections',
         $c->{requests}, $sum->{clients}, $c->{conns} // 0, $c->{ok},
         $c->{bad}, $c->{err}, $c->{retry_reused}, $c->{retry_fresh};
}

sub fail_diag {
    my ($sum, $max) = @_;
    my @f = @{ $sum->{fail} };
    $max //= 10;
    return join "\n", map {
        sprintf '  %.3f %s status=%s error=%s bytes=%s%s%s', $_->{at} // 0,
            $_->{tag} // '', $_->{status} // '', $_->{error} // '',
            $_->{bytes} // '', $_->{check} ? " check=$_->{check}" : '',
            length($_->{body} // '') ? " body=$_->{body}" : ''
    } @f[0 .. ($#f < $max - 1 ? $#f : $max - 1)];
}

############################################################################
# configuration

# for the http{} level: an upstream block up_NAME for each mock upstream
# NAME, with max_fails=0 (nginx never takes the server out: only the
# module's breakers judge an upstream) and 16 idle keep-alive connections
sub upstream_blocks {
    my (@names) = @_;
    my $c = '';
    for my $n (@names) {
        $c .= sprintf "    upstream %-11s { server 127.0.0.1:%%%%PORT_%s%%%% "
                    . "max_fails=0;\n", "up_$n", $n;
        $c .= ' ' x 27 . "keepalive 16; }\n";
    }
    return $c;
}


1;
