#!/usr/bin/perl
# Runs last (its name sorts last): no process may outlive the test that
# started it.  The harness (t/lib/AIRTest.pm) runs every test in a temporary
# directory named air-test-XXXXXXXX and deletes it when the test ends, after
# stopping everything it started.  A process that still refers to such a
# directory after it was deleted is an orphan of a finished test: an nginx
# master (its command line has -p DIR), a mock upstream or one of its
# connection handlers (--control DIR/...), or an nginx worker (no directory
# in its command line, but its open files, e.g. the error log, are in it).
#
# prove -j runs files in parallel, so only orphans count: a process whose
# directory still exists belongs to a test that is still running (or was
# kept with AIR_KEEP=1).  Orphans get up to 10 s to go away.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest qw(slurp);
use File::Spec;
use File::Temp ();
use File::Path ();
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

my $DIR_RE = qr{(/[^\s\0]*?/air-test-[A-Za-z0-9_]{8})(?=/|\s|\0|$| \(deleted\))};

# pid => "state ppid"
sub stat_of {
    my ($pid) = @_;
    my $s = slurp("/proc/$pid/stat") // return;
    $s =~ s/^.*\)\s+//s or return;
    my @f = split ' ', $s;
    return ($f[0], $f[1]);
}

# this process and its ancestors are never orphans
my %self;
{
    my $p = $$;
    while ($p && $p > 1 && !$self{$p}) {
        $self{$p} = 1;
        my (undef, $pp) = stat_of($p);
        last unless defined $pp;
        $p = $pp;
    }
}

# the orphans: [pid, why, command line]
sub orphans {
    my (%o) = @_;
    my @found;
    opendir my $dh, '/proc' or return;
    my @pids = grep { /^\d+$/ } readdir $dh;
    closedir $dh;
    for my $pid (@pids) {
        next if $self{$pid} || ($o{skip} && $o{skip}{$pid});
        my ($state) = stat_of($pid);
        next unless defined $state;
        next if $state eq 'Z' || $state eq 'X';
        my $cmd = slurp("/proc/$pid/cmdline") // next;
        $cmd =~ s/\0+$//;
        $cmd =~ s/\0/ /g;
        next unless $cmd =~ /nginx|mock_upstream/;

        # directories in the command line
        my @dirs;
        while ($cmd =~ /$DIR_RE/g) { push @dirs, $1 }
        my $why;
        for my $d (@dirs) {
            next if -d $d;
            $why = "command line names the deleted $d";
            last;
        }
        # nginx workers (and any other process of ours without the
        # directory in its command line): their open files and cwd
        if (!$why && !@dirs) {
            my @links;
            if (opendir my $fd, "/proc/$pid/fd") {
                push @links, map { readlink("/proc/$pid/fd/$_") // () }
                             grep { /^\d+$/ } readdir $fd;
                closedir $fd;
            }
            push @links, readlink("/proc/$pid/cwd") // ();
            for my $l (@links) {
                next unless $l =~ $DIR_RE;
                my $d = $1;
                next if -d $d;
                $why = "has $l open, in the deleted $d";
                last;
            }
        }
        push @found, [$pid, $why, $cmd] if $why;
    }
    return @found;
}

############################################################################
# the detector finds an orphan: a fake mock upstream whose test directory
# is gone

{
    my $dir = File::Temp::tempdir('air-test-XXXXXXXX', TMPDIR => 1,
                                  CLEANUP => 1);
    # a mock upstream (the directory in its command line) and an nginx
    # worker (only an open file in the directory)
    my @fake;
    for my $kind ('mock', 'worker') {
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            if ($kind eq 'mock') {
                { exec $^X, '-e', 'sleep 30', '--', 'mock_upstream.pl',
                       '--control', "$dir/upstream-fake" }
            } else {
                $ENV{AIR_FAKE_LOG} = "$dir/error.log";
                { exec $^X, '-e', 'open my $f, ">>", $ENV{AIR_FAKE_LOG} '
                       . 'or die; sleep 30', '--', 'nginx: worker process' }
            }
            POSIX::_exit(127);
        }
        push @fake, $pid;
    }
    my $end = time + 5;
    while (time < $end) {
        last if (slurp("/proc/$fake[0]/cmdline") // '') =~ /mock_upstream/
            && -e "$dir/error.log";
        sleep 0.02;
    }
    sleep 0.1;
    my %o = map { $_->[0] => $_ } orphans();
    ok(!$o{$fake[0]} && !$o{$fake[1]},
       'processes whose test directory exists are not orphans');
    File::Path::rmtree($dir);
    ok(!-d $dir, 'their directory deleted');
    %o = map { $_->[0] => $_ } orphans();
    ok($o{$fake[0]}, 'then the fake mock upstream is an orphan: '
       . ($o{$fake[0]} ? $o{$fake[0]}[1] : 'not found'));
    ok($o{$fake[1]}, 'and the fake nginx worker too: '
       . ($o{$fake[1]} ? $o{$fake[1]}[1] : 'not found'));
    kill 'KILL', @fake;
    waitpid($_, 0) for @fake;
}

############################################################################
# the real check

my @left;
my $end = time + 10;
while (1) {
    @left = orphans();
    last if !@left || time > $end;
    sleep 0.2;
}
is(scalar @left, 0, 'no process outlived its test (orphans of deleted '
   . 'air-test-* directories)')
    or diag join "\n", map { "pid $_->[0]: $_->[1]: $_->[2]" } @left;

done_testing;
