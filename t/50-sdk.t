#!/usr/bin/perl
# The official SDKs, unmodified, through nginx: the OpenAI Node SDK (npm
# "openai": chat.completions.create and responses.create) and the Anthropic
# Node SDK (npm "@anthropic-ai/sdk": messages.create), plain and streamed,
# with only their base URL and API key set (t/sdk/*.mjs; versions pinned in
# t/sdk/package.json and package-lock.json, installed by "make sdk-deps").
#
# Each workflow applies its bundle's model and system instructions
# ("format ...; apply model system_instructions;"), and the bundles' models
# differ from the one the SDK sends.  For every call: the SDK gets the mock's
# answer and the X-AI-Release header; the body the upstream read has the
# bundle's model and system instructions, and the rest of the SDK's bytes
# (its messages, "stream" flag, max_tokens) unchanged; the answer (whose
# "model" the mock copies from the body it read) names the bundle's model;
# the access log has the SDK's model in $ai_release_client_model and the
# bundle's in $ai_release_model.  A workflow without format and apply gets
# the SDK's bytes as they were sent.
#
# Skipped only when node is not installed; "make test" installs it (make
# deps runs make sdk-deps).

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use JSON::PP;
use Time::HiRes qw(sleep);

my $NODE = (grep { -x "$_/node" } split /:/, $ENV{PATH} // '')[0];
plan skip_all => 'node is not installed (make sdk-deps installs nodejs and'
                 . ' npm and the SDKs)'
    unless defined $NODE;
$NODE .= '/node';

my $SDK = "$FindBin::Bin/sdk";
for my $pkg ('openai', '@anthropic-ai/sdk') {
    ok(-f "$SDK/node_modules/$pkg/package.json", "t/sdk has $pkg")
        or BAIL_OUT("t/sdk/node_modules/$pkg is missing: run make sdk-deps");
}

my $CLIENT_MODEL = 'model-the-client-asked-for';
my $CLIENT_SYSTEM = 'The system prompt the client wrote.';
my %SYSTEM = (
    chat   => 'You are the support assistant of chat@1.',
    claude => "You are the triage assistant of claude\@1.\n"
              . "Answer in one sentence.",
    resp   => 'You are the writer of resp@1.',
);
my %MODEL = (chat => 'gpt-bundle-2026', claude => 'claude-bundle-2026',
             resp => 'gpt-responses-bundle-2026', asis => 'gpt-asis-2026');

my $t = AIRTest->new;
$t->upstream($_) for qw(gpt claude resp);

# inline system instructions for two bundles, a file for the third
$t->write_file('bundles/sdk.yaml', <<"Y");
name: chat
version: "1"
upstream: chat_up
model: $MODEL{chat}
system_instructions: "$SYSTEM{chat}"
---
name: claude
version: "1"
upstream: claude_up
model: $MODEL{claude}
system_instructions:
  file: claude-system.txt
---
name: resp
version: "1"
upstream: resp_up
model: $MODEL{resp}
system_instructions: "$SYSTEM{resp}"
---
name: asis
version: "1"
upstream: chat_up
model: $MODEL{asis}
system_instructions: "Not applied: the asis workflow has no apply."
Y
$t->write_file('bundles/claude-system.txt', $SYSTEM{claude});

$t->config(<<'C');
    log_format sdk '$request_uri|$ai_release_client_model|$ai_release_model|$ai_release_bundle|$status';

    ai_release_bundles %%DIR%%/bundles/*.yaml;

    upstream chat_up   { server 127.0.0.1:%%PORT_gpt%%; keepalive 4; }
    upstream claude_up { server 127.0.0.1:%%PORT_claude%%; keepalive 4; }
    upstream resp_up   { server 127.0.0.1:%%PORT_resp%%; keepalive 4; }

    ai_release_workflow chat {
        stable chat@1;
        format openai-chat;
        apply model system_instructions;
    }

    ai_release_workflow claude {
        stable claude@1;
        format anthropic-messages;
        apply model system_instructions;
    }

    ai_release_workflow resp {
        stable resp@1;
        format openai-responses;
        apply model system_instructions;
    }

    ai_release_workflow asis {
        stable asis@1;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        access_log %%DIR%%/sdk.log sdk;

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_buffering off;

        location /v1/chat/completions {
            ai_release chat;
            proxy_pass http://ai_release;
        }

        location /v1/messages {
            ai_release claude;
            proxy_pass http://ai_release;
        }

        location /v1/responses {
            ai_release resp;
            proxy_pass http://ai_release;
        }

        # the SDK's base URL .../asis/v1, the prefix stripped upstream
        location /asis/v1/ {
            ai_release asis;
            proxy_pass http://ai_release/v1/;
        }
    }
C
$t->start;

my $base = 'http://127.0.0.1:' . $t->port('nginx');
my $JSON = JSON::PP->new->utf8;

# runs one SDK script, returns its JSON line decoded (undef on none)
sub sdk {
    my ($script, @args) = @_;
    my @cmd = ('timeout', '60', $NODE, "$SDK/$script", @args);
    open my $fh, '-|', @cmd or die "cannot run $NODE: $!";
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    my ($line) = $out =~ /^(\{.*\})\s*$/m;
    my $r = defined $line ? eval { $JSON->decode($line) } : undef;
    diag("$script @args printed: $out") unless $r && $r->{ok};
    return $r;
}

# the lines of sdk.log, split; waits for $n of them (the log phase runs
# after the last byte reached the client)
sub log_lines {
    my ($n) = @_;
    my @l;
    for (1 .. 100) {
        @l = map { [split /\|/, $_, -1] }
             split /\n/, (AIRTest::slurp($t->dir . '/sdk.log') // '');
        last if @l >= $n;
        sleep 0.05;
    }
    return @l;
}

# The body each script's SDK sends (JSON.stringify keeps the order in which
# the scripts build their parameters): the bytes the upstream reads where
# nothing is applied, and the parts of them that must reach it unchanged
# where the model and the system instructions are.
my $js = JSON::PP->new->allow_nonref;
sub client_body {
    my ($script, $stream, $system, $message) = @_;
    my $b = $stream ? 'true' : 'false';
    my $user = '{"role":"user","content":' . $js->encode($message) . '}';
    my $sys = defined $system ? $js->encode($system) : undef;
    my $model = '{"model":' . $js->encode($CLIENT_MODEL);
    if ($script eq 'openai-chat.mjs') {
        my $s = defined $sys ? qq({"role":"system","content":$sys},) : '';
        my $tail = qq(],"max_tokens":64,"stream":$b});
        return ("$model,\"messages\":[$s$user$tail", [$user, $tail]);
    }
    if ($script eq 'anthropic-messages.mjs') {
        my $mid = qq(,"max_tokens":64,"messages":[$user],"stream":$b);
        return ($model . $mid . (defined $sys ? qq(,"system":$sys) : '')
                . '}', [$mid]);
    }
    my $mid = ',"input":' . $js->encode($message)
            . qq(,"max_output_tokens":64,"stream":$b);
    return ($model . $mid . (defined $sys ? qq(,"instructions":$sys) : '')
            . '}', [$mid]);
}

my @cases = (
    # script, workflow, upstream, base URL, stream, client's system prompt
    [ 'openai-chat.mjs',        'chat',   'gpt',    "$base/v1", 0, 1 ],
    [ 'openai-chat.mjs',        'chat',   'gpt',    "$base/v1", 1, 0 ],
    [ 'anthropic-messages.mjs', 'claude', 'claude', $base,      0, 1 ],
    [ 'anthropic-messages.mjs', 'claude', 'claude', $base,      1, 0 ],
    [ 'openai-responses.mjs',   'resp',   'resp',   "$base/v1", 0, 1 ],
    [ 'openai-responses.mjs',   'resp',   'resp',   "$base/v1", 1, 0 ],
    # a workflow without format and apply: the body is not touched
    [ 'openai-chat.mjs',        'asis',   'gpt',    "$base/asis/v1", 0, 1 ],
    [ 'openai-chat.mjs',        'asis',   'gpt',    "$base/asis/v1", 1, 0 ],
);

my $logged = 0;
for my $c (@cases) {
    my ($script, $wf, $up, $url, $stream, $client_system) = @$c;
    my $what = "$script $wf " . ($stream ? 'streamed' : 'plain')
             . ($client_system ? ', with its own system prompt' : '');
    my $message = "Hello from the $script test";
    my @before = $t->upstream_bodies($up);

    my $r = sdk($script, '--base-url', $url, '--model', $CLIENT_MODEL,
                '--message', $message,
                ($stream ? '--stream' : ()),
                ($client_system ? ('--system', $CLIENT_SYSTEM) : ()));

    ok($r && $r->{ok}, "$what: the SDK call succeeds");
    is($r->{text}, $stream ? 'tok0 tok1 tok2 tok3 tok4 ' : "Hello from $up",
       "$what: the SDK returns the mock's text");
    like($r->{x_ai_release} // '',
         qr/^\Q$wf\E\@1; digest=sha256:[0-9a-f]{12}; variant=stable$/,
         "$what: X-AI-Release names the bundle");

    my @after = $t->upstream_bodies($up);
    is(scalar @after, @before + 1, "$what: one request reached $up");
    my $raw = $after[-1] // '';
    my $body = eval { $JSON->decode($raw) };
    ok(ref $body eq 'HASH', "$what: the upstream read a JSON object")
        or diag($raw);
    $body = {} unless ref $body eq 'HASH';

    my ($sent, $kept) = client_body($script, $stream,
                                    $client_system ? $CLIENT_SYSTEM : undef,
                                    $message);

    if ($wf eq 'asis') {
        is($raw, $sent, "$what: the upstream read the SDK's bytes");
        is($r->{model}, $CLIENT_MODEL,
           "$what: the answer names the client's model")
            unless $stream;
    } else {
        for my $i (0 .. $#$kept) {
            ok(index($raw, $kept->[$i]) >= 0,
               "$what: the client's bytes outside the applied members"
               . " reach the upstream unchanged ($i)")
                or diag("want $kept->[$i]\nin   $raw");
        }
        is($body->{stream} ? 1 : 0, $stream,
           "$what: the client's stream flag reached the upstream");
        is($body->{model}, $MODEL{$wf},
           "$what: the upstream read the bundle's model");
        # the chat stream's chunks carry no model
        is($r->{model}, $MODEL{$wf},
           "$what: the answer names the model the upstream read")
            unless $wf eq 'chat' && $stream;
    }

    if ($wf eq 'chat') {
        my $m = $body->{messages} // [];
        is_deeply($m->[0], { role => 'system', content => $SYSTEM{chat} },
                  "$what: messages[0] is the bundle's system message");
        is(scalar @$m, 2, "$what: the client's own system message is "
                          . ($client_system ? 'replaced' : 'not invented'));
        is_deeply($m->[1], { role => 'user', content => $message },
                  "$what: the client's user message follows it");
    } elsif ($wf eq 'claude') {
        is($body->{system}, $SYSTEM{claude},
           "$what: system is the bundle's system instructions");
    } elsif ($wf eq 'resp') {
        is($body->{instructions}, $SYSTEM{resp},
           "$what: instructions are the bundle's system instructions");
    }

    $logged++;
    my @l = log_lines($logged);
    my $l = $l[$logged - 1] // [];
    is($l->[1], $CLIENT_MODEL,
       "$what: \$ai_release_client_model is the model the SDK sent")
        unless $wf eq 'asis';
    is($l->[2], $MODEL{$wf}, "$what: \$ai_release_model is the bundle's");
    is(join('|', map { $_ // '' } @$l[3, 4]), "$wf\@1|200",
       "$what: the access log names the bundle and the status");
}

$t->done;
done_testing;
