#!/usr/bin/perl
# The fixed answers of the contract phase's model servers:
#
#   answers.pl DIR
#
# writes, for each model server (stable, canary, fallback), with the model
# of its bundle (bench/lib/gen.pl):
#
#   DIR/NAME/answer.json   an OpenAI chat completion of exactly 1,024
#                          bytes: id, object, created, model, one choice
#                          whose message is a support reply, logprobs,
#                          finish_reason, usage with its details,
#                          system_fingerprint
#   DIR/NAME/stream.sse    an OpenAI chat completion stream: 100
#                          chat.completion.chunk events (the role, 98
#                          deltas of one token of the same reply each, the
#                          finish_reason with usage), then "data: [DONE]"
#
# The three servers' answers have the same size (the id is padded), so
# that the bytes per answer do not depend on which bundle answered.
# Prints "json BYTES" and "sse BYTES EVENTS" (EVENTS: the data: events,
# [DONE] included).
use strict;
use warnings;

my ($dir) = @ARGV;
die "usage: $0 DIR\n" unless defined $dir && -d $dir;

my %model = (
    stable   => 'gpt-bench-stable-2026-10',
    canary   => 'gpt-bench-canary-2026-11',
    fallback => 'small-bench-2026-06',
);
my $json_bytes = 1024;
my $events = 100;

my $reply = 'Thank you for your patience. I looked up order 48213: it left '
  . 'our warehouse on Friday and the carrier confirmed the pickup the same '
  . 'evening. Parcels to your region usually take four to six business '
  . 'days, and a customs check can add two more; you need not send '
  . 'anything unless the carrier writes to you. I have asked the carrier '
  . 'for an update and will write again as soon as they answer. If the '
  . 'boots have not arrived by Thursday, we will send a replacement pair '
  . 'at no cost, or refund you in full if you prefer. Is there anything '
  . 'else I can help you with today?';

# the tokens of the stream: a word and the space before it
my @tokens = $reply =~ /(\s*\S+)/g;
die "the reply has fewer than 98 tokens\n" if @tokens < $events - 2;

sub answer {
    my ($name, $id, $content) = @_;
    return '{"id":"chatcmpl-' . $id . '","object":"chat.completion",'
      . '"created":1764115200,"model":"' . $model{$name} . '",'
      . '"choices":[{"index":0,"message":{"role":"assistant","content":"'
      . $content . '","refusal":null},"logprobs":null,'
      . '"finish_reason":"stop"}],"usage":{"prompt_tokens":812,'
      . '"completion_tokens":160,"total_tokens":972,'
      . '"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},'
      . '"completion_tokens_details":{"reasoning_tokens":0}},'
      . '"system_fingerprint":"fp_bench_0001"}';
}

sub chunk {
    my ($name, $id, $delta, $finish, $usage) = @_;
    return 'data: {"id":"chatcmpl-' . $id . '",'
      . '"object":"chat.completion.chunk","created":1764115200,'
      . '"model":"' . $model{$name} . '",'
      . '"system_fingerprint":"fp_bench_0001","choices":[{"index":0,'
      . '"delta":' . $delta . ',"logprobs":null,"finish_reason":'
      . $finish . '}]' . ($usage // '') . "}\n\n";
}

sub stream {
    my ($name, $id) = @_;
    my $s = chunk($name, $id, '{"role":"assistant","content":"",'
                              . '"refusal":null}', 'null');
    my @t = @tokens[0 .. $events - 3];
    # the rest of the reply goes with the last content delta
    $t[-1] = join '', @tokens[$events - 3 .. $#tokens];
    $s .= chunk($name, $id, '{"content":"' . $_ . '"}', 'null') for @t;
    $s .= chunk($name, $id, '{}', '"stop"', ',"usage":{"prompt_tokens":812,'
                . '"completion_tokens":160,"total_tokens":972}');
    return $s . "data: [DONE]\n\n";
}

# the ids: stable's is the shortest name's padding reference
my $base = 'B7xKq2mZ9rT4';
my %out;
for my $name (qw(stable canary fallback)) {
    my $id = $base . ('0' x (length($model{stable}) - length $model{$name}));
    my $pad = $json_bytes - length answer($name, $id, $reply);
    die "the reply is too long for $json_bytes bytes\n" if $pad < 0;
    my $content = $reply . (' Kind regards, the support team.' x 10);
    $content = substr($content, 0, length($reply) + $pad);
    $content =~ s/ $/./;
    my $j = answer($name, $id, $content);
    my $s = stream($name, $id);
    die "$name: a JSON answer of " . length($j) . " bytes\n"
        unless length $j == $json_bytes;
    mkdir "$dir/$name" or die "$dir/$name: $!\n" unless -d "$dir/$name";
    for my $f (['answer.json', $j], ['stream.sse', $s]) {
        open my $o, '>', "$dir/$name/$f->[0]" or die "$dir/$name/$f->[0]: $!\n";
        binmode $o;
        print $o $f->[1];
        close $o or die "$dir/$name/$f->[0]: $!\n";
    }
    $out{$name} = [length $j, length $s];
}
for my $name (qw(canary fallback)) {
    die "the $name stream is $out{$name}[1] bytes, stable's $out{stable}[1]\n"
        unless $out{$name}[1] == $out{stable}[1];
}
print "json $out{stable}[0]\n";
print "sse $out{stable}[1] ", $events + 1, "\n";
