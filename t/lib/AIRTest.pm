package AIRTest;

# Test harness for ngx_http_ai_release_module.
#
#   use lib 't/lib';
#   use Test::More;
#   use AIRTest;
#
#   my $t = AIRTest->new;
#   $t->upstream('a');
#   $t->config(<<'EOF');
#       server {
#           listen 127.0.0.1:%%PORT_nginx%%;
#           location / { proxy_pass http://127.0.0.1:%%PORT_a%%; }
#       }
#   EOF
#   $t->start;
#   my $r = $t->get('/');
#   ...
#   $t->done;
#   done_testing;
#
# Environment: NGINX_BIN (default /usr/sbin/nginx), AIR_MODULE (default
# <repo>/build/nginx/objs/ngx_http_ai_release_module.so), AIR_KEEP=1 keeps
# the temporary directory (and prints it).

use strict;
use warnings;

use Test::More ();
use HTTP::Tiny;
use IO::Socket::INET;
use IO::Select;
use JSON::PP ();
use File::Temp ();
use File::Spec;
use File::Path qw(make_path);
use File::Basename qw(dirname);
use Cwd qw(abs_path);
use POSIX qw(:sys_wait_h);
use Scalar::Util qw(weaken refaddr);
use Time::HiRes qw(time sleep);
use Exporter 'import';

our $VERSION = '0.01';
our @EXPORT_OK = qw(slurp);

my $LIB_DIR = dirname(abs_path(__FILE__));
my $REPO    = abs_path(File::Spec->catdir($LIB_DIR, File::Spec->updir,
                                          File::Spec->updir));
my $MOCK    = File::Spec->catfile($LIB_DIR, 'mock_upstream.pl');

my %REGISTRY;      # refaddr => weak ref to every live harness object
my %USED_PORTS;    # ports handed out by this process

############################################################################
# construction

sub new {
    my ($class, %opt) = @_;

    my $keep = $ENV{AIR_KEEP} ? 1 : 0;
    my $dir = File::Temp::tempdir('air-test-XXXXXXXX', TMPDIR => 1,
                                  CLEANUP => !$keep);
    # nginx workers run as "nobody" when the tests run as root
    chmod 0755, $dir;
    make_path("$dir/tmp", { mode => 0755 });
    Test::More::diag("AIRTest directory: $dir") if $keep;

    my $self = bless {
        dir        => $dir,
        nginx      => $opt{nginx}  // $ENV{NGINX_BIN} // '/usr/sbin/nginx',
        module     => $opt{module} // $ENV{AIR_MODULE}
                      // "$REPO/build/nginx/objs/ngx_http_ai_release_module.so",
        ports      => {},
        upstreams  => {},
        workers    => 1,
        owner      => $$,
        seen_pids  => {},
        checked    => 0,
        started    => 0,
    }, $class;

    $REGISTRY{refaddr $self} = $self;
    weaken $REGISTRY{refaddr $self};

    # make sure END blocks (and thus the cleanup) run on INT/TERM
    for my $sig (qw(INT TERM HUP)) {
        if (!defined $SIG{$sig} || $SIG{$sig} eq '' || $SIG{$sig} eq 'DEFAULT') {
            $SIG{$sig} = sub { Test::More::diag("caught SIG$sig"); exit 1 };
        }
    }

    return $self;
}

sub dir    { $_[0]{dir} }
sub repo   { $REPO }
sub nginx_bin { $_[0]{nginx} }
sub module { $_[0]{module} }

# the load_module line for configs a test writes itself ("" when static)
sub load_module_line {
    my ($self) = @_;
    return $self->{module} eq '' ? '' : "load_module $self->{module};";
}

############################################################################
# ports and files

sub _port_free {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1',
        LocalPort => $port,
        Proto     => 'tcp',
        Listen    => 1,
        ReuseAddr => 0,
    ) or return 0;
    close $s;
    return 1;
}

