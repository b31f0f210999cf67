#!/usr/bin/perl
# The content digest: computed from the documented canonical form, stable
# across runs and instances, blind to formatting, eval and labels, and
# changed by any referenced file's bytes even when nobody bumps the version.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use Digest::SHA qw(sha256_hex);

my $t = AIRTest->new;
$t->upstream('up');
my $port = $t->port('up');

my $prompt = "Summarise the ticket.\n";
my $system = "Be brief.\n";
my $tools = "{\"tools\": []}\n";

$t->write_file('bundles/prompts/p.txt', $prompt);
$t->write_file('bundles/prompts/s.txt', $system);
$t->write_file('bundles/tools.json', $tools);

sub manifest {
    my (%o) = @_;
    my $y = <<"Y";
# a comment
name: sum
version: "1"
upstream: 127.0.0.1:$port
model: ${\ ($o{model} // 'm-1') }
prompt:
  id: summary
  file: prompts/p.txt
system_instructions:
  file: prompts/s.txt
tool_schema: tools.json
retrieval: {top_k: 8, index: "kb"}
headers:
  X-A: "1"
Y
    $y .= $o{extra} // '';
    return $y;
}

$t->write_file('bundles/b.yaml', manifest());

$t->config(<<'C');
    log_format d '$ai_release_digest';
    # this test is about digests; eval gates have tests of their own
    ai_release_eval_gate off;
    ai_release_bundles %%DIR%%/bundles/b.yaml;
    ai_release_workflow w {
        stable sum@1;
    }
    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        location / {
            ai_release w;
            return 200 "$ai_release_digest";
        }
    }
C

# the digest, computed here from the canonical form the README documents
my $canonical = "ai-release-canonical-v1\n"
    . '{"headers":{"X-A":"1"},"model":"m-1","name":"sum",'
    . '"prompt":{"file":"prompts/p.txt","id":"summary"},'
    . '"retrieval":{"index":"kb","top_k":"8"},'
    . '"system_instructions":{"file":"prompts/s.txt"},'
    . '"tool_schema":"tools.json",'
    . "\"upstream\":\"127.0.0.1:$port\",\"version\":\"1\"}\n"
    . sprintf("file prompt.file %d sha256:%s\n", length $prompt,
              sha256_hex($prompt))
    . sprintf("file system_instructions.file %d sha256:%s\n", length $system,
              sha256_hex($system))
    . sprintf("file tool_schema %d sha256:%s\n", length $tools,
              sha256_hex($tools));
my $want = 'sha256:' . sha256_hex($canonical);

$t->start;
my $d1 = $t->get('/')->{content};
is($d1, $want, 'digest is SHA-256 of the documented canonical form');
like($t->get('/')->{headers}{'x-ai-release'},
     qr/^sum\@1; digest=\Q${\ substr($want, 0, 19)}\E; variant=stable$/,
     'the response header shows the short digest');

sub digest_after_reload {
    ok($t->reload, 'reload');
    return $t->get('/')->{content};
}

# the same input gives the same digest in another nginx instance
{
    my $t2 = AIRTest->new;
    $t2->write_file('bundles/prompts/p.txt', $prompt);
    $t2->write_file('bundles/prompts/s.txt', $system);
    $t2->write_file('bundles/tools.json', $tools);
    $t2->write_file('bundles/b.yaml', manifest());
    $t2->config(<<'C');
    ai_release_bundles %%DIR%%/bundles/b.yaml;
    ai_release_workflow w { stable sum@1; }
    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        location / { ai_release w; return 200 "$ai_release_digest"; }
    }
C
    $t2->start;
    is($t2->get('/')->{content}, $d1, 'same digest in another instance');
    $t2->done;
}

# formatting, key order, quoting, comments, eval and labels: no change
$t->write_file('bundles/b.yaml', <<"Y");
version: '1'
model: "m-1"
headers: {X-A: 1}
tool_schema: "tools.json"
system_instructions: {file: prompts/s.txt}
retrieval:
  top_k: "8"
  index: kb
prompt: {file: prompts/p.txt, id: summary}
upstream: "127.0.0.1:$port"
name: sum
eval:
  set: golden-v1
  report: evals/sum-1.json
  gates:
    pass_rate: ">= 0.9"
labels:
  owner: team-a
Y
is(digest_after_reload(), $d1,
   'reordered, requoted, with eval and labels: same digest');

# a prompt file edited without a new version changes the digest
$t->write_file('bundles/b.yaml', manifest());
$t->write_file('bundles/prompts/p.txt', "Summarise the ticket in French.\n");
my $d2 = digest_after_reload();
isnt($d2, $d1, 'an edited prompt file changes the digest');
like($d2, qr/^sha256:[0-9a-f]{64}$/, 'digest format');

$t->write_file('bundles/prompts/s.txt', "Be very brief.\n");
my $d3 = digest_after_reload();
isnt($d3, $d2, 'an edited system instructions file changes the digest');

$t->write_file('bundles/tools.json', "{\"tools\": [1]}\n");
my $d4 = digest_after_reload();
isnt($d4, $d3, 'an edited tool schema changes the digest');

$t->write_file('bundles/b.yaml', manifest(model => 'm-2'));
my $d5 = digest_after_reload();
isnt($d5, $d4, 'another model changes the digest');

$t->write_file('bundles/b.yaml', manifest(extra => "output_contract: {json: true}\n"));
isnt(digest_after_reload(), $d4, 'an output contract changes the digest');

# a reload with a broken manifest keeps the old config serving
$t->write_file('bundles/b.yaml', manifest(extra => "bogus: 1\n"));
ok(!$t->reload, 'a reload with a bad manifest is refused');
like($t->error_log, qr/unknown key "bogus"/, 'and says why');
is($t->get('/')->{content} =~ /^sha256:/ ? 1 : 0, 1,
   'the old configuration keeps serving');

$t->done(allow => qr/unknown key "bogus"/);
done_testing;
