#!/usr/bin/perl
# The Debian package (make deb, debian/): built with dpkg-buildpackage, laid
# out like Debian's libnginx-mod-* packages, depending on the ABI of the
# installed nginx, clean under lintian (errors fail, warnings only those the
# README lists).  As root it is installed with dpkg -i: nginx -t and a
# request through a workflow with the system nginx binary on loopback, in
# its own prefix, with a configuration that loads modules only through
# "include /etc/nginx/modules-enabled/*.conf", then removed and purged,
# leaving nothing behind.  The system nginx service is never started,
# stopped or reloaded: the install part is skipped when it runs, as the
# package's nginx-reload trigger would reload it.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest qw(slurp);
use AIRCli;
use JSON::PP ();
use Time::HiRes qw(time);

my $PKG    = 'libnginx-mod-http-ai-release';
my $REPO   = AIRTest->repo;
my $NGINX  = '/usr/sbin/nginx';
my $SO     = '/usr/lib/nginx/modules/ngx_http_ai_release_module.so';
my $AVAIL  = '/usr/share/nginx/modules-available/mod-http-ai-release.conf';
my $ENABLE = '/etc/nginx/modules-enabled/50-mod-http-ai-release.conf';
my $LOAD   = "load_module modules/ngx_http_ai_release_module.so;\n";

sub in_path {
    my ($prog) = @_;
    return grep { -x "$_/$prog" } split /:/, $ENV{PATH} // '';
}

plan skip_all => 'not a Debian system: no dpkg' unless in_path('dpkg');

my $root = $> == 0;
unless (in_path('dpkg-buildpackage')
        || $root || system('sudo -n true >/dev/null 2>&1') == 0)
{
    plan skip_all => 'dpkg-buildpackage is not installed and cannot be '
        . '(not root, no password-less sudo): install dpkg-dev and '
        . 'debhelper, or run "make deb-deps" as root';
}

