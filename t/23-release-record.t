#!/usr/bin/perl
# The release record (issue 17): at every configuration load, one notice a
# workflow whose bundles or weights changed, naming exactly the components
# that changed and nothing else; unchanged workflows say nothing.  The
# last 16 records of each workflow (time, who, what, digests before and
# after) are kept in the shared zone across reloads and shown by the
# status JSON and by GET .../workflows/NAME/history; API actions add
# records of their own (who "api:VERB").

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRClient qw(http status_doc wf_of);

my $t = AIRTest->new;
$t->upstream($_) for qw(stable canary other);

my $gen = 0;
my $N = 16;    # NGX_HTTP_AI_RELEASE_HISTORY_N

# the canary's components, each changed alone below
my %c = (
    model     => 'm-4',
    prompt    => "Draft a reply.\n",
    system    => 'Be polite.',
    tools     => qq({"tools": []}\n),
    top_k     => 8,
    temp      => '0.2',
    max_bytes => '64k',
    weight    => '5%',
    version   => 4,
);

sub write_bundles {
    my $up = sub { '127.0.0.1:' . $t->port($_[0]) };
    $t->write_file('bundles/prompts/p.txt', $c{prompt});
    $t->write_file('bundles/tools/t.json', $c{tools});
    $t->write_file('bundles/sd.yaml', <<"Y");
name: sd
version: "3"
upstream: @{[ $up->('stable') ]}
model: m-3
---
name: sd
version: "$c{version}"
upstream: @{[ $up->('canary') ]}
model: $c{model}
prompt:
  file: prompts/p.txt
system_instructions: "$c{system}"
tool_schema: tools/t.json
retrieval:
  index: kb
  top_k: $c{top_k}
params:
  temperature: $c{temp}
output_contract:
  max_bytes: $c{max_bytes}
labels: {gen: "@{[ ++$gen ]}"}
Y
    $t->write_file('bundles/other.yaml', <<"Y");
name: other
version: "1"
upstream: @{[ $up->('other') ]}
model: o-1
Y
}

