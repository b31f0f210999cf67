#!/usr/bin/perl
# Applying the bundle to the request ("format" and "apply" of a workflow):
# the upstream receives the client's body with the bundle's model, system
# instructions, tools and params spliced in, every other byte as the client
# sent it (compared byte for byte with what the mock upstream recorded),
# with a right Content-Length, for bodies in memory and in temporary files,
# plain and streamed, again for the bundle a failover goes to; bodies that
# cannot be applied are refused with a JSON error in the workflow's format
# before any upstream is contacted, and counted as "rejected".

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRClient;
use JSON::PP;

my $t = AIRTest->new;
$t->upstream($_) for qw(u1 u2 dead);
$t->stop_upstream('dead');

my $TOOLS = '[ {"type": "function", "function": {"name": "lookup",'
          . ' "parameters": {"type": "object"}}} ]';
my $TOOLS_C = '[{"type":"function","function":{"name":"lookup",'
            . '"parameters":{"type":"object"}}}]';
$t->write_file('bundles/tools.json', "$TOOLS\n");
$t->write_file('bundles/system.txt', "Answer in one line.\n\xc3\xa9t\xc3\xa9");

my $u1 = $t->port('u1');
my $u2 = $t->port('u2');
my $ud = $t->port('dead');
$t->write_file('bundles/x.yaml', <<"Y");
---
name: x
version: "1"
upstream: 127.0.0.1:$u1
model: m-new
system_instructions: Be brief.
tool_schema: tools.json
params:
  temperature: 0.2
  max_tokens: 100
---
name: x
version: "2"
upstream: 127.0.0.1:$u2
model: m-two
system_instructions:
  file: system.txt
params:
  top_p: 0.9
  user: "12"
---
name: x
version: "3"
upstream: pair
model: m-three
---
name: x
version: dead
upstream: 127.0.0.1:$ud
model: m-dead
system_instructions: dead
Y