my ($version) = (slurp("$REPO/ngx_ai_release_module/"
                       . 'ngx_http_ai_release_module.h') // '')
    =~ /^#define\s+NGX_HTTP_AI_RELEASE_VERSION\s+"([^"]+)"/m;
chomp(my $arch = `dpkg --print-architecture`);
my $deb = "$REPO/build/deb/${PKG}_${version}_$arch.deb";

my $t   = AIRTest->new(nginx => $NGINX, module => '');
my $dir = $t->dir;

# (exit code, stdout, stderr) of a command run in the test directory
sub run { cli_run($_[0], $dir, @_[1 .. $#_]) }

# the install part's state, for the END block
my ($installed, $purged) = (0, 0);

############################################################################
# make deb

{
    # a make of our own, not a job of the make that may run the suite
    local @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL)};
    delete @ENV{qw(MAKEFLAGS MFLAGS MAKELEVEL)};
    my $t0 = time;
    my ($code, $out, $err) = run('make', '-C', $REPO, 'deb');
    my $secs = time - $t0;
    is($code, 0, sprintf('make deb builds the package (%.1f s)', $secs))
        or diag(substr("$out$err", -4000));
    ok(-f $deb, "it is $deb") or do { done_testing; exit };
    ok(-f "$REPO/${PKG}_${version}_$arch.deb",
       'with a copy in the top directory, for apt install ./' . $PKG
       . '_*.deb');
}

############################################################################
# what the package holds

my %field;
for my $f (qw(Package Version Architecture Depends Recommends Section)) {
    my ($code, $out) = run('dpkg-deb', '-f', $deb, $f);
    chomp $out;
    $field{$f} = $out;
}
is($field{Package}, $PKG, "the package is $PKG");
is($field{Version}, $version, "at the module's version, $version");
is($field{Architecture}, $arch, "for $arch");
is($field{Section}, 'httpd', 'in section httpd, as the libnginx-mod-*');
like($field{Recommends}, qr/\bnginx\b/, 'it recommends nginx');

# the ABI the installed nginx provides (Debian 12: nginx-abi-1.22.1-7)
my ($abi) = `dpkg-query -W -f='\${Provides}\\n' 2>/dev/null`
    =~ /\b(nginx-abi-[\w.+~-]+)/;
ok($abi, 'the installed nginx provides an nginx-abi-* version')
    and like($field{Depends}, qr/(?:^|,\s*)\Q$abi\E(?:,|$)/,
             "the package depends on exactly it: $abi");
like($field{Depends}, qr/\blibjansson4\b/, 'and on libjansson4');
like($field{Depends}, qr/\blibyaml-0-2\b/, 'and on libyaml-0-2');

my %mode;
{
    my ($code, $out) = run('dpkg-deb', '-c', $deb);
    for my $l (split /\n/, $out) {
        my @f = split ' ', $l, 6;
        (my $p = $f[5] // '') =~ s{^\.}{};
        $p =~ s{ -> .*}{};
        $p =~ s{(?<=.)/$}{};            # directories, as dpkg -L names them
        $mode{$p} = $f[0] if length $p;
    }
}
my $doc = "/usr/share/doc/$PKG";
for my $p ($SO, $AVAIL, '/usr/bin/ai-release',
           '/usr/share/man/man1/ai-release.1.gz', "$doc/README.md.gz",
           "$doc/copyright", "$doc/changelog.gz")
{
    ok($mode{$p}, "the package has $p");
}
like($mode{'/usr/bin/ai-release'} // '', qr/^-rwxr-xr-x$/,
     'the tool is executable');
like($mode{$SO} // '', qr/^-rw-r--r--$/, 'the module is 0644');
{
    # every example configuration, manifest and file they use
    my @missing;
    my @ex = split /\n/, `cd '$REPO/conf-examples' && find . -type f`;
    for my $f (@ex) {
        $f =~ s{^\./}{};
        push @missing, $f unless $mode{"$doc/examples/$f"};
    }
    ok(@ex && !@missing, 'every file of conf-examples/ (' . scalar(@ex)
       . ") is in $doc/examples/")
        or diag("missing: @missing");
}
is(scalar(grep { m{^/etc/} } keys %mode), 0,
   'no file under /etc: the modules-enabled link is made by postinst');

# the files themselves
my $x = "$dir/root";
is((run('dpkg-deb', '-x', $deb, $x))[0], 0, 'the package extracts');
is(slurp("$x$AVAIL"), $LOAD, 'mod-http-ai-release.conf loads the module '
   . 'from nginx\'s modules directory, as Debian\'s module packages do');
{
    my ($code, $out) = run("$x/usr/bin/ai-release", '--version');
    is($out, "ai-release $version\n", "the packaged tool is version $version");
}

# the man page documents every command and option of --help
{
    my (undef, $help) = run("$x/usr/bin/ai-release", '--help');
    my ($cmds) = $help =~ /^commands:\n(.*?)\n\n/ms;
    my ($opts) = $help =~ /^options:\n(.*?)\n\n/ms;
    my @cmds = ($cmds // '') =~ /^  (\w+)/mg;
    my %seen;
    @cmds = grep { !$seen{$_}++ } @cmds;
    my @opts = ($opts // '') =~ /(--?[a-z][a-z-]*)/g;
    push @opts, '--check';
    my ($code, $man) = run('gzip', '-dc', "$x/usr/share/man/man1/ai-release.1.gz");
    is($code, 0, 'the man page decompresses');
    (my $text = $man) =~ s/\\-/-/g;
    my ($entries) = $text =~ /^\.SH COMMANDS\n(.*?)^\.SH /ms;
    my @undoc = grep { ($entries // '') !~ /^\.TP\n\.BI?\s+"?\Q$_\E\b/m }
                @cmds;
    ok(@cmds >= 5 && !@undoc, 'ai-release(1) documents every command of '
       . "--help: @cmds") or diag("undocumented: @undoc");
    @undoc = grep { $text !~ /\Q$_\E\b/ } @opts;
    ok(@opts >= 5 && !@undoc, "and every option: @opts")
        or diag("undocumented: @undoc");
    like($text, qr/^\.SH EXIT STATUS$/m, 'and the exit status');
}

############################################################################
# lintian: errors fail, warnings must be the README's list

SKIP: {
    unless (in_path('lintian')) {
        my ($code, $out, $err) = run("$REPO/tools/apt-install", 'lintian');
        diag("tools/apt-install lintian: $out$err") if $code;
    }
    ok(in_path('lintian'), 'lintian is installed (make deps installs it)')
        or skip 'no lintian', 3;
    my $t0 = time;
    my ($code, $out, $err) = run('lintian', '--fail-on', 'error', $deb);
    my $secs = time - $t0;
    my (@errors, %warnings);
    for my $l (split /\n/, $out) {
        push @errors, $l if $l =~ /^E: /;
        $warnings{$1} = $l if $l =~ /^W: \S+: (\S+)/;
    }
    is($code, 0, sprintf('lintian exits 0 (%.1f s)', $secs))
        or diag("$out$err");
    is(scalar @errors, 0, 'lintian reports no error') or diag(join "\n", @errors);

    my $readme = slurp("$REPO/README.md") // '';
    my ($section) = $readme =~ /^### Install from the package\n(.*?)^### /ms;
    my %kept = map { $_ => 1 } ($section // '') =~ /^\| `([a-z0-9-]+)` \|/mg;
    my @unlisted = grep { !$kept{$_} } sort keys %warnings;
    my @stale = grep { !$warnings{$_} } sort keys %kept;
    ok(!@unlisted && !@stale, 'its warnings are those README.md lists, '
       . 'each with its reason: ' . (join(' ', sort keys %warnings) || 'none'))
        or diag("not in README.md: @unlisted\n"
                . "in README.md, no longer reported: @stale\n$out");
}

############################################################################
# installed: nginx -t and a request with the system nginx, then purged

my $why_not = !$root ? 'not root: dpkg -i needs root'
    : !-x $NGINX ? "no $NGINX"
    : !-d '/etc/nginx/modules-enabled' ? 'no /etc/nginx/modules-enabled'
    : `dpkg-query -W -f='\${Status}' $PKG 2>/dev/null` =~ /installed/
      ? "$PKG is installed already: the test installs and purges only a "
        . 'package of its own'
    : grep({ $mode{$_} !~ /^d/ && (-e $_ || -l $_) } keys %mode)
      ? 'files of the package are on the system already (another '
        . 'installation): the test would overwrite, then remove them'
    : system_nginx_running()
      ? 'the system nginx service runs: installing the package would '
        . 'reload it (nginx-reload trigger)'
    : '';

# the system nginx service: a master process of /run/nginx.pid (the pid of
# /etc/nginx/nginx.conf), or systemd's unit
sub system_nginx_running {
    if (-d '/run/systemd/system' && in_path('systemctl')) {
        return 1 if system('systemctl', '--quiet', 'is-active',
                           'nginx') == 0;
    }
    my ($pid) = (slurp('/run/nginx.pid') // '') =~ /(\d+)/;
    return 0 unless $pid && kill 0, $pid;
    return (slurp("/proc/$pid/cmdline") // '') =~ /^nginx: master/;
}

# the package's files, directories and links as dpkg knows them
sub dpkg_paths { grep { $_ ne '/.' } split /\n/, (run('dpkg', '-L', $PKG))[1] }

sub purge {
    my ($code, $out, $err) = run('dpkg', '--purge', $PKG);
    $purged = 1 if $code == 0;
    return ($code, "$out$err");
}

END {
    if ($installed && !$purged) {
        local $?;
        $t->stop if $t;
        my ($code, $out) = purge();
        Test::More::diag("END: dpkg --purge $PKG: exit $code\n$out");
    }
}

SKIP: {
    skip "install test: $why_not", 1 if $why_not;

    # the configuration loads modules only through modules-enabled; load
    # lines name "modules/X.so", relative to the prefix: $dir/modules is
    # the link Debian's prefix /usr/share/nginx has
    symlink('/usr/lib/nginx/modules', "$dir/modules") or die "symlink: $!";
    $t->upstream('model');
    $t->write_file('bundles/wf.yaml', <<"Y");
name: wf
version: "1"
upstream: 127.0.0.1:@{[ $t->port('model') ]}
model: model-1
Y
    $t->config(<<'C', main => 'include /etc/nginx/modules-enabled/*.conf;');
    ai_release_bundles %%DIR%%/bundles/*.yaml;

    ai_release_workflow w {
        stable wf@1;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%%;

        location /v1/chat {
            ai_release w;
            proxy_pass http://ai_release;
        }
    }
C

    my ($code, $out) = $t->test_config;
    isnt($code, 0, 'before the install, nginx -t fails');
    like($out, qr/unknown directive "ai_release_bundles"/,
         'as nothing loads the module');

    my %before = map { $_ => 1 } glob('/etc/nginx/modules-enabled/*');
    my %existed = map { $_ => 1 } grep { -e $_ || -l $_ } keys %mode;

    $installed = 1;
    my $t0 = time;
    my ($icode, $iout, $ierr) = run('dpkg', '-i', $deb);
    is($icode, 0, sprintf('dpkg -i installs the package (%.1f s)',
                          time - $t0)) or diag("$iout$ierr");
    like(scalar `dpkg-query -W -f='\${Status}' $PKG`, qr/install ok installed/,
         'dpkg has it installed');
    my @paths = dpkg_paths();
    ok(scalar(@paths) > 20, 'dpkg -L lists its files (' . @paths . ')');

    is(readlink($ENABLE), $AVAIL, "postinst enabled it: $ENABLE -> $AVAIL");
    ok(-f $SO, "the module is $SO");
    my ($vcode, $vout) = run('/usr/bin/ai-release', '--version');
    is($vout, "ai-release $version\n", '/usr/bin/ai-release runs');

    ($code, $out) = $t->test_config;
    is($code, 0, 'nginx -t with the system nginx passes') or diag($out);
    like($out, qr/test is successful/, 'test is successful');

    $t->start;
    my $r = $t->post('/v1/chat', '{"model":"client","messages":[]}',
                     { 'X-User-Id' => 'u1' });
    is($r->{status}, 200, 'a request through the workflow is answered');
    my $j = eval { JSON::PP::decode_json($r->{content}) } // {};
    is($j->{served_by}, 'model', "by the bundle's upstream");
    my ($digest) = (run('/usr/bin/ai-release', 'digest',
                        "$dir/bundles/wf.yaml"))[1] =~ /(sha256:[0-9a-f]+)/;
    ok($digest, "the installed ai-release gives the bundle's digest");
    is($r->{headers}{'x-ai-release'},
       'wf@1; digest=' . substr($digest // '', 0, 19) . '; variant=stable',
       'X-AI-Release names the bundle, with the digest the tool computed');
    $t->done;

    # dpkg -r: disabled (the link kept aside as Debian's modules do), the
    # files gone; the configuration fails again
    ($code, $out) = (run('dpkg', '-r', $PKG))[0, 2];
    is($code, 0, 'dpkg -r removes it') or diag($out);
    ok(!-e $ENABLE && -l "$ENABLE.removed",
       "prerm disabled it: $ENABLE.removed");
    ok(!-e $SO && !-e '/usr/bin/ai-release', 'the module and tool are gone');
    ($code, $out) = $t->test_config;
    like($out, qr/unknown directive "ai_release_bundles"/,
         'nginx -t no longer loads the module');

    ($code, $out) = purge();
    is($code, 0, 'dpkg --purge purges it') or diag($out);
    like(scalar `dpkg-query -W -f='\${Status}' $PKG 2>&1`,
         qr/not-installed|no packages found/, 'dpkg no longer knows it');

    # files, links and the directories that did not exist before
    my %seen;
    my @left = grep { !$seen{$_}++ && !$existed{$_} && (-e $_ || -l $_) }
               (keys %mode, @paths);
    is(scalar @left, 0, 'none of its ' . @paths . ' paths is left, but the '
       . keys(%existed) . ' directories that were there before')
        or diag("left: @left");
    my @new = grep { !$before{$_} } glob('/etc/nginx/modules-enabled/*');
    is(scalar @new, 0, 'nothing new in /etc/nginx/modules-enabled')
        or diag("left: @new");
    ok(!-e '/usr/bin/ai-release' && !-e $AVAIL && !-e "$doc",
       '/usr/bin/ai-release, the .conf and the docs are gone');
    my @info = glob("/var/lib/dpkg/info/$PKG.*");
    is(scalar @info, 0, "dpkg keeps no maintainer scripts of it")
        or diag("left: @info");
}

done_testing;
