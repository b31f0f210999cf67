#!/usr/bin/perl
# The shipped configurations work: conf-examples/demo.conf and
# conf-examples/production.conf, with the manifests in conf-examples/bundles,
# started for real against mock upstreams (paths and ports rewritten for the
# test, nothing else).

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest qw(slurp);

sub start_with {
    my ($t, $text) = @_;
    my $path = $t->write_file('nginx.conf', $text);
    # the harness starts "$dir/nginx.conf"; no config() call so the shipped
    # file is used as it is, apart from the rewrites
    return $t->start;
}

my $repo = AIRTest->repo;
my $bundles = "$repo/conf-examples/bundles";

# demo.conf
{
    my $t = AIRTest->new;
    my %port = (9101 => 'stable', 9102 => 'canary', 9103 => 'fallback');
    $t->upstream($_) for values %port;
    my $dir = $t->dir;
    my $c = slurp("$repo/conf-examples/demo.conf")
        // die "conf-examples/demo.conf: $!";
    my $n = 0;
    $n += $c =~ s{^load_module \S+;}{$t->load_module_line}me;
    $n += $c =~ s{^pid \S+;}{pid $dir/nginx.pid;}m;
    $n += $c =~ s{^error_log \S+ (\w+);}{error_log $dir/error.log $1;}m;
    $n += $c =~ s{build/demo/tmp}{$dir/tmp}g;
    $n += $c =~ s{access_log /dev/stdout}{access_log $dir/access.log}g;
    $n += $c =~ s{ai_release_bundles bundles/}{ai_release_bundles $bundles/}g;
    $n += $c =~ s{ai_release_lock bundles\.lock}{ai_release_lock $repo/conf-examples/bundles.lock}g;
    $n += $c =~ s{127\.0\.0\.1:(910[123])}{"127.0.0.1:" . $t->port($port{$1})}ge;
    $n += $c =~ s{listen 127\.0\.0\.1:8080}{"listen 127.0.0.1:" . $t->port('nginx')}e;
    is($n, 15, 'demo.conf: every path and port rewritten');

    start_with($t, $c);
    my (%v, $bad);
    for my $u (1 .. 400) {
        my $r = $t->post('/v1/support/draft', '{"messages":[]}',
                         { 'X-User-Id' => "user$u" });
        my $h = $r->{headers}{'x-ai-release'} // '';
        my ($b, $var) = $h =~ /^(support-drafts\@\d); digest=sha256:[0-9a-f]{12}; variant=(\w+)$/;
        my $j = $t->json($r);
        if (!$var || !$j || $j->{served_by} ne $var) { $bad++; next }
        $v{$var}++;
    }
    ok(!$bad, 'demo: every answer came from the bundle named in its header');
    ok($v{stable} && $v{canary} && $v{canary} < 60,
       "demo: about 5% canary (stable $v{stable}, canary "
       . ($v{canary} // 0) . ')');
    $t->done;
}

# production.conf
{
    my $t = AIRTest->new;
    $t->upstream('model');
    my $dir = $t->dir;
    my $c = slurp("$repo/conf-examples/production.conf")
        // die "conf-examples/production.conf: $!";
    $c =~ s{^load_module \S+;}{$t->load_module_line}me;
    $c =~ s{^user \S+;\n}{}m;
    $c =~ s{^worker_rlimit_nofile \S+;\n}{}m;
    $c =~ s{^pid \S+;}{pid $dir/nginx.pid;}m;
    $c =~ s{^error_log \S+}{error_log $dir/error.log}m;
    $c =~ s{access_log /var/log/nginx/}{access_log $dir/}g;
    $c =~ s{^(\s*)ssl_\w+ .*\n}{}mg;
    $c =~ s{listen 443 ssl http2;}{"listen 127.0.0.1:" . $t->port('nginx') . ";"}e;
    $c =~ s{ai_release_bundles /etc/nginx/ai-release/bundles/}{ai_release_bundles $bundles/};
    $c =~ s{ai_release_lock +/etc/nginx/ai-release/bundles\.lock}{ai_release_lock $repo/conf-examples/bundles.lock};
    # the state file's directory belongs to the workers' user (nobody here)
    mkdir "$dir/state";
    chmod 0777, "$dir/state";
    $c =~ s{ai_release_state /var/lib/nginx/ai-release/}{ai_release_state $dir/state/};
    $c =~ s{server 10\.\d+\.\d+\.\d+:8000}{"server 127.0.0.1:" . $t->port('model')}ge;
    $c =~ s|^http \{|http {\n    client_body_temp_path $dir/tmp/body;\n    proxy_temp_path $dir/tmp/proxy;|m;
    my $token = 'production-example-token-' . int(rand(1e9));
    $t->write_file('api.token', "$token\n");
    is(scalar($c =~ s{token_file=/etc/nginx/ai-release/api\.token;}{token_file=$dir/api.token;}g),
       1, 'production: the API has a token_file');

    start_with($t, $c);
    my @cases = (
        [ '/v1/support/draft',   qr/^support-drafts\@[34]; / ],
        [ '/v1/code/review',     qr/^code-review\@[78]; / ],
        [ '/v1/tickets/summary', qr/^ticket-summary\@[23]; / ],
    );
    for my $case (@cases) {
        my ($path, $re) = @$case;
        my $r = $t->post($path, '{}', { 'X-User-Id' => 'u1',
                                        'X-Repository-Id' => 'r1' });
        is($r->{status}, 200, "production: $path answers");
        like($r->{headers}{'x-ai-release'} // '', $re,
             "production: $path served by its workflow");
    }
    is($t->get('/v1/support/draft')->{status}, 403,
       'production: GET is refused');
    my $st = $t->json($t->get('/ai-release/status'));
    is(scalar @{ $st->{workflows} // [] }, 3,
       'production: the status shows the three workflows');
    is($t->post('/ai-release/api/workflows/support-drafts/rollback', '')
           ->{status}, 401, 'production: the API wants its token');
    is($t->post('/ai-release/api/workflows/support-drafts/rollback', '',
                { Authorization => "Bearer $token" })->{status},
       200, 'production: the API answers loopback with the token');
    $t->done;
}

done_testing;
