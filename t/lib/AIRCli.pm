package AIRCli;

# The ai-release command-line tool for the tests that run it (t/20, t/21):
# where it is, and a runner that captures its exit code and output.

use strict;
use warnings;
use POSIX ();
use AIRTest qw(slurp);
use Exporter 'import';

our @EXPORT = qw(cli_path cli_run);

# $AIR_CLI, or build/ai-release of this repository
sub cli_path { $ENV{AIR_CLI} // AIRTest->repo . '/build/ai-release' }

# runs the tool $cli with @args in the directory $dir, stdin from /dev/null,
# stdout and stderr into $dir/cli.out and $dir/cli.err: (exit code, or 128 +
# the signal that killed it, stdout, stderr)
sub cli_run {
    my ($cli, $dir, @args) = @_;
    my ($out, $err) = ("$dir/cli.out", "$dir/cli.err");
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        chdir $dir or POSIX::_exit(126);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>', $err or POSIX::_exit(126);
        exec { $cli } $cli, @args or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    my $code = $? & 127 ? 128 + ($? & 127) : $? >> 8;
    return ($code, slurp($out) // '', slurp($err) // '');
}


1;
