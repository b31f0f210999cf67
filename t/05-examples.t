#!/usr/bin/perl
# The shipped configurations work: conf-examples/demo.conf and
# conf-examples/production.conf, with the manifests in conf-examples/bundles,
# started for real against mock upstreams (paths and ports rewritten for the
# test, nothing else).
#
# conf-examples/hosted-openai.conf proxies to https://api.openai.com, which
# these machines can neither resolve nor reach.  The test puts a TLS server
# of its own in the provider's place: the same nginx also listens with a
# certificate for api.openai.com issued by a CA the test makes, refuses any
# handshake without that server name, and passes the requests to a mock
# model server, adding the server name it saw.  Rewritten: the paths, the
# listen port, the upstream's "server api.openai.com:443" (to that TLS
# server's loopback address) and the CA file (Debian's bundle to the test
# CA).  So the test checks everything of the example but the name lookup and
# the real provider's certificate chain: https through ai_release, SNI and
# the name the certificate is verified against, the Host and Authorization
# headers the provider gets, the 5% canary, the model and params applied to
# each body, the status and a rollback through the API.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest qw(slurp);
use JSON::PP ();

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
        [ '/v1/tickets/summary', qr/^ticket-summary\@2; / ],
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
    my ($ts) = grep { $_->{name} eq 'ticket-summary' } @{ $st->{workflows} };
    my ($shadow) = grep { $_->{role} eq 'shadow' } @{ $ts->{bundles} // [] };
    is($shadow && $shadow->{bundle}, 'ticket-summary@3',
       'production: ticket-summary@3 is the shadow');
    is($shadow && $shadow->{shadow}{percent}, 10,
       'production: the shadow gets 10% of the copies');
    is($t->post('/ai-release/api/workflows/support-drafts/rollback', '')
           ->{status}, 401, 'production: the API wants its token');
    is($t->post('/ai-release/api/workflows/support-drafts/rollback', '',
                { Authorization => "Bearer $token" })->{status},
       200, 'production: the API answers loopback with the token');
    $t->done;
}

