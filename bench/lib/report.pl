#!/usr/bin/perl
# The report of bench/run: reads the run directory (facts.tsv, the wrk
# outputs, the callgrind profiles) and writes bench/results/bench-DATE.md and
# .json; prints the Markdown.
#
#   report.pl RUN_DIR RESULTS_DIR
use strict;
use warnings;
use JSON::PP ();
use List::Util qw(sum max min);

my ($run, $outdir) = @ARGV;
die "usage: $0 RUN_DIR RESULTS_DIR\n" unless defined $outdir;

# --- facts -----------------------------------------------------------------

my (%f, %fa);
open my $fh, '<', "$run/facts.tsv" or die "$run/facts.tsv: $!\n";
while (<$fh>) {
    chomp;
    my ($k, $v) = split /\t/, $_, 2;
    next unless defined $k;
    $v //= '';
    $f{$k} = exists $f{$k} && $k =~ /error/ ? "$f{$k}; $v" : $v;
    push @{ $fa{$k} }, $v;
}
close $fh;

my @ids = qw(c1 c2 c3 c4 c5);
my $nwf = $f{workflows} // 10000;
my %name = (
    c1 => 'stock nginx, proxy_pass (ceiling)',
    c2 => 'stock nginx, split_clients 95/5 + backup',
    c3 => 'ai_release, 1 workflow',
    c4 => "ai_release, " . commify($nwf) . " workflows",
    c5 => 'HAProxy, weights 95/5 + backup',
);

# --- helpers ----------------------------------------------------------------

sub commify {
    my ($n) = @_;
    return $n unless defined $n;
    my $s = sprintf '%.0f', $n;
    1 while $s =~ s/^(-?\d+)(\d{3})/$1,$2/;
    return $s;
}

sub median {
    my @v = sort { $a <=> $b } grep { defined } @_;
    return undef unless @v;
    return @v % 2 ? $v[$#v / 2] : ($v[@v / 2 - 1] + $v[@v / 2]) / 2;
}

sub to_ms {
    my ($v, $u) = @_;
    return $v / 1000 if $u eq 'us';
    return $v if $u eq 'ms';
    return $v * 1000 if $u eq 's';
    return $v * 60000 if $u eq 'm';
    return undef;
}

sub read_file {
    my ($p) = @_;
    open my $h, '<', $p or return undef;
    local $/;
    my $c = <$h>;
    close $h;
    return $c;
}

sub parse_wrk {
    my ($path) = @_;
    my $t = read_file($path);
    return undef unless defined $t;
    my %r = (non2xx => 0, connect => 0, read => 0, write => 0, timeout => 0);
    ($r{rps}) = $t =~ /^Requests\/sec:\s*([\d.]+)/m;
    ($r{requests}) = $t =~ /^\s*(\d+) requests in/m;
    if ($t =~ /^\s*Non-2xx or 3xx responses:\s*(\d+)/m) { $r{non2xx} = $1 }
    if ($t =~ /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/) {
        @r{qw(connect read write timeout)} = ($1, $2, $3, $4);
    }
    for my $p (qw(50 99)) {
        if ($t =~ /^\s*$p%\s+([\d.]+)(us|ms|s|m)\s*$/m) {
            $r{"p$p"} = to_ms($1, $2);
        }
    }
    $r{socket_errors} = $r{connect} + $r{read} + $r{write} + $r{timeout};
    $r{raw_error} = $t unless defined $r{rps};
    return \%r;
}

sub r1 { defined $_[0] ? sprintf('%.1f', $_[0]) : undef }
sub r2 { defined $_[0] ? sprintf('%.2f', $_[0]) : undef }
sub r3 { defined $_[0] ? sprintf('%.3f', $_[0]) : undef }
sub num { defined $_[0] ? $_[0] + 0 : undef }

# --- throughput -----------------------------------------------------------------

my $rounds = $f{rounds} // 0;

# throughput_of ID NAME: the rounds of contender ID (its wrk outputs and
# CPU times) and their medians; status 'ok', 'not run' or why it failed
sub throughput_of {
    my ($id, $name) = @_;
    my $status = $f{"$id.status"};
    my $e = { id => $id, name => $name, rounds => [] };
    if (!defined $status) {
        $e->{status} = 'not run';
        return $e;
    }
    if (my $sp = $f{"$id.split"}) {
        my %m = $sp =~ /model:(\S+?)=(\d+)/g;
        my $tot = sum(0, values %m);
        if ($tot) {
            $e->{split} = { map { $_ => $m{$_} + 0 } keys %m };
            $e->{canary_share} = ($m{'gpt-bench-canary-2026-11'} // 0) / $tot;
        }
    }
    if ($status ne 'ok') {
        $e->{status} = $status;
        return $e;
    }
    my @bad;
    for my $r (1 .. $rounds) {
        my $w = parse_wrk("$run/wrk/$id-r$r.txt");
        if (!$w || !defined $w->{rps} || !$w->{requests}) {
            push @bad, "round $r: wrk gave no result"
                . ($w && $w->{raw_error}
                   ? ' (' . substr(join(' ', split /\s+/, $w->{raw_error}), 0, 200) . ')' : '');
            next;
        }
        my $ticks = $f{"$id.r$r.cpu_ticks"};
        if (defined $ticks && $f{clk_tck} && $ticks > 0) {
            $w->{cpu_us} = $ticks / $f{clk_tck} * 1e6 / $w->{requests};
            $w->{busy} = $ticks / $f{clk_tck} / $f{duration};
        }
        push @{ $e->{rounds} }, $w;
        if ($w->{non2xx} || $w->{socket_errors}) {
            push @bad, "round $r: $w->{non2xx} non-2xx answers, socket errors "
                . "connect $w->{connect} read $w->{read} write $w->{write} "
                . "timeout $w->{timeout} (of $w->{requests} requests)";
        }
    }
    if (@bad) {
        $e->{status} = 'FAILED: ' . join('; ', @bad);
        return $e;
    }
    $e->{status} = 'ok';
    my @rps = map { $_->{rps} } @{ $e->{rounds} };
    $e->{rps_median} = median(@rps);
    $e->{rps_min} = min(@rps);
    $e->{rps_max} = max(@rps);
    $e->{p50_ms} = median(map { $_->{p50} } @{ $e->{rounds} });
    $e->{p99_ms} = median(map { $_->{p99} } @{ $e->{rounds} });
    $e->{cpu_us} = median(map { $_->{cpu_us} } @{ $e->{rounds} });
    $e->{busy} = median(map { $_->{busy} } @{ $e->{rounds} });
    $e->{requests} = sum(map { $_->{requests} } @{ $e->{rounds} });
    return $e;
}

my %c = map { ($_ => throughput_of($_, $name{$_})) } @ids;
for my $id (@ids) {
    my $e = $c{$id};
    $e->{rps_ratio} = $e->{rps_median} / $c{c1}{rps_median}
        if defined $e->{rps_median} && $c{c1}{rps_median};
    $e->{cpu_ratio} = $e->{cpu_us} / $c{c1}{cpu_us}
        if defined $e->{cpu_us} && $c{c1}{cpu_us};
}

# --- callgrind -----------------------------------------------------------------

my $N = $f{cg_requests} // 0;

sub cg_totals {
    my ($path) = @_;
    open my $h, '<', $path or return undef;
    my ($tot, $sum);
    while (<$h>) {
        $tot = $1 if /^totals:\s*(\d+)/;
        $sum = $1 if /^summary:\s*(\d+)/;
    }
    close $h;
    return $tot // $sum;
}

# function name => self Ir, from callgrind_annotate --inclusive=no output;
# the entries of one function (its code inlined from several files,
# recursion levels name'2) are added up
sub cg_functions {
    my ($path) = @_;
    my %fn;
    open my $h, '<', $path or return \%fn;
    my $in = 0;
    while (<$h>) {
        if (/^Ir\s+file:function/) { $in = 1; next }
        next unless $in;
        next unless /^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*?)\s*$/;
        my ($ir, $where) = ($1, $2);
        $ir =~ tr/,//d;
        my ($obj) = $where =~ /\s\[([^\]]*)\]$/;
        $where =~ s/\s+\[[^\]]*\]$//;
        my ($fn) = $where =~ /:([^:]+)$/ or next;
        $fn =~ s/'\d+$//;
        $fn =~ s/\.(?:part|isra|constprop|cold)\.\d+.*$//;
        if ($fn =~ /^0x/ && defined $obj) {
            (my $o = $obj) =~ s{.*/}{};
            $fn = "$fn ($o)";
        }
        $fn{$fn} += $ir;
    }
    close $h;
    return \%fn;
}

my $mod_re = qr/^(?:ngx_http_ai_release_|ai_release_)/;

