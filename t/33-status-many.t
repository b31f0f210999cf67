#!/usr/bin/perl
# The status of many workflows, and of one: 400 workflows make a JSON text
# of several megabytes, sent in several buffers (each workflow is dumped on
# its own).  It must parse, list every workflow in the configuration's
# order, say of each what the API says of it alone, and equal the text a
# single ?workflow=NAME gives for that workflow.  ?workflow= works for the
# Prometheus text too; an unknown name is a 404 with a JSON error.  HEAD
# gives the length GET sends.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRClient;

my $N   = 400;
my $API = '/api';

my $t = AIRTest->new;
$t->upstream('up');

my ($yaml, $wfs) = ('', '');
for my $i (1 .. $N) {
    my $name = sprintf 'wf-%03d', $i;
    for my $v (1, 2) {
        $yaml .= "---\nname: $name\nversion: \"$v\"\n"
               . "upstream: 127.0.0.1:" . $t->port('up') . "\n"
               . "model: model-$i-$v\n";
    }
    $wfs .= "    ai_release_workflow $name {\n"
          . "        stable $name\@1;\n"
          . "        canary $name\@2 10%;\n"
          . "    }\n";
}
$t->write_file('bundles/all.yaml', $yaml);

# in the configuration's order, not the names' (wf-400 comes first)
my @order = map { sprintf 'wf-%03d', $_ } $N, 1 .. $N - 1;
$wfs =~ s/(    ai_release_workflow wf-400 \{.*?\n    \}\n)//s
    or BAIL_OUT('no wf-400 block');
$wfs = $1 . $wfs;

$t->config(<<"C", workers => 2);
    ai_release_bundles %%DIR%%/bundles/*.yaml;

$wfs
    server {
        listen 127.0.0.1:%%PORT_nginx%% reuseport;

        location = /a { ai_release wf-007; proxy_pass http://ai_release; }
        location = /b { ai_release wf-400; proxy_pass http://ai_release; }

        location = /status { ai_release_status; }
        location $API/ { ai_release_api readonly; }
    }
C
$t->start;

# a little traffic on two workflows, so that not every entry looks the same
for my $path ('/a', '/b') {
    is(ask($t, $path)->{status}, 200, "traffic: $path answers 200") for 1 .. 3;
}

# the same text for the same state: fetch what is compared back to back
my $full = $t->get('/status');
my $one  = $t->get('/status?workflow=wf-007');
my $api  = $t->get("$API/workflows");
my $api1 = $t->get("$API/workflows/wf-007");

is($full->{status}, 200, 'status: 200');
ok(length($full->{content}) > 1_500_000, 'status: a text of '
   . length($full->{content}) . ' bytes (several buffers of 1 MB)');
my $doc = $t->json($full);
ok($doc, 'status: the text parses as JSON');
is(scalar @{ $doc->{workflows} || [] }, $N, "status: $N workflows");
is(join(',', map { $_->{name} } @{ $doc->{workflows} || [] }),
   join(',', @order), 'status: in the order of the configuration');
ok($doc->{zone} && $doc->{module} && $doc->{nginx} && $doc->{time},
   'status: the head (module, nginx, time, zone) is still there');

my ($w7) = grep { $_->{name} eq 'wf-007' } @{ $doc->{workflows} || [] };
my $ok7 = 0;
$ok7 += $_->{totals}{ok} for @{ $w7->{bundles} || [] };
is($ok7, 3, 'status: wf-007 counted its 3 requests') or diag explain $w7;

# the text is exactly what json_dumps of the whole would give: two-space
# indentation, the list's elements four spaces in
like($full->{content}, qr/\A\{\n  "module": \{\n    "name": "ngx_ai_release",/,
     'status: the head indented as before');
like($full->{content}, qr/\n  "workflows": \[\n    \{\n      "name": "wf-400",/,
     'status: the first workflow four spaces in');
like($full->{content}, qr/\n    \},\n    \{\n      "name": "wf-001",/,
     'status: elements separated as json_dumps separates them');
like($full->{content}, qr/\n    \}\n  \]\n\}\z/, 'status: the text ends as '
     . 'json_dumps ends it');

# ?workflow=NAME
is($one->{status}, 200, '?workflow=wf-007: 200');
my $d1 = $t->json($one);
is(scalar @{ $d1->{workflows} || [] }, 1, '?workflow=wf-007: one workflow');
is_deeply($d1->{workflows}[0], $w7,
          '?workflow=wf-007: the same as in the whole status');
my ($e7) = $full->{content} =~ /\n(    \{\n      "name": "wf-007",.*?\n    \})/s;
ok(defined $e7 && index($one->{content}, $e7) >= 0,
   '?workflow=wf-007: the same text as in the whole status');

my $nf = $t->get('/status?workflow=nope');
is($nf->{status}, 404, '?workflow=nope: 404');
is(($t->json($nf) || {})->{error}{message}, 'unknown workflow "nope"',
   '?workflow=nope: a JSON error that names it');

# the API's list is the same list
is($api->{status}, 200, 'API: GET workflows: 200');
is_deeply(($t->json($api) || {})->{workflows}, $doc->{workflows},
          'API: the list of workflows equals the status\'s');
is_deeply($t->json($api1), $w7, 'API: GET workflows/wf-007 equals its entry');

# Prometheus
my $p = $t->get('/status?format=prometheus');
my $p1 = $t->get('/status?format=prometheus&workflow=wf-007');
is($p1->{status}, 200, 'prometheus ?workflow=wf-007: 200');
my %wf_p  = map { $_ => 1 } $p->{content}  =~ /workflow="([^"]+)"/g;
my %wf_p1 = map { $_ => 1 } $p1->{content} =~ /workflow="([^"]+)"/g;
is(scalar keys %wf_p, $N, "prometheus: series of $N workflows");
is(join(',', keys %wf_p1), 'wf-007', 'prometheus ?workflow=wf-007: only its '
   . 'series');
my @s1 = grep { /workflow="wf-007"/ } split /\n/, $p1->{content};
my @s  = grep { /workflow="wf-007"/ } split /\n/, $p->{content};
is_deeply(\@s1, \@s, 'prometheus ?workflow=wf-007: the same series as in '
          . 'the whole text');
like($p1->{content}, qr/^ai_release_zone_size_bytes\{/m,
     'prometheus ?workflow=: the zone gauges are still there');
is($t->get('/status?format=prometheus&workflow=nope')->{status}, 404,
   'prometheus ?workflow=nope: 404');

# HEAD: the length of what GET sends
my $h = $t->request('HEAD', '/status');
is($h->{status}, 200, 'HEAD: 200');
is($h->{headers}{'content-length'}, length($full->{content}),
   'HEAD: Content-Length is the length of the GET body');
is($h->{content} // '', '', 'HEAD: no body');

$t->done;
done_testing;