# hosted-openai.conf
{
    my $t = AIRTest->new;
    $t->upstream('model');
    my $dir = $t->dir;
    my $hosted = "$bundles/hosted";

    # a CA and a certificate for api.openai.com that it issued
    my @ec = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
              '-nodes');
    $t->write_file('san.ext', "subjectAltName=DNS:api.openai.com\n");
    for my $cmd (
        [ 'openssl', 'req', '-x509', @ec, '-keyout', "$dir/ca.key",
          '-out', "$dir/ca.crt", '-subj', '/CN=ngx_ai_release test CA',
          '-days', '2' ],
        [ 'openssl', 'req', @ec, '-keyout', "$dir/api.key",
          '-out', "$dir/api.csr", '-subj', '/CN=api.openai.com' ],
        [ 'openssl', 'x509', '-req', '-in', "$dir/api.csr",
          '-CA', "$dir/ca.crt", '-CAkey', "$dir/ca.key", '-CAcreateserial',
          '-out', "$dir/api.crt", '-days', '2', '-extfile', "$dir/san.ext" ],
    ) {
        my ($rc, $out) = $t->_run(@$cmd);
        is($rc, 0, "hosted: $cmd->[1] $cmd->[2]") or diag($out);
    }

    my $c = slurp("$repo/conf-examples/hosted-openai.conf")
        // die "conf-examples/hosted-openai.conf: $!";
    my $tls = $t->port('provider');
    my $n = 0;
    $n += $c =~ s{^load_module \S+;}{$t->load_module_line}me;
    $n += $c =~ s{^user \S+;\n}{}m;
    $n += $c =~ s{^pid \S+;}{pid $dir/nginx.pid;}m;
    $n += $c =~ s{^error_log \S+}{error_log $dir/error.log}m;
    $n += $c =~ s{^(\s*)include +/etc/nginx/mime\.types;\n}{}m;
    $n += $c =~ s{access_log /var/log/nginx/}{access_log $dir/}g;
    $n += $c =~ s{ai_release_bundles /etc/nginx/ai-release/bundles/hosted/}{ai_release_bundles $hosted/};
    $n += $c =~ s{server api\.openai\.com:443;}{server 127.0.0.1:$tls;};
    $n += $c =~ s{proxy_ssl_trusted_certificate /etc/ssl/certs/ca-certificates\.crt;}{proxy_ssl_trusted_certificate $dir/ca.crt;};
    $n += $c =~ s{listen 8080;}{"listen 127.0.0.1:" . $t->port('nginx') . ";"}e;
    my $token = 'hosted-example-token-' . int(rand(1e9));
    $t->write_file('api.token', "$token\n");
    $n += $c =~ s{token_file=/etc/nginx/ai-release/api\.token;}{token_file=$dir/api.token;}g;
    my $model_port = $t->port('model');
    $n += $c =~ s|^http \{|http {
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;

    # the provider's place: TLS for api.openai.com only
    server {
        listen 127.0.0.1:$tls ssl default_server;
        ssl_reject_handshake on;
    }
    server {
        listen 127.0.0.1:$tls ssl;
        server_name api.openai.com;
        ssl_certificate     $dir/api.crt;
        ssl_certificate_key $dir/api.key;
        access_log $dir/provider.log;
        location / {
            proxy_pass http://127.0.0.1:$model_port;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Test-SNI \$ssl_server_name;
            proxy_buffering off;
        }
    }
|m;
    is($n, 12, 'hosted: every path, port, address and CA file rewritten');

    start_with($t, $c);

    my %model = (1 => 'gpt-4o-2024-08-06', 2 => 'gpt-4.1-2025-04-14');
    my $key = 'sk-test-' . int(rand(1e9));
    my $ask = sub {
        my ($user) = @_;
        my $r = $t->post('/v1/chat/completions',
                         '{"model":"gpt-4o","messages":'
                         . '[{"role":"user","content":"Where is my order?"}]}',
                         { 'X-User-Id' => $user,
                           Authorization => "Bearer $key" });
        my ($v) = ($r->{headers}{'x-ai-release'} // '')
            =~ /^support-chat\@(\d); digest=sha256:[0-9a-f]{12}; variant=\w+$/;
        return ($r, $v, $t->json($r));
    };

    my (%v, %bad);
    my @canary_users;
    for my $u (1 .. 400) {
        my ($r, $v, $j) = $ask->("user$u");
        if ($r->{status} != 200 || !$v || !$j) {
            $bad{status}++;
            diag("user$u: $r->{status} $r->{content}") if $bad{status} < 3;
            next;
        }
        $v{$v}++;
        push @canary_users, "user$u" if $v == 2;
        my $h = $j->{request}{headers} // {};
        $bad{host}++ if ($h->{host} // '') ne 'api.openai.com';
        $bad{sni}++  if ($h->{'x-test-sni'} // '') ne 'api.openai.com';
        $bad{auth}++ if ($h->{authorization} // '') ne "Bearer $key";
        $bad{model}++ if ($j->{model} // '') ne $model{$v};
    }
    ok(!$bad{status}, 'hosted: every request answered through TLS');
    ok(!$bad{sni}, 'hosted: the TLS server name is api.openai.com');
    ok(!$bad{host}, 'hosted: the provider gets Host: api.openai.com');
    ok(!$bad{auth}, "hosted: the client's Authorization reaches the provider");
    ok($v{1} && $v{2} && $v{2} < 60,
       "hosted: about 5% canary (stable $v{1}, canary " . ($v{2} // 0) . ')');
    ok(!$bad{model}, "hosted: each variant's model reached the provider"
                     . ' (the answer names the model it read)');

    my @bodies = map { JSON::PP->new->decode($_) }
                 grep { length } $t->upstream_bodies('model');
    is(scalar(grep { ($_->{temperature} // -1) == 0.3
                     && ($_->{max_tokens} // -1) == 800 } @bodies),
       scalar @bodies, 'hosted: every body has the bundle\'s params');

    my $st = $t->json($t->get('/ai-release/status'));
    my ($wf) = grep { $_->{name} eq 'support-chat' } @{ $st->{workflows} // [] };
    is(join(' ', map { "$_->{role}=$_->{bundle}" } @{ $wf->{bundles} // [] }),
       'stable=support-chat@1 canary=support-chat@2 fallback=support-chat@safe-1',
       'hosted: the status shows the three bundles');

    # every answer read against its bundle's output contract, and kept it
    my %b = map { $_->{bundle} => $_ } @{ $wf->{bundles} // [] };
    for my $n (1, 2) {
        my $c = $b{"support-chat\@$n"}{contract} // {};
        is(join(' ', map { $_ // 'none' } @$c{qw(mode checked ok unread)}),
           "observe $v{$n} $v{$n} 0",
           "hosted: support-chat\@$n: $v{$n} answers checked, all kept the "
           . 'contract');
    }

    # and read for behaviour signals: each answer counted, priced in USD,
    # the canary beside stable under the observed drift rule
    for my $n (1, 2) {
        my $g = $b{"support-chat\@$n"}{signals} // {};
        is(join(' ', map { $_ // 'none' } $g->{answers},
                ($g->{endings} // {})->{stop}, ($g->{cost} // {})->{currency}),
           "$v{$n} $v{$n} USD",
           "hosted: support-chat\@$n: $v{$n} answers' signals, each ended "
           . 'with stop, cost in USD');
    }
    is((($b{'support-chat@2'}{signals} // {})->{drift} // {})->{mode},
       'observe', 'hosted: the canary is watched by the drift rule');

    is($t->post('/ai-release/api/workflows/support-chat/rollback', '',
                { Authorization => "Bearer $token" })->{status},
       200, 'hosted: rollback through the API');
    my @after = map { ($ask->($_))[1] // 0 } @canary_users;
    is(scalar(grep { $_ == 1 } @after), scalar @canary_users,
       'hosted: after the rollback the canary users get stable');

    # the rest of the API goes to the provider as it is
    my $r = $t->get('/v1/models', { Authorization => "Bearer $key" });
    is($r->{status}, 200, 'hosted: /v1/models passes through');
    is($t->json($r)->{request}{uri}, '/v1/models',
       'hosted: ... to the provider');
    ok(!exists $r->{headers}{'x-ai-release'}, 'hosted: ... without ai_release');
    $t->done;
}

done_testing;