# cg_pair G WITH WITHOUT N: from the profiles WITH.out and WITHOUT.out (and
# their .self.txt), a run with N requests and one with none, fills in G the
# totals, the instructions per request, each function's self cost per
# request (self) and the module's part of it; 0, with G->{error}, if a
# profile has no totals
sub cg_pair {
    my ($g, $with, $without, $n) = @_;
    my ($tn, $t0) = (cg_totals("$with.out"), cg_totals("$without.out"));
    if (!defined $tn || !defined $t0 || !$n) {
        $g->{error} = 'no totals in the callgrind output';
        return 0;
    }
    $g->{ir_total_n} = $tn;
    $g->{ir_total_0} = $t0;
    $g->{ir_per_request} = ($tn - $t0) / $n;
    my ($sn, $s0) = (cg_functions("$with.self.txt"),
                     cg_functions("$without.self.txt"));
    my %self = map { $_ => ($sn->{$_} - ($s0->{$_} // 0)) / $n } keys %$sn;
    $g->{self} = \%self;
    $g->{module_self_ir_per_request} = sum(0,
        grep { $_ > 0.05 } map { $self{$_} } grep { /$mod_re/ } keys %self);
    return 1;
}

# cg_measured G KEY ZKEY WITH WITHOUT N: cg_pair of a phase's run, if the
# facts KEY.cg and ZKEY.cg (the run without requests) say both ran; else
# G->{error} from their cg_error facts; 1 if measured
sub cg_measured {
    my ($g, $key, $zkey, $with, $without, $n) = @_;
    if (($f{"$key.cg"} // '') ne 'ok' || ($f{"$zkey.cg"} // '') ne 'ok') {
        $g->{error} = $f{"$key.cg_error"} // $f{"$zkey.cg_error"} // 'not run';
        return 0;
    }
    return cg_pair($g, $with, $without, $n);
}

# self_difference A B: function by function, A's self cost - B's, where
# they differ by 1 or more
sub self_difference {
    my ($sa, $sb) = @_;
    my %d;
    for my $fn (keys %{ { %$sa, %$sb } }) {
        my $v = ($sa->{$fn} // 0) - ($sb->{$fn} // 0);
        $d{$fn} = $v if abs($v) >= 1;
    }
    return \%d;
}

my %cg;
for my $id (qw(c1 c2 c3 c4)) {
    my $g = $cg{$id} = { id => $id };
    if (($f{"$id.cg"} // '') ne 'ok') {
        $g->{error} = $f{"$id.cg_error"} // 'not run';
        next;
    }
    cg_pair($g, "$run/cg/$id-$N", "$run/cg/$id-0", $N) or next;
    my %self = %{ $g->{self} };
    my @mod = grep { /$mod_re/ && $self{$_} > 0.05 } keys %self;
    $g->{module_functions} = [
        map { { function => $_, self => num(r1($self{$_})) } }
        sort { $self{$b} <=> $self{$a} } @mod
    ];
}
for my $id (qw(c1 c2 c3 c4)) {
    my $g = $cg{$id};
    next unless defined $g->{ir_per_request} && defined $cg{c1}{ir_per_request};
    $g->{ratio_c1} = $g->{ir_per_request} / $cg{c1}{ir_per_request};
}

# where contender 3 spends more than contender 1, function by function
my @diff;
if ($cg{c1}{self} && $cg{c3}{self}) {
    my %all = (%{ $cg{c1}{self} }, %{ $cg{c3}{self} });
    for my $fn (keys %all) {
        my $d = ($cg{c3}{self}{$fn} // 0) - ($cg{c1}{self}{$fn} // 0);
        push @diff, [$fn, $d] if abs($d) >= 1;
    }
    @diff = sort { $b->[1] <=> $a->[1] } @diff;
}

# --- applying the bundle: 1 KB and 64 KB bodies, with and without apply -------

# the runs: key, body size (small or large), the configuration of the run
# without requests (client_body_buffer_size default, or mem: the phase's)
my @apply_keys = (
    [small => small => 'default'],
    [large => large => 'default'],
    [mem   => large => 'mem'],
);
my %apply;
my $apply_target = 4;        # instructions per body byte

for my $k (@apply_keys) {
    my ($key, $size, $zero) = @$k;
    my $bytes = $f{"apply.${size}_bytes"};
    my $n = $f{"apply.${size}_n"};
    next unless defined $n && defined $bytes
        && grep { defined $f{"apply.$key.$_"} }
                map { ("$_.cg", "$_.cg_error") } qw(apply noapply);
    my $a = $apply{$key} = {
        body_bytes => num($bytes), requests => num($n),
        client_body_buffer_size => $zero eq 'mem' ? $f{'apply.buffer'}
            : 'default (' . (2 * ($f{'apply.page_size'} // 4096) / 1024) . 'k)',
    };
    if (my $ap = $f{"apply.$key.applied"}) {
        my ($from, $to) = $ap =~ /(\d+) -> (\d+)/;
        $a->{applied_bytes} = num($to) if defined $to;
    }
    for my $mode (qw(noapply apply)) {
        my $r = $a->{$mode} = {};
        $r->{to_file} = num($f{"apply.$key.$mode.to_file"});
        cg_measured($r, "apply.$key.$mode", "apply.zero.$mode-$zero",
                    "$run/cg/apply-$key-$mode",
                    "$run/cg/apply-zero-$mode-$zero", $n);
    }
    if (defined $a->{apply}{ir_per_request} && defined $a->{noapply}{ir_per_request}) {
        $a->{ir_difference} = $a->{apply}{ir_per_request} - $a->{noapply}{ir_per_request};
        $a->{ir_per_body_byte} = $a->{ir_difference} / $bytes if $bytes;
        # function by function, with apply - without
        $a->{self_difference} = self_difference($a->{apply}{self},
                                                $a->{noapply}{self});
    }
}

# between the two sizes, both bodies in memory: the cost of one more byte,
# and what is left for each request whatever its size
my %apply_slope;
if ($apply{small} && $apply{mem} && defined $apply{small}{ir_difference}
    && defined $apply{mem}{ir_difference}
    && $apply{mem}{body_bytes} != $apply{small}{body_bytes})
{
    my ($s, $m) = ($apply{small}, $apply{mem});
    $apply_slope{ir_per_byte} = ($m->{ir_difference} - $s->{ir_difference})
                              / ($m->{body_bytes} - $s->{body_bytes});
    $apply_slope{ir_fixed} = $s->{ir_difference}
                           - $apply_slope{ir_per_byte} * $s->{body_bytes};
}

# --- checking output contracts: a 1 KB answer and a 100-event stream ------------

# cg_graph PATH: the call graph of a callgrind profile (one event, Ir):
# { self => { FN => Ir }, calls => { FN => { CALLEE => inclusive Ir } } };
# names as cg_functions gives them (an address gets its object's name)
sub cg_graph {
    my ($path) = @_;
    my (%name, %obj, %self, %calls);
    open my $h, '<', $path or return undef;
    my ($ob, $fn, $cob, $callee, $in_call) = ('', undef, undef, undef, 0);
    my $resolve = sub {
        my ($map, $v) = @_;
        my ($id, $n) = $v =~ /^\((\d+)\)(?:\s+(.*))?$/ or return $v;
        $map->{$id} = $n if defined $n;
        return $map->{$id} // "($id)";
    };
    my $fname = sub {
        my ($n, $o) = @_;
        $n =~ s/\.(?:part|isra|constprop|cold)\.\d+.*$//;
        if ($n =~ /^0x/ && $o ne '') {
            (my $b = $o) =~ s{.*/}{};
            $n = "$n ($b)";
        }
        return $n;
    };
    while (<$h>) {
        chomp;
        if (/^ob=(.*)/) { $ob = $resolve->(\%obj, $1); next }
        if (/^fn=(.*)/) {
            $fn = $fname->($resolve->(\%name, $1), $ob);
            ($cob, $callee, $in_call) = (undef, undef, 0);
            next;
        }
        if (/^cob=(.*)/) { $cob = $resolve->(\%obj, $1); next }
        if (/^cfn=(.*)/) {
            $callee = $fname->($resolve->(\%name, $1), $cob // $ob);
            next;
        }
        if (/^calls=/) { $in_call = 1; next }
        next unless defined $fn;
        if (/^(?:[+-]?\d+|\*)\s+(\d+)\s*$/) {
            if ($in_call) {
                $calls{$fn}{$callee} += $1;
                ($cob, $callee, $in_call) = (undef, undef, 0);
            } else {
                $self{$fn} += $1;
            }
        }
    }
    close $h;
    return { self => \%self, calls => \%calls };
}

my %contract;
my $contract_target = 4;     # instructions per answer byte
my $glue_re = qr/^ngx_http_ai_release_contract_/;
my $core_re = qr/^ai_release_/;
my @contract_kinds = (
    [json => 'a 1 KB chat completion'],
    [sse  => 'a 100-event chat completion stream'],
);
my @contract_modes = (
    [none     => 'no bundle of the configuration has a contract'],
    [other    => 'another workflow\'s bundles have one, the measured workflow\'s not'],
    [contract => 'the measured workflow\'s bundles have an observed contract'],
);

for my $k (@contract_kinds) {
    my ($kind, $what) = @$k;
    my $bytes = $f{"contract.${kind}_bytes"};
    my $n = $f{"contract.${kind}_n"};
    next unless defined $n && defined $bytes
        && grep { defined $f{"contract.$_->[0].$kind.cg"}
                  || defined $f{"contract.$_->[0].$kind.cg_error"} } @contract_modes;
    my $c = $contract{$kind} = {
        answer => $what, answer_bytes => num($bytes), requests => num($n),
    };
    $c->{events} = num($f{'contract.sse_events'}) if $kind eq 'sse';
    my %graph;
    for my $m (@contract_modes) {
        my $mode = $m->[0];
        my $r = $c->{$mode} = {};
        if (my $v = $f{"contract.$mode.verdicts"}) {
            ($r->{verdicts}) = $v =~ /(?:^|, )$kind ([^,]*)/;
        }
        cg_measured($r, "contract.$mode.$kind", "contract.$mode.zero",
                    "$run/cg/contract-$mode-$kind",
                    "$run/cg/contract-$mode-zero", $n) or next;
        # what the client got: every answer whole
        my $cl = $f{"contract.$mode.$kind.client"} // '';
        my ($got) = $cl =~ /body_bytes=(\d+)/;
        $r->{answer_bytes_received} = num($got);
        $r->{error} = 'the client got ' . ($got // 'an unknown number of')
                    . " bytes of answers, not $n x $bytes"
            if !defined $got || $got != $n * $bytes;
        $graph{$mode} = cg_graph("$run/cg/contract-$mode-$kind.out");
    }
    my ($none, $other, $with) = map { $c->{$_}{ir_per_request} } qw(none other contract);
    if (defined $none && defined $with) {
        $c->{ir_added} = $with - $none;
        $c->{ir_added_per_answer_byte} = $c->{ir_added} / $bytes;
        $c->{ir_added_per_event} = $c->{ir_added} / $c->{events} if $c->{events};
        $c->{self_difference} = self_difference($c->{contract}{self},
                                                $c->{none}{self});
    }
    if (defined $none && defined $other) {
        $c->{ir_other_minus_none} = $other - $none;
        $c->{other_ratio_none} = $other / $none if $none;
    }
    # the contract code's own cost in the contract run: the glue's self
    # cost, and what the glue calls, except the next filters (the glue's
    # callees in the run where the workflow has no contract: there it does
    # nothing else); the checker is the part spent in the core
    my $g = $graph{contract} or next;
    my %next;
    if (my $o = $graph{other}) {
        for my $fn (grep { /$glue_re/ } keys %{ $o->{calls} }) {
            $next{$_} = 1 for grep { !/$glue_re/ } keys %{ $o->{calls}{$fn} };
        }
    }
    my ($glue_self, $checker, $helpers, $next_cost) = (0, 0, 0, 0);
    my %callee;
    for my $fn (grep { /$glue_re/ } keys %{ { %{ $g->{self} }, %{ $g->{calls} } } }) {
        $glue_self += $g->{self}{$fn} // 0;
        for my $to (keys %{ $g->{calls}{$fn} || {} }) {
            next if $to =~ /$glue_re/;
            my $v = $g->{calls}{$fn}{$to};
            if ($next{$to}) { $next_cost += $v; next }
            $callee{$to} += $v;
            if ($to =~ /$core_re/) { $checker += $v } else { $helpers += $v }
        }
    }
    $c->{own} = {
        glue_self => $glue_self / $n, checker => $checker / $n,
        helpers => $helpers / $n, total => ($glue_self + $checker + $helpers) / $n,
        next_filters => [ sort keys %next ],
        callees => { map { $_ => $callee{$_} / $n } keys %callee },
    };
    # each contract function: self and inclusive per request
    my %fns;
    for my $fn (grep { /^(?:ngx_http_)?ai_release_contract_/ && !/'/ }
                keys %{ { %{ $g->{self} }, %{ $g->{calls} } } })
    {
        my $incl = ($g->{self}{$fn} // 0)
                 + sum(0, values %{ $g->{calls}{$fn} || {} });
        $fns{$fn} = { self => ($g->{self}{$fn} // 0) / $n, inclusive => $incl / $n };
    }
    $c->{functions} = \%fns;
    # the glue's cost where the workflow has no contract: its lookups
    if (my $o = $graph{other}) {
        $c->{other_glue_self} = sum(0, map { $o->{self}{$_} }
                                       grep { /$glue_re/ } keys %{ $o->{self} }) / $n;
    }
}

# --- behaviour signals: the same answers, read for signals instead -----------------

my %signals;
for my $k (@contract_kinds) {
    my ($kind, $what) = @$k;
    my $bytes = $f{"contract.${kind}_bytes"};
    my $n = $f{"contract.${kind}_n"};
    my $none = $contract{$kind} && $contract{$kind}{none};
    next unless defined $n && defined $bytes && $none
        && defined $none->{ir_per_request};
    my $c = $signals{$kind} = { answer => $what, answer_bytes => num($bytes) };
    for my $mode (qw(signals signals-other)) {
        my $r = $c->{$mode} = {};
        cg_measured($r, "contract.$mode.$kind", "contract.$mode.zero",
                    "$run/cg/contract-$mode-$kind",
                    "$run/cg/contract-$mode-zero", $n) or next;
        my $cl = $f{"contract.$mode.$kind.client"} // '';
        my ($got) = $cl =~ /body_bytes=(\d+)/;
        $r->{error} = 'the client got ' . ($got // 'an unknown number of')
                    . " bytes of answers, not $n x $bytes"
            if !defined $got || $got != $n * $bytes;
    }
    my ($with, $other) = map { $c->{$_}{ir_per_request} } qw(signals signals-other);
    my $base = $none->{ir_per_request};
    if (defined $with) {
        $c->{ir_added} = $with - $base;
        $c->{ir_added_per_answer_byte} = $c->{ir_added} / $bytes;
        my $ev = $f{'contract.sse_events'};
        $c->{ir_added_per_event} = $c->{ir_added} / $ev if $kind eq 'sse' && $ev;
    }
    if (defined $other) {
        $c->{ir_other_minus_none} = $other - $base;
        $c->{other_ratio_none} = $other / $base if $base;
    }
}
my %scale_signals;
if (my $z = $f{'scale_signals.zone'}) {
    my %z = $z =~ /(\w+)=(\S*)/g;
    %scale_signals = (workflows => num($f{'scale_signals.workflows'}),
                      zone_used => num($z{used}), slots => num($z{slots}));
    $scale_signals{bytes_per_slot} = num(r1($z{used} / $z{slots})) if $z{slots};
}
$scale_signals{error} = $f{'scale_signals.error'} if $f{'scale_signals.error'};

# --- shadow traffic: 10% of the requests copied to a shadow bundle ---------------

# shadow_status PATH: from a status JSON (one workflow), the requests its
# served bundles counted and its shadow bundle's counts; undef if there is
# no file, {error} if it says nothing of a shadow
sub shadow_status {
    my ($path) = @_;
    my $t = read_file($path);
    return undef unless defined $t;
    my $j = eval { JSON::PP->new->decode($t) };
    return { error => 'not JSON: ' . substr($t, 0, 200) } unless $j;
    my %r = (served => 0);
    for my $b (map { @{ $_->{bundles} || [] } } @{ $j->{workflows} || [] }) {
        if (($b->{role} // '') ne 'shadow') {
            $r{served} += $b->{totals}{total} // 0;
            next;
        }
        my $s = $b->{shadow} or next;
        $r{$_} = $s->{$_} for qw(mirrored in_flight max_in_flight skipped);
        $r{bundle} = $b->{bundle};
        $r{answered} = $b->{totals}{total};
        $r{pairs_compared} = $s->{pairs}{compared};
        $r{unpaired} = $s->{pairs}{unpaired};
    }
    return { error => "no shadow bundle in $path" } unless defined $r{mirrored};
    $r{share} = $r{mirrored} / $r{served} if $r{served};
    return \%r;
}

my @shadow_ids = (['shadow-none' => 'none'], ['shadow-10' => '10% shadow']);
my %shadow;
if (grep { my $id = $_->[0]; grep { defined $f{"$id.$_"} } qw(status cg cg_error) }
    @shadow_ids) {
    my $n = $f{'shadow.cg_requests'} // $N;
    for my $x (@shadow_ids) {
        my ($id, $label) = @$x;
        my $g = { id => $id };
        cg_measured($g, $id, $id, "$run/cg/$id-$n", "$run/cg/$id-0", $n);
        $shadow{$id} = { label => $label, throughput => throughput_of($id, $label),
                         cg => $g };
    }
    my ($none, $with) = map { $shadow{$_->[0]} } @shadow_ids;
    my %ratio;
    for my $k (qw(rps_median p50_ms p99_ms cpu_us)) {
        my ($a, $b) = ($with->{throughput}{$k}, $none->{throughput}{$k});
        $ratio{$k} = $a / $b if defined $a && $b;
    }
    my ($ia, $ib) = ($with->{cg}{ir_per_request}, $none->{cg}{ir_per_request});
    if (defined $ia && defined $ib) {
        $ratio{ir_per_request} = $ia / $ib;
        $shadow{ir_added} = $ia - $ib;
        $shadow{self_difference} = self_difference($with->{cg}{self},
                                                   $none->{cg}{self});
    }
    $shadow{ratio} = \%ratio;
    $shadow{requests} = $n;
    $shadow{percent} = $f{'shadow.percent'};
    $shadow{status_cg} = shadow_status("$run/cg/shadow-10-$n/status.json");
    $shadow{status_rounds} = $f{'shadow.rounds_status_error'}
        ? { error => $f{'shadow.rounds_status_error'} }
        : shadow_status("$run/shadow-10/status-rounds.json");
    # what one copy costs: the instructions added, over the copies made
    my $m = $shadow{status_cg} && $shadow{status_cg}{mirrored};
    $shadow{ir_per_copy} = $shadow{ir_added} * $n / $m
        if $m && defined $shadow{ir_added};
}

# --- scale -----------------------------------------------------------------------

my @scale;
my %pts;
for my $k (keys %f) {
    $pts{$1} = 1 if $k =~ /^scale\.(\d+)\./;
}
for my $n (sort { $a <=> $b } keys %pts) {
    my %s = (workflows => $n + 0, bundles => 3 * $n, slots => undef);
    $s{error} = $f{"scale.$n.error"} if $f{"scale.$n.error"};
    $s{zone_conf} = $f{"scale.$n.zone_conf"};
    $s{manifest_bytes} = num($f{"scale.$n.manifest_bytes"});
    if (my $t = $f{"scale.$n.t_ms"}) {
        my @t = split ' ', $t;
        $s{nginx_t_ms} = num(r1(median(@t)));
        $s{nginx_t_ms_all} = [map { $_ + 0 } @t];
    }
    $s{start_ms} = num($f{"scale.$n.start_ms"});
    for my $w (qw(master worker worker_after_status)) {
        my $m = $f{"scale.$n.mem_$w"} or next;
        my (undef, $rss, $shm) = split ' ', $m;
        $s{"${w}_rss_kb"} = num($rss);
        $s{"${w}_shmem_kb"} = num($shm);
    }
    if (my $z = $f{"scale.$n.zone"}) {
        my %z = $z =~ /(\w+)=(\S*)/g;
        $s{zone_size} = num($z{size});
        $s{zone_used} = num($z{used});
        $s{slots} = num($z{slots});
        $s{bytes_per_slot} = num(r1($z{used} / $z{slots})) if $z{slots};
    }
    $s{status_ms} = num($f{"scale.$n.status_ms"});
    push @scale, \%s;
}
my ($big) = grep { $_->{workflows} == $nwf } @scale;

# the reloads under load: KEY is "reload" (the module, the largest scale
# point) or "reload_stock" (stock nginx, the control)
sub reload_info {
    my ($key) = @_;
    my %r;
    my @ms;
    for my $line (@{ $fa{"$key.result"} || [] }) {
        my %v = $line =~ /(\w+)=(\S+)/g;
        push @ms, $v{reload_ms} + 0 if defined $v{reload_ms};
    }
    $r{error} = $f{"$key.error"} if $f{"$key.error"};
    return \%r unless @ms;
    $r{reloads} = scalar @ms;
    $r{reload_ms_all} = \@ms;
    $r{reload_ms_median} = num(r1(median(@ms)));
    $r{reload_ms_max} = max(@ms);
    my $w = parse_wrk("$run/wrk/$key.txt");
    if ($w && defined $w->{requests}) {
        $r{$_} = num($w->{$_})
            for qw(requests rps non2xx connect read write timeout socket_errors);
        $r{dropped} = $w->{non2xx} + $w->{socket_errors};
    } else {
        $r{error} = 'wrk gave no result during the reloads';
    }
    $r{load_seconds} = num($f{"$key.wrk_seconds"});
    $r{log} = $f{"$key.log"} if $f{"$key.log"};
    return \%r;
}
my %reload = %{ reload_info('reload') };
my %reload_stock = %{ reload_info('reload_stock') };

# --- targets ----------------------------------------------------------------------

my @targets;
sub target {
    my ($what, $goal, $measured, $met, $why, $doubt) = @_;
    my $verdict = defined $met ? ($met ? 'met' : 'NOT met') : 'not measured';
    if (defined $met && $doubt) {
        $measured .= " ($doubt)";
        $verdict = 'inconclusive';
    }
    push @targets, {
        target => $what, goal => $goal,
        measured => $measured // ($why // 'not measured'),
        met => defined $met && !$doubt
               ? ($met ? JSON::PP::true : JSON::PP::false) : undef,
        verdict => $verdict,
    };
}

# req/s compares proxies only when they were the bottleneck: busy_doubt_of
# [LABEL, ENTRY]... says why not, if one was busy less than 80% of the time
sub busy_doubt_of {
    my @low = grep { defined $_->[1]{busy} && $_->[1]{busy} < 0.8 } @_;
    return undef unless @low;
    return 'the proxy was not the bottleneck: its core was busy '
         . join(', ', map { sprintf '%.0f%% (%s)', 100 * $_->[1]{busy}, $_->[0] } @low)
         . ' of the time; compare CPU µs/request instead';
}

# busy_doubt ID...: the same of contenders
sub busy_doubt {
    return busy_doubt_of(map { ['#' . substr($_, 1), $c{$_}] } @_);
}

{
    my ($a, $b) = ($cg{c3}{ir_per_request}, $cg{c1}{ir_per_request});
    if (defined $a && defined $b) {
        my $r = $a / $b;
        target('instructions/request, ai_release (3) vs stock proxy_pass (1)',
               '<= 1.03x', sprintf('%.3fx (%s vs %s)', $r, commify($a), commify($b)),
               $r <= 1.03);
    } else {
        target('instructions/request, ai_release (3) vs stock proxy_pass (1)',
               '<= 1.03x', undef, undef, $cg{c3}{error} // $cg{c1}{error});
    }
}
{
    my ($m3, $m1, $m2) = map { $c{$_}{rps_median} } qw(c3 c1 c2);
    if (defined $m3 && defined $m1) {
        target('req/s median, ai_release (3) vs stock proxy_pass (1)', '>= 97%',
               sprintf('%.1f%%', 100 * $m3 / $m1), $m3 >= 0.97 * $m1, undef,
               busy_doubt(qw(c1 c3)));
    } else {
        target('req/s median, ai_release (3) vs stock proxy_pass (1)', '>= 97%',
               undef, undef, "contender 3 or 1: " . ($c{c3}{status} // '') . ' / '
                             . ($c{c1}{status} // ''));
    }
    if (defined $m3 && defined $m2) {
        target('req/s median, ai_release (3) vs split_clients (2)', '>= 100%',
               sprintf('%.1f%%', 100 * $m3 / $m2), $m3 >= $m2, undef,
               busy_doubt(qw(c2 c3)));
    } else {
        target('req/s median, ai_release (3) vs split_clients (2)', '>= 100%',
               undef, undef, "contender 3 or 2 did not give a number");
    }
    my ($u3, $u1, $u2) = map { $c{$_}{cpu_us} } qw(c3 c1 c2);
    if (defined $u3 && defined $u1 && defined $u2) {
        push @targets, {
            target => 'CPU µs/request, ai_release (3) vs stock proxy_pass (1) '
                    . 'and split_clients (2)',
            goal => '(no target; for reference)',
            measured => sprintf('%.3fx #1, %.3fx #2', $u3 / $u1, $u3 / $u2),
            met => undef, verdict => '-',
        };
    }
}
{
    my ($a, $b) = ($cg{c4}{ir_per_request}, $cg{c3}{ir_per_request});
    if (defined $a && defined $b) {
        my $r = $a / $b;
        target("instructions/request, " . commify($nwf) . " workflows (4) vs 1 (3)",
               'within 2%', sprintf('%+.2f%%', 100 * ($r - 1)), abs($r - 1) <= 0.02);
    } else {
        target("instructions/request, " . commify($nwf) . " workflows (4) vs 1 (3)",
               'within 2%', undef, undef, $cg{c4}{error} // $cg{c3}{error});
    }
}
for my $key (map { $_->[0] } @apply_keys) {
    my $a = $apply{$key} or next;
    my $nf = $a->{noapply}{to_file};
    my $af = $a->{apply}{to_file};
    my $n = $a->{requests};
    my $where = !defined $nf ? 'unknown'
        : $nf == 0 && ($af // 0) == 0 ? 'memory'
        : $nf >= $n && ($af // 0) >= $n ? 'temporary file'
        : "temporary file for $nf (without apply) and " . ($af // '?')
          . " (with apply) of $n requests";
    $a->{body_held_in} = $where;
    my $what = sprintf('apply, instructions per body byte (apply - without) / '
        . 'body, %s-byte body in %s', commify($a->{body_bytes}), $where);
    if (defined $a->{ir_per_body_byte}) {
        target($what, "<= $apply_target",
               sprintf('%.2f (%s - %s = %s per request / %s bytes)',
                       $a->{ir_per_body_byte}, commify($a->{apply}{ir_per_request}),
                       commify($a->{noapply}{ir_per_request}),
                       commify($a->{ir_difference}), commify($a->{body_bytes})),
               $a->{ir_per_body_byte} <= $apply_target);
    } else {
        target($what, "<= $apply_target", undef, undef,
               $a->{apply}{error} // $a->{noapply}{error});
    }
}

for my $kind (map { $_->[0] } @contract_kinds) {
    my $c = $contract{$kind} or next;
    my $what = sprintf('output contract (observe), instructions per answer byte '
        . '(with - without) / answer, %s of %s bytes', $c->{answer},
        commify($c->{answer_bytes}));
    my $err = $c->{contract}{error} // $c->{none}{error};
    if (defined $c->{ir_added_per_answer_byte} && !($err && $err ne 'not run')) {
        target($what, "<= $contract_target",
               sprintf('%.2f (%s - %s = %s per request / %s bytes)',
                       $c->{ir_added_per_answer_byte},
                       commify($c->{contract}{ir_per_request}),
                       commify($c->{none}{ir_per_request}),
                       commify($c->{ir_added}), commify($c->{answer_bytes})),
               $c->{ir_added_per_answer_byte} <= $contract_target);
    } else {
        target($what, "<= $contract_target", undef, undef, $err);
    }
}
# the cost of a workflow without a feature when another workflow has it:
# other_target(\%RESULTS, TARGET TEXT, GOAL TEXT)
sub other_target {
    my ($res, $what, $goal) = @_;
    my @m;
    for my $kind (map { $_->[0] } @contract_kinds) {
        my $c = $res->{$kind} or next;
        next unless defined $c->{ir_other_minus_none};
        push @m, sprintf('%s: %+.0f (%.4fx)', $kind, $c->{ir_other_minus_none},
                         $c->{other_ratio_none});
    }
    my $j = $res->{json};
    if (@m && $j && defined $j->{ir_other_minus_none}
        && defined $cg{c3}{ir_per_request} && $cg{c1}{ir_per_request})
    {
        push @m, sprintf('contender 3 with the json difference added: %.3fx',
            ($cg{c3}{ir_per_request} + $j->{ir_other_minus_none})
            / $cg{c1}{ir_per_request});
    }
    push @targets, {
        target => $what, goal => $goal,
        measured => join('; ', @m), met => undef, verdict => '-',
    } if @m;
}
other_target(\%contract, 'output contracts: instructions/request of a workflow '
             . 'without a contract when another workflow has one, vs none has one',
             '(no target of its own; the 1.03x budget of contender 3)');

for my $kind (map { $_->[0] } @contract_kinds) {
    my $c = $signals{$kind} or next;
    my $err = $c->{signals}{error};
    push @targets, {
        target => sprintf('behaviour signals, instructions added per answer '
                          . '(signals - none), %s of %s bytes', $c->{answer},
                          commify($c->{answer_bytes})),
        goal => '(measured; no target of its own)',
        measured => defined $c->{ir_added} && !$err
            ? sprintf('%s per request, %.2f per answer byte%s', commify($c->{ir_added}),
                      $c->{ir_added_per_answer_byte},
                      defined $c->{ir_added_per_event}
                      ? sprintf(', %.0f per event', $c->{ir_added_per_event}) : '')
            : ($err // 'not run'),
        met => undef, verdict => '-',
    };
}
other_target(\%signals, 'behaviour signals: instructions/request of a workflow '
             . 'without signals when another workflow reads them, vs none does',
             '(the 1.03x budget of contender 3)');
if (defined $scale_signals{bytes_per_slot}) {
    target('shared memory per slot, every workflow reading behaviour signals ('
           . commify($scale_signals{workflows}) . ' workflows)', '< 4 KiB (4096 B)',
           sprintf('%s B (%s used / %s slots)', commify($scale_signals{bytes_per_slot}),
                   commify($scale_signals{zone_used}), commify($scale_signals{slots})),
           $scale_signals{bytes_per_slot} < 4096);
} elsif (%scale_signals) {
    target('shared memory per slot with behaviour signals', '< 4 KiB', undef, undef,
           $scale_signals{error});
}

if ($big && defined $big->{nginx_t_ms}) {
    target('configuration load (nginx -t), ' . commify($nwf) . ' workflows',
           '< 2 s', sprintf('%.2f s', $big->{nginx_t_ms} / 1000),
           $big->{nginx_t_ms} < 2000);
} else {
    target('configuration load (nginx -t), ' . commify($nwf) . ' workflows',
           '< 2 s', undef, undef, $big && $big->{error});
}
if (defined $reload{dropped}) {
    my $ctl = defined $reload_stock{dropped}
        ? sprintf('; stock nginx, same load and reloads: %d', $reload_stock{dropped})
        : '';
    target('requests dropped by nginx -s reload under load, '
           . commify($nwf) . ' workflows', '0',
           sprintf('%d in %d reload(s) (non-2xx %d, socket errors %d, of %s requests)%s',
                   $reload{dropped}, $reload{reloads}, $reload{non2xx},
                   $reload{socket_errors}, commify($reload{requests}), $ctl),
           $reload{dropped} == 0);
} else {
    target('requests dropped by nginx -s reload under load', '0', undef, undef,
           $reload{error});
}
if ($big && defined $big->{bytes_per_slot}) {
    target('shared memory per slot', '< 4 KiB (4096 B)',
           sprintf('%s B (%s used / %s slots)', commify($big->{bytes_per_slot}),
                   commify($big->{zone_used}), commify($big->{slots})),
           $big->{bytes_per_slot} < 4096);
} else {
    target('shared memory per slot', '< 4 KiB', undef, undef,
           $big && $big->{error});
}

# --- output ------------------------------------------------------------------------

my $date = $f{date} // '';
(my $stamp = $date) =~ tr/-:TZ//d;
$stamp = substr($stamp, 0, 8) . '-' . substr($stamp, 8, 6) if length $stamp >= 14;
my $base = "bench-$stamp" . ($f{quick} ? '-quick' : '');

# difference_table WHAT EACH [LABEL, SELF_DIFFERENCE]...: the Markdown
# lines of a table of the functions whose self cost differs most, the 12
# largest differences of each column, ordered by the last column's
sub difference_table {
    my ($what, $each, @cols) = @_;
    my %top;
    for my $c (@cols) {
        my $d = $c->[1];
        my @f = sort { abs($d->{$b}) <=> abs($d->{$a}) } keys %$d;
        splice @f, 12 if @f > 12;
        $top{$_} = 1 for @f;
    }
    my $dby = $cols[-1][1];
    my @fns = sort { abs($dby->{$b} // 0) <=> abs($dby->{$a} // 0) } keys %top;
    my @l = ("Where the difference goes: $what, function by function (self "
             . 'cost, instructions per request; the 12 largest of each '
             . "$each):", '');
    push @l, '| function | ' . join(' | ', map { $_->[0] } @cols) . ' |';
    push @l, '|---|' . ('---:|' x @cols);
    for my $fn (@fns) {
        push @l, "| $fn | " . join(' | ', map {
            my $v = $_->[1]{$fn};
            defined $v ? ($v < 0 ? '-' : '+') . commify(abs $v) : '-'
        } @cols) . ' |';
    }
    return (@l, '');
}

my @md;
push @md, "# ngx_ai_release benchmark, $date" . ($f{quick} ? ' (BENCH_QUICK smoke run)' : ''), '';
push @md, "Machine: $f{cores} cores ($f{cpu_model}), $f{kernel}; "
        . "load average $f{loadavg_start} at the start, $f{loadavg_end} at the end.  ";
push @md, "Software: nginx $f{nginx_version}, ngx_ai_release $f{module_version} "
        . "(git $f{git}), $f{haproxy_version}, $f{wrk_version}, $f{valgrind_version}.  ";
push @md, "Load: wrk -c $f{connections} -t $f{threads}, POST of a 302-byte chat "
        . "request with a different X-User-Id each; $f{rounds} interleaved round(s) "
        . "of $f{duration} s after a $f{warmup} s warm-up each. Proxies on core "
        . "$f{proxy_cpu}, model servers and wrk on core $f{load_cpu}."
        . (!grep({ defined $cg{$_}{ir_per_request} } keys %cg) ? '' : " Instructions: callgrind on nginx in single-process mode, (count with "
        . "$f{cg_requests} POSTs on one keep-alive connection - count with none) / "
        . "$f{cg_requests}"
        . ($f{cg_toggle} ? ", counted inside $f{cg_toggle}() only (so no configuration "
                           . "parsing, start-up or shutdown)" : '') . '.'), '';

# the contenders' table, unless only the apply phase ran
my @notes;
if (grep { $c{$_}{status} ne 'not run' || defined $cg{$_}{ir_per_request}
           || ($cg{$_}{error} // 'not run') ne 'not run' } @ids) {
    push @md, '| # | Contender | canary share | req/s median | spread (min-max) | vs #1 | p50 ms | p99 ms | proxy busy | CPU µs/request | vs #1 | instructions/request | vs #1 | in the module\'s functions |';
    push @md, '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
    my $i = 0;
    for my $id (@ids) {
        $i++;
        my $e = $c{$id};
        my $g = $cg{$id} // {};
        my @row = ($i, $e->{name},
                   defined $e->{canary_share} ? sprintf('%.1f%%', 100 * $e->{canary_share}) : '-');
        if ($e->{status} eq 'ok') {
            push @row, commify($e->{rps_median}),
                commify($e->{rps_min}) . ' - ' . commify($e->{rps_max}),
                defined $e->{rps_ratio} ? sprintf('%.3f', $e->{rps_ratio}) : '-',
                defined $e->{p50_ms} ? sprintf('%.2f', $e->{p50_ms}) : '-',
                defined $e->{p99_ms} ? sprintf('%.2f', $e->{p99_ms}) : '-',
                defined $e->{busy} ? sprintf('%.0f%%', 100 * $e->{busy}) : '-',
                defined $e->{cpu_us} ? sprintf('%.2f', $e->{cpu_us}) : '-',
                defined $e->{cpu_ratio} ? sprintf('%.3f', $e->{cpu_ratio}) : '-';
        } else {
            my $st = $e->{status} =~ /^FAILED/ ? 'FAILED' : $e->{status};
            push @row, "**$st**", '-', '-', '-', '-', '-', '-', '-';
            push @notes, "Contender $i ($e->{name}): $e->{status}";
        }
        if (defined $g->{ir_per_request}) {
            push @row, commify($g->{ir_per_request}),
                sprintf('%.3f', $g->{ratio_c1} // 0),
                ($id =~ /^c[34]$/ ? commify($g->{module_self_ir_per_request}) : '-');
        } else {
            push @row, '-', '-', '-';
            push @notes, "Contender $i: instructions not measured: $g->{error}"
                if $g->{error} && $g->{error} ne 'not run';
        }
        push @md, '| ' . join(' | ', @row) . ' |';
    }
    push @md, '';
    push @md, "Canary share: of 2,000 users (one request each, before the rounds), "
            . "the share the canary model server answered. CPU µs/request: user + system "
            . "CPU time of the proxy's worker process (HAProxy's process) during a round, "
            . "divided by the requests of the round, median of the rounds; it depends "
            . "less than req/s on what else the machine runs. Proxy busy: that CPU time "
            . "as a share of the round's duration; well below 100%, the proxy was not "
            . "the bottleneck and req/s measures the load generator's core or the "
            . "machine's other load more than the proxy. Contender 5 (HAProxy) is not "
            . "run under callgrind: its instruction count is not comparable to nginx's.", '';
    push @md, map { "* $_" } @notes;
    push @md, '' if @notes;
}

push @md, '## Targets', '';
push @md, '| Target | Goal | Measured | |', '|---|---|---|---|';
push @md, map { "| $_->{target} | $_->{goal} | $_->{measured} | **$_->{verdict}** |" } @targets;
push @md, '';

if (%apply) {
    my ($sb, $lb) = map { $f{"apply.${_}_bytes"} } qw(small large);
    push @md, '## Applying the bundle to the request body', '';
    push @md, 'One workflow (contender 3\'s) whose three bundles have a model, '
        . 'system instructions, two tools and params (temperature, max_tokens), '
        . 'with `format openai-chat; apply model system_instructions tools '
        . 'params;` and without either, the same configuration otherwise. '
        . 'Each run: callgrind on nginx in single-process mode, (count with N '
        . 'POSTs on one keep-alive connection - count with none) / N'
        . ($f{cg_toggle} ? ", counted inside $f{cg_toggle}() only" : '') . '. '
        . sprintf('The bodies are chat conversations of exactly %s and %s bytes '
                  . '(a system message, user and assistant turns, a last user '
                  . 'turn filling it to the size, temperature, max_tokens: '
                  . '`bench/lib/client.pl body BYTES`); ', commify($sb), commify($lb))
        . 'the module replaces the model, the system message, temperature and '
        . 'max_tokens and inserts the tools, so the model server gets '
        . join(' and ', map { sprintf '%s bytes for %s', commify($apply{$_}{applied_bytes}),
                              commify($apply{$_}{body_bytes}) }
                        grep { $apply{$_} && $apply{$_}{applied_bytes} } qw(small large))
        . '.', '';
    push @md, '| body | client_body_buffer_size | body held in | N | instructions/request without apply | with apply | apply - without | per body byte | in the module\'s functions, with apply | target <= ' . $apply_target . ' per byte |';
    push @md, '|---:|---|---|---:|---:|---:|---:|---:|---:|---|';
    my @anotes;
    for my $key (map { $_->[0] } @apply_keys) {
        my $a = $apply{$key} or next;
        my $cell = sub { defined $_[0] ? commify($_[0]) : '-' };
        push @md, '| ' . join(' | ',
            commify($a->{body_bytes}) . ' B', $a->{client_body_buffer_size},
            $a->{body_held_in}, commify($a->{requests}),
            $cell->($a->{noapply}{ir_per_request}), $cell->($a->{apply}{ir_per_request}),
            defined $a->{ir_difference}
                ? ($a->{ir_difference} >= 0 ? '+' : '') . commify($a->{ir_difference}) : '-',
            defined $a->{ir_per_body_byte} ? sprintf('%.2f', $a->{ir_per_body_byte}) : '-',
            $cell->($a->{apply}{module_self_ir_per_request}),
            defined $a->{ir_per_body_byte}
                ? ($a->{ir_per_body_byte} <= $apply_target ? 'met' : '**NOT met**') : '-',
        ) . ' |';
        for my $mode (qw(noapply apply)) {
            my $e = $a->{$mode}{error};
            push @anotes, sprintf('%s B, %s, %s: not measured: %s', commify($a->{body_bytes}),
                $a->{client_body_buffer_size}, $mode, $e) if $e && $e ne 'not run';
        }
    }
    push @md, '';
    push @md, map { "* $_" } @anotes;
    push @md, '' if @anotes;
    if (defined $apply_slope{ir_per_byte}) {
        push @md, sprintf('Between the two sizes, both in memory: %.2f instructions '
            . 'per additional byte, and %s per request whatever its size '
            . '(apply - without = %s + %.2f x bytes).',
            $apply_slope{ir_per_byte}, commify($apply_slope{ir_fixed}),
            commify($apply_slope{ir_fixed}), $apply_slope{ir_per_byte}), '';
    }
    my @akeys = grep { $apply{$_} && $apply{$_}{self_difference} }
                map { $_->[0] } @apply_keys;
    push @md, difference_table('with apply - without', 'run',
        map { [sprintf('%s B, %s', commify($apply{$_}{body_bytes}),
                       $apply{$_}{body_held_in}),
               $apply{$_}{self_difference}] } @akeys) if @akeys;
    push @md, 'Per body byte: (with apply - without) / the client\'s body size. '
        . 'Body held in: where nginx kept the client\'s body, from its warning '
        . '"a client request body is buffered to a temporary file" in the '
        . 'error log of the runs (nginx\'s default client_body_buffer_size is two '
        . 'memory pages); a body in a file is copied with the edits into another '
        . 'temporary file, a body in memory becomes a chain of slices. The '
        . 'instructions of the system calls (the kernel\'s reads, writes and '
        . 'copies) are not counted. In the module\'s functions: the self cost of '
        . 'the functions named `ngx_http_ai_release_*` and `ai_release_*` (the '
        . 'JSON scanner among them), per request.', '';
}

if (%contract) {
    push @md, '## Checking output contracts', '';
    push @md, 'Two workflows, both with `format openai-chat;`, the load on the '
        . 'first; nginx with the module under callgrind as in the other phases, '
        . '(count with N POSTs on one keep-alive connection - count with none) / N'
        . ($f{cg_toggle} ? ", counted inside $f{cg_toggle}() only" : '') . '. '
        . 'The model servers answer every request with the same bytes: '
        . join(' and ', map { sprintf '%s (%s bytes)', $contract{$_}{answer},
                              commify($contract{$_}{answer_bytes}) }
                        grep { $contract{$_} } map { $_->[0] } @contract_kinds)
        . '. Three configurations: no bundle has an output contract (**none**); '
        . 'only the other workflow\'s bundles have one (**other**: the contract '
        . 'filters are installed, the measured workflow has no contract); the '
        . 'bundles of both have an observed contract (**contract**: status [200], '
        . 'max_bytes 64k, json, required /choices/0/message/content and /model, '
        . 'non_empty /choices/0/message/content, model_prefix, stream_end "[DONE]").', '';
    push @md, '| answer | bytes | N | none | other | other - none | contract | contract - none | per answer byte | contract code | of it the checker | target <= ' . $contract_target . ' per byte |';
    push @md, '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|';
    my @cnotes;
    my $cell = sub { defined $_[0] ? commify($_[0]) : '-' };
    my $signed = sub { defined $_[0] ? ($_[0] >= 0 ? '+' : '-') . commify(abs $_[0]) : '-' };
    for my $kind (map { $_->[0] } @contract_kinds) {
        my $c = $contract{$kind} or next;
        push @md, '| ' . join(' | ', $c->{answer}, commify($c->{answer_bytes}),
            commify($c->{requests}),
            $cell->($c->{none}{ir_per_request}), $cell->($c->{other}{ir_per_request}),
            $signed->($c->{ir_other_minus_none}),
            $cell->($c->{contract}{ir_per_request}), $signed->($c->{ir_added}),
            defined $c->{ir_added_per_answer_byte}
                ? sprintf('%.2f', $c->{ir_added_per_answer_byte}) : '-',
            $cell->($c->{own} && $c->{own}{total}),
            $cell->($c->{own} && $c->{own}{checker}),
            defined $c->{ir_added_per_answer_byte}
                ? ($c->{ir_added_per_answer_byte} <= $contract_target
                   ? 'met' : '**NOT met**') : '-',
        ) . ' |';
        for my $m (@contract_modes) {
            my $r = $c->{ $m->[0] };
            push @cnotes, sprintf('%s, %s: not measured: %s', $kind, $m->[0], $r->{error})
                if $r->{error} && $r->{error} ne 'not run';
        }
    }
    push @md, '';
    push @md, map { "* $_" } @cnotes;
    push @md, '' if @cnotes;
    my @v;
    for my $m (@contract_modes) {
        my @k = map { my $c = $contract{$_}; $c && defined $c->{$m->[0]}{verdicts}
                          ? "$_ $c->{$m->[0]}{verdicts}" : () }
                map { $_->[0] } @contract_kinds;
        push @v, "$m->[0]: " . join(', ', @k) if @k;
    }
    push @md, 'The verdicts, `$ai_release_contract` of 10 requests of each answer '
        . 'on nginx not under valgrind ("-": not checked): ' . join('; ', @v) . '.', ''
        if @v;
    my @own = grep { $contract{$_} && $contract{$_}{own} } map { $_->[0] } @contract_kinds;
    if (@own) {
        push @md, 'Contract code: what the contract filters (`ngx_http_ai_release_contract_*`) '
            . 'cost per request in the contract run with all they call except the '
            . 'filters after them: ' . join('; ', map {
                my $o = $contract{$_}{own};
                sprintf('%s %s = the filters\' own code %s + the checker %s '
                        . '(`ai_release_*`, with the JSON scanner and SSE parser) + '
                        . 'nginx and libc helpers %s', $_, commify($o->{total}),
                        commify($o->{glue_self}), commify($o->{checker}),
                        commify($o->{helpers}))
            } @own) . '.'
            . (!grep({ defined $contract{$_}{other_glue_self} } @own) ? ''
               : ' With no contract on the measured workflow (other), the filters\' '
                 . 'own code costs ' . join(' and ', map {
                     sprintf '%.1f (%s)', $contract{$_}{other_glue_self}, $_
                 } grep { defined $contract{$_}{other_glue_self} } @own)
                 . ' instructions per request: the context lookups.')
            . (!$contract{sse} || !defined $contract{sse}{ir_added_per_event} ? ''
               : sprintf(' Per event of the stream (%d, `[DONE]` included): %s.',
                         $contract{sse}{events}, commify($contract{sse}{ir_added_per_event}))),
            '';
        my %fn;
        for my $kind (@own) {
            $fn{$_} = 1 for keys %{ $contract{$kind}{functions} };
        }
        my $last = $own[-1];
        my @fns = sort { ($contract{$last}{functions}{$b}{inclusive} // 0)
                         <=> ($contract{$last}{functions}{$a}{inclusive} // 0) } keys %fn;
        push @md, 'The contract functions in the contract run, instructions per '
            . 'request (inclusive: with all they call; a filter\'s inclusive cost '
            . 'includes the filters after it):', '';
        push @md, '| function | ' . join(' | ', map { "$_ self | $_ inclusive" } @own) . ' |';
        push @md, '|---|' . ('---:|' x (2 * @own));
        for my $f (@fns) {
            push @md, "| $f | " . join(' | ', map {
                my $e = $contract{$_}{functions}{$f};
                $e ? (sprintf('%.1f', $e->{self}), sprintf('%.1f', $e->{inclusive}))
                   : ('-', '-')
            } @own) . ' |';
        }
        push @md, '';
    }
    my @dk = grep { $contract{$_} && $contract{$_}{self_difference} }
             map { $_->[0] } @contract_kinds;
    push @md, difference_table('contract - none', 'answer',
        map { [$_, $contract{$_}{self_difference}] } @dk) if @dk;
}

# shadow_counts S: the shadow's counts of a status, in words
sub shadow_counts {
    my ($s) = @_;
    return "not read: $s->{error}" if $s->{error};
    my $k = $s->{skipped} || {};
    return sprintf('mirrored %s of %s requests served (%.1f%%); skipped: %s; '
        . 'in flight when read %s (max_in_flight %s); answers counted in '
        . 'the shadow\'s slot %s; pairs compared %s (not compared: %s)',
        commify($s->{mirrored}), commify($s->{served}), 100 * ($s->{share} // 0),
        join(', ', map { "$_ " . commify($k->{$_} // 0) }
                   qw(in_flight breaker body error)),
        $s->{in_flight} // '?', $s->{max_in_flight} // '?',
        commify($s->{answered}), commify($s->{pairs_compared}),
        join(', ', map { "$_ " . commify($s->{unpaired}{$_} // 0) }
                   sort keys %{ $s->{unpaired} || {} }));
}

if (%shadow) {
    my ($none, $with) = map { $shadow{$_->[0]} } @shadow_ids;
    my $n = $shadow{requests};
    my $cell = sub { defined $_[0] ? commify($_[0]) : '-' };
    my $fmt = sub { my ($p, $v) = @_; defined $v ? sprintf($p, $v) : '-' };
    push @md, '## Shadow traffic', '';
    push @md, 'Contender 3\'s workflow (stable, 5% canary, fallback, sticky '
        . '`$http_x_user_id`, no `format`) with a fourth bundle, '
        . '`chat-00001@shadow-1`, whose model server answers as stable\'s does, '
        . 'in two configurations that differ by one line: `shadow '
        . 'chat-00001@shadow-1 ' . ($shadow{percent} // 10) . '%;` (max_in_flight '
        . 'the default). Throughput: both run side by side, a warm-up each, '
        . "then $f{rounds} interleaved round(s) of $f{duration} s, as the "
        . 'contenders\' table. Instructions: callgrind as there, (count with '
        . commify($n) . ' POSTs - count with none) / ' . commify($n)
        . '; each run reads the status JSON once, one second after the '
        . 'client\'s last answer, in the runs with requests and without alike.', '';
    push @md, '| configuration | req/s median | spread (min-max) | p50 ms | p99 ms | proxy busy | CPU µs/request | instructions/request | in the module\'s functions |';
    push @md, '|---|---:|---:|---:|---:|---:|---:|---:|---:|';
    my @snotes;
    for my $x ($none, $with) {
        my ($e, $g) = ($x->{throughput}, $x->{cg});
        my @row = ($x->{label});
        if ($e->{status} eq 'ok') {
            push @row, commify($e->{rps_median}),
                commify($e->{rps_min}) . ' - ' . commify($e->{rps_max}),
                $fmt->('%.2f', $e->{p50_ms}), $fmt->('%.2f', $e->{p99_ms}),
                $fmt->('%.0f%%', defined $e->{busy} ? 100 * $e->{busy} : undef),
                $fmt->('%.2f', $e->{cpu_us});
        } else {
            push @row, $e->{status} =~ /^FAILED/ ? '**FAILED**' : $e->{status},
                ('-') x 5;
            push @snotes, "$x->{label}: $e->{status}" if $e->{status} ne 'not run';
        }
        push @row, $cell->($g->{ir_per_request}),
            $fmt->('%.1f', $g->{module_self_ir_per_request});
        push @snotes, "$x->{label}: instructions not measured: $g->{error}"
            if $g->{error} && $g->{error} ne 'not run';
        push @md, '| ' . join(' | ', @row) . ' |';
    }
    my $r = $shadow{ratio};
    push @md, '| **shadow / none** | ' . join(' | ',
        $fmt->('**%.3f**', $r->{rps_median}), '', $fmt->('%.3f', $r->{p50_ms}),
        $fmt->('%.3f', $r->{p99_ms}), '', $fmt->('%.3f', $r->{cpu_us}),
        $fmt->('**%.3f**', $r->{ir_per_request}), '') . ' |';
    push @md, '';
    my $doubt = busy_doubt_of(map { [$_->{label}, $_->{throughput}] } $none, $with);
    push @snotes, "req/s: $doubt." if $doubt;
    push @md, map { "* $_" } @snotes;
    push @md, '' if @snotes;
    if (defined $shadow{ir_added}) {
        push @md, sprintf('**%s%% shadow: %s instructions per client request '
            . 'vs none: %s (%.3fx, %s%s).** The copies run in the same worker '
            . 'process as the clients\' requests, and their instructions are '
            . 'counted in that figure: reading the client\'s body, copying the '
            . 'request, running the copy through the proxy to the shadow\'s '
            . 'model server and counting its outcome%s.',
            $shadow{percent} // 10, commify($with->{cg}{ir_per_request}),
            commify($none->{cg}{ir_per_request}), $r->{ir_per_request},
            $shadow{ir_added} >= 0 ? '+' : '-', commify(abs $shadow{ir_added}),
            defined $shadow{ir_per_copy}
                ? sprintf(' (%s copies of %s requests: %s instructions a copy)',
                          commify($shadow{status_cg}{mirrored}), commify($n),
                          commify($shadow{ir_per_copy}))
                : ''), '';
    }
    push @md, 'The shadow\'s counts (status JSON) after the callgrind run: '
        . shadow_counts($shadow{status_cg}) . '.', '' if $shadow{status_cg};
    push @md, 'After the throughput rounds (the probe, the 2,000 users of '
        . 'the split, the warm-up and the rounds): '
        . shadow_counts($shadow{status_rounds}) . '.', '' if $shadow{status_rounds};
    push @md, 'Pairs are compared only where both answers were read, which '
        . 'takes a `format` on the workflow (its behaviour signals); like '
        . 'contender 3 this one has none, so its pairs are counted as '
        . '"unread" (and "not_stable" where the canary served the client): '
        . 'the comparison is not part of this cost.', '';
    push @md, difference_table('10% shadow - none', 'run',
        ['10% shadow - none', $shadow{self_difference}])
        if $shadow{self_difference} && %{ $shadow{self_difference} };
}

if (@scale) {
    push @md, '## Scale', '';
    push @md, '| workflows | bundles = slots | manifest | nginx -t | start | master RSS / shared | worker RSS / shared | zone | zone used | bytes per slot |';
    push @md, '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
    for my $s (@scale) {
        my $mb = sub { defined $_[0] ? sprintf('%.1f MiB', $_[0] / 1024) : '-' };
        push @md, '| ' . join(' | ',
            commify($s->{workflows}), commify($s->{bundles}),
            defined $s->{manifest_bytes} ? sprintf('%.1f MiB', $s->{manifest_bytes} / 1048576) : '-',
            defined $s->{nginx_t_ms} ? sprintf('%.0f ms', $s->{nginx_t_ms}) : '-',
            defined $s->{start_ms} ? sprintf('%.0f ms', $s->{start_ms}) : '-',
            $mb->($s->{master_rss_kb}) . ' / ' . $mb->($s->{master_shmem_kb}),
            $mb->($s->{worker_rss_kb}) . ' / ' . $mb->($s->{worker_shmem_kb}),
            defined $s->{zone_size} ? sprintf('%s MiB (%s)', commify($s->{zone_size} / 1048576), $s->{zone_conf}) : '-',
            defined $s->{zone_used} ? sprintf('%.2f MiB', $s->{zone_used} / 1048576) : '-',
            defined $s->{bytes_per_slot} ? commify($s->{bytes_per_slot}) : '-',
        ) . ' |';
        push @md, '', "* $s->{workflows} workflows: $s->{error}", '' if $s->{error};
    }
    push @md, '';
    push @md, 'nginx -t: median wall time of ' . ($f{trials} // 1) . ' run(s). Start: from '
            . 'exec until GET /pid answers. RSS and shared (RssShmem) from '
            . '/proc/PID/status one second after the start, before any status '
            . 'request. Bytes per slot: zone.used / zone.slots of the status JSON '
            . '(zone.used counts every page the slab allocator holds, including its own '
            . 'bookkeeping).', '';
}
if ($big && defined $big->{status_ms}) {
    push @md, sprintf('The status JSON with %s workflows took %.0f ms to build '
        . 'and send, and the worker\'s RSS went from %.0f MiB to %.0f MiB with it, '
        . 'of which %.0f MiB (from %.0f) are pages of the shared zone it read '
        . '(RssShmem).',
        commify($nwf), $big->{status_ms}, ($big->{worker_rss_kb} // 0) / 1024,
        ($big->{worker_after_status_rss_kb} // 0) / 1024,
        ($big->{worker_after_status_shmem_kb} // 0) / 1024,
        ($big->{worker_shmem_kb} // 0) / 1024), '';
}
for my $x (['ngx_ai_release, ' . commify($nwf) . ' workflows', \%reload],
           ['stock nginx (contender 1\'s configuration, the control)', \%reload_stock]) {
    my ($what, $r) = @$x;
    if (defined $r->{reload_ms_median}) {
        push @md, sprintf('Reload, %s: %d reload(s) under load (wrk -c %s for %s s, '
            . 'a HUP every 4 s); the new worker answered %s ms after the HUP '
            . '(median %.0f ms); %s requests (%s req/s), non-2xx %s, socket errors '
            . 'connect %s read %s write %s timeout %s.', $what, $r->{reloads},
            $f{connections}, $r->{load_seconds},
            join(', ', map { sprintf '%.0f', $_ } @{ $r->{reload_ms_all} }),
            $r->{reload_ms_median}, commify($r->{requests} // 0),
            commify($r->{rps} // 0),
            map { $r->{$_} // '?' } qw(non2xx connect read write timeout)), '';
        push @md, "Errors logged during the reloads: $r->{log}", '' if $r->{log};
    } elsif ($r->{error}) {
        push @md, "Reload, $what: not measured: $r->{error}", '';
    }
}

if ($cg{c3}{module_functions} || $cg{c4}{module_functions}) {
    push @md, '## Where the instructions go', '';
    my (%seen, @fns);
    for my $id (qw(c3 c4)) {
        for my $m (@{ $cg{$id}{module_functions} || [] }) {
            push @fns, $m->{function} unless $seen{ $m->{function} }++;
        }
    }
    my $cell = sub {
        my ($id, $fn) = @_;
        my $v = $cg{$id}{self} && $cg{$id}{self}{$fn};
        return defined $v ? sprintf('%.1f', $v) : '-';
    };
    push @md, "The module's own functions (self cost, instructions per request):", '';
    push @md, "| function | #3 $name{c3} | #4 $name{c4} |", '|---|---:|---:|';
    push @md, map { "| $_ | " . $cell->('c3', $_) . ' | ' . $cell->('c4', $_) . ' |' } @fns;
    push @md, '| **total** | ' . join(' | ', map {
        defined $cg{$_}{module_self_ir_per_request}
            ? sprintf('**%.1f**', $cg{$_}{module_self_ir_per_request}) : '-' } qw(c3 c4)) . ' |';
    push @md, '';
    if (@diff) {
        my @top = sort { abs($b->[1]) <=> abs($a->[1]) } @diff;
        splice @top, 20 if @top > 20;
        my $net = $cg{c3}{ir_per_request} - $cg{c1}{ir_per_request};
        push @md, sprintf('Contender 3 minus contender 1, function by function (self '
                . 'cost, instructions per request; the 20 largest differences of '
                . 'a net %+.0f):', $net), '';
        push @md, '| function | #3 - #1 |', '|---|---:|';
        push @md, map { sprintf '| %s | %+.1f |', $_->[0], $_->[1] } @top;
        push @md, '';
        push @md, 'Functions shown as an address are static functions of '
                . 'nginx, which carry no symbol in the Debian binary. A filter '
                . 'or handler the module adds to a chain can move the cost of '
                . 'such a function from one name to another (a +N and a -N of '
                . 'the same size); only the net difference is real.', '';
    }
}

push @md, "Total run time: $f{total_seconds} s. Raw numbers: $base.json.";
my $md = join("\n", @md) . "\n";

my %json = (
    date => $date, quick => $f{quick} ? JSON::PP::true : JSON::PP::false,
    machine => { cores => num($f{cores}), cpu_model => $f{cpu_model},
                 kernel => $f{kernel}, loadavg_start => $f{loadavg_start},
                 loadavg_end => $f{loadavg_end} },
    software => { nginx => $f{nginx_version}, ai_release => $f{module_version},
                  git => $f{git}, haproxy => $f{haproxy_version},
                  wrk => $f{wrk_version}, valgrind => $f{valgrind_version} },
    settings => { map { $_ => num($f{$_}) }
                  qw(duration rounds warmup connections threads cg_requests
                     trials workflows proxy_cpu load_cpu reloads) },
    cg_toggle => $f{cg_toggle},
    contenders => [ map {
        my $e = $c{$_};
        my $g = $cg{$_} // {};
        { id => $_, name => $e->{name}, status => $e->{status},
          rps_median => num(r1($e->{rps_median})), rps_min => num(r1($e->{rps_min})),
          rps_max => num(r1($e->{rps_max})), rps_ratio_c1 => num(r3($e->{rps_ratio})),
          p50_ms => num(r3($e->{p50_ms})), p99_ms => num(r3($e->{p99_ms})),
          cpu_us_per_request => num(r3($e->{cpu_us})), cpu_ratio_c1 => num(r3($e->{cpu_ratio})),
          proxy_busy => num(r3($e->{busy})),
          requests => $e->{requests},
          rounds => [ map { { rps => num($_->{rps}), p50_ms => num($_->{p50}),
                              cpu_us_per_request => num(r3($_->{cpu_us})),
                              p99_ms => num($_->{p99}), requests => num($_->{requests}),
                              non2xx => num($_->{non2xx}),
                              socket_errors => num($_->{socket_errors}) } } @{ $e->{rounds} } ],
          x_ai_release => $f{"$_.x_ai_release"},
          split_2000_users => $e->{split},
          canary_share => num(r3($e->{canary_share})),
          ir_per_request => num(r1($g->{ir_per_request})),
          ir_ratio_c1 => num(r3($g->{ratio_c1})),
          module_self_ir_per_request => num(r1($g->{module_self_ir_per_request})),
          module_functions => $g->{module_functions},
          callgrind_error => ($g->{error} && $g->{error} ne 'not run' ? $g->{error} : undef),
          ir_total_n => num($g->{ir_total_n}), ir_total_0 => num($g->{ir_total_0}) }
    } @ids ],
    ir_diff_c3_c1 => [ map { { function => $_->[0], ir_per_request => num(r1($_->[1])) } }
                       grep { abs($_->[1]) >= 5 } @diff ],
    apply => !%apply ? undef : {
        target_ir_per_body_byte => $apply_target,
        memory_ir_per_additional_byte => num(r3($apply_slope{ir_per_byte})),
        memory_ir_fixed_per_request => num(r1($apply_slope{ir_fixed})),
        client_body_buffer_size => $f{'apply.buffer'},
        page_size => num($f{'apply.page_size'}),
        runs => [ map {
            my $a = $apply{ $_->[0] };
            !$a ? () : {
                key => $_->[0], body_bytes => $a->{body_bytes},
                applied_bytes => $a->{applied_bytes}, requests => $a->{requests},
                client_body_buffer_size => $a->{client_body_buffer_size},
                body_held_in => $a->{body_held_in},
                ir_difference => num(r1($a->{ir_difference})),
                ir_difference_by_function => { map {
                    ($_ => num(r1($a->{self_difference}{$_})))
                } grep { abs($a->{self_difference}{$_}) >= 5 }
                  keys %{ $a->{self_difference} || {} } },
                ir_per_body_byte => num(r3($a->{ir_per_body_byte})),
                map {
                    my $r = $a->{$_};
                    ($_ => { ir_per_request => num(r1($r->{ir_per_request})),
                             module_self_ir_per_request
                                 => num(r1($r->{module_self_ir_per_request})),
                             ir_total_n => num($r->{ir_total_n}),
                             ir_total_0 => num($r->{ir_total_0}),
                             requests_to_file => $r->{to_file},
                             error => $r->{error} })
                } qw(noapply apply)
            }
        } @apply_keys ],
    },
    signals => !%signals && !%scale_signals ? undef
             : { %signals, scale => \%scale_signals },
    contract => !%contract ? undef : {
        target_ir_per_answer_byte => $contract_target,
        runs => [ map {
            my $kind = $_->[0];
            my $c = $contract{$kind};
            !$c ? () : {
                answer => $kind, description => $c->{answer},
                answer_bytes => $c->{answer_bytes}, events => $c->{events},
                requests => $c->{requests},
                ir_added => num(r1($c->{ir_added})),
                ir_added_per_answer_byte => num(r3($c->{ir_added_per_answer_byte})),
                ir_added_per_event => num(r1($c->{ir_added_per_event})),
                ir_other_minus_none => num(r1($c->{ir_other_minus_none})),
                other_ratio_none => num(sprintf('%.5f', $c->{other_ratio_none} // 0)),
                other_glue_self_per_request => num(r1($c->{other_glue_self})),
                contract_code => !$c->{own} ? undef : {
                    total => num(r1($c->{own}{total})),
                    glue_self => num(r1($c->{own}{glue_self})),
                    checker => num(r1($c->{own}{checker})),
                    helpers => num(r1($c->{own}{helpers})),
                    next_filters => $c->{own}{next_filters},
                    callees => { map { ($_ => num(r1($c->{own}{callees}{$_}))) }
                                 keys %{ $c->{own}{callees} } },
                },
                functions => { map {
                    my $e = $c->{functions}{$_};
                    ($_ => { self => num(r1($e->{self})),
                             inclusive => num(r1($e->{inclusive})) })
                } keys %{ $c->{functions} || {} } },
                ir_difference_by_function => { map {
                    ($_ => num(r1($c->{self_difference}{$_})))
                } grep { abs($c->{self_difference}{$_}) >= 5 }
                  keys %{ $c->{self_difference} || {} } },
                map {
                    my $r = $c->{ $_->[0] };
                    ($_->[0] => { what => $_->[1],
                                  ir_per_request => num(r1($r->{ir_per_request})),
                                  module_self_ir_per_request
                                      => num(r1($r->{module_self_ir_per_request})),
                                  ir_total_n => num($r->{ir_total_n}),
                                  ir_total_0 => num($r->{ir_total_0}),
                                  answer_bytes_received => $r->{answer_bytes_received},
                                  verdicts => $r->{verdicts},
                                  error => $r->{error} })
                } @contract_modes
            }
        } @contract_kinds ],
    },
    shadow => !%shadow ? undef : {
        percent => num($shadow{percent}), requests => num($shadow{requests}),
        ratio => { map { ($_ => num(r3($shadow{ratio}{$_}))) }
                   keys %{ $shadow{ratio} } },
        ir_added => num(r1($shadow{ir_added})),
        ir_per_copy => num(r1($shadow{ir_per_copy})),
        status_after_callgrind => $shadow{status_cg},
        status_after_rounds => $shadow{status_rounds},
        ir_difference_by_function => { map {
            ($_ => num(r1($shadow{self_difference}{$_})))
        } grep { abs($shadow{self_difference}{$_}) >= 5 }
          keys %{ $shadow{self_difference} || {} } },
        map {
            my ($id, $label) = @$_;
            my ($e, $g) = @{ $shadow{$id} }{qw(throughput cg)};
            ($id => { name => $label, status => $e->{status},
                      rps_median => num(r1($e->{rps_median})),
                      rps_min => num(r1($e->{rps_min})),
                      rps_max => num(r1($e->{rps_max})),
                      p50_ms => num(r3($e->{p50_ms})), p99_ms => num(r3($e->{p99_ms})),
                      cpu_us_per_request => num(r3($e->{cpu_us})),
                      proxy_busy => num(r3($e->{busy})),
                      requests => $e->{requests},
                      rounds => [ map { { rps => num($_->{rps}),
                                          p50_ms => num($_->{p50}),
                                          p99_ms => num($_->{p99}),
                                          cpu_us_per_request => num(r3($_->{cpu_us})),
                                          requests => num($_->{requests}) } }
                                  @{ $e->{rounds} } ],
                      split_2000_users => $e->{split},
                      ir_per_request => num(r1($g->{ir_per_request})),
                      module_self_ir_per_request
                          => num(r1($g->{module_self_ir_per_request})),
                      ir_total_n => num($g->{ir_total_n}),
                      ir_total_0 => num($g->{ir_total_0}),
                      callgrind_error => ($g->{error} && $g->{error} ne 'not run'
                                          ? $g->{error} : undef) })
        } @shadow_ids
    },
    scale => \@scale,
    reload => \%reload,
    reload_stock => \%reload_stock,
    targets => \@targets,
    total_seconds => num($f{total_seconds}),
);

open my $o, '>', "$outdir/$base.md" or die "$outdir/$base.md: $!\n";
print $o $md;
close $o;
open $o, '>', "$outdir/$base.json" or die "$outdir/$base.json: $!\n";
print $o JSON::PP->new->pretty->canonical->encode(\%json);
close $o;

print "\n$md\n";
print "written: $outdir/$base.md and $outdir/$base.json\n";
