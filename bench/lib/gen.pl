#!/usr/bin/perl
# Generates the configuration of N ngx_ai_release workflows for the benchmark:
#
#   gen.pl N DIR [apply|noapply|contract|contract-none|contract-other
#                 |signals|signals-other|shadow|shadow-none]
#
# writes DIR/bundles.yaml (3N YAML documents in one file: for workflow i a
# stable, a canary and a fallback bundle, all on the three shared upstreams
# bench_stable, bench_canary and bench_fallback) and DIR/workflows.conf (N
# ai_release_workflow blocks: stable, 5% canary, fallback, sticky on
# X-User-Id, default error budget).  Prints the name of the workflow that
# gets the load (the one in the middle).
#
# With "apply" or "noapply" every bundle also has system instructions, a
# tool_schema (DIR/tools.json, two tools) and params (temperature,
# max_tokens); with "apply" every workflow has "format openai-chat;" and
# "apply model system_instructions tools params;", with "noapply" neither.
#
# With "contract", "contract-none" or "contract-other" every workflow has
# "format openai-chat;", and the bundles of every workflow ("contract"),
# of none ("contract-none") or of every workflow but the hot one
# ("contract-other") have an observed output_contract: status 200,
# max_bytes 64k, json, two required pointers, one non_empty, model_prefix
# and stream_end "[DONE]".  These and "apply" say "signals off;", so that
# they measure what they name alone.
#
# With "signals" every workflow has "format openai-chat;" (behaviour
# signals on, their default with a format) and no contract; with
# "signals-other" the same, but the hot workflow says "signals off;" (the
# answer filters are installed for the other one).  Every bundle has
# pricing.
#
# With "shadow" or "shadow-none" every workflow also has a fourth bundle,
# version shadow-1 on the upstream bench_shadow; with "shadow" every
# workflow mirrors 10% of its requests to it ("shadow NAME\@shadow-1 10%;",
# max_in_flight the default), with "shadow-none" none does: the two differ
# by that line only.
use strict;
use warnings;

my ($n, $dir, $mode) = @ARGV;
die "usage: $0 N DIR [apply|noapply|contract|contract-none|contract-other"
    . "|signals|signals-other|shadow|shadow-none]\n"
    unless defined $dir && $n && $n =~ /^\d+$/
        && (!defined $mode
            || $mode =~ /^(?:(?:no)?apply|contract(?:-none|-other)?
                            |signals(?:-other)?|shadow(?:-none)?)$/x);

my $hot = int(($n + 1) / 2);
my ($extra, $wf_extra) = ('', '');
my ($contract, $contract_of) = ('', sub { 0 });
my $hot_extra = '';
my $shadow = defined $mode && $mode =~ /^shadow/;
if ($shadow) {
    # contender 3's workflow otherwise: no format, no apply, no contract
} elsif (defined $mode && $mode =~ /^signals/) {
    $wf_extra = "    format   openai-chat;\n";
    $hot_extra = "    signals  off;\n" if $mode eq 'signals-other';
    $extra = "pricing: {input_per_mtok: 2.50, output_per_mtok: 10}\n";
} elsif (defined $mode && $mode =~ /^contract/) {
    $wf_extra = "    format   openai-chat;\n    signals  off;\n";
    $contract = <<'YAML';
output_contract:
  status: [200]
  max_bytes: 64k
  json: true
  required: ["/choices/0/message/content", "/model"]
  non_empty: ["/choices/0/message/content"]
  model_prefix: true
  stream_end: "[DONE]"
  mode: observe
YAML
    $contract_of = $mode eq 'contract' ? sub { 1 }
                 : $mode eq 'contract-other' ? sub { $_[0] != $hot }
                 : sub { 0 };
} elsif (defined $mode) {
    open my $t, '>', "$dir/tools.json" or die "$dir/tools.json: $!\n";
    print $t <<'JSON';
[
  {
    "type": "function",
    "function": {
      "name": "lookup_order",
      "description": "Find an order by its number: status, carrier, tracking number, items",
      "parameters": {
        "type": "object",
        "properties": {"order_id": {"type": "string"}},
        "required": ["order_id"]
      }
    }
  },
  {
    "type": "function",
    "function": {
      "name": "refund_order",
      "description": "Refund an order in full or in part; needs a human agent's approval",
      "parameters": {
        "type": "object",
        "properties": {
          "order_id": {"type": "string"},
          "amount": {"type": "number"},
          "reason": {"type": "string"}
        },
        "required": ["order_id", "reason"]
      }
    }
  }
]
JSON
    close $t or die "$dir/tools.json: $!\n";
    $extra = <<'YAML';
system_instructions: >-
  You are the support assistant of Example Ltd. You write short, polite
  replies to customer support tickets. Look an order up before you say
  anything about it, never promise a date the carrier has not given, and
  offer a refund only through the refund tool. If unsure, say that a human
  agent will follow up.
tool_schema: tools.json
params:
  temperature: 0.3
  max_tokens: 800
YAML
    $wf_extra = "    format   openai-chat;\n"
              . "    apply    model system_instructions tools params;\n"
              . "    signals  off;\n"
        if $mode eq 'apply';
}

open my $y, '>', "$dir/bundles.yaml" or die "$dir/bundles.yaml: $!\n";
open my $w, '>', "$dir/workflows.conf" or die "$dir/workflows.conf: $!\n";

print $y "# generated by bench/lib/gen.pl: $n workflows, ", ($shadow ? 4 : 3) * $n,
         " bundles\n";
print $w "# generated by bench/lib/gen.pl: $n workflows\n";

for my $i (1 .. $n) {
    my $name = sprintf 'chat-%05d', $i;
    my $x = $extra . ($contract_of->($i) ? $contract : '');
    print $y <<"YAML";
---
name: $name
version: "1"
upstream: bench_stable
model: gpt-bench-stable-2026-10
$x---
name: $name
version: "2"
upstream: bench_canary
model: gpt-bench-canary-2026-11
$x---
name: $name
version: safe-1
upstream: bench_fallback
model: small-bench-2026-06
YAML
    print $y $x;
    print $y <<"YAML" if $shadow;
---
name: $name
version: shadow-1
upstream: bench_shadow
model: gpt-bench-shadow-2026-12
YAML
    my $sh = $shadow && $mode eq 'shadow'
             ? "    shadow   $name\@shadow-1 10%;\n" : '';
    print $w <<"CONF";
ai_release_workflow $name {
    stable   $name\@1;
    canary   $name\@2 5%;
    fallback $name\@safe-1;
    sticky   \$http_x_user_id;
$sh$wf_extra@{[ $i == $hot ? $hot_extra : '' ]}}
CONF
}

close $y or die "$dir/bundles.yaml: $!\n";
close $w or die "$dir/workflows.conf: $!\n";

printf "chat-%05d\n", $hot;
