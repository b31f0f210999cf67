#!/usr/bin/perl
# The module's `config` when a library is missing: nginx's configure stops
# with the library's name and the Debian package that brings it, for a
# dynamic (--add-dynamic-module) and a static (--add-module) build.
#
# "Missing" without uninstalling anything: configure runs with a compiler
# wrapper that fails every test program including the hidden header, as cc
# does when the -dev package is not installed.  With nothing hidden the same
# configure succeeds, so the wrapper is not what fails.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use File::Spec;
use FindBin;

my $SRC  = $ENV{NGINX_CONFIG_SRC} // '/usr/share/nginx/src';
my $REPO = File::Spec->rel2abs("$FindBin::Bin/..");

plan skip_all => "no nginx source tree with ./configure at $SRC (nginx-dev)"
    unless -x "$SRC/configure";

my $dir = tempdir('air-config-XXXXXX', TMPDIR => 1, CLEANUP => 1);

system('cp', '-a', $SRC, "$dir/src") == 0 or BAIL_OUT("cp -a $SRC: $?");

open my $fh, '>', "$dir/cc" or BAIL_OUT("$dir/cc: $!");
print $fh <<'SH';
#!/bin/sh
# cc, but a source that includes <$HIDE> fails as if the header were missing
for a in "$@"; do
    case "$a" in
    *.c)
        if [ -n "$HIDE" ] && grep -q "#include <$HIDE>" "$a" 2>/dev/null; then
            echo "$a: fatal error: $HIDE: No such file or directory" >&2
            exit 1
        fi
        ;;
    esac
done
exec cc "$@"
SH
close $fh;
chmod 0755, "$dir/cc";

# configure with few modules: only the module's own checks matter here
sub configure {
    my ($hide, $how) = @_;
    local $ENV{HIDE} = $hide;
    my $out = "$dir/configure.out";
    my $pid = fork // BAIL_OUT("fork: $!");
    if ($pid == 0) {
        chdir "$dir/src" or exit 127;
        open STDOUT, '>', $out or exit 127;
        open STDERR, '>&', \*STDOUT or exit 127;
        exec './configure', "--with-cc=$dir/cc", '--with-compat',
             '--without-http_rewrite_module', '--without-http_gzip_module',
             "$how=$REPO";
        exit 127;
    }
    waitpid($pid, 0);
    my $rc = $? >> 8;
    open my $in, '<', $out or return ($rc, '');
    local $/;
    my $text = <$in>;
    return ($rc, $text);
}

sub error_for {
    my ($lib, $pkg) = @_;
    my $want = "error: the ai_release module requires the $lib library.\n"
             . "On Debian or Ubuntu install it with: apt-get install $pkg\n";
    return qr/\Q$want\E/;
}

for my $how ('--add-dynamic-module', '--add-module') {
    my ($rc, $out) = configure('jansson.h', $how);
    isnt($rc, 0, "$how, no jansson: configure fails");
    like($out, qr/checking for jansson library \.\.\. not found/,
         "$how, no jansson: the check says not found");
    like($out, error_for('jansson', 'libjansson-dev'),
         "$how, no jansson: the error names the library and the package")
        or diag $out;

    ($rc, $out) = configure('yaml.h', $how);
    isnt($rc, 0, "$how, no libyaml: configure fails");
    like($out, qr/checking for jansson library \.\.\. found/,
         "$how, no libyaml: jansson was found");
    like($out, error_for('libyaml', 'libyaml-dev'),
         "$how, no libyaml: the error names the library and the package")
        or diag $out;
}

my ($rc, $out) = configure('', '--add-dynamic-module');
is($rc, 0, 'nothing hidden: the same configure succeeds') or diag $out;
like($out, qr/checking for libyaml library \.\.\. found/,
     'nothing hidden: both libraries found');

done_testing;
