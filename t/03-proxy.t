#!/usr/bin/perl
# Requests reach their bundle's upstream through "proxy_pass
# http://ai_release" (and through $ai_release_upstream), with the bundle's
# headers, the X-AI-Release response header, variables in the access log,
# and streamed answers passed on event by event.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use JSON::PP;

my $t = AIRTest->new;
$t->upstream($_) for qw(stable canary fallback);

$t->write_file('bundles/wf.yaml', <<"Y");
name: wf
version: "1"
upstream: up_stable
model: model-stable
headers:
  X-Model-Route: stable-1
  X-Tenant: acme
---
name: wf
version: "2"
upstream: 127.0.0.1:@{[ $t->port('canary') ]}
model: model-canary
headers:
  X-Model-Route: canary-2
---
name: wf
version: safe-1
upstream: up_fallback
model: model-fallback
Y

$t->config(<<'C', workers => 2);
    log_format ai '$request_uri wf=$ai_release_workflow b=$ai_release_bundle '
                  'v=$ai_release_variant m=$ai_release_model '
                  'd=$ai_release_digest u=$ai_release_upstream';

    ai_release_bundles %%DIR%%/bundles/*.yaml;

    upstream up_stable {
        server 127.0.0.1:%%PORT_stable%%;
        keepalive 8;
    }

    upstream up_fallback {
        server 127.0.0.1:%%PORT_fallback%%;
    }

    ai_release_workflow w {
        stable   wf@1;
        canary   wf@2 50%;
        fallback wf@safe-1;
        sticky   $http_x_user_id;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        access_log %%DIR%%/ai.log ai;

        location /v1/chat {
            ai_release w;
            proxy_pass http://ai_release;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-AI-Model $ai_release_model;
        }

        location /v1/var {
            ai_release w;
            proxy_pass http://$ai_release_upstream;
        }

        location /v1/stream {
            ai_release w;
            proxy_pass http://ai_release;
            proxy_http_version 1.1;
            proxy_buffering off;
        }

        location /v1/quiet {
            ai_release w;
            ai_release_response_header off;
            proxy_pass http://ai_release;
        }

        location /noai {
            proxy_pass http://ai_release;
        }

        location /plain {
            return 200 "[$ai_release_bundle]";
        }
    }
C
$t->start;

my %expect = (
    stable => { b => 'wf@1', route => 'stable-1', model => 'model-stable' },
    canary => { b => 'wf@2', route => 'canary-2', model => 'model-canary' },
);

my $sent = 0;
my (%seen, $bad_header, $bad_served, $bad_route, $bad_model, $evil);
for my $u (1 .. 200) {
    my $r = $t->post('/v1/chat', '{"model":"client-model","messages":[]}',
                     { 'X-User-Id' => "u$u", 'X-Model-Route' => 'evil',
                       'Content-Type' => 'application/json' });
    $sent++;
    is($r->{status}, 200, 'proxied') if $u == 1;
    ok(!exists $r->{headers}{'x-ai-release-id'},
       'no X-AI-Release-Id where the configuration takes no feedback')
        if $u == 1;
    my $h = $r->{headers}{'x-ai-release'} // '';
    my ($b, $d, $v) = $h =~
        /^(wf\@\d); digest=(sha256:[0-9a-f]{12}); variant=(stable|canary)$/;
    unless ($v) { $bad_header++; next }
    $seen{$v}++;
    my $j = decode_json($r->{content});
    $bad_served++ if $j->{served_by} ne $v || $b ne $expect{$v}{b};
    my $rh = $j->{request}{headers};
    $bad_route++ if ($rh->{'x-model-route'} // '') ne $expect{$v}{route};
    $evil++ if ($rh->{'x-model-route'} // '') =~ /evil/;
    $bad_model++ if ($rh->{'x-ai-model'} // '') ne $expect{$v}{model};
}
ok(!$bad_header, 'every response names its bundle in X-AI-Release');
ok($seen{stable} && $seen{canary}, "both variants served: "
   . join(' ', map { "$_=" . ($seen{$_} // 0) } qw(stable canary)));
ok(!$bad_served, 'each request reached the upstream of its bundle');
ok(!$bad_route, "the bundle's headers reached the upstream");
ok(!$evil, "a client's header never overrides the bundle's");
ok(!$bad_model, '$ai_release_model works in proxy_set_header');

# the stable bundle's other header reaches its upstream too
{
    my ($r, $j);
    for my $u (1 .. 50) {
        $r = $t->post('/v1/chat', '{}', { 'X-User-Id' => "s$u" });
        $sent++;
        last if ($r->{headers}{'x-ai-release'} // '') =~ /variant=stable/;
    }
    $j = decode_json($r->{content});
    is($j->{request}{headers}{'x-tenant'}, 'acme', 'X-Tenant reached stable');
    is($j->{served_by}, 'stable', 'keepalive upstream block serves');
}

# proxy_pass http://$ai_release_upstream: an upstream block and host:port
{
    my %v;
    for my $u (1 .. 40) {
        my $r = $t->post('/v1/var', '{}', { 'X-User-Id' => "u$u" });
        next unless $r->{status} == 200;
        my $j = decode_json($r->{content});
        my ($var) = ($r->{headers}{'x-ai-release'} // '') =~ /variant=(\w+)/;
        $v{$var}++ if $var && $var eq $j->{served_by};
    }
    ok($v{stable} && $v{canary}, 'proxy_pass http://$ai_release_upstream '
       . 'reaches an upstream block and a host:port');
}

# the response header can be turned off
{
    my $r = $t->post('/v1/quiet', '{}', { 'X-User-Id' => 'u1' });
    is($r->{status}, 200, 'quiet location proxied');
    ok(!exists $r->{headers}{'x-ai-release'},
       'ai_release_response_header off');
}

# "ai_release" upstream in a location without a workflow: a clear error
{
    my $r = $t->get('/noai');
    is($r->{status}, 500, 'ai_release upstream without a workflow: 500');
    like($t->error_log, qr/upstream "ai_release" is used in a location without "ai_release"/,
         'and says why in error.log');
    is($t->get('/plain')->{content}, '[]',
       'variables are empty outside ai_release locations');
}

# streaming: events reach the client one by one, not all at the end
{
    my $s = $t->stream('/v1/stream', '{"stream":true}',
                       { 'X-User-Id' => 'u7', 'X-Mock-Interval-Ms' => 300,
                         'Content-Type' => 'application/json' });
    is($s->{status}, 200, 'stream status');
    like($s->{headers}{'content-type'} // '', qr{text/event-stream},
         'stream content type');
    like($s->{headers}{'x-ai-release'} // '', qr/^wf\@[12]; /,
         'stream names its bundle');
    my @data = grep { $_->[1] =~ /data:/ } @{ $s->{chunks} };
    ok(@data >= 4, 'events arrived in ' . scalar(@data) . ' reads');
    my $spread = @data ? $data[-1][0] - $data[0][0] : 0;
    ok($spread > 0.8, "first event arrived ${spread}s before the last");
    my @ev = $s->{body} =~ /^data: /mg;
    is(scalar @ev, 6, '5 events and [DONE]');
}

# variables in the access log
{
    $t->stop;
    open my $fh, '<', $t->dir . '/ai.log' or die $!;
    my @log = map { chomp; $_ } <$fh>;
    my @chat = grep { m{^/v1/chat } } @log;
    is(scalar @chat, $sent, "every request logged ($sent)");
    my $ok = grep {
        m{^/v1/chat wf=w b=wf\@([12]) v=(stable|canary) m=model-(stable|canary) d=sha256:[0-9a-f]{64} u=(up_stable|127\.0\.0\.1:\d+)$}
            && ($1 == 1 ? 'stable' : 'canary') eq $2 && $2 eq $3
    } @chat;
    is($ok, scalar @chat, 'log lines carry workflow, bundle, variant, '
       . 'model, digest and upstream');
}

$t->done(allow => qr/upstream "ai_release" is used in a location without/);
done_testing;