sub _free_port {
    # Prefer ports below the ephemeral range, so that outgoing connections
    # (e.g. nginx -> upstream) never grab a port allocated for a listener.
    my $low = 32768;
    if (open my $fh, '<', '/proc/sys/net/ipv4/ip_local_port_range') {
        my $l = <$fh>;
        ($low) = $l =~ /^\s*(\d+)/ if defined $l;
        close $fh;
        $low ||= 32768;
    }
    my ($from, $to) = (10000, $low - 1);
    if ($to - $from > 1000) {
        for (1 .. 200) {
            my $p = $from + int(rand($to - $from));
            next if $USED_PORTS{$p};
            if (_port_free($p)) {
                $USED_PORTS{$p} = 1;
                return $p;
            }
        }
    }
    for (1 .. 100) {
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                      Proto => 'tcp', Listen => 1)
            or die "cannot bind 127.0.0.1:0: $!";
        my $p = $s->sockport;
        close $s;
        next if $USED_PORTS{$p};
        $USED_PORTS{$p} = 1;
        return $p;
    }
    die "no free port found";
}

sub port {
    my ($self, $name) = @_;
    $name //= 'nginx';
    return $self->{ports}{$name} //= _free_port();
}

sub write_file {
    my ($self, $rel, $content) = @_;
    my $path = File::Spec->file_name_is_absolute($rel) ? $rel
             : "$self->{dir}/$rel";
    my $d = dirname($path);
    make_path($d, { mode => 0755 }) unless -d $d;
    open my $fh, '>', $path or die "cannot write $path: $!";
    binmode $fh;
    print $fh $content // '';
    close $fh or die "cannot write $path: $!";
    return $path;
}

# a whole file, bytes as they are; undef when it cannot be opened.  Also
# for tests: use AIRTest qw(slurp);
sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return undef;
    binmode $fh;
    local $/;
    my $c = <$fh>;
    close $fh;
    return $c // '';
}

############################################################################
# /proc helpers

sub _stat {
    my ($pid) = @_;
    my $s = slurp("/proc/$pid/stat") // return;
    $s =~ s/^.*\)\s+//s or return;
    my @f = split ' ', $s;
    # state ppid pgrp
    return ($f[0], $f[1], $f[2]);
}

sub _alive {
    my ($pid) = @_;
    return 0 unless $pid && $pid > 0;
    my ($state) = _stat($pid);
    return 0 unless defined $state;
    return $state ne 'Z' && $state ne 'X';
}

sub _cmdline {
    my ($pid) = @_;
    my $c = slurp("/proc/$pid/cmdline") // return '';
    $c =~ s/\0+$//;
    $c =~ s/\0/ /g;
    return $c;
}

sub _all_pids {
    opendir my $dh, '/proc' or return;
    my @p = grep { /^\d+$/ } readdir $dh;
    closedir $dh;
    return @p;
}

sub _children_of {
    my ($ppid) = @_;
    my @c;
    for my $pid (_all_pids()) {
        my ($state, $pp) = _stat($pid);
        next unless defined $state;
        next if $state eq 'Z' || $state eq 'X';
        push @c, $pid if $pp == $ppid;
    }
    return @c;
}

# Every live process belonging to this test: anything whose command line
# mentions the test directory (nginx master, mock upstreams and their forks)
# and, recursively, their children (nginx workers).
sub processes {
    my ($self) = @_;
    my $dir = $self->{dir};
    my (%info, %mine);
    for my $pid (_all_pids()) {
        next if $pid == $$;
        my ($state, $ppid) = _stat($pid);
        next unless defined $state;
        next if $state eq 'Z' || $state eq 'X';
        $info{$pid} = $ppid;
        $mine{$pid} = 1 if index(_cmdline($pid), $dir) >= 0;
    }
    # pids seen earlier (e.g. workers of a killed master), but only while
    # they still look like ours (guards against pid reuse)
    for my $pid (keys %{ $self->{seen_pids} }) {
        next unless exists $info{$pid};
        $mine{$pid} = 1 if _cmdline($pid) =~ /^nginx: |mock_upstream/;
    }
    my $changed = 1;
    while ($changed) {
        $changed = 0;
        for my $pid (keys %info) {
            next if $mine{$pid};
            if ($mine{ $info{$pid} }) {
                $mine{$pid} = 1;
                $changed = 1;
            }
        }
    }
    my @sorted = sort { $a <=> $b } keys %mine;
    return @sorted;
}