$t->config(<<'C');
    ai_release_bundles %%DIR%%/bundles/*.yaml;
    ai_release_apply_max_body 100k;

    log_format cm '$ai_release_workflow client=$ai_release_client_model '
                  'bundle=$ai_release_bundle status=$status';

    ai_release_workflow chat {
        stable x@1;
        format openai-chat;
        apply model system_instructions tools params;
    }

    ai_release_workflow two {
        stable x@2;
        format openai-chat;
        apply model system_instructions params;
    }

    ai_release_workflow resp {
        stable x@2;
        format openai-responses;
        apply model system_instructions;
    }

    ai_release_workflow anth {
        stable x@2;
        format anthropic-messages;
        apply model system_instructions params;
    }

    ai_release_workflow fo {
        stable x@1;
        canary x@dead 100%;
        failover on;
        trip off;
        format openai-chat;
        apply model system_instructions;
    }

    upstream pair {
        server 127.0.0.1:%%PORT_dead%% max_fails=0;
        server 127.0.0.1:%%PORT_u1%%;
    }

    ai_release_workflow retry {
        stable x@3;
        format openai-chat;
        apply model;
    }

    ai_release_workflow plain {
        stable x@1;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        access_log %%DIR%%/cm.log cm;
        client_body_buffer_size 1k;
        client_max_body_size 10m;

        location = /status { ai_release_status; }

        location /v1/chat/completions {
            ai_release chat;
            proxy_pass http://ai_release;
            proxy_http_version 1.1;
            proxy_buffering off;
        }

        location = /two     { ai_release two;   proxy_pass http://ai_release; }
        location = /resp    { ai_release resp;  proxy_pass http://ai_release; }
        location = /anth    { ai_release anth;  proxy_pass http://ai_release; }
        location = /fo      { ai_release fo;    proxy_pass http://ai_release; }
        location = /retry   { ai_release retry; proxy_pass http://ai_release; }
        location = /plain   { ai_release plain; proxy_pass http://ai_release; }
        location = /var     {
            ai_release two;
            proxy_pass http://$ai_release_upstream;
        }
    }
C
$t->start;

# the body the named upstream received last
sub last_body {
    my ($name) = @_;
    my @b = $t->upstream_bodies($name);
    return $b[-1];
}

sub send_body {
    my ($path, $body, %h) = @_;
    return $t->post($path, $body, \%h);
}

my $SYS1 = '{"role":"system","content":"Be brief."}';
my $INS1 = '"model":"m-new","tools":' . $TOOLS_C
         . ',"temperature":0.2,"max_tokens":100';

############################################################################
# openai-chat: inserts

{
    my $in = '{"messages":[{"role":"user","content":"hi"}]}';
    my $r = send_body('/v1/chat/completions', $in);
    is($r->{status}, 200, 'chat insert: answered');
    is(last_body('u1'),
       '{' . $INS1 . ',"messages":[' . $SYS1
       . ',{"role":"user","content":"hi"}]}',
       'chat insert: model, tools, params and a system message inserted');
    my $j = $t->json($r);
    is($j->{model}, 'm-new', 'chat insert: the upstream saw the bundle model');
    is($j->{request}{body_length}, length(last_body('u1')),
       'chat insert: Content-Length is the new length');
}

############################################################################
# openai-chat: replaces, every other byte as sent

{
    my $in = qq({ "model" : "client-m",\n  "messages":[ {"role":"developer",)
           . qq("content":"old"} , {"role":"user","content":"\\u00e9 h\\"i",)
           . qq("meta":{"model":"nested","tools":[1]}}],)
           . qq( "temperature": 1 , "stream":false,"x":[1,2] }\n);
    my $want = qq({"tools":$TOOLS_C,"max_tokens":100, "model" : "m-new",\n)
             . qq(  "messages":[ $SYS1 , {"role":"user","content":)
             . qq("\\u00e9 h\\"i","meta":{"model":"nested","tools":[1]}}],)
             . qq( "temperature": 0.2 , "stream":false,"x":[1,2] }\n);
    my $r = send_body('/v1/chat/completions', $in);
    is($r->{status}, 200, 'chat replace: answered');
    is(last_body('u1'), $want,
       'chat replace: model, developer message and temperature replaced in '
       . 'place, the missing members inserted, nested names untouched');
}

############################################################################
# params of another bundle, a system file with UTF-8, an empty object

{
    my $r = send_body('/two', '{}');
    is($r->{status}, 400, 'an empty object has no messages for the system '
       . 'message: refused');

    $r = send_body('/two', '{"messages":[]}');
    is($r->{status}, 200, 'empty messages: answered');
    is(last_body('u2'),
       '{"model":"m-two","top_p":0.9,"user":"12","messages":[{"role":'
       . '"system","content":"Answer in one line.\n' . "\xc3\xa9t\xc3\xa9"
       . '"}]}',
       'empty messages: the system message alone, UTF-8 as in the file');
}

############################################################################
# openai-responses and anthropic-messages

{
    my $in = '{"input":"hello","instructions":"mine","model":"c"}';
    my $r = send_body('/resp', $in);
    is($r->{status}, 200, 'responses: answered');
    is(last_body('u2'),
       '{"input":"hello","instructions":"Answer in one line.\n'
       . "\xc3\xa9t\xc3\xa9" . '","model":"m-two"}',
       'responses: instructions and model replaced');

    $in = '{"model":"claude-old","max_tokens":10,'
        . '"messages":[{"role":"user","content":"hi"}]}';
    $r = send_body('/anth', $in, 'anthropic-version' => '2023-06-01');
    is($r->{status}, 200, 'anthropic: answered');
    is(last_body('u2'),
       '{"system":"Answer in one line.\n' . "\xc3\xa9t\xc3\xa9"
       . '","top_p":0.9,"user":"12","model":"m-two","max_tokens":10,'
       . '"messages":[{"role":"user","content":"hi"}]}',
       'anthropic: system and params inserted, model replaced');
}

############################################################################
# a body in a temporary file (client_body_buffer_size 1k), streamed

{
    my $pad = 'x' x 60000;
    my $in = '{"messages":[{"role":"user","content":"' . $pad . '"}],'
           . '"model":"big","stream":true}';
    my $r = send_body('/v1/chat/completions', $in);
    is($r->{status}, 200, 'file body, streamed: answered');
    like($r->{content}, qr/data: \[DONE\]/, 'file body: the stream came');
    my $got = last_body('u1') // '';
    my $want = '{"tools":' . $TOOLS_C . ',"temperature":0.2,"max_tokens":100,'
             . '"messages":[' . $SYS1 . ',{"role":"user","content":"'
             . $pad . '"}],"model":"m-new","stream":true}';
    ok($got eq $want, 'file body: spliced byte for byte ('
       . length($got) . ' bytes, ' . length($want) . ' expected)');
    like($t->error_log, qr/a client request body is buffered to a temporary/,
         'file body: nginx did buffer it to a file');
}

############################################################################
# failover: the known-good bundle gets its own model and instructions

{
    my $in = '{"model":"c","messages":[{"role":"user","content":"hi"}]}';
    my $r = send_body('/fo', $in);
    is($r->{status}, 200, 'failover: answered');
    like($r->{headers}{'x-ai-release'} // '', qr/^x\@1;/,
         'failover: by the stable bundle');
    is(last_body('u1'),
       '{"model":"m-new","messages":[' . $SYS1
       . ',{"role":"user","content":"hi"}]}',
       'failover: the stable bundle applied, not the dead one');
}

############################################################################
# nginx's own retry of the next server rewinds the request's buffers and
# its file to their start: the applied body is sent whole again

{
    my $pad = 'y' x 3000;
    my $ok = 0;
    for my $i (1 .. 4) {
        for my $in ('{"model":"c","n":' . $i . '}',
                    '{"n":' . $i . ',"pad":"' . $pad . '"}')
        {
            my $r = send_body('/retry', $in);
            my $want = $in;
            $want =~ s/"model":"c"/"model":"m-three"/
                or $want =~ s/^\{/{"model":"m-three",/;
            $ok++ if $r->{status} == 200 && (last_body('u1') // '') eq $want;
        }
    }
    is($ok, 8, 'retried on the next server: 8 of 8 bodies whole (memory '
       . 'and file)');
    like($t->error_log, qr/connect\(\) failed .* upstream: "http:\/\/127/,
         'the dead server was tried');
}

############################################################################
# no apply: untouched; proxy_pass http://$ai_release_upstream: applied

{
    my $in = '{ "model": "mine" , "messages":[] }';
    send_body('/plain', $in);
    is(last_body('u1'), $in, 'a workflow without apply: body untouched');

    send_body('/var', '{"messages":[]}');
    like(last_body('u2'), qr/^\{"model":"m-two"/,
         'proxy_pass http://$ai_release_upstream: applied too');
}

############################################################################
# bad input: refused, no upstream contacted

{
    my $before = $t->upstream_count('u1');
    my @bad = (
        [ 'not JSON',     '{"model": nope}', 400, qr/byte 11/ ],
        [ 'truncated',    '{"messages":[', 400, qr/at byte 13/ ],
        [ 'not object',   '[1,2]', 400, qr/not a JSON object/ ],
        [ 'duplicate',    '{"model":"a","messages":[],"model":"b"}', 400,
          qr/"model" appears twice/ ],
        [ 'invalid UTF-8', qq({"messages":[],"x":"\xff"}), 400, qr/UTF-8/i ],
        [ 'too large',    '{"x":"' . ('y' x 110000) . '"}', 413,
          qr/larger than/ ],
    );
    for my $c (@bad) {
        my ($name, $body, $status, $re) = @$c;
        my $r = send_body('/v1/chat/completions', $body);
        is($r->{status}, $status, "$name: $status");
        my $j = $t->json($r) // {};
        like($j->{error}{message} // '', $re, "$name: the error says why");
        ok(defined $j->{error}{type}, "$name: OpenAI's error shape");
    }

    # chunked: no Content-Length to refuse it by before it is read; too
    # large is what it is, whatever the JSON is worth (the size was once
    # decided after the scan, with the bytes scanned until the error: 400)
    my @parts = ('{"x":nope,"y":"', ('y' x 10000) x 11, '"}');
    my $r = send_body('/v1/chat/completions', sub { shift(@parts) // '' });
    is($r->{status}, 413, 'chunked, too large and not JSON: 413');
    like(($t->json($r) // {})->{error}{message} // '',
         qr/body of 110017 bytes is larger than/,
         'chunked, too large: the error gives the whole size');

    $r = send_body('/v1/chat/completions', '{"messages":[]}',
                   'Content-Encoding' => 'gzip');
    is($r->{status}, 415, 'gzip: 415');
    $r = $t->post('/v1/chat/completions', 'hello',
                  { 'Content-Type' => 'text/plain' });
    is($r->{status}, 415, 'text/plain: 415');

    is($t->upstream_count('u1'), $before, 'no upstream was contacted');

    $r = send_body('/anth', 'nope', 'anthropic-version' => '2023-06-01');
    my $j = $t->json($r) // {};
    is("$r->{status} " . ($j->{type} // ''), '400 error',
       'anthropic: its error shape');

    my $b = bundle_of(wf_of(status_doc($t), 'chat'), 'x@1');
    is($b->{totals}{rejected}, 9, 'chat: 9 refusals counted as rejected');
    is($b->{breaker}{state}, 'closed', 'refusals trip nothing');
}

############################################################################
# $ai_release_client_model

{
    my $log = AIRTest::slurp($t->dir . '/cm.log') // '';
    like($log, qr/^resp client=c bundle=x\@2 status=200$/m,
         '$ai_release_client_model: the model the client sent');
    like($log, qr/^chat client=client-m bundle=x\@1 status=200$/m,
         '$ai_release_client_model: on a replaced model too');
}

$t->done;

############################################################################
# nginx -t refuses what cannot be applied, with file and line

sub conf_error {
    my ($wf, $yaml, $files) = @_;
    my $c = AIRTest->new;
    $c->write_file("bundles/$_", $files->{$_}) for keys %{ $files || {} };
    $c->write_file('bundles/y.yaml', $yaml);
    $c->config(<<"C");
    ai_release_bundles %%DIR%%/bundles/*.yaml;
    ai_release_workflow w {
        stable y\@1;
$wf
    }
    server { listen 127.0.0.1:%%PORT_nginx%%; }
C
    my ($rc, $out) = $c->test_config;
    return ($rc, $out // '');
}

{
    my $y = "name: y\nversion: \"1\"\nupstream: 127.0.0.1:1\nmodel: m\n";
    my ($rc, $out) = conf_error("        apply model;", $y);
    ok($rc, 'apply without format: nginx -t fails');
    like($out, qr/"apply" in workflow "w" needs a "format".* in \S+nginx\.conf:\d+/,
         'apply without format: said with file and line');

    ($rc, $out) = conf_error("        format openai-chat;\n        apply tools;",
                             $y . "tool_schema: t.json\n",
                             { 't.json' => '{"tools":[]}' });
    ok($rc, 'a tool schema that is not an array: nginx -t fails');
    like($out, qr/y\.yaml:5:\d+: .*tool_schema/,
         'a tool schema that is not an array: manifest file and line');

    ($rc, $out) = conf_error("        format openai-chat;\n        apply params;",
                             $y . "params:\n  temperature: {a: 1}\n");
    ok($rc, 'a params value that is not a scalar: nginx -t fails');
    like($out, qr/y\.yaml:6:\d+: .*params\.temperature/,
         'a params value that is not a scalar: manifest file and line');

    ($rc, $out) = conf_error("        format openai-chat;\n        apply bogus;", $y);
    like($out, qr/unknown "bogus" in "apply"/, 'an unknown apply word');
}

done_testing();