sub write_config {
    $t->config(<<"C", workers => 2);
    ai_release_bundles %%DIR%%/bundles/*.yaml;
    ai_release_eval_gate off;

    ai_release_workflow sd {
        stable sd\@3;
        canary sd\@$c{version} $c{weight};
    }
    ai_release_workflow other {
        stable other\@1;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        location = /status { ai_release_status; }
        location /api/ { ai_release_api; }
        location = /sd { ai_release sd; proxy_pass http://ai_release; }
    }
C
}

# the notices of workflows in the error log after offset $off
sub notices {
    my ($off) = @_;
    my $log = substr($t->error_log, $off);
    return [ $log =~ /\[notice\] \d+#\d+: ai_release: (workflow "[^\n]*)/g ];
}

# changes the components given, reloads, and returns the new notices
sub reload_with {
    my (%set) = @_;
    @c{ keys %set } = values %set;
    write_bundles();
    write_config();
    my $off = length $t->error_log;
    ok($t->reload, 'reload: ' . join(', ', map { "$_=$set{$_}" } sort keys %set)
                   || 'reload, nothing changed')
        or diag(substr($t->error_log, $off));
    return notices($off);
}

sub api { http($t, @_) }

sub history { wf_of(status_doc($t), $_[0])->{history} }

write_bundles();
write_config();
$t->start;

is_deeply(notices(0), [], 'a start says nothing: no running configuration '
                          . 'to compare with');
is_deeply(history('sd'), [], 'no record after a start');

############################################################################
# each component changed alone is named alone

my @cases = (
    [ 'model', { model => 'm-4b' }, 'model m-4 -> m-4b' ],
    [ 'prompt file contents', { prompt => "Draft a short reply.\n" },
      'prompt.file changed' ],
    [ 'system instructions', { system => 'Be brief.' },
      'system_instructions Be polite. -> Be brief.' ],
    [ 'tools', { tools => qq({"tools": [{"name": "lookup"}]}\n) },
      'tool_schema changed' ],
    [ 'retrieval', { top_k => 12 }, 'retrieval.top_k 8 -> 12' ],
    [ 'params', { temp => '0.3' }, 'params.temperature 0.2 -> 0.3' ],
    [ 'contract', { max_bytes => '32k' },
      'output_contract.max_bytes 64k -> 32k' ],
);

for my $case (@cases) {
    my ($what, $set, $text) = @$case;
    my $n = reload_with(%$set);
    is_deeply($n, [ qq{workflow "sd": canary sd\@4: $text} ],
              "$what alone: one notice naming exactly it")
        or diag(explain($n));
}

{
    my $n = reload_with(weight => '1%');
    is_deeply($n, [ 'workflow "sd": canary sd@4: weight 5% -> 1%' ],
              'the weight alone: one notice naming exactly it')
        or diag(explain($n));

    $n = reload_with();
    is_deeply($n, [], 'nothing changed: nothing said');

    # a labels change is no change of behaviour (not in the digest)
    $n = reload_with(version => 4);
    is_deeply($n, [], 'labels alone: nothing said');

    $n = reload_with(version => 5, model => 'm-5', top_k => 8,
                     weight => '2.5%');
    is_deeply($n, [ 'workflow "sd": canary sd@4 -> @5: model m-4b -> m-5, '
                    . 'retrieval.top_k 12 -> 8; weight 1% -> 2.5%' ],
              'a new canary version: ids, its components and its weight')
        or diag(explain($n));
}

############################################################################
# the history: status JSON and API, newest first, with digests

my $doc = status_doc($t);
my $sd = wf_of($doc, 'sd');
my $h = $sd->{history} || [];

is(scalar @$h, @cases + 2, 'status: one record a reload that changed sd');
is_deeply(wf_of($doc, 'other')->{history}, [],
          'status: an unchanged workflow has no record');
is($h->[0]{changes}, 'canary sd@4 -> @5: model m-4b -> m-5, '
                     . 'retrieval.top_k 12 -> 8; weight 1% -> 2.5%',
   'status: the newest first');
is($h->[-1]{changes}, 'canary sd@4: model m-4 -> m-4b',
   'status: the oldest last');
is($h->[0]{who}, 'reload', 'status: who is "reload"');
like($h->[0]{at} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
     'status: at is an ISO time');

my %now = map { $_->{role} => $_->{digest} } @{ $sd->{bundles} || [] };
is_deeply({ map { $_->{role} => $_->{digest} } @{ $h->[0]{after} || [] } },
          \%now, 'status: the digests after are the running bundles')
    or diag(explain($h->[0]{after}, $sd->{bundles}[0]));
is($h->[0]{before}[0]{digest}, $now{stable},
   'status: the stable digest before is the same');
isnt($h->[0]{before}[1]{digest}, $now{canary},
     'status: the canary digest before is the old one');
is($h->[0]{before}[1]{digest}, $h->[1]{after}[1]{digest},
   'status: and it is the previous record\'s after');

{
    my ($r, $j) = api('GET', '/api/workflows/sd/history');
    is($r->{status}, 200, 'GET .../workflows/sd/history: 200');
    is($j->{workflow}, 'sd', 'the API names the workflow');
    is_deeply($j->{history}, $h, 'the API gives the status\'s records');

    ($r) = api('POST', '/api/workflows/sd/history', '{}');
    is($r->{status}, 405, 'POST .../history: 405');

    ($r) = api('GET', '/api/workflows/nope/history');
    is($r->{status}, 404, 'the history of an unknown workflow: 404');
}

############################################################################
# API actions add records: who "api:VERB"

{
    my ($r) = api('POST', '/api/workflows/sd/rollback', '');
    is($r->{status}, 200, 'rollback: 200');
    ($r) = api('POST', '/api/workflows/sd/pin', '{"bundle":"sd@3"}');
    is($r->{status}, 200, 'pin: 200');
    ($r) = api('POST', '/api/workflows/sd/resume', '');
    is($r->{status}, 200, 'resume: 200');

    my ($res, $j) = api('GET', '/api/workflows/sd/history');
    my @who = map { $_->{who} } @{ $j->{history} || [] }[0 .. 3];
    is_deeply(\@who, [ qw(api:resume api:pin api:rollback reload) ],
              'each action is a record, newest first');
    like($j->{history}[1]{changes} // '', qr/^pin sd\@3 by 127\.0\.0\.1$/,
         'the pin names its bundle and client');
    is_deeply($j->{history}[1]{before}, $j->{history}[1]{after},
              'an action changes no digest');
}

############################################################################
# bounded: more reloads than N keep the newest N, across reloads

{
    my $before = scalar @{ history('sd') };
    my @w = ('3%', '2.5%');
    for my $i (1 .. $N + 2) {
        reload_with(weight => $w[$i % 2]);
    }
    $h = history('sd');
    is(scalar @$h, $N, "after more than $N records: exactly $N kept");
    is($h->[0]{changes}, 'canary sd@5: weight 2.5% -> 3%',
       'the newest is the last reload');
    is($h->[1]{changes}, 'canary sd@5: weight 3% -> 2.5%',
       'and the one before it');
    ok($before + $N + 2 > $N, 'more records were made than are kept');
    is_deeply(history('other'), [], 'the unchanged workflow still has none');
}

############################################################################
# a workflow added and removed: said once each; its ring goes with it

{
    $t->write_file('bundles/new.yaml', <<"Y");
name: nw
version: "1"
upstream: 127.0.0.1:@{[ $t->port('other') ]}
model: n-1
Y
    (my $conf = $t->{config_text})
        =~ s/(ai_release_workflow other)/ai_release_workflow nw { stable nw\@1; }\n    $1/;
    $t->write_file('nginx.conf', $conf);
    my $off = length $t->error_log;
    ok($t->reload, 'reload with a new workflow');
    my $n = notices($off);
    is(scalar @$n, 1, 'one notice');
    like($n->[0] // '',
         qr/^workflow "nw": new: stable nw\@1 added \(sha256:[0-9a-f]{12}\)$/,
         'a new workflow: its bundles');
    is(scalar @{ history('nw') }, 1, 'a new workflow has its record');

    write_config();
    $off = length $t->error_log;
    ok($t->reload, 'reload without it');
    is_deeply(notices($off), [ 'workflow "nw": removed' ],
              'a removed workflow: said once');
    is(scalar @{ history('sd') }, $N, 'the other records stay');
}

############################################################################
# a zone of another size: the records are carried over with the slots

{
    (my $conf = $t->{config_text})
        =~ s/(ai_release_eval_gate off;)/$1\n    ai_release_zone air 4m;/;
    $t->write_file('nginx.conf', $conf);
    my $off = length $t->error_log;
    ok($t->reload, 'reload into a zone of another size');
    like(substr($t->error_log, $off), qr/zone "air" resized from \d+ to/,
         'the zone was resized');
    $h = history('sd');
    is(scalar @$h, $N, 'a resize keeps the records');
    is($h->[0]{changes}, 'canary sd@5: weight 2.5% -> 3%',
       'the newest still first');
}

############################################################################
# a canary given a progressive plan: the weight is its last step, and the
# notice gives the plan

{
    my $n = reload_with(weight => 'steps=1%,2.5%,5% every=10m');
    is_deeply($n, [ 'workflow "sd": canary sd@5: weight 3% -> 5% '
                    . '(plan 1%,2.5%,5% every 10m)' ],
              'a plan: the weight of its last step, and its steps')
        or diag(explain($n));
    $n = reload_with(weight => 'steps=1%,2.5%,5% every=30s');
    is_deeply($n, [ 'workflow "sd": canary sd@5: weight 5% -> 5% '
                    . '(plan 1%,2.5%,5% every 30s)' ],
              'another interval alone: said, with the new plan')
        or diag(explain($n));
}

$t->done;
done_testing;