############################################################################
# process helpers

sub _spawn {
    my ($self, $out, @cmd) = @_;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        eval {
            setpgrp(0, 0);
            open STDIN, '<', '/dev/null';
            open STDOUT, '>>', $out or die;
            open STDERR, '>&', \*STDOUT or die;
            exec { $cmd[0] } @cmd;
        };
        POSIX::_exit(127);
    }
    return $pid;
}

# runs a command to completion, returns (exit code, stdout+stderr)
sub _run {
    my ($self, @cmd) = @_;
    my $out = "$self->{dir}/run-" . time() . "-$$-" . int(rand(1e6)) . '.out';
    my $pid = $self->_spawn($out, @cmd);
    my $deadline = time + 60;
    my $rc;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) { $rc = $?; last }
        if ($r < 0) { $rc = -1; last }
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            $rc = -1;
            last;
        }
        sleep 0.01;
    }
    my $text = slurp($out) // '';
    unlink $out;
    my $code = $rc == -1 ? -1 : ($rc & 127) ? 128 + ($rc & 127) : $rc >> 8;
    return ($code, $text);
}

sub _can_connect {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 2);
    return 0 unless $s;
    close $s;
    return 1;
}

sub _wait_for {
    my ($timeout, $cb) = @_;
    my $deadline = time + $timeout;
    my $delay = 0.01;
    while (1) {
        return 1 if $cb->();
        return 0 if time > $deadline;
        sleep $delay;
        $delay *= 1.5;
        $delay = 0.1 if $delay > 0.1;
    }
}

############################################################################
# mock upstreams

sub upstream {
    my ($self, $name, %opt) = @_;
    my $u = $self->{upstreams}{$name};
    if ($u && $u->{pid} && waitpid($u->{pid}, WNOHANG) == 0) {
        return $u->{pid};    # already running
    }
    my $port = $self->port($name);
    my $ctl  = "$self->{dir}/upstream-$name";
    my $err  = "$self->{dir}/upstream-$name.stderr";
    my @cmd = ($^X, $MOCK, '--listen', "127.0.0.1:$port", '--name', $name,
               '--control', $ctl);
    my $pid = $self->_spawn($err, @cmd);
    $self->{upstreams}{$name} = { pid => $pid, port => $port };
    $self->{seen_pids}{$pid} = 1;

    my $exited = 0;
    my $ok = _wait_for($opt{timeout} // 10, sub {
        if (waitpid($pid, WNOHANG) == $pid) { $exited = 1; return 1 }
        return _can_connect($port);
    });
    if (!$ok || $exited) {
        my $log = slurp($err) // '';
        $self->stop_upstream($name) unless $exited;
        delete $self->{upstreams}{$name};
        die "mock upstream '$name' failed to start on port $port"
            . ($exited ? " (exited)" : " (timeout)") . ":\n$log";
    }
    return $pid;
}

sub upstream_control {
    my ($self, $name, $content) = @_;
    my $ctl = "$self->{dir}/upstream-$name";
    if (!defined $content || $content eq '') {
        unlink $ctl;
        return;
    }
    # atomic replace: the upstream re-reads the file on every request
    my $tmp = "$ctl.tmp.$$";
    $self->write_file($tmp, $content);
    rename $tmp, $ctl or die "rename $tmp: $!";
    return $ctl;
}

sub upstream_log {
    my ($self, $name) = @_;
    my $c = slurp("$self->{dir}/upstream-$name.log") // '';
    return split /\n/, $c;
}

