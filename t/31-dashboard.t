#!/usr/bin/perl
# The status dashboard (ai_release_status, ?format=html) in headless
# Chromium, driven through chromedriver's WebDriver HTTP API: the page polls
# the JSON, renders each workflow's bundles with their breaker states, and
# shows a canary that trips without being reloaded; each bundle's requests
# per second and the share of the workflow's requests it served, and the
# workflow's requests per second, are those of the traffic sent; a bundle
# with an output contract has a line under its row with its mode and
# answers (one without has none); the classes in a row's tooltip include
# contract and rejected; the data
# is inserted as text, not markup; the page loads nothing from elsewhere; a
# failing poll shows the error banner.  The control API from this browser:
# the page's own origin can call it with fetch() and JSON (not without), and
# a form on another site (enctype=text/plain, issue 10) cannot trip a bundle
# through it.  chromedriver and Chromium are stopped at the end, with every
# process they started.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use AIRClient qw(wait_for);
use JSON::PP;
use HTTP::Tiny;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);

my $CHROMEDRIVER = '/usr/bin/chromedriver';
my $CHROMIUM     = '/usr/bin/chromium';

plan skip_all => "$CHROMEDRIVER is missing (apt-get install chromium-driver)"
    unless -x $CHROMEDRIVER;
plan skip_all => "$CHROMIUM is missing (apt-get install chromium)"
    unless -x $CHROMIUM;

my $BODY = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';
my $POLL = 0.2;    # seconds between the polls of wait_for

############################################################################
# nginx

my $t = AIRTest->new;
$t->upstream($_) for qw(stable canary);

$t->write_file('bundles/d.yaml', <<"Y");
name: d
version: "1"
upstream: 127.0.0.1:@{[ $t->port('stable') ]}
model: "model <b>1</b>"
---
name: d
version: "2"
upstream: 127.0.0.1:@{[ $t->port('canary') ]}
model: "model <b>2</b> & <img src=x onerror=alert(1)>"
Y

# k: contracts in two modes and a bundle without one; no traffic
$t->write_file('bundles/k.yaml', <<"Y");
name: k
version: "1"
upstream: 127.0.0.1:@{[ $t->port('stable') ]}
model: k1
output_contract:
  json: true
---
name: k
version: "2"
upstream: 127.0.0.1:@{[ $t->port('stable') ]}
model: k2
output_contract:
  status: [200]
  max_bytes: 64k
  mode: enforce
---
name: k
version: "3"
upstream: 127.0.0.1:@{[ $t->port('stable') ]}
model: k3
Y

# g: behaviour signals, a canary beside stable (format named)
$t->write_file('bundles/g.yaml', <<"Y");
name: g
version: "1"
upstream: 127.0.0.1:@{[ $t->port('stable') ]}
model: g1
pricing: {input_per_mtok: 2, output_per_mtok: 8}
---
name: g
version: "2"
upstream: 127.0.0.1:@{[ $t->port('canary') ]}
model: g2
pricing: {input_per_mtok: 1, output_per_mtok: 4}
Y

# p: a canary with a progressive plan
$t->write_file('bundles/p.yaml', <<"Y");
name: p
version: "1"
upstream: 127.0.0.1:@{[ $t->port('stable') ]}
model: p1
---
name: p
version: "2"
upstream: 127.0.0.1:@{[ $t->port('stable') ]}
model: p2
Y

my $TOKEN = 'dashboard-test-token-' . int(rand(1e9));
$t->write_file('api.token', "$TOKEN\n");

