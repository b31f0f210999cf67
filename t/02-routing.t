#!/usr/bin/perl
# Weighted and sticky assignment: shares, stickiness across workers,
# reloads and nginx instances, monotone growth, independent workflows.

use strict;
use warnings;
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use AIRTest;
use HTTP::Tiny;

sub bundles {
    my ($t) = @_;
    my $y = '';
    for my $wf (qw(alpha beta)) {
        for my $v (qw(1 2 3)) {
            $y .= "---\nname: $wf\nversion: \"$v\"\n"
                . "upstream: 127.0.0.1:" . $t->port('up') . "\n"
                . "model: $wf-model-$v\n";
        }
    }
    $t->write_file('bundles/all.yaml', $y);
}

sub conf {
    my ($t, %o) = @_;
    my $w = $o{weight} // '5%';
    my $bw = $o{beta_weight} // '50%';
    $t->config(<<"C", workers => $o{workers} // 1);
    ai_release_bundles %%DIR%%/bundles/*.yaml;

    ai_release_workflow alpha {
        stable   alpha\@1;
        canary   alpha\@2 $w;
        fallback alpha\@3;
        sticky   \$http_x_user_id;
    }

    ai_release_workflow alpha-random {
        stable   alpha\@1;
        canary   alpha\@2 $w;
    }

    ai_release_workflow beta {
        stable   beta\@1;
        canary   beta\@2 $bw;
        sticky   \$http_x_user_id;
    }

    ai_release_workflow gamma {
        stable   alpha\@1;
        canary   alpha\@3 50%;
        sticky   \$http_x_user_id;
    }

    server {
        listen 127.0.0.1:%%PORT_nginx%%;
        keepalive_requests 100000;

        location /gamma {
            ai_release gamma;
            return 200 "\$ai_release_bundle \$ai_release_variant \$pid";
        }

        location /alpha {
            ai_release alpha;
            return 200 "\$ai_release_bundle \$ai_release_variant \$pid";
        }
        location /alpha-random {
            ai_release alpha-random;
            return 200 "\$ai_release_bundle \$ai_release_variant \$pid";
        }
        location /beta {
            ai_release beta;
            return 200 "\$ai_release_bundle \$ai_release_variant \$pid";
        }
    }
C
}

# a keep-alive client for bulk requests, and one that opens a connection
# per request (so that requests spread over the workers)
my $ka = HTTP::Tiny->new(keep_alive => 1, timeout => 10);
my $fresh = HTTP::Tiny->new(keep_alive => 0, timeout => 10);

sub ask {
    my ($t, $path, $user, $client) = @_;
    $client //= $ka;
    my $r = $client->get("http://127.0.0.1:" . $t->port('nginx') . $path,
        { headers => defined $user ? { 'X-User-Id' => $user } : {} });
    die "request failed: $r->{status} $r->{content}" unless $r->{success};
    return split / /, $r->{content};
}

my $t = AIRTest->new;
bundles($t);
conf($t, workers => 2);
$t->start;

# random choice: 10,000 requests to a 5% canary land within 4-6%
my %n;
$n{ (ask($t, '/alpha-random'))[1] }++ for 1 .. 10000;
my $share = ($n{canary} // 0) / 10000;
ok($share >= 0.04 && $share <= 0.06, "random 5% canary got $share");
is(($n{stable} // 0) + ($n{canary} // 0), 10000, 'random: stable + canary');

# sticky: 10,000 distinct users, 4-6% in the canary
my %first;
my $canary = 0;
for my $u (1 .. 10000) {
    my ($b) = ask($t, '/alpha', "user-$u");
    $first{$u} = $b;
    $canary++ if $b eq 'alpha@2';
}
ok($canary >= 400 && $canary <= 600, "sticky 5% canary got $canary of 10000");

# the same key always gets the same bundle, on both workers
my (%pids, $moved);
for my $round (1 .. 3) {
    for my $u (1 .. 300) {
        my ($b, undef, $pid) = ask($t, '/alpha', "user-$u", $fresh);
        $pids{$pid}++;
        $moved++ if $b ne $first{$u};
    }
}
is($moved // 0, 0, 'sticky keys never change bundle across 900 requests');
is(scalar keys %pids, 2, 'requests were served by both workers');

# an empty key falls back to the random choice
my %e;
$e{ (ask($t, '/alpha', ''))[1] }++ for 1 .. 2000;
ok(($e{canary} // 0) > 20 && ($e{canary} // 0) < 200,
   'empty sticky key: random choice (' . ($e{canary} // 0) . ' of 2000)');

# workflows are independent: of the users in one 50% canary, about half
# (not all) are in another workflow's 50% canary
my ($in_beta, $in_gamma, $overlap) = (0, 0, 0);
for my $u (1 .. 2000) {
    my ($b) = ask($t, '/beta', "user-$u");
    my ($g) = ask($t, '/gamma', "user-$u");
    $in_beta++ if $b eq 'beta@2';
    $in_gamma++ if $g eq 'alpha@3';
    $overlap++ if $b eq 'beta@2' && $g eq 'alpha@3';
}
ok($in_beta > 900 && $in_beta < 1100, "beta 50% canary got $in_beta of 2000");
ok($in_gamma > 900 && $in_gamma < 1100,
   "gamma 50% canary got $in_gamma of 2000");
ok($overlap > 400 && $overlap < 600,
   "workflows independent: $overlap of 2000 users in both canaries");

# a reload keeps every assignment
ok($t->reload, 'reload');
$moved = 0;
for my $u (1 .. 2000) {
    $moved++ if (ask($t, '/alpha', "user-$u", $fresh))[0] ne $first{$u};
}
is($moved, 0, 'sticky keys keep their bundle across a reload');

# the canary grows from 5% to 25%: everyone in it stays, more join
conf($t, weight => '25%', workers => 2);
ok($t->reload, 'reload with the canary at 25%');
my ($left, $grown) = (0, 0);
for my $u (1 .. 10000) {
    my ($b) = ask($t, '/alpha', "user-$u");
    $left++ if $first{$u} eq 'alpha@2' && $b ne 'alpha@2';
    $grown++ if $b eq 'alpha@2';
}
is($left, 0, 'nobody leaves a canary when it grows');
ok($grown >= 2300 && $grown <= 2700, "canary at 25% got $grown of 10000");

# a second nginx instance with the same config assigns the same keys
my $t2 = AIRTest->new;
bundles($t2);
conf($t2, weight => '25%');
$t2->start;
my $differ = 0;
for my $u (1 .. 2000) {
    my ($b1) = ask($t, '/alpha', "user-$u");
    my ($b2) = ask($t2, '/alpha', "user-$u", $fresh);
    $differ++ if $b1 ne $b2;
}
is($differ, 0, 'two nginx instances assign 2000 keys identically');

$t2->stop;
$t2->done;
$t->done;

done_testing;
