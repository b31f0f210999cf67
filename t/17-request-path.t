#!/usr/bin/perl
# The request path's first step: one rewrite-phase handler chooses the
# bundle of every request on a workflow location, before the location's
# rewrite directives, and everything after it reads that choice.
#   - "if", "set" and "return" of the location see $ai_release_*;
#   - "rewrite ... last" into another workflow's location: the request is
#     chosen and counted there, and nothing is counted for the first one;
#   - locations without a workflow have no $ai_release_* values;
#   - a half-open bundle's probe that "rewrite ... last" moved away is given
#     back: the next request probes it.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRClient;
use Time::HiRes qw(sleep);

my $BODY = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';

my $t = AIRTest->new;
$t->upstream($_) for qw(ua ub);

$t->write_file('bundles/x.yaml', join '', map { <<"Y" } qw(a b));
---
name: x
version: $_
upstream: 127.0.0.1:@{[ $t->port("u$_") ]}
model: model-$_
Y

$t->config(<<'C');
    ai_release_bundles %%DIR%%/bundles/*.yaml;

    ai_release_workflow wa {
        stable x@a;
        trip consecutive=1 min_requests=1000 window=30s cooldown=1s probes=1;
    }

    ai_release_workflow wb {
        stable x@b;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%%;

        location = /status { ai_release_status; }

        location = /if {
            ai_release wa;
            if ($ai_release_variant = stable) {
                return 200 "stable:$ai_release_bundle";
            }
            return 500;
        }

        location = /set {
            ai_release wa;
            set $chosen "$ai_release_workflow/$ai_release_bundle";
            return 200 "$chosen";
        }

        location = /none {
            return 200 "[$ai_release_bundle][$ai_release_workflow]";
        }

        location = /a-to-b {
            ai_release wa;
            rewrite ^ /b last;
        }

        location = /wa {
            ai_release wa;
            proxy_pass http://ai_release;
        }

        location = /b {
            ai_release wb;
            proxy_pass http://ai_release;
        }
    }
C
$t->start;

my $r = $t->get('/if');
is("$r->{status} $r->{content}", '200 stable:x@a',
   '"if" and "return" read the choice made before them');

$r = $t->get('/set');
is($r->{content}, 'wa/x@a', '"set" reads the choice');

$r = $t->get('/none');
is($r->{content}, '[][]', 'no workflow, no values');

$r = $t->post('/a-to-b', $BODY);
is($r->{status}, 200, 'rewrite into another workflow: answered');
like($r->{headers}{'x-ai-release'} // '', qr/^x\@b;/,
     'the second workflow\'s bundle served it');

my $doc = status_doc($t);
my $tot = totals($doc);
is($tot->{'wb/x@b'}, 1, 'counted once, in the second workflow');
is($tot->{'wa/x@a'}, 0, 'nothing counted in the first');

# a half-open bundle's probe, taken by a request that "rewrite ... last"
# moves to another workflow, is given back: the next request to reach the
# bundle is its probe and closes the breaker
sub state_of {
    my ($wf, $id) = @_;
    return bundle_of(wf_of(status_doc($t), $wf), $id)->{breaker}{state} // '';
}
$t->upstream_control('ua', "status=500\n");
$r = $t->post('/wa', $BODY);
is($r->{status}, 500, 'x@a fails once and trips');
ok(wait_for(5, sub { state_of('wa', 'x@a') eq 'open' }), 'x@a is open');
$t->upstream_control('ua', "status=200\n");
sleep 1.3;
$r = $t->post('/a-to-b', $BODY);
like($r->{headers}{'x-ai-release'} // '', qr/^x\@b;/,
     'a request chosen for the half-open x@a moves to wb');
$r = $t->post('/wa', $BODY);
like($r->{headers}{'x-ai-release'} // '', qr/^x\@a;/, 'x@a answers');
ok(wait_for(5, sub { state_of('wa', 'x@a') eq 'closed' }),
   'that answer was the probe: x@a closed again');

# after "rewrite ... last", nginx's proxy module copies the empty URI part
# of "proxy_pass http://ai_release" (a NULL pointer with length 0,
# ngx_http_proxy_create_request): UBSan reports it in the sanitizer build;
# the module is not involved
$t->done(allow => qr/ngx_http_proxy_module\.c:\d+:\d+: runtime error: null pointer passed as argument 2/);
done_testing();