$t->config(<<'C', workers => 2);
    ai_release_bundles %%DIR%%/bundles/*.yaml;

    ai_release_workflow d {
        stable d@1;
        canary d@2 50%;
        sticky $http_x_user_id;
        trip consecutive=3 min_requests=1000 cooldown=60s window=10m;
    }

    ai_release_workflow k {
        stable   k@1;
        canary   k@2 10%;
        fallback k@3;
    }

    ai_release_workflow g {
        stable g@1;
        canary g@2 50%;
        format openai-chat;
        drift output_tokens=1.5x min_answers=5 mode=observe;
    }

    ai_release_workflow p {
        stable p@1;
        canary p@2 steps=1%,5%,25% every=1h min_requests=0;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%%;

        location /d { ai_release d; proxy_pass http://ai_release; }
        location /g { ai_release g; proxy_pass http://ai_release; }
        location = /status { ai_release_status; }
        location /ai-release/api/ { ai_release_api; }
        location /tok/ { ai_release_api token_file=%%DIR%%/api.token; }
    }

    # another site: http://localhost:PORT is cross-site to 127.0.0.1
    server {
        listen 127.0.0.1:%%PORT_evil%%;
        root %%DIR%%/evil;
    }
C
$t->start;

my $port = $t->port('nginx');
my $origin = "http://127.0.0.1:$port";

# some traffic, and a user of each bundle
my (%user, %served);
for my $i (1 .. 60) {
    my $r = $t->post('/d', $BODY, { 'X-User-Id' => "u$i" });
    my ($b) = ($r->{headers}{'x-ai-release'} // '') =~ /^(\S+);/;
    $served{$b // '?'}++;
    $user{$b} //= "u$i" if $b && $r->{status} == 200;
}
ok($user{'d@1'} && $user{'d@2'}, 'users of both bundles found');
is(($served{'d@1'} // 0) + ($served{'d@2'} // 0), 60,
   "60 requests: d\@1 served $served{'d@1'}, d\@2 $served{'d@2'}");

$t->post('/g', $BODY) for 1 .. 40;

my $doc = $t->json($t->get('/status?format=json')) || {};
my %digest = map { $_->{bundle} => $_->{digest_short} }
             @{ ($doc->{workflows} || [])->[0]{bundles} || [] };
ok($digest{'d@1'} && $digest{'d@2'}, 'status JSON names both bundles');

############################################################################
# chromedriver

my $profile = $t->dir . '/chromium-profile';
my $home = $t->dir . '/home';    # Chromium's crash handler lives on its own
mkdir $_ for $profile, $home;     # (own session): find it by its --database
my $cd_port = $t->port('chromedriver');
my $cd_log = $t->dir . '/chromedriver.log';
my $cd_pid;

# every process of ours: the chromedriver process group, and anything that
# names our profile or home directory (Chromium, its helpers, its crash
# handlers, which run in sessions of their own)
sub browser_pids {
    my @p;
    opendir my $dh, '/proc' or return;
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        next if $pid == $$;
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $stat = <$fh> // '';
        close $fh;
        $stat =~ s/^.*\)\s+//s;
        my ($state, undef, $pgrp) = split ' ', $stat;
        next if !defined $state || $state eq 'Z' || $state eq 'X';
        my $cmd = '';
        if (open my $c, '<', "/proc/$pid/cmdline") {
            local $/;
            $cmd = <$c> // '';
            close $c;
        }
        push @p, $pid if ($cd_pid && $pgrp == $cd_pid)
                         || index($cmd, $profile) >= 0
                         || index($cmd, $home) >= 0;
    }
    closedir $dh;
    return @p;
}

sub stop_browser {
    return unless $cd_pid;
    kill 'TERM', -$cd_pid;
    kill 'TERM', $cd_pid;
    my $end = time + 5;
    while (time < $end) {
        waitpid($cd_pid, WNOHANG);
        last unless browser_pids();
        sleep 0.1;
    }
    for (1 .. 3) {
        my @left = browser_pids() or last;
        kill 'KILL', -$cd_pid;
        kill 'KILL', @left;
        my $e = time + 3;
        sleep 0.1 while time < $e && browser_pids();
    }
    waitpid($cd_pid, 0);
    $cd_pid = undef;
}

END { stop_browser() if $cd_pid }

$cd_pid = fork // die "fork: $!";
if (!$cd_pid) {
    setpgrp(0, 0);
    open STDIN, '<', '/dev/null';
    open STDOUT, '>>', "$cd_log.out";
    open STDERR, '>&', \*STDOUT;
    $ENV{HOME} = $home;
    { exec $CHROMEDRIVER, "--port=$cd_port", "--log-path=$cd_log"; }
    POSIX::_exit(127);
}

my $ua = HTTP::Tiny->new(timeout => 60, keep_alive => 0, proxy => undef,
                         http_proxy => undef, https_proxy => undef);
my $wd = "http://127.0.0.1:$cd_port";

sub wd {
    my ($method, $path, $body) = @_;
    my $r = $ua->request($method, "$wd$path", {
        headers => { 'Content-Type' => 'application/json; charset=utf-8' },
        defined $body ? (content => encode_json($body)) : () });
    my $j = eval { decode_json($r->{content}) };
    return ($r->{status}, $j ? $j->{value} : $r->{content});
}

my $ready = wait_for(20, sub {
    my ($st, $v) = wd(GET => '/status');
    return $st == 200 && ref $v eq 'HASH' && $v->{ready};
}, $POLL);
ok($ready, 'chromedriver is ready') or BAIL_OUT_soft('chromedriver did not start');

my ($st, $v) = wd(POST => '/session', { capabilities => { alwaysMatch => {
    'goog:chromeOptions' => {
        binary => $CHROMIUM,
        args => [ '--headless', '--no-sandbox', '--disable-gpu',
                  '--disable-dev-shm-usage', '--disable-quic',
                  '--no-first-run', '--disable-background-networking',
                  '--disable-component-update', '--disable-sync',
                  "--user-data-dir=$profile" ],
    } } } });
my $sid = ref $v eq 'HASH' ? $v->{sessionId} : undef;
ok($sid, 'WebDriver session created') or do {
    diag("POST /session: $st " . (ref $v ? encode_json($v) : $v // ''));
    BAIL_OUT_soft('no session');
};

sub js {
    my ($script, @args) = @_;
    my ($st, $v) = wd(POST => "/session/$sid/execute/sync",
                      { script => $script, args => \@args });
    return $st == 200 ? $v : undef;
}

# stop here, cleanly, when the browser cannot be driven at all
sub BAIL_OUT_soft {
    my ($why) = @_;
    my $log = '';
    for my $f ($cd_log, "$cd_log.out") {
        open my $fh, '<', $f or next;
        local $/;
        $log .= <$fh> // '';
    }
    diag("$why; chromedriver log:\n$log");
    stop_browser();
    $t->done;
    done_testing;
    exit 1;
}

############################################################################
# the page

my ($nst) = wd(POST => "/session/$sid/url",
               { url => "$origin/status?format=html" });
is($nst, 200, 'navigated to /status?format=html');

my $ROWS = <<'JS';
var t = document.querySelector('table[data-workflow="' + arguments[0] + '"]');
if (!t) { return null; }
var rows = {};
Array.prototype.forEach.call(t.querySelectorAll('tr[data-bundle]'), function (r) {
  var s = r.querySelector('span.state'), cells = r.querySelectorAll('td');
  rows[r.getAttribute('data-bundle')] = {
    state: r.getAttribute('data-state'),
    text: s ? s.textContent : null,
    badge: s ? s.className : null,
    cells: Array.prototype.map.call(cells, function (c) { return c.textContent; }),
    col: Array.prototype.reduce.call(cells, function (o, c) {
      if (c.getAttribute('data-col')) { o[c.getAttribute('data-col')] = c.textContent; }
      return o;
    }, {}),
    markup: r.querySelectorAll('b, img').length,
    polylines: r.querySelectorAll('svg polyline').length,
    svg_ns: (r.querySelector('svg') || {}).namespaceURI || null,
    err_points: (r.querySelector('svg polyline.err') || { getAttribute: function () { return ''; } })
                  .getAttribute('points') || ''
  };
});
var e = document.getElementById('error'), u = document.getElementById('updated');
var tr = document.querySelector('section[data-workflow="' + arguments[0] + '"] p.traffic');
return { rows: rows, traffic: tr ? tr.textContent : null, error_hidden: e ? e.hidden : null, error_text: e ? e.textContent : null,
         updated: u ? u.textContent : null, updated_at: u ? u.getAttribute('data-time') : null,
         marker: window.__airMarker || null,
         navigations: performance.getEntriesByType('navigation').length,
         stale: document.body.classList.contains('stale') };
JS

my $s = wait_for(20, sub {
    my $r = js($ROWS, 'd');
    return $r && $r->{rows}{'d@1'} && $r->{rows}{'d@2'}
        && $r->{rows}{'d@1'}{state} ? $r : undef;
}, $POLL);
ok($s, 'the table of workflow "d" appears with rows for d@1 and d@2')
    or BAIL_OUT_soft('the dashboard did not render');

{
    for my $b (qw(d@1 d@2)) {
        my $r = $s->{rows}{$b};
        is($r->{state}, 'closed', "$b: data-state closed");
        is($r->{text}, 'closed', "$b: span.state shows closed");
        like($r->{badge}, qr/\bclosed\b/, "$b: badge colored as closed");
        is($r->{col}{bundle}, $b, "$b: name\@version shown");
        is($r->{col}{digest}, $digest{$b}, "$b: short digest shown");
        is("$r->{col}{weight} $r->{col}{effective}", '50% 50%',
           "$b: configured and effective weight 50%");
        is($r->{col}{trips}, '0', "$b: no trips");
        is($r->{polylines}, 2, "$b: a sparkline of error rate and p95");
        is($r->{svg_ns}, 'http://www.w3.org/2000/svg',
           "$b: the sparkline is SVG");
    }
    # traffic: the window's attempts over its 10 minutes, and the share
    my $secs = 600;
    my $traffic = wait_for(20, sub {
        my $r = js($ROWS, 'd') or return;
        return ($r->{traffic} // '') =~ /\(60 attempts/ ? $r : undef;
    }, $POLL) || $s;
    for my $b (qw(d@1 d@2)) {
        my $n = $served{$b} // 0;
        my $c = $traffic->{rows}{$b}{col} || {};
        is($c->{rps}, sprintf('%#.3g', $n / $secs),
           "$b: $n requests in 10 minutes: " . ($c->{rps} // 'none')
           . ' requests per second');
        is($c->{share}, sprintf('%.1f%%', 100 * $n / 60),
           "$b: served " . ($c->{share} // 'none') . " of the 60 requests");
    }
    is($traffic->{traffic}, 'traffic: ' . sprintf('%#.3g', 60 / $secs)
       . ' req/s over the last 10m (60 attempts in the window)',
       'the workflow: 60 requests in 10 minutes, in requests per second');

    is($s->{rows}{'d@1'}{col}{role}, 'stable', 'd@1: role stable');
    is($s->{rows}{'d@2'}{col}{role}, 'canary', 'd@2: role canary');
    is($s->{rows}{'d@2'}{col}{model},
       'model <b>2</b> & <img src=x onerror=alert(1)>',
       'the model is shown as text');
    is($s->{rows}{'d@2'}{markup}, 0, 'and not inserted as markup');
    ok($s->{error_hidden}, 'no error banner');
    ok(length($s->{updated} // '') && $s->{updated_at},
       "last update shown: $s->{updated}");
}

# the signals lines, each under its bundle's row, the canary's beside stable's
{
    my $SIGNALS = <<'JS';
var t = document.querySelector('table[data-workflow="g"]');
if (!t) { return null; }
return Array.prototype.map.call(t.querySelectorAll('tbody tr'), function (r) {
  var g = r.getAttribute('data-signals'), td = r.querySelector('td');
  return g == null ? { row: r.getAttribute('data-bundle') }
       : { signals: g, text: td.textContent, title: td.title, cls: td.className };
});
JS
    my $g = wait_for(20, sub {
        my $r = js($SIGNALS);
        return $r && @$r == 4 ? $r : undef;
    }, $POLL) || js($SIGNALS) || [];
    is(join(' ', map { $_->{row} // "signals:$_->{signals}" } @$g),
       'g@1 signals:g@1 g@2 signals:g@2',
       'g: a signals line under each bundle');
    my %line = map { $_->{signals} => $_ } grep { defined $_->{signals} } @$g;
    like(($line{'g@1'} || {})->{text} // '',
         qr/^signals: \d+ answers, output tokens p50 5, text 17 B, length stops 0\.0%, refusals 0\.0%, tool calls 0\.00\/answer, 0\.0\d+ USD\/1000$/,
         'g@1: its answers, tokens, text, endings, refusals, tools and cost');
    like(($line{'g@2'} || {})->{text} // '',
         qr/^signals: \d+ answers, output tokens p50 5 \(1\.00x\), text 17 B \(1\.00x\), .*tool calls 0\.00\/answer, .*USD\/1000 \(0\.50x\)$/,
         'g@2: beside stable, as ratios (its price is half)');
    like(($line{'g@2'} || {})->{title} // '',
         qr/output_tokens: canary 5\.000, stable 5\.000, margin 1\.5/,
         'g@2: the tooltip gives both sides and the margin');
    is(($line{'g@2'} || {})->{cls}, '', 'g@2: no drift, not marked');
}

# the contract lines, each under its bundle's row
{
    my $CONTRACT = <<'JS';
var out = {};
['d', 'k'].forEach(function (wf) {
  var t = document.querySelector('table[data-workflow="' + wf + '"]');
  if (!t) { return; }
  out[wf] = Array.prototype.map.call(t.querySelectorAll('tbody tr'), function (r) {
    var c = r.getAttribute('data-contract'), td = r.querySelector('td');
    return c == null ? { row: r.getAttribute('data-bundle') }
         : { contract: c, text: td.textContent, title: td.title,
             span: td.getAttribute('colspan') };
  });
});
var e = document.querySelector('tr[data-bundle="d@1"] td[data-col="errors"]');
out.errors_title = e ? e.title : null;
out.columns = document.querySelectorAll('table[data-workflow="k"] thead th').length;
return out;
JS
    my $c = wait_for(20, sub {
        my $r = js($CONTRACT);
        return $r && $r->{k} && @{ $r->{k} } == 5 ? $r : undef;
    }, $POLL) || js($CONTRACT) || {};
    is(join(' ', map { $_->{row} // "contract:$_->{contract}" }
                 @{ $c->{k} || [] }),
       'k@1 contract:k@1 k@2 contract:k@2 k@3',
       'k: a contract line under k@1 and k@2, none under k@3');
    my %line = map { $_->{contract} => $_ }
               grep { defined $_->{contract} } @{ $c->{k} || [] };
    is(($line{'k@1'} || {})->{text}, 'contract observe: 0 checked, 0 broken',
       'k@1: its mode and answers');
    is(($line{'k@2'} || {})->{text}, 'contract enforce: 0 checked, 0 broken',
       'k@2: its mode and answers');
    like(($line{'k@2'} || {})->{title} // '',
         qr/^0 kept the contract; broken, by the rule broken first: (?x:
            status\ 0,\ .*,\ max_latency\ 0;\ 0\ not\ checked)/,
         'k@2: every rule in its tooltip');
    is(($line{'k@1'} || {})->{span}, $c->{columns},
       "the line spans the table's $c->{columns} columns");
    ok(!grep({ defined $_->{contract} } @{ $c->{d} || [] }),
       'd: bundles without a contract have no contract line');
    like($c->{errors_title} // '',
         qr/; totals: ok \d+, 5xx 0, connect 0, timeout 0, invalid 0, 429 0, slow 0, contract 0, rejected 0$/,
         'the totals tooltip lists every class, contract and rejected too');

    # answers that broke it: the page's fetch answers with counts in k@1's
    # contract for a while (the server has no answers to count here)
    js(<<'JS');
var f = window.fetch;
window.__airFetch = f;
window.fetch = function (u, o) {
  return f(u, o).then(function (r) { return r.json(); }).then(function (d) {
    d.workflows.forEach(function (w) {
      w.bundles.forEach(function (b) {
        if (w.name === 'k' && b.bundle === 'k@1') {
          b.contract.checked = 120; b.contract.ok = 117; b.contract.unread = 1;
          b.contract.broken.json = 2; b.contract.broken.required = 1;
          b.feedback = { accepted: 40, corrected: 3, rejected: 1,
                         correction_rate: 4 / 44,
                         window: { accepted: 10, corrected: 1, rejected: 0,
                                   correction_rate: 1 / 11 } };
        }
      });
    });
    return { ok: true, status: 200, json: function () { return d; } };
  });
};
return 1;
JS
    my $BROKEN = <<'JS';
var td = document.querySelector('tr[data-contract="k@1"] td');
return td ? [td.textContent, td.className, td.title] : null;
JS
    my $b = wait_for(20, sub {
        my $r = js($BROKEN);
        return $r && $r->[0] =~ /120 checked/ ? $r : undef;
    }, $POLL) || [];
    is($b->[0], 'contract observe: 120 checked, 3 broken (json 2, '
       . 'required 1), 1 unread', 'k@1: broken answers by rule, and unread');
    is($b->[1], 'broken', 'k@1: the line is marked broken');
    is(js('var td = document.querySelector(\'tr[data-feedback="k@1"] td\');'
          . ' return td ? td.textContent : null;'),
       'feedback: 40 accepted, 3 corrected, 1 rejected (9.1% corrected; '
       . 'window 9.1% of 11)', 'k@1: reviewer feedback has a line too');
    like($b->[2] // '', qr/^117 kept the contract; .*json 2, required 1,/,
         'k@1: the tooltip counts the kept ones and every rule');
    js('window.fetch = window.__airFetch; return 1;');
    ok(wait_for(20, sub {
        my $r = js($BROKEN);
        return $r && $r->[0] =~ /: 0 checked/ && $r->[1] eq '';
    }, $POLL), 'k@1: the server\'s counts again');
    is(js('return document.querySelectorAll(\'tr[data-feedback]\').length;'),
       0, 'no feedback line where no bundle has feedback');
}

js('window.__airMarker = "same page"; return 1;');

############################################################################
# a canary with a plan has a line under its weight: step, state, weight
# now, time to the next step and what it waits for; others have none

{
    my $PLAN = <<'JS';
var e = document.querySelector('tr[data-bundle="p@2"] td[data-col="weight"] .rollout');
var k = document.querySelector('tr[data-bundle="k@2"] td[data-col="weight"] .rollout');
return e ? [e.textContent, e.className, e.title, k ? 1 : 0,
            e.parentNode.querySelectorAll('.rollout').length] : null;
JS
    my $p = wait_for(20, sub { js($PLAN) }, $POLL) || [];
    like($p->[0] // '', qr/^plan 1\/3 running, 1%, next in \d+(?:\.\d+)? s, waiting for interval$/,
         'p@2: its plan under its weight');
    is($p->[1], 'rollout running', 'p@2: the line has its state as class');
    like($p->[2] // '', qr/^steps 1%, 5%, 25% every 1h, at least 0 requests a step; 0 on this step$/,
         'p@2: the steps in its tooltip');
    is($p->[3], 0, 'k@2: no plan line for a fixed canary');
    sleep 2.5;    # a poll more: still one line
    $p = js($PLAN) || [];
    is($p->[4], 1, 'p@2: one plan line after more polls');
}


############################################################################
# the canary trips; the open page shows it

$t->upstream_control('canary', "status=500\n");
my $tripped = wait_for(15, sub {
    my $r = $t->post('/d', $BODY, { 'X-User-Id' => $user{'d@2'} });
    return ($r->{headers}{'x-ai-release'} // '') =~ /^d\@1;/;
}, $POLL);
ok($tripped, 'the failing canary tripped (its user is served by stable)');

my $open = wait_for(20, sub {
    my $r = js($ROWS, 'd');
    return $r && ($r->{rows}{'d@2'}{state} // '') eq 'open' ? $r : undef;
}, $POLL);
ok($open, 'without a reload, the canary row turns data-state="open"');
$open ||= js($ROWS, 'd') || { rows => {} };
{
    my $r = $open->{rows}{'d@2'} || {};
    is($r->{text}, 'open', 'd@2: span.state shows open');
    like($r->{badge} // '', qr/\bopen\b/, 'd@2: badge colored as open');
    is(($open->{rows}{'d@1'} || {})->{state}, 'closed', 'd@1: still closed');
    is($open->{marker}, 'same page', 'the page was not reloaded');
    is($open->{navigations}, 1, 'one navigation only');
    my $c = $r->{col} || {};
    like($c->{errors} // '', qr/^(?:[1-9]\d*\.\d|0\.[1-9])%$/,
         'd@2: a non-zero window error rate is shown: '
         . join(' | ', @{ $r->{cells} || [] }));
    is($c->{weight}, '50%', 'd@2: configured weight 50%');
    is($c->{effective}, '0%', 'd@2: effective weight 0%');
    is($c->{trips}, '1', 'd@2: one trip');
    like($c->{breaker} // '', qr/consecutive/, 'd@2: the trip reason');
    my @pts = split ' ', $r->{err_points} // '';
    ok(@pts >= 2, 'd@2: the error-rate sparkline has ' . scalar(@pts)
       . ' points of poll history');
}

############################################################################
# nothing from elsewhere

{
    my $res = js(<<'JS');
return performance.getEntriesByType('resource').map(function (e) { return e.name; })
  .concat(Array.prototype.map.call(document.querySelectorAll('[src], [href]'),
          function (e) { return e.getAttribute('src') || e.getAttribute('href'); }));
JS
    my @foreign = grep { m{^(?:[a-z]+:)?//}i && index($_, "$origin/") != 0 }
                  @{ $res || [] };
    ok($res && !@foreign, 'every resource the page used is its own origin ('
       . scalar(@{ $res || [] }) . ' requests and links)')
        or diag("foreign: @foreign");
    ok((grep { index($_, "$origin/status?format=json") == 0 } @{ $res || [] }),
       'the page polled /status?format=json');

    my $html = $t->get('/status?format=html')->{content} // '';
    ok(length $html && $html !~ m{https?://}i,
       'the page source has no http(s):// URL');
    my (undef, $src) = wd(GET => "/session/$sid/source");
    ok(defined $src && !ref $src && $src !~ m{<(?:script|link|img|iframe)[^>]+(?:src|href)\s*=\s*["']?(?:https?:)?//}i,
       'the rendered DOM has no external script, style, image or frame');
}

############################################################################
# a failing poll shows the error banner

$t->stop;
my $err = wait_for(20, sub {
    my $r = js($ROWS, 'd');
    return $r && defined $r->{error_hidden} && !$r->{error_hidden} ? $r : undef;
}, $POLL);
ok($err, 'nginx stopped: the error banner appears');
ok($err && length($err->{error_text} // ''), 'with a message: '
   . ($err ? $err->{error_text} : ''));
ok($err && $err->{stale}, 'and the data is marked stale');
ok($err && ($err->{rows}{'d@2'}{state} // '') eq 'open',
   'the last data stays on the page');

############################################################################
# the control API from this browser

sub js_async {
    my ($script, @args) = @_;
    my ($st, $v) = wd(POST => "/session/$sid/execute/async",
                      { script => $script, args => \@args });
    return $st == 200 ? $v : { error => "WebDriver $st" };
}

my $FETCH = <<'JS';
var done = arguments[arguments.length - 1];
fetch(arguments[0], arguments[1]).then(function (r) {
  return r.text().then(function (t) { done({ status: r.status, body: t }); });
}).catch(function (e) { done({ error: String(e) }); });
JS

# nginx again, for the page that is still open (last, because Chromium
# may keep connections open that it never sends a request on, which nginx
# would wait for when stopped with the browser still running)
ok($t->start, 'nginx started again');
ok(wait_for(20, sub {
    my $r = js($ROWS, 'd');
    return $r && $r->{error_hidden} ? 1 : 0;
}, $POLL), 'the dashboard polls again');

# from the dashboard, the page's own origin: the browser sends Origin and
# Sec-Fetch-Site: same-origin, which pass; JSON is needed
{
    my $api = '/ai-release/api/workflows/d';
    my $r = js_async($FETCH, "$api/rollback",
                     { method => 'POST',
                       headers => { 'Content-Type' => 'application/json' } });
    is($r->{status}, 200, 'same-origin fetch: POST rollback with JSON: 200')
        or diag(encode_json($r));
    $r = js_async($FETCH, "$api/rollback",
                  { method => 'POST', body => '{}' });
    is($r->{status}, 415, 'same-origin fetch: POST with a string body '
       . '(text/plain): 415') or diag(encode_json($r));
    $r = js_async($FETCH, "$api/resume",
                  { method => 'POST',
                    headers => { 'Content-Type' =>
                                 'application/json; charset=utf-8' },
                    body => '{}' });
    is($r->{status}, 200, 'same-origin fetch: POST resume: 200')
        or diag(encode_json($r));
    $r = js_async($FETCH, $api, { method => 'GET' });
    is($r->{status}, 200, 'same-origin fetch: GET: 200');

    # with token_file=, a page must get the token from its user
    my %json = ('Content-Type' => 'application/json');
    $r = js_async($FETCH, '/tok/workflows/d/resume',
                  { method => 'POST', headers => \%json });
    is($r->{status}, 401, 'same-origin fetch without the token: 401');
    $r = js_async($FETCH, '/tok/workflows/d/resume',
                  { method => 'POST',
                    headers => { %json, Authorization => "Bearer $TOKEN" } });
    is($r->{status}, 200, 'same-origin fetch with the token: 200');
    my $w = ($t->json($t->get('/status')) || {})->{workflows}[0] || {};
    is_deeply($w->{overrides}, [], 'the rollback was resumed');

    # the release record on the page: the API's actions, newest first
    my $who = wait_for(10, sub {
        my $l = js(q{return Array.from(document.querySelectorAll(
                         'section.wf[data-workflow="d"] .changes li'))
                     .map(function (e) { return e.getAttribute('data-who')
                                                + ' ' + e.textContent; });});
        return ($l && @$l && $l->[0] =~ /^api:resume /) ? $l : undef;
    }, $POLL);
    ok($who, 'the dashboard lists the release record, newest first')
        or diag(encode_json(js(q{return document.querySelector(
                    'section.wf[data-workflow="d"] .changes').textContent;})
                    // ''));
    ok($who && @$who <= 3, 'at most three of its records');
    like($who ? $who->[0] : '', qr/api:resume: resume by /,
         'each with who and what');
}

# a page on another site submits the form of the issue through this
# browser: its body is {"bundle":"d@1","x":"="}
{
    my $evil = 'http://localhost:' . $t->port('evil');
    $t->write_file('evil/form.html', <<"H");
<!DOCTYPE html>
<html><body>
<form id="f" method="POST" enctype="text/plain"
      action="$origin/ai-release/api/workflows/d/trip">
<input type="hidden" name='{"bundle":"d\@1","x":"' value='"}'>
</form>
<script>document.getElementById('f').submit();</script>
</body></html>
H
    my ($st) = wd(POST => "/session/$sid/url", { url => "$evil/form.html" });
    is($st, 200, 'navigated to a page on another site');
    my $landed = wait_for(10, sub {
        my $v = js('return [location.href, document.body ? '
                   . 'document.body.textContent : ""];');
        return $v && $v->[0] =~ m{/workflows/d/trip$} ? $v : undef;
    }, $POLL);
    ok($landed, 'its form was submitted to the API');
    like($landed ? $landed->[1] : '', qr/"status": 403.*cross-site request/s,
         'the browser got 403, cross-site request');
    my ($line) = grep { m{"POST /ai-release/api/workflows/d/trip } }
                 $t->access_log;
    like($line // '', qr/" 403 /, 'access log: the form\'s POST got 403');
    my $w = ($t->json($t->get('/status')) || {})->{workflows}[0] || {};
    my ($d1) = grep { $_->{bundle} eq 'd@1' } @{ $w->{bundles} || [] };
    is(($d1 || {})->{breaker}{state}, 'closed', 'd@1 was not tripped');
    is_deeply($w->{overrides}, [], 'no override');
    like($t->error_log, qr/\[warn\] .*ai_release: api: POST refused \(403\): cross-site request: (?:Origin "\Q$evil\E"|Sec-Fetch-Site is "cross-site")/,
         'the refusal is logged at warn');
}

############################################################################
# clean up: the session, chromedriver, Chromium

{
    my ($dst) = wd(DELETE => "/session/$sid");
    is($dst, 200, 'session deleted');
    stop_browser();
    my @left = browser_pids();
    ok(!@left, 'no chromedriver or Chromium process left')
        or diag("left: @left");
}

$t->done;
done_testing;
