#!/usr/bin/perl
# Every bad input fails `nginx -t` with a message naming the manifest file,
# line and column, and the nginx.conf line; nginx never starts half-loaded.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;

my $GOOD = <<'Y';
name: wf
version: "1"
upstream: 127.0.0.1:%%PORT_up%%
model: m-1
Y

my $GOOD2 = <<'Y';
name: wf
version: "2"
upstream: 127.0.0.1:%%PORT_up%%
model: m-2
Y

sub line_of {
    my ($text, $re) = @_;
    my $n = 0;
    for my $l (split /\n/, $text) {
        $n++;
        return $n if $l =~ $re;
    }
    die "no line matches $re";
}

# each case: manifest files, http body, expected message, the nginx.conf line
# the message must name (a regex matching that line)
my @cases = (
    {
        name => 'YAML syntax error',
        files => { 'b.yaml' => "name: wf\nversion: \"1\nupstream: x\n" },
        expect => qr{b\.yaml:\d+:\d+: .*(quoted scalar|unexpected end)},
        at => qr/ai_release_bundles/,
    },
    {
        name => 'YAML syntax error position',
        files => { 'b.yaml' => "name: wf\nversion: 1\n  bad: [\n" },
        expect => qr{b\.yaml:3:\d+: },
        at => qr/ai_release_bundles/,
    },
    {
        name => 'missing required key',
        files => { 'b.yaml' => "name: wf\nversion: \"1\"\nupstream: u\n" },
        expect => qr{b\.yaml:1:1: missing required key "model"},
        at => qr/ai_release_bundles/,
    },
    {
        name => 'unknown key with a hint',
        files => { 'b.yaml' => $GOOD . "promt:\n  id: x\n" },
        expect => qr{b\.yaml:5:1: unknown key "promt", did you mean "prompt"\?},
        at => qr/ai_release_bundles/,
    },
    {
        name => 'wrong type',
        files => { 'b.yaml' => $GOOD . "prompt: just text\n" },
        expect => qr{b\.yaml:5:9: "prompt" must be a mapping},
        at => qr/ai_release_bundles/,
    },
    {
        name => 'unreadable prompt file',
        files => { 'b.yaml' => $GOOD . "prompt:\n  file: nope.txt\n" },
        expect => qr{b\.yaml:6:9: cannot read prompt\.file "nope\.txt": No such file or directory},
        at => qr/ai_release_bundles/,
    },
    {
        name => 'tool schema that is not JSON',
        files => { 'b.yaml' => $GOOD . "tool_schema: tools.json\n",
                   'tools.json' => "{\"a\": [1, 2,,]}\n" },
        expect => qr{b\.yaml:5:14: tool_schema "tools\.json" is not valid JSON: .*line 1},
        at => qr/ai_release_bundles/,
    },
    {
        name => 'duplicate name@version across files',
        files => { 'a.yaml' => $GOOD, 'b.yaml' => $GOOD },
        expect => qr{b\.yaml:1:1: duplicate bundle "wf\@1" \(first defined in \S*a\.yaml:1},
        at => qr/ai_release_bundles/,
    },
    {
        name => 'glob that matches nothing',
        files => {},
        expect => qr{no manifest matches "\S*bundles/\*\.yaml"},
        at => qr/ai_release_bundles/,
    },
    {
        name => 'header value with CR LF',
        files => { 'b.yaml' => $GOOD . "headers:\n  X-Route: \"a\\r\\nX-Evil: 1\"\n" },
        expect => qr{b\.yaml:6:12: header "X-Route" value contains a control character},
        at => qr/ai_release_bundles/,
    },
    {
        name => 'header value with NUL',
        files => { 'b.yaml' => $GOOD . "headers:\n  X-Route: \"a\\0b\"\n" },
        expect => qr{b\.yaml:6:12: header "X-Route" value contains a control character},
        at => qr/ai_release_bundles/,
    },
    {
        name => 'header name that is not a token',
        files => { 'b.yaml' => $GOOD . "headers:\n  \"X Route\": a\n" },
        expect => qr{b\.yaml:6:3: header name "X Route" is not a valid HTTP token},
        at => qr/ai_release_bundles/,
    },
    {
        name => 'output_contract: an unknown key with a hint',
        files => { 'b.yaml' => $GOOD . "output_contract:\n  json: true\n  requird: [/model]\n" },
        expect => qr{b\.yaml:7:3: unknown key "requird" in "output_contract", did you mean "required"\?},
        at => qr/ai_release_bundles/,
    },
    {
        name => 'output_contract: a pointer that does not parse',
        files => { 'b.yaml' => $GOOD . "output_contract:\n  non_empty:\n    - /choices/0\n    - \"/a~2b\"\n" },
        expect => qr{b\.yaml:8:7: output_contract\.non_empty "/a~2b" is not a JSON Pointer the contract can check: "~" not followed by "0" or "1"},
        at => qr/ai_release_bundles/,
    },
    {
        name => 'output_contract: a status out of range',
        files => { 'b.yaml' => $GOOD . "output_contract: {status: [200, 99]}\n" },
        expect => qr{b\.yaml:5:33: output_contract\.status: "99" is not an HTTP status code \(100 to 599\)},
        at => qr/ai_release_bundles/,
    },
    {
        name => 'invalid bundle name',
        files => { 'b.yaml' => "name: wf/1\nversion: \"1\"\nupstream: u\nmodel: m\n" },
        expect => qr{b\.yaml:1:7: invalid name "wf/1"},
        at => qr/ai_release_bundles/,
    },
    {
        name => 'YAML alias rejected',
        files => { 'b.yaml' => $GOOD . "labels: &a {x: y}\nretrieval: *a\n" },
        expect => qr{b\.yaml:\d+:\d+: YAML aliases and anchors are not supported},
        at => qr/ai_release_bundles/,
    },
    {
        name => 'unknown bundle in a workflow',
        files => { 'b.yaml' => $GOOD },
        workflow => "stable wf\@9;",
        expect => qr{unknown bundle "wf\@9" in workflow "w"},
        at => qr/stable wf\@9/,
    },
    {
        name => 'unknown workflow in a location',
        files => { 'b.yaml' => $GOOD },
        location => 'ai_release nosuch;',
        expect => qr{unknown ai_release workflow "nosuch"},
        at => qr/ai_release nosuch/,
    },
    {
        name => 'canary weights over 100%',
        files => { 'b.yaml' => $GOOD . "---\n" . $GOOD2 },
        workflow => "stable wf\@1;\n        canary wf\@2 100.01%;",
        expect => qr{invalid canary weight "100\.01%"},
        at => qr/canary wf\@2/,
    },
    {
        name => 'canary weights adding up over 100%',
        files => { 'b.yaml' => $GOOD . "---\n" . $GOOD2 . "---\n"
                   . ($GOOD2 =~ s/"2"/"3"/r) },
        workflow => "stable wf\@1;\n        canary wf\@2 60%;\n"
                    . "        canary wf\@3 40.01%;",
        expect => qr{canary weights of workflow "w" add up to more than 100%},
        at => qr/canary wf\@3/,
    },
    {
        name => 'malformed weight',
        files => { 'b.yaml' => $GOOD . "---\n" . $GOOD2 },
        workflow => "stable wf\@1;\n        canary wf\@2 5;",
        expect => qr{invalid canary weight "5"},
        at => qr/canary wf\@2/,
    },
    {
        name => 'workflow without stable',
        files => { 'b.yaml' => $GOOD },
        workflow => "fallback wf\@1;",
        expect => qr{ai_release_workflow "w" has no "stable" bundle},
        at => qr/ai_release_workflow w \{/,
    },
    {
        name => 'bundle twice in a workflow',
        files => { 'b.yaml' => $GOOD },
        workflow => "stable wf\@1;\n        fallback wf\@1;",
        expect => qr{bundle "wf\@1" appears twice in workflow "w"},
        at => qr/fallback wf\@1/,
    },
    {
        name => 'unknown directive in a workflow',
        files => { 'b.yaml' => $GOOD },
        workflow => "stable wf\@1;\n        stabel wf\@1;",
        expect => qr{unknown directive "stabel" in ai_release_workflow "w"},
        at => qr/stabel/,
    },
    {
        name => 'duplicate workflow',
        files => { 'b.yaml' => $GOOD },
        extra => "ai_release_workflow w { stable wf\@1; }",
        expect => qr{duplicate ai_release_workflow "w"},
        at => qr/ai_release_workflow w \{ stable/,
    },
    {
        name => 'reserved upstream name',
        files => { 'b.yaml' => "name: wf\nversion: \"1\"\nupstream: ai_release\nmodel: m\n" },
        expect => qr{a bundle cannot use the upstream "ai_release"},
        at => qr/stable wf\@1/,
    },
);

plan tests => 3 * @cases + 3;

for my $c (@cases) {
    my $t = AIRTest->new;
    for my $f (sort keys %{ $c->{files} }) {
        my $body = $c->{files}{$f};
        $body =~ s/%%PORT_up%%/$t->port('up')/ge;
        $t->write_file("bundles/$f", $body);
    }
    my $wf = $c->{workflow} // "stable wf\@1;";
    my $loc = $c->{location} // 'ai_release w;';
    my $extra = $c->{extra} // '';
    my $conf = $t->config(<<"C");
    ai_release_bundles %%DIR%%/bundles/*.yaml;

    ai_release_workflow w {
        $wf
    }
    $extra

    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        location / {
            $loc
            proxy_pass http://ai_release;
        }
    }
C
    my ($rc, $out) = $t->test_config;
    isnt($rc, 0, "$c->{name}: nginx -t fails");
    like($out, $c->{expect}, "$c->{name}: message") or diag($out);

    my @lines = grep { /\[emerg\]/ } split /\n/, $out;
    my $want = line_of($conf, $c->{at});
    like($lines[0] // '', qr{ in \S+nginx\.conf:$want$},
         "$c->{name}: names nginx.conf:$want");
}

# several problems in one manifest are all reported, and nothing starts
{
    my $t = AIRTest->new;
    $t->write_file('bundles/b.yaml',
                   "name: wf\nversion: \"1\"\nupstream: u\nfoo: 1\nbar: 2\n");
    $t->config(<<'C');
    ai_release_bundles %%DIR%%/bundles/b.yaml;
    server {
        listen 127.0.0.1:%%PORT_nginx%%;
    }
C
    my ($rc, $out) = $t->test_config;
    like($out, qr/missing required key "model"/, 'all problems: missing key');
    like($out, qr/unknown key "foo".*\n.*unknown key "bar"|unknown key "bar".*\n.*unknown key "foo"/s,
         'all problems: both unknown keys');
    ok(!$t->start(may_fail => 1), 'nginx does not start with a bad manifest');
    $t->stop;
}