sub upstream_count {
    my ($self, $name) = @_;
    my @l = $self->upstream_log($name);
    return scalar @l;
}

# the bodies of the requests the upstream read, bytes as received, in the
# order it read them (t/lib/mock_upstream.pl writes FILE.bodies/SEQ)
sub upstream_bodies {
    my ($self, $name) = @_;
    my $d = "$self->{dir}/upstream-$name.bodies";
    opendir my $dh, $d or return;
    my @seq = sort { $a <=> $b } grep { /^\d+$/ } readdir $dh;
    closedir $dh;
    return map { slurp("$d/$_") // '' } @seq;
}

# the requests the upstream read, in the order it read them: each
# { seq, lines => ["Name: value", ...] (as received), headers => {lc name
# => value, repeated names joined by ", "}, body } (the mock writes
# FILE.headers/SEQ beside FILE.bodies/SEQ); a request whose files are not
# both written yet is left out
sub upstream_requests {
    my ($self, $name) = @_;
    my $d = "$self->{dir}/upstream-$name";
    opendir my $dh, "$d.bodies" or return;
    my @seq = sort { $a <=> $b } grep { /^\d+$/ } readdir $dh;
    closedir $dh;
    my @r;
    for my $seq (@seq) {
        my $h = slurp("$d.headers/$seq");
        my $b = slurp("$d.bodies/$seq");
        next unless defined $h && defined $b;
        my @lines = split /\n/, $h;
        my %h;
        for my $l (@lines) {
            my ($k, $v) = $l =~ /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
            $k = lc $k;
            $h{$k} = exists $h{$k} ? "$h{$k}, $v" : $v;
        }
        push @r, { seq => $seq, lines => \@lines, headers => \%h,
                   body => $b };
    }
    return @r;
}

sub upstream_last_body {
    my ($self, $name) = @_;
    my @b = $self->upstream_bodies($name);
    return $b[-1];
}

sub upstream_pid {
    my ($self, $name) = @_;
    my $u = $self->{upstreams}{$name} or return;
    return $u->{pid};
}

sub stop_upstream {
    my ($self, $name) = @_;
    my $u = $self->{upstreams}{$name} or return;
    my $pid = delete $u->{pid};
    return unless $pid;
    # the mock runs in its own process group together with its children
    kill 'TERM', -$pid;
    kill 'TERM', $pid;
    my $gone = _wait_for(5, sub { waitpid($pid, WNOHANG) != 0 });
    unless ($gone) {
        kill 'KILL', -$pid;
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    # children of the mock that might have escaped the group kill
    kill 'KILL', -$pid;
    _wait_for(10, sub { !_can_connect($u->{port}) })
        or Test::More::diag("upstream '$name' port $u->{port} still accepts"
                            . " connections after stop");
    return 1;
}

sub upstreams { sort keys %{ $_[0]{upstreams} } }

############################################################################
# nginx configuration

sub config {
    my ($self, $body, %opt) = @_;
    my $dir = $self->{dir};
    $self->{workers} = $opt{workers} // 1;

    my $text = '';
    # an empty AIR_MODULE: the module is compiled into nginx (make asan)
    $text .= "load_module $self->{module};\n"
        unless $opt{no_module} || $self->{module} eq '';
    $text .= "worker_processes $self->{workers};\n";
    $text .= "pid $dir/nginx.pid;\n";
    $text .= "error_log $dir/error.log " . ($opt{log_level} // 'notice') . ";\n";
    $text .= "$opt{main}\n" if defined $opt{main};
    $text .= "events {\n    worker_connections 1024;\n}\n";
    $text .= "http {\n";
    $text .= "    access_log $dir/access.log;\n";
    for my $t (qw(client_body proxy fastcgi uwsgi scgi)) {
        $text .= "    ${t}_temp_path $dir/tmp/$t;\n";
    }
    $text .= ($body // '') . "\n}\n";

    $text = $self->subst($text);
    $self->write_file('nginx.conf', $text);
    $self->{config_text} = $text;
    return $text;
}

sub subst {
    my ($self, $text) = @_;
    $text =~ s/%%PORT_(\w+?)%%/$self->port($1)/ge;
    $text =~ s/%%DIR%%/$self->{dir}/g;
    return $text;
}

sub _nginx_args {
    my ($self) = @_;
    return ($self->{nginx}, '-p', "$self->{dir}/", '-c', "$self->{dir}/nginx.conf");
}

sub test_config {
    my ($self) = @_;
    return $self->_run($self->_nginx_args, '-t');
}

############################################################################
# nginx lifecycle

sub master_pid {
    my ($self) = @_;
    my $c = slurp("$self->{dir}/nginx.pid");
    if (defined $c && $c =~ /(\d+)/) {
        $self->{master} = $1;
        $self->{seen_pids}{$1} = 1;
    }
    return $self->{master};
}

# live, non-shutting-down worker processes of the master
sub worker_pids {
    my ($self, %opt) = @_;
    my $m = $self->master_pid or return;
    my @w;
    for my $pid (_children_of($m)) {
        my $cmd = _cmdline($pid);
        next unless $cmd =~ /worker process/;
        next if !$opt{all} && $cmd =~ /shutting down/;
        push @w, $pid;
        $self->{seen_pids}{$pid} = 1;
    }
    my @sorted = sort { $a <=> $b } @w;
    return @sorted;    # a count in scalar context
}

sub _expected_workers {
    my ($self, $fallback) = @_;
    my $w = $self->{workers};
    return $w if defined $w && $w =~ /^\d+$/ && $w > 0;
    return $fallback || 1;
}

sub start {
    my ($self, %opt) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    my $dir = $self->{dir};
    unlink "$dir/nginx.pid";
    $self->{master} = undef;

    my $err_off = -s "$dir/error.log" // 0;
    my ($code, $out) = $self->_run($self->_nginx_args);

    my $fail = sub {
        my ($why) = @_;
        my $elog = slurp("$dir/error.log") // '';
        $elog = substr($elog, $err_off) if length $elog >= $err_off;
        if ($opt{may_fail}) {
            $self->{start_error} = "$why\n$out$elog";
            return 0;
        }
        Test::More::ok(0, 'nginx started');
        Test::More::diag("nginx failed to start: $why");
        Test::More::diag("output:\n$out") if length $out;
        Test::More::diag("error.log:\n$elog") if length $elog;
        die "nginx failed to start: $why\n";
    };

    return $fail->("exit code $code") if $code != 0;

    _wait_for($opt{timeout} // 10, sub { $self->master_pid })
        or return $fail->('no pid file');
    $self->{started} = 1;
    my $m = $self->master_pid;

    if (exists $self->{ports}{nginx}) {
        my $p = $self->{ports}{nginx};
        _wait_for($opt{timeout} // 10, sub {
            _alive($m) && _can_connect($p) })
            or return $fail->(_alive($m) ? "port $p does not accept connections"
                                         : "master process $m exited");
    }
    # wait for the workers as well
    my $want = $self->_expected_workers(1);
    _wait_for($opt{timeout} // 10, sub { $self->worker_pids >= $want });
    return 1;
}

sub reload {
    my ($self, %opt) = @_;
    my $dir = $self->{dir};
    my $m = $self->master_pid or return 0;
    return 0 unless _alive($m);

    my %old = map { $_ => 1 } $self->worker_pids(all => 1);
    my $want = $self->_expected_workers(scalar(grep { 1 } keys %old) || 1);
    my $off = -s "$dir/error.log" // 0;

    kill 'HUP', $m or return 0;

    my $result;
    _wait_for($opt{timeout} // 10, sub {
        my $elog = slurp("$dir/error.log") // '';
        if (length $elog > $off && substr($elog, $off) =~ /\[emerg\]/) {
            $result = 0;
            return 1;
        }
        my @new = grep { !$old{$_} } $self->worker_pids;
        if (@new >= $want) {
            $result = 1;
            return 1;
        }
        return 0;
    });
    if ($result) {
        sleep 0.2;
        return 1;
    }
    return 0;
}

sub stop {
    my ($self) = @_;
    return 1 unless $self->{started};
    my $m = $self->master_pid;
    $self->{started} = 0;
    return 1 unless $m;
    # remember everything that belongs to this nginx
    $self->{seen_pids}{$_} = 1 for $self->worker_pids(all => 1);
    my @kids = _children_of($m);
    $self->{seen_pids}{$_} = 1 for @kids;

    if (_alive($m)) {
        kill 'QUIT', $m;
        unless (_wait_for(10, sub { !_alive($m) })) {
            kill 'TERM', $m;
            unless (_wait_for(5, sub { !_alive($m) })) {
                kill 'KILL', $m;
                _wait_for(5, sub { !_alive($m) });
            }
        }
    }
    # workers left over (e.g. master was killed)
    my @left = grep { _alive($_) } @kids;
    if (@left) {
        _wait_for(3, sub { !grep { _alive($_) } @left });
        kill 'KILL', grep { _alive($_) } @left;
    }
    return 1;
}

sub done {
    my ($self, %opt) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    $self->stop;
    $self->stop_upstream($_) for $self->upstreams;
    $self->check_log(%opt) unless $self->{checked};
    return 1;
}

############################################################################
# logs

sub error_log {
    my ($self) = @_;
    return slurp("$self->{dir}/error.log") // '';
}

sub access_log {
    my ($self) = @_;
    my $c = slurp("$self->{dir}/access.log") // '';
    return split /\n/, $c;
}

sub check_log {
    my ($self, %opt) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    $self->{checked} = 1;
    my $allow = $opt{allow};
    my @bad;
    for my $line (split /\n/, $self->error_log) {
        next unless $line =~ /\[(?:alert|emerg|crit)\]|AddressSanitizer|LeakSanitizer|runtime error:/;
        next if $allow && $line =~ $allow;
        push @bad, $line;
    }
    my $ok = Test::More::ok(!@bad, $opt{name} // 'no alerts/sanitizer reports in error.log');
    Test::More::diag(join "\n", @bad) if @bad;
    return $ok;
}

############################################################################
# HTTP helpers

sub _http {
    my ($self, $method, $path, $content, $headers, $opt) = @_;
    $opt ||= {};
    my $port = $opt->{port} // $self->port('nginx');
    my %h = %{ $headers || {} };
    my $host = "127.0.0.1:$port";
    my %args;
    for my $k (keys %h) {
        if (lc $k eq 'host') {
            # HTTP::Tiny refuses a Host header: put it in the URL instead
            $host = delete $h{$k};
            $host .= ":$port" unless $host =~ /:\d+$/;
            $args{peer} = '127.0.0.1';
        }
    }
    $args{headers} = \%h;
    $args{content} = $content if defined $content;
    my $ua = HTTP::Tiny->new(
        timeout     => $opt->{timeout} // 10,
        keep_alive  => 0,
        max_redirect => 0,
        proxy       => undef,
        http_proxy  => undef,
        https_proxy => undef,
        agent       => 'AIRTest/0.01',
    );
    return $ua->request($method, "http://$host$path", \%args);
}

sub get {
    my ($self, $path, $headers, $opt) = @_;
    return $self->_http('GET', $path, undef, $headers, $opt);
}

sub post {
    my ($self, $path, $body, $headers, $opt) = @_;
    my %h = %{ $headers || {} };
    $h{'Content-Type'} = 'application/json'
        unless grep { lc $_ eq 'content-type' } keys %h;
    return $self->_http('POST', $path, $body // '', \%h, $opt);
}

sub request {
    my ($self, $method, $path, %opt) = @_;
    return $self->_http($method, $path, $opt{content}, $opt{headers}, \%opt);
}

sub json {
    my ($self, $r) = @_;
    my $c = ref $r ? $r->{content} : $r;
    return eval { JSON::PP->new->utf8->decode($c // '') };
}

# POST over a raw socket, recording the arrival time of every read.
#   returns { status, reason, headers => {lc => value}, body,
#             chunks => [[secs, decoded data], ...] (reads yielding body data),
#             raw_chunks => [[secs, raw bytes], ...] (every read of the body),
#             header_time, complete, error }
#   $opt: method, port, timeout, and until_eof: keep reading after the end
#   of the body until nginx closes the connection (it runs the log phase
#   in between)
sub stream {
    my ($self, $path, $body, $headers, $opt) = @_;
    $opt ||= {};
    my $port    = $opt->{port} // $self->port('nginx');
    my $method  = $opt->{method} // 'POST';
    my $timeout = $opt->{timeout} // 30;
    $body //= '';

    my %h = %{ $headers || {} };
    my %lc = map { lc($_) => 1 } keys %h;
    $h{Host} = "127.0.0.1:$port" unless $lc{host};
    $h{Connection} = 'close' unless $lc{connection};
    $h{'Content-Type'} = 'application/json'
        unless $lc{'content-type'} || ($method eq 'GET' && !length $body);
    $h{'Content-Length'} = length $body
        unless $lc{'content-length'} || $lc{'transfer-encoding'}
               || ($method eq 'GET' && !length $body);

    my $res = { status => 0, headers => {}, chunks => [], raw_chunks => [],
                body => '', complete => 0 };

    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5);
    unless ($s) {
        $res->{error} = "connect: $!";
        return $res;
    }
    binmode $s;
    my $req = "$method $path HTTP/1.1\r\n"
            . join('', map { "$_: $h{$_}\r\n" } sort keys %h)
            . "\r\n" . $body;
    my $t0 = time;
    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite($s, $req, length($req) - $off, $off);
        if (!defined $n) {
            next if $!{EINTR};
            $res->{error} = "write: $!";
            return $res;
        }
        $off += $n;
    }

    my $sel = IO::Select->new($s);
    my $deadline = $t0 + $timeout;
    my $hbuf = '';
    my $have_headers = 0;
    my ($mode, $remaining);            # 'chunked' | 'length' | 'close'
    my ($cstate, $cbuf, $csize) = ('size', '', 0);

    my $decode = sub {
        my ($data) = @_;
        return $data if $mode eq 'close';
        if ($mode eq 'length') {
            my $take = substr($data, 0, $remaining);
            $remaining -= length $take;
            $res->{complete} = 1 if $remaining <= 0;
            return $take;
        }
        # chunked
        $cbuf .= $data;
        my $outp = '';
        while (1) {
            if ($cstate eq 'size') {
                last unless $cbuf =~ s/\A([^\r\n]*)\r?\n//;
                my ($hex) = $1 =~ /^\s*([0-9a-fA-F]+)/;
                if (!defined $hex) { $res->{error} = 'bad chunk'; $cstate = 'done'; last }
                $csize = hex $hex;
                $cstate = $csize ? 'data' : 'trailer';
            } elsif ($cstate eq 'data') {
                last unless length $cbuf;
                my $take = substr($cbuf, 0, $csize, '');
                $outp .= $take;
                $csize -= length $take;
                $cstate = 'crlf' if $csize == 0;
            } elsif ($cstate eq 'crlf') {
                last if length $cbuf < 2 && $cbuf ne "\n";
                $cbuf =~ s/\A\r?\n//;
                $cstate = 'size';
            } elsif ($cstate eq 'trailer') {
                last unless $cbuf =~ s/\A([^\r\n]*)\r?\n//;
                if ($1 eq '') { $cstate = 'done'; $res->{complete} = 1 }
            } else {
                last;
            }
        }
        return $outp;
    };

    my $on_body = sub {
        my ($t, $data) = @_;
        return unless length $data;
        push @{ $res->{raw_chunks} }, [$t, $data];
        my $d = $decode->($data);
        if (length $d) {
            push @{ $res->{chunks} }, [$t, $d];
            $res->{body} .= $d;
        }
    };

    while (1) {
        my $left = $deadline - time;
        if ($left <= 0) { $res->{error} = 'timeout'; last }
        my @r = $sel->can_read($left);
        next if !@r && $!{EINTR};
        unless (@r) { $res->{error} = 'timeout'; last }
        my $buf;
        my $n = sysread($s, $buf, 65536);
        if (!defined $n) {
            next if $!{EINTR} || $!{EAGAIN};
            $res->{error} = "read: $!";
            last;
        }
        my $t = time - $t0;
        if ($n == 0) {
            $res->{complete} = 1 if $have_headers && $mode eq 'close';
            $res->{error} = 'connection closed before headers' unless $have_headers;
            last;
        }
        if (!$have_headers) {
            $hbuf .= $buf;
            next unless $hbuf =~ /\r?\n\r?\n/;
            my ($head, $rest) = split /\r?\n\r?\n/, $hbuf, 2;
            my @lines = split /\r?\n/, $head;
            my $sl = shift @lines;
            ($res->{status}, $res->{reason}) = $sl =~ m{^HTTP/\d\.\d\s+(\d+)\s*(.*)$};
            $res->{status} //= 0;
            for my $l (@lines) {
                my ($k, $v) = $l =~ /^([^:]+):\s*(.*?)\s*$/ or next;
                $k = lc $k;
                $res->{headers}{$k} = exists $res->{headers}{$k}
                    ? "$res->{headers}{$k}, $v" : $v;
            }
            $have_headers = 1;
            $res->{header_time} = $t;
            my $hh = $res->{headers};
            if (($hh->{'transfer-encoding'} // '') =~ /chunked/i) {
                $mode = 'chunked';
            } elsif (defined $hh->{'content-length'}) {
                $mode = 'length';
                $remaining = $hh->{'content-length'} + 0;
                $res->{complete} = 1 if $remaining == 0;
            } elsif ($method eq 'HEAD' || $res->{status} =~ /^(?:1\d\d|204|304)$/) {
                $mode = 'length';
                $remaining = 0;
                $res->{complete} = 1;
            } else {
                $mode = 'close';
            }
            $on_body->($t, $rest) if defined $rest;
        } else {
            $on_body->($t, $buf);
        }
        last if $res->{complete} && $mode ne 'close' && !$opt->{until_eof};
    }
    close $s;
    $res->{elapsed} = time - $t0;
    return $res;
}

############################################################################
# safety net

sub _kill_everything {
    my ($self) = @_;
    return unless $self->{owner} && $self->{owner} == $$;
    return if $self->{killed_all};
    $self->{killed_all} = 1;
    local ($?, $!, $@);

    # polite first (lets nginx remove its pid file, mock reap its kids)
    eval { $self->stop if $self->{started} };
    for my $name (keys %{ $self->{upstreams} || {} }) {
        my $pid = $self->{upstreams}{$name}{pid} or next;
        kill 'KILL', -$pid;
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    for (1 .. 3) {
        my @p = $self->processes;
        last unless @p;
        kill 'KILL', @p;
        _wait_for(2, sub { !grep { _alive($_) } @p });
    }
    1 while waitpid(-1, WNOHANG) > 0;
}

sub DESTROY {
    my ($self) = @_;
    return if ${^GLOBAL_PHASE} eq 'DESTRUCT' && $self->{killed_all};
    $self->_kill_everything;
    delete $REGISTRY{refaddr $self};
}

END {
    for my $t (grep { defined } values %REGISTRY) {
        $t->_kill_everything;
    }
}

1;
