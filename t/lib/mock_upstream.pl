#!/usr/bin/perl
#
# Mock OpenAI-style LLM upstream for the ngx_http_ai_release_module tests.
#
#   perl t/lib/mock_upstream.pl --listen 127.0.0.1:PORT --name NAME [--control FILE]
#
# Fork-per-connection HTTP/1.1 server with keep-alive.  Runs in the
# foreground; readiness = the port accepts connections (the harness polls).
# Exits on SIGTERM/SIGINT after killing and reaping its children.
#
# Behaviour (see t/lib/AIRTest.pm and the README of the test suite):
#   default            200 application/json chat completion echoing the request
#   streaming          request JSON "stream": true, or header X-Mock-Stream: N
#                      -> N (default 5) SSE events, X-Mock-Interval-Ms apart
#                      (default 200), then "data: [DONE]"
#   POST /v1/messages  the same in Anthropic Messages shape: a "message" with
#                      one text block "Hello from NAME"; streamed, the events
#                      message_start, content_block_start, N text_delta
#                      content_block_delta, content_block_stop, message_delta,
#                      message_stop ("event: X" lines, no [DONE]); errors as
#                      {"type":"error","error":{...}}
#   POST /v1/responses the same in OpenAI Responses shape: a "response" with
#                      one message of output_text "Hello from NAME"; streamed,
#                      response.created, N response.output_text.delta,
#                      response.completed
#                      (every answer's "model" is the request body's "model")
#   X-Mock-Status: N   answer with status N and a small JSON error body
#   X-Mock-Delay-Ms: N sleep N ms before the response headers
#   X-Mock-Mode: M     like mode= in the control file (ok|hang|reset|cut)
#   X-Mock-Answer: A   the shape of a 200 answer (output contracts); also
#                      answer=A in the control file (the header wins):
#     valid            the default answer above (chat stream events carry
#                      "model" like OpenAI's)
#     invalid-json     the JSON answer cut in the middle of its text string,
#                      with the Content-Length of what is sent
#     missing-pointer  no text: chat's choices[0].message has no "content",
#                      messages' "content" and responses' "output" are [];
#                      streamed, the deltas carry no text
#     empty-content    the text is "" (streamed: every delta's text is "")
#     big              a valid answer of exactly X-Mock-Answer-Bytes bytes
#                      (answer_bytes=N; default 100000), the text padded
#                      with "x"; never smaller than the valid answer
#     wrong-type       Content-Type: text/plain (the body unchanged; also
#                      for streams)
#     wrong-model      "model": "other-model" (also in stream events)
#     gzip             Content-Encoding: gzip, the valid answer gzipped
#     sse-broken-event a stream (also without "stream": true) whose second
#                      text event's data is "{broken" (not JSON)
#     sse-no-end       a stream without its end: no "data: [DONE]" (chat),
#                      no message_stop (messages), no response.completed
#                      (responses); the chunked body is terminated properly
#     sse-cut          a stream cut inside an event: the text events, half
#                      of the next event, 50 ms, then a connection reset
#                      (RST), without the terminating chunk
#                      answers other than valid carry X-Mock-Body-Sha256:
#                      the SHA-256 (hex) of the body bytes the mock sends
#                      (after transfer decoding; for sse-cut what is sent
#                      before the reset); so does valid when asked for by
#                      name
#   X-Mock-Chunk-Bytes: K  write the body (the wire bytes after the header,
#                      chunk framing included) in pieces of K bytes (K=1
#                      works), X-Mock-Chunk-Ms: M (default 1) apart, so that
#                      nginx reads it in many small reads; chunk_bytes=K and
#                      chunk_ms=M in the control file
#   control file       key=value lines: status=N, delay_ms=N,
#                      mode=ok|hang|reset|cut, answer=A, answer_bytes=N,
#                      chunk_bytes=K, chunk_ms=M, interval_ms=N and the
#                      behaviour knobs below; re-read on every request;
#                      header overrides win over the control file
#   behaviour knobs    what a 200 answer says about the model (behaviour
#                      signals, issue 15), each a header X-Mock-KNOB or a
#                      control file key knob (the header wins), in the three
#                      APIs, JSON and SSE; without any, answers are as above
#     Output-Tokens: N output_tokens=N: usage's completion_tokens (chat) or
#                      output_tokens (default 5; chat and Anthropic
#                      streams: the number of text events)
#     Input-Tokens: N  input_tokens=N: prompt_tokens / input_tokens (12)
#     Usage: none      usage=none: no usage at all (JSON "usage": null;
#                      Anthropic streams without it in message_start and
#                      message_delta; no chat usage chunk)
#     Text-Bytes: N    text_bytes=N: the answer's text is exactly N bytes,
#                      "Hello from NAME xxx..." cut to N; a stream splits it
#                      into its N events as evenly as it goes
#     Finish: F        finish=F: stop|length|tool_calls|content_filter or
#                      Anthropic's end_turn|max_tokens|tool_use|refusal,
#                      mapped per API: chat finish_reason (end_turn stop,
#                      max_tokens length, tool_use tool_calls, refusal
#                      stop), Anthropic stop_reason (stop end_turn, length
#                      max_tokens, tool_calls tool_use), Responses status
#                      "completed" (stop, tool_calls, refusal and their
#                      Anthropic names) or "incomplete" with
#                      incomplete_details.reason max_output_tokens (length,
#                      max_tokens) or F itself (content_filter, any other);
#                      any other value is sent as it is.  Default: refusal
#                      when refusing, else tool_calls with tool calls, else
#                      stop
#     Tool-Calls: N    tool_calls=N (or A-B: drawn from A to B): N chat
#                      message.tool_calls (streamed: two chunks per call of
#                      the same delta.tool_calls index), Anthropic tool_use
#                      content blocks (streamed: content_block_start,
#                      input_json_delta, content_block_stop each, after the
#                      text block), Responses function_call output items
#                      (streamed: response.output_item.added each, and in
#                      the final response)
#     Refusal: 1       refusal=1 (or P%: with probability P, drawn): chat
#                      message.content null and message.refusal the text
#                      (streamed: delta.refusal instead of delta.content);
#                      Responses a content part of type refusal (streamed:
#                      response.refusal.delta/.done); Anthropic stop_reason
#                      refusal, the text kept
#     First-Token-Ms: N first_token_ms=N: a stream sends its events before
#                      the first text event (message_start, ...) at once,
#                      then waits N ms before the first text event
#     Tokens-Jitter: P% tokens_jitter=P%: output tokens drawn uniformly
#                      within P% of Output-Tokens
#     Seed: S          seed=S (default 1): the draws of answer number K of
#                      this upstream come from srand(S * 1000003 + K): the
#                      same seed, the same answers in the same order
#                      OpenAI chat streams: with a behaviour knob, or
#                      when the request's stream_options.include_usage is
#                      true, a last chunk with delta {} and finish_reason
#                      before [DONE]; with include_usage (and usage) then a
#                      chunk with "choices": [] and the usage
#   FILE.log           one "NAME METHOD URI" line per request (with --control)
#   FILE.bodies/SEQ    the body of each request, bytes as received (with
#                      --control); SEQ counts 1, 2, ... per upstream, in the
#                      order the requests were read (FILE.bodies.seq holds it)
#   FILE.headers/SEQ   the header lines of the same request, "Name: value"
#                      one a line as received (names in their case, in
#                      their order, repeated names repeated)

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Socket qw(IPPROTO_TCP TCP_NODELAY SOL_SOCKET SO_LINGER);
use POSIX qw(:sys_wait_h);
use Fcntl qw(:flock O_WRONLY O_APPEND O_CREAT O_RDWR);
use Time::HiRes qw(time sleep);
use JSON::PP;
use Digest::SHA qw(sha256_hex);
use IO::Compress::Gzip qw(gzip $GzipError);
use Getopt::Long qw(GetOptions);

my ($listen, $name, $control);
GetOptions(
    'listen=s'  => \$listen,
    'name=s'    => \$name,
    'control=s' => \$control,
) or usage();
usage() unless defined $listen && defined $name;

sub usage {
    print STDERR "usage: $0 --listen HOST:PORT --name NAME [--control FILE]\n";
    exit 2;
}

my $JSON = JSON::PP->new->utf8->canonical(1);

my $KEEPALIVE_IDLE = 120;    # seconds an idle keep-alive connection is kept
my $HANG_MAX       = 600;    # seconds "hang" mode waits at most

my %STATUS_TEXT = (
    100 => 'Continue', 200 => 'OK', 201 => 'Created', 202 => 'Accepted',
    204 => 'No Content', 301 => 'Moved Permanently', 302 => 'Found',
    304 => 'Not Modified', 400 => 'Bad Request', 401 => 'Unauthorized',
    403 => 'Forbidden', 404 => 'Not Found', 405 => 'Method Not Allowed',
    408 => 'Request Timeout', 409 => 'Conflict', 413 => 'Payload Too Large',
    429 => 'Too Many Requests', 500 => 'Internal Server Error',
    501 => 'Not Implemented', 502 => 'Bad Gateway',
    503 => 'Service Unavailable', 504 => 'Gateway Timeout',
);

# the behaviour knobs (see the header), from the request headers, the
# control file (the header wins) and the request's JSON
my @KNOBS = qw(output_tokens input_tokens text_bytes finish tool_calls
               refusal first_token_ms tokens_jitter seed usage);

# the finish knob in the words of each API (finish_value)
my %FINISH = (
    chat      => { end_turn => 'stop', max_tokens => 'length',
                   tool_use => 'tool_calls', refusal => 'stop' },
    messages  => { stop => 'end_turn', length => 'max_tokens',
                   tool_calls => 'tool_use' },
    responses => { stop => 'completed', end_turn => 'completed',
                   tool_calls => 'completed', tool_use => 'completed',
                   refusal => 'completed', length => 'max_output_tokens',
                   max_tokens => 'max_output_tokens' },
);

my $server = IO::Socket::INET->new(
    LocalAddr => $listen,
    Proto     => 'tcp',
    Listen    => 128,
    ReuseAddr => 1,
) or die "mock_upstream $name: cannot listen on $listen: $!\n";

my $parent_pid = $$;
my $counter_file = defined $control ? "$control.counter"
                                    : "/tmp/mock_upstream-$$.counter";
my %children;
my $stopping = 0;

sub reap {
    while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
        delete $children{$pid};
    }
}

$SIG{CHLD} = sub { reap() };
$SIG{TERM} = $SIG{INT} = $SIG{HUP} = sub { $stopping = 1 };
$SIG{PIPE} = 'IGNORE';

my $sel = IO::Select->new($server);

while (!$stopping) {
    reap();
    my @ready = $sel->can_read(0.5);
    next unless @ready;
    my $client = $server->accept or next;    # EINTR etc.

    my $pid = fork;
    if (!defined $pid) {
        warn "mock_upstream $name: fork failed: $!\n";
        close $client;
        sleep 0.1;
        next;
    }
    if ($pid == 0) {
        $SIG{CHLD} = 'DEFAULT';
        $SIG{TERM} = $SIG{INT} = $SIG{HUP} = 'DEFAULT';
        close $server;
        handle_connection($client);
        POSIX::_exit(0);
    }
    $children{$pid} = 1;
    close $client;
}

# shutdown: kill the children, reap them, leave
close $server;
$SIG{CHLD} = 'DEFAULT';
kill 'TERM', keys %children if %children;
my $deadline = time + 3;
while (%children && time < $deadline) {
    reap();
    sleep 0.02 if %children;
}
if (%children) {
    kill 'KILL', keys %children;
    for my $pid (keys %children) { waitpid($pid, 0); }
}
unlink $counter_file unless defined $control;
exit 0;

############################################################################
# connection handling (child)

sub handle_connection {
    my ($sock) = @_;
    binmode $sock;
    setsockopt($sock, IPPROTO_TCP, TCP_NODELAY, 1);

    my $buf = '';
    while (1) {
        my $req = read_request($sock, \$buf);
        return unless $req;
        my $keep = handle_request($sock, $req);
        return unless $keep;
    }
}

# Reads more data into $$bufref, waiting at most $timeout seconds.
# Returns the number of bytes read, 0 on EOF/error/timeout.
sub fill {
    my ($sock, $bufref, $timeout) = @_;
    my $s = IO::Select->new($sock);
    my $deadline = time + $timeout;
    while (1) {
        my $left = $deadline - time;
        return 0 if $left <= 0;
        my @r = $s->can_read($left);
        next if !@r && $!{EINTR};
        return 0 unless @r;
        my $n = sysread($sock, $$bufref, 65536, length $$bufref);
        if (!defined $n) {
            next if $!{EINTR} || $!{EAGAIN};
            return 0;
        }
        return $n;
    }
}

sub read_request {
    my ($sock, $bufref) = @_;

    # request line + headers (skip leading empty lines, RFC 7230 3.5)
    my $idle = $KEEPALIVE_IDLE;
    while (1) {
        $$bufref =~ s/\A(?:\r?\n)+//;
        last if $$bufref =~ /\r?\n\r?\n/;
        return undef if length $$bufref > 1024 * 1024;
        return undef unless fill($sock, $bufref, $idle);
        $idle = 60;
    }

    $$bufref =~ s/\A(.*?)\r?\n\r?\n//s;
    my @lines = split /\r?\n/, $1;
    my $reqline = shift @lines;
    my ($method, $uri, $version) =
        $reqline =~ m{^(\S+)\s+(\S+)(?:\s+HTTP/(\d+\.\d+))?\s*$};
    unless ($method) {
        send_all($sock, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                        . "Connection: close\r\n\r\n");
        return undef;
    }
    $version //= '0.9';

    my (%headers, @order);
    my @raw = grep { /\S/ } @lines;    # as received, for FILE.headers/SEQ
    for my $line (@lines) {
        if ($line =~ /^[ \t]+(.*)$/ && @order) {    # obsolete line folding
            $headers{$order[-1]} .= " $1";
            next;
        }
        my ($k, $v) = $line =~ /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
        $k = lc $k;
        if (exists $headers{$k}) {
            $headers{$k} .= ", $v";
        } else {
            $headers{$k} = $v;
            push @order, $k;
        }
    }

    if (($headers{expect} // '') =~ /100-continue/i && $version eq '1.1') {
        send_all($sock, "HTTP/1.1 100 Continue\r\n\r\n") or return undef;
    }

    # body
    my $body = '';
    if (($headers{'transfer-encoding'} // '') =~ /chunked/i) {
        while (1) {
            while ($$bufref !~ /\r?\n/) {
                return undef unless fill($sock, $bufref, 60);
            }
            $$bufref =~ s/\A([^\r\n]*)\r?\n//;
            my $line = $1;
            my ($hex) = $line =~ /^\s*([0-9a-fA-F]+)/;
            return undef unless defined $hex;
            my $size = hex $hex;
            if ($size == 0) {
                # trailers up to an empty line
                while (1) {
                    while ($$bufref !~ /\r?\n/) {
                        return undef unless fill($sock, $bufref, 60);
                    }
                    $$bufref =~ s/\A([^\r\n]*)\r?\n//;
                    last if $1 eq '';
                }
                last;
            }
            while (length $$bufref < $size + 2) {
                return undef unless fill($sock, $bufref, 60);
            }
            $body .= substr($$bufref, 0, $size, '');
            $$bufref =~ s/\A\r?\n//;
        }
    } elsif (defined $headers{'content-length'}) {
        my $len = $headers{'content-length'};
        $len =~ s/,.*//;
        $len = int($len);
        while (length $$bufref < $len) {
            return undef unless fill($sock, $bufref, 60);
        }
        $body = substr($$bufref, 0, $len, '');
    }

    return {
        method  => $method,
        uri     => $uri,
        version => $version,
        headers => \%headers,
        body    => $body,
        raw     => \@raw,
    };
}

sub send_all {
    my ($sock, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($sock, $data, length($data) - $off, $off);
        if (!defined $n) {
            next if $!{EINTR} || $!{EAGAIN};
            return 0;
        }
        $off += $n;
    }
    return 1;
}

sub read_control {
    my %c;
    return \%c unless defined $control;
    open my $fh, '<', $control or return \%c;
    while (my $line = <$fh>) {
        $line =~ s/#.*//;
        next unless $line =~ /^\s*([\w.-]+)\s*=\s*(.*?)\s*$/;
        $c{lc $1} = $2;
    }
    close $fh;
    return \%c;
}

sub log_request {
    my ($req) = @_;
    return unless defined $control;
    my $line = "$name $req->{method} $req->{uri}\n";
    if (sysopen(my $fh, "$control.log", O_WRONLY | O_APPEND | O_CREAT, 0644)) {
        syswrite($fh, $line);
        close $fh;
    }
    my $seq = bump("$control.bodies.seq") // return;
    # the headers first: a reader that sees the body sees its headers
    record_file("$control.headers", $seq,
                join('', map { "$_\n" } @{ $req->{raw} || [] }));
    record_file("$control.bodies", $seq, $req->{body});
}

# DIR/SEQ (FILE.bodies/SEQ, FILE.headers/SEQ): written whole under a
# temporary name, then renamed, so a reader sees a file complete or not at
# all
sub record_file {
    my ($dir, $seq, $data) = @_;
    mkdir $dir, 0755 unless -d $dir;
    my $tmp = "$dir/.$seq.tmp";
    sysopen(my $fh, $tmp, O_WRONLY | O_CREAT, 0644) or return;
    binmode $fh;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($fh, $data, length($data) - $off, $off);
        last unless $n;
        $off += $n;
    }
    close $fh;
    rename $tmp, "$dir/$seq";
}

# increments the number in FILE under an exclusive lock (shared by every
# forked child); returns the new value, undef when FILE cannot be opened
sub bump {
    my ($file) = @_;
    sysopen(my $fh, $file, O_RDWR | O_CREAT, 0644) or return undef;
    flock($fh, LOCK_EX);
    my $cur = <$fh>;
    my $n = (defined $cur && $cur =~ /(\d+)/ ? $1 : 0) + 1;
    seek($fh, 0, 0);
    truncate($fh, 0);
    syswrite($fh, "$n\n");
    close $fh;    # releases the lock
    return $n;
}

# the next answer's id and its number (1, 2, ... per upstream)
sub next_id {
    my ($prefix) = @_;
    my $n = bump($counter_file) // $$;
    return ("$prefix$name-$n", $n);
}

############################################################################
# answers in the three wire formats: chat (OpenAI Chat Completions, also
# every path that is neither of the others), messages (Anthropic Messages,
# POST /v1/messages) and responses (OpenAI Responses, POST /v1/responses)

sub error_answer {
    my ($api, $status) = @_;
    my $message = "mock error $status from $name";
    if ($api eq 'messages') {
        return { type => 'error', served_by => $name,
                 error => { type => 'api_error', message => $message } };
    }
    return {
        error => {
            message => $message,
            type    => 'mock_error',
            code    => $status + 0,
        },
        served_by => $name,
    };
}

sub plain_answer {
    my ($api, $id, $model, $request, $beh) = @_;
    $beh //= behaviour({}, {}, 0, undef);
    my $text = $beh->{text} // "Hello from $name";
    my @tools = map { tool_call($api, $id, $_) } 0 .. $beh->{tools} - 1;
    if ($api eq 'messages') {
        my %usage = (input_tokens => $beh->{in} // 12,
                     output_tokens => $beh->{out} // 5);
        return {
            id            => $id,
            type          => 'message',
            role          => 'assistant',
            model         => $model,
            served_by     => $name,
            content       => [{ type => 'text', text => $text }, @tools],
            stop_reason   => finish_value($api, $beh),
            stop_sequence => undef,
            usage         => $beh->{usage} ? \%usage : undef,
            request       => $request,
        };
    }
    if ($api eq 'responses') {
        return responses_object($id, $model, 'completed', $text,
                                { request => $request }, $beh);
    }
    my %message = (role => 'assistant', content => $text);
    if ($beh->{refused}) {
        %message = (role => 'assistant', content => undef, refusal => $text);
    }
    $message{tool_calls} = \@tools if @tools;
    my ($in, $out) = ($beh->{in} // 12, $beh->{out} // 5);
    return {
        id        => $id,
        object    => 'chat.completion',
        model     => $model,
        served_by => $name,
        choices   => [{
            index         => 0,
            message       => \%message,
            finish_reason => finish_value($api, $beh),
        }],
        usage => $beh->{usage} ? { prompt_tokens => $in,
                                 completion_tokens => $out,
                                 total_tokens => $in + $out }
                             : undef,
        request => $request,
    };
}

# the tool call number $i of an answer: a chat tool_calls element, an
# Anthropic tool_use content block, a Responses function_call output item
sub tool_call {
    my ($api, $id, $i) = @_;
    if ($api eq 'messages') {
        return { type => 'tool_use', id => "toolu_$i", name => "tool$i",
                 input => { n => $i } };
    }
    if ($api eq 'responses') {
        return { type => 'function_call', id => "fc_$i", call_id => "call_$i",
                 name => "tool$i", arguments => "{\"n\":$i}",
                 status => 'completed' };
    }
    return { id => "call_$i", type => 'function',
             function => { name => "tool$i", arguments => "{\"n\":$i}" } };
}

sub responses_object {
    my ($id, $model, $status, $text, $extra, $beh) = @_;
    $beh //= behaviour({}, {}, 0, undef);
    my $reason;
    if ($status eq 'completed') {
        my $f = finish_value('responses', $beh);
        ($status, $reason) = ('incomplete', $f) if $f ne 'completed';
    }
    my $part = $beh->{refused}
        ? { type => 'refusal', refusal => $text }
        : { type => 'output_text', text => $text, annotations => [] };
    my $out = defined $text
        ? [{ type => 'message', id => "msg_$id", status => 'completed',
             role => 'assistant', content => [$part] }]
        : [];
    push @$out, map { tool_call('responses', $id, $_) } 0 .. $beh->{tools} - 1
        if $status ne 'in_progress';
    my ($in, $o) = ($beh->{in} // 12, $beh->{out} // 5);
    return {
        id         => $id,
        object     => 'response',
        created_at => int(time),
        model      => $model,
        served_by  => $name,
        status     => $status,
        defined $reason ? (incomplete_details => { reason => $reason }) : (),
        output     => $out,
        usage      => defined $text && $beh->{usage}
                      ? { input_tokens => $in, output_tokens => $o,
                          total_tokens => $in + $o }
                      : undef,
        %{ $extra // {} },
    };
}

# How the answer number $seq of this upstream behaves: { set (a knob was
# given), out, in (undef: the defaults), text (undef: the default text),
# finish, tools, refused, first_ms, usage (0: none), include_usage }
sub behaviour {
    my ($h, $ctl, $seq, $json) = @_;
    my %v;
    for my $k (@KNOBS) {
        (my $hn = "x-mock-$k") =~ tr/_/-/;
        my $x = $h->{$hn} // $ctl->{$k};
        $v{$k} = $x if defined $x && $x =~ /\S/;
    }
    my $int = sub { defined $_[0] && $_[0] =~ /^\s*(\d+)\s*$/ ? $1 + 0 : undef };
    # the draws of this answer: the same seed and answer number, the same
    # draws (Perl's rand is drand48)
    srand(($int->($v{seed}) // 1) * 1000003 + $seq);
    my @u = map { rand } 1 .. 3;

    my $out = $int->($v{output_tokens});
    if (defined $out && ($v{tokens_jitter} // '') =~ /^(\d+(?:\.\d+)?)%?$/) {
        $out = int($out * (1 + (2 * $u[0] - 1) * $1 / 100) + 0.5);
    }
    my $tools = 0;
    if (($v{tool_calls} // '') =~ /^\s*(\d+)\s*-\s*(\d+)\s*$/ && $2 >= $1) {
        $tools = $1 + int($u[1] * ($2 - $1 + 1));
    } else {
        $tools = $int->($v{tool_calls}) // 0;
    }
    my $refusal = lc($v{refusal} // '');
    my $refused = $refusal =~ /^(\d+(?:\.\d+)?)%$/ ? ($u[2] * 100 < $1)
                : $refusal =~ /^(?:1|yes|true|on)$/ ? 1 : 0;
    my $finish = lc($v{finish} // '');
    $refused = 1 if $finish eq 'refusal';
    $finish = $refused ? 'refusal' : $tools ? 'tool_calls' : 'stop'
        if $finish eq '';
    my $text;
    if (defined(my $tb = $int->($v{text_bytes}))) {
        $text = substr("Hello from $name " . ('x' x $tb), 0, $tb);
    }
    my $so = ref $json eq 'HASH' ? $json->{stream_options} : undef;
    return {
        set      => scalar(keys %v) ? 1 : 0,
        out      => $out,
        in       => $int->($v{input_tokens}),
        text     => $text,
        finish   => $finish,
        tools    => $tools,
        refused  => $refused,
        first_ms => $int->($v{first_token_ms}),
        usage    => lc($v{usage} // 'yes') =~ /^(?:0|no|none|off)$/ ? 0 : 1,
        include_usage => ref $so eq 'HASH' && $so->{include_usage} ? 1 : 0,
    };
}

# the finish knob in the words of the API: chat's finish_reason,
# Anthropic's stop_reason, and for Responses "completed" or the
# incomplete_details.reason of an incomplete answer; other values as given
sub finish_value {
    my ($api, $beh) = @_;
    return $FINISH{$api}{$beh->{finish}} // $beh->{finish};
}

# The events of a streamed answer with $n text pieces "tok0 ", "tok1 ", ...
# (or the knob's text in $n nearly equal pieces) shaped by the answer
# $shape (see the header: empty-content, missing-pointer, sse-broken-event,
# sse-no-end; the model comes as given) and the behaviour $beh.
# Returns ([the data sent before each piece, each piece after the
# interval], the data that ends the stream, the length of the events
# before the first piece at the start of the first element).
sub stream_events {
    my ($api, $id, $model, $n, $shape, $beh) = @_;
    my (@steps, $head, $last);
    $shape //= 'valid';
    $beh //= behaviour({}, {}, 0, undef);
    my @text = map { "tok$_ " } 0 .. $n - 1;
    if (defined $beh->{text}) {
        my $len = length $beh->{text};
        @text = map { substr($beh->{text}, int($len * $_ / $n),
                             int($len * ($_ + 1) / $n) - int($len * $_ / $n))
                    } 0 .. $n - 1;
    }
    my $piece = sub {
        my ($i) = @_;
        return $shape eq 'empty-content'   ? ''
             : $shape eq 'missing-pointer' ? undef
             :                               $text[$i];
    };

    if ($api eq 'chat') {
        my $chunk = sub {
            my ($delta, %more) = @_;
            return 'data: ' . $JSON->encode({
                id        => $id,
                object    => 'chat.completion.chunk',
                model     => $model,
                served_by => $name,
                choices   => [{ index => 0, delta => $delta, %more }],
            }) . "\n\n";
        };
        my $key = $beh->{refused} ? 'refusal' : 'content';
        for my $i (0 .. $n - 1) {
            my $p = $piece->($i);
            push @steps, $chunk->(defined $p ? { $key => $p }
                                             : { role => 'assistant' });
        }
        # a tool call in two chunks of the same index: its start, then
        # its arguments
        for my $i (0 .. $beh->{tools} - 1) {
            my $call = tool_call('chat', $id, $i);
            push @steps, $chunk->({ tool_calls => [{ index => $i,
                             %$call, function => { name => "tool$i",
                                                   arguments => '' } }] }),
                         $chunk->({ tool_calls => [{ index => $i,
                             function => $call->{function} }] });
        }
        $steps[$n > 1 ? 1 : 0] = "data: {broken\n\n"
            if $shape eq 'sse-broken-event' && @steps;
        $last = '';
        $last .= $chunk->({}, finish_reason => finish_value($api, $beh))
            if $beh->{set} || $beh->{include_usage};
        if ($beh->{include_usage} && $beh->{usage}) {
            my ($in, $out) = ($beh->{in} // 12, $beh->{out} // $n);
            $last .= 'data: ' . $JSON->encode({
                id => $id, object => 'chat.completion.chunk',
                model => $model, served_by => $name, choices => [],
                usage => { prompt_tokens => $in, completion_tokens => $out,
                           total_tokens => $in + $out } }) . "\n\n";
        }
        return (\@steps, $last . ($shape eq 'sse-no-end' ? ''
                                                         : "data: [DONE]\n\n"),
                0);
    }

    my $event = sub {
        my ($type, $data) = @_;
        return "event: $type\ndata: "
            . $JSON->encode({ type => $type, %$data }) . "\n\n";
    };
    my $text = join '', map { $piece->($_) // '' } 0 .. $n - 1;

    if ($api eq 'messages') {
        $head = $event->('message_start', { message => {
                    id => $id, type => 'message', role => 'assistant',
                    model => $model, served_by => $name, content => [],
                    stop_reason => undef, stop_sequence => undef,
                    usage => $beh->{usage}
                             ? { input_tokens => $beh->{in} // 12,
                                 output_tokens => 1 }
                             : undef } })
              . $event->('content_block_start', { index => 0,
                    content_block => { type => 'text',
                        $shape eq 'missing-pointer' ? () : (text => '') } });
        for my $i (0 .. $n - 1) {
            my $p = $piece->($i);
            push @steps, $event->('content_block_delta', { index => 0,
                             delta => { type => 'text_delta',
                                        defined $p ? (text => $p) : () } });
        }
        $last = $event->('content_block_stop', { index => 0 });
        for my $i (0 .. $beh->{tools} - 1) {
            my $call = tool_call('messages', $id, $i);
            $last .= $event->('content_block_start', { index => $i + 1,
                         content_block => { %$call, input => {} } })
                   . $event->('content_block_delta', { index => $i + 1,
                         delta => { type => 'input_json_delta',
                                    partial_json => "{\"n\":$i}" } })
                   . $event->('content_block_stop', { index => $i + 1 });
        }
        $last .= $event->('message_delta', {
                    delta => { stop_reason => finish_value($api, $beh),
                               stop_sequence => undef },
                    $beh->{usage} ? (usage => { output_tokens => $beh->{out}
                                                               // $n })
                                : () })
              . ($shape eq 'sse-no-end' ? ''
                                        : $event->('message_stop', {}));
        $steps[$n > 1 ? 1 : 0] = "event: content_block_delta\ndata: {broken\n\n"
            if $shape eq 'sse-broken-event' && @steps;
    } else {
        my $seq = 0;
        my $kind = $beh->{refused} ? 'refusal' : 'output_text';
        $head = $event->('response.created', {
                    sequence_number => $seq++,
                    response => responses_object($id, $model,
                                                 'in_progress', undef,
                                                 undef, $beh) });
        for my $i (0 .. $n - 1) {
            my $p = $piece->($i);
            push @steps, $event->("response.$kind.delta", {
                             sequence_number => $seq++,
                             item_id => "msg_$id", output_index => 0,
                             content_index => 0,
                             defined $p ? (delta => $p) : () });
        }
        $last = $event->("response.$kind.done", {
                    sequence_number => $seq++,
                    item_id => "msg_$id", output_index => 0,
                    content_index => 0, $beh->{refused} ? 'refusal' : 'text',
                    $text });
        for my $i (0 .. $beh->{tools} - 1) {
            $last .= $event->('response.output_item.added', {
                         sequence_number => $seq++, output_index => $i + 1,
                         item => { %{ tool_call('responses', $id, $i) },
                                   arguments => '',
                                   status => 'in_progress' } });
        }
        my $final = responses_object($id, $model, 'completed',
                        $shape eq 'missing-pointer' ? undef : $text, undef,
                        $beh);
        $last .= $event->("response.$final->{status}", {
                    sequence_number => $seq++, response => $final })
            unless $shape eq 'sse-no-end';
        $steps[$n > 1 ? 1 : 0] =
            "event: response.$kind.delta\ndata: {broken\n\n"
            if $shape eq 'sse-broken-event' && @steps;
    }

    if (@steps) {
        $steps[0] = $head . $steps[0];
    } else {
        $last = $head . $last;
    }
    return (\@steps, $last, length $head);
}

# The body of a plain (not streamed) answer of the shape $shape: the bytes
# and whether they are gzipped.
sub plain_body {
    my ($api, $id, $model, $request, $shape, $bytes, $beh) = @_;
    my $obj = plain_answer($api, $id,
                           $shape eq 'wrong-model' ? 'other-model' : $model,
                           $request, $beh);
    # where the text is, per format
    my $set_text = sub {
        my ($text) = @_;
        if ($api eq 'messages') {
            $obj->{content}[0]{text} = $text;
        } elsif ($api eq 'responses') {
            $obj->{output}[0]{content}[0]{text} = $text;
        } else {
            $obj->{choices}[0]{message}{content} = $text;
        }
    };

    if ($shape eq 'missing-pointer') {
        if ($api eq 'messages') {
            $obj->{content} = [];
        } elsif ($api eq 'responses') {
            $obj->{output} = [];
        } else {
            delete $obj->{choices}[0]{message}{content};
        }
    } elsif ($shape eq 'empty-content') {
        $set_text->('');
    }

    my $body = $JSON->encode($obj) . "\n";

    if ($shape eq 'big') {
        my $want = defined $bytes && $bytes =~ /^(\d+)$/ ? $1 : 100000;
        my $pad = $want - length $body;
        if ($pad > 0) {
            # "x" is one byte in JSON as in the text
            $set_text->("Hello from $name " . ('x' x ($pad - 1)));
            $body = $JSON->encode($obj) . "\n";
        }
    } elsif ($shape eq 'invalid-json') {
        my $at = index $body, "\"Hello from $name\"";
        $at = int(length($body) / 2) - 4 if $at < 0;
        $body = substr($body, 0, $at + 4);    # '"Hel', inside the string
    } elsif ($shape eq 'gzip') {
        my $gz;
        gzip(\$body => \$gz) or die "gzip: $GzipError\n";
        return ($gz, 1);
    }
    return ($body, 0);
}

sub msleep {
    my ($ms) = @_;
    return unless defined $ms && $ms =~ /^\d+(?:\.\d+)?$/ && $ms > 0;
    my $until = time + $ms / 1000;
    while ((my $left = $until - time) > 0) {
        sleep $left;
    }
}

# Waits until the client closes the connection or $max seconds elapse.
sub wait_close {
    my ($sock, $max) = @_;
    my $deadline = time + $max;
    my $s = IO::Select->new($sock);
    while ((my $left = $deadline - time) > 0) {
        my @r = $s->can_read($left > 5 ? 5 : $left);
        next unless @r;
        my $junk;
        my $n = sysread($sock, $junk, 65536);
        next if !defined $n && ($!{EINTR} || $!{EAGAIN});
        return if !$n;    # EOF or error
    }
}

sub status_line {
    my ($status) = @_;
    my $text = $STATUS_TEXT{$status} // 'Mock Status';
    return "HTTP/1.1 $status $text\r\n";
}

# Returns true when the connection may be kept alive.
sub handle_request {
    my ($sock, $req) = @_;
    my $h = $req->{headers};

    log_request($req);

    my $ctl = read_control();

    my $mode   = lc($h->{'x-mock-mode'}     // $ctl->{mode}     // 'ok');
    my $status =    $h->{'x-mock-status'}   // $ctl->{status};
    my $delay  =    $h->{'x-mock-delay-ms'} // $ctl->{delay_ms};

    if ($mode eq 'reset') {
        # abortive close: RST instead of FIN, no response at all
        setsockopt($sock, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
        close $sock;
        return 0;
    }
    if ($mode eq 'hang') {
        wait_close($sock, $HANG_MAX);
        close $sock;
        return 0;
    }

    msleep($delay);

    # keep-alive semantics
    my $conn = lc($h->{connection} // '');
    my $v11  = $req->{version} eq '1.1' || $req->{version} =~ /^[2-9]/;
    my $keep = $v11 ? ($conn !~ /\bclose\b/)
                    : ($req->{version} eq '1.0' && $conn =~ /\bkeep-alive\b/);
    my $head = $req->{method} eq 'HEAD';

    my $json;
    if (length $req->{body}) {
        $json = eval { JSON::PP->new->utf8->decode($req->{body}) };
        $json = undef unless ref $json eq 'HASH';
    }

    # the wire format the answer takes, from the request's path
    my ($path) = $req->{uri} =~ m{^([^?#]*)};
    my $api = $req->{method} ne 'POST'          ? 'chat'
            : $path eq '/v1/messages'           ? 'messages'
            : $path eq '/v1/responses'          ? 'responses'
            :                                     'chat';

    my ($id, $seq) = next_id($api eq 'messages'  ? 'msg_'
                           : $api eq 'responses' ? 'resp_' : 'chatcmpl-');
    my @common = (
        "X-Served-By: $name\r\n",
        "Server: mock-upstream\r\n",
    );

    # error status override
    if (defined $status && $status =~ /^\d{3}$/ && $status != 200) {
        my $body = '';
        unless ($status =~ /^1|^204$|^304$/) {
            $body = $JSON->encode(error_answer($api, $status)) . "\n";
        }
        my $resp = status_line($status) . join('', @common)
            . "Content-Type: application/json\r\n"
            . "Content-Length: " . length($body) . "\r\n"
            . ($keep ? ($v11 ? '' : "Connection: keep-alive\r\n")
                     : "Connection: close\r\n")
            . "\r\n" . ($head ? '' : $body);
        send_all($sock, $resp) or return 0;
        return $keep;
    }

    my $model = ($json && defined $json->{model} && !ref $json->{model})
              ? $json->{model} : $name;

    # the answer's shape and how its body is written
    my $named = $h->{'x-mock-answer'} // $ctl->{answer};
    my $shape = lc($named // 'valid');
    my $bytes = $h->{'x-mock-answer-bytes'} // $ctl->{answer_bytes};
    my $piece = $h->{'x-mock-chunk-bytes'} // $ctl->{chunk_bytes};
    my $pause = $h->{'x-mock-chunk-ms'} // $ctl->{chunk_ms} // 1;
    $piece = undef unless defined $piece && $piece =~ /^\d+$/ && $piece > 0;
    my $ctype = $shape eq 'wrong-type' ? 'text/plain' : undef;
    my $send = sub { send_body($sock, $_[0], $piece, $pause) };
    my $beh = behaviour($h, $ctl, $seq, $json);

    my $stream_n;
    if (defined $h->{'x-mock-stream'}) {
        ($stream_n) = $h->{'x-mock-stream'} =~ /(\d+)/;
        $stream_n //= 5;
    } elsif (($json && $json->{stream}) || $shape =~ /^sse-/) {
        $stream_n = 5;
    }
    $stream_n = 1 if $mode eq 'cut' && !defined $stream_n;

    if (defined $stream_n) {
        my $interval = $h->{'x-mock-interval-ms'} // $ctl->{interval_ms}
                       // 200;
        my $chunked = $v11;
        $keep = 0 unless $chunked;    # close-delimited body for HTTP/1.0
        my $cut = $shape eq 'sse-cut';

        my ($steps, $last, $head_len) = stream_events($api, $id,
                                           $shape eq 'wrong-model'
                                           ? 'other-model' : $model,
                                           $mode eq 'cut' ? 1 : $stream_n,
                                           $shape, $beh);
        # sse-cut: half of the event that would come next, then a reset
        my $tail = $cut ? substr($last, 0, int(length($last) / 2)) : $last;
        my $digest = defined $named
                   ? "X-Mock-Body-Sha256: "
                     . sha256_hex(join('', @$steps) . $tail) . "\r\n"
                   : '';

        my $resp = status_line(200) . join('', @common)
            . "Content-Type: " . ($ctype // 'text/event-stream') . "\r\n"
            . "Cache-Control: no-cache\r\n"
            . $digest
            . ($chunked ? "Transfer-Encoding: chunked\r\n" : '')
            . ($keep ? '' : "Connection: close\r\n")
            . "\r\n";
        send_all($sock, $resp) or return 0;
        return $keep if $head;

        my $frame = sub {
            my ($data) = @_;
            return '' unless length $data;
            return $chunked ? sprintf("%x\r\n%s\r\n", length $data, $data)
                            : $data;
        };

        for my $i (0 .. $#$steps) {
            msleep($interval) if $i > 0;
            if ($i == 0 && defined $beh->{first_ms}) {
                # the events before the first text at once, the text later
                $send->($frame->(substr($steps->[0], 0, $head_len)))
                    or return 0;
                msleep($beh->{first_ms});
                $send->($frame->(substr($steps->[0], $head_len)))
                    or return 0;
                next;
            }
            $send->($frame->($steps->[$i])) or return 0;
        }

        if ($mode eq 'cut') {
            # give the event a moment to leave, then drop the connection
            # without the terminating chunk
            msleep(50);
            close $sock;
            return 0;
        }
        if ($cut) {
            # the first half of the next event as a chunk of its own size,
            # then a reset: neither the rest nor the terminating chunk
            $send->($chunked ? sprintf("%x\r\n%s", length $last, $tail)
                             : $tail) or return 0;
            msleep(50);
            setsockopt($sock, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
            close $sock;
            return 0;
        }

        $send->($frame->($last) . ($chunked ? "0\r\n\r\n" : ''))
            or return 0;
        return $keep;
    }

    # plain JSON answer
    my $request = {
        method      => $req->{method},
        uri         => $req->{uri},
        headers     => $h,
        body_length => length $req->{body},
    };
    my ($body, $gzipped) = plain_body($api, $id, $model, $request, $shape,
                                      $bytes, $beh);

    my $resp = status_line(200) . join('', @common)
        . "Content-Type: " . ($ctype // 'application/json') . "\r\n"
        . ($gzipped ? "Content-Encoding: gzip\r\n" : '')
        . (defined $named ? "X-Mock-Body-Sha256: " . sha256_hex($body) . "\r\n"
                          : '')
        . "Content-Length: " . length($body) . "\r\n"
        . ($keep ? ($v11 ? '' : "Connection: keep-alive\r\n")
                 : "Connection: close\r\n")
        . "\r\n";
    if ($head || !defined $piece) {
        send_all($sock, $resp . ($head ? '' : $body)) or return 0;
    } else {
        send_all($sock, $resp) or return 0;
        $send->($body) or return 0;
    }
    return $keep;
}

# Writes $data in pieces of $piece bytes, $ms milliseconds apart (all at
# once when $piece is undef).  Returns false when the peer is gone.
sub send_body {
    my ($sock, $data, $piece, $ms) = @_;
    return send_all($sock, $data) unless defined $piece;
    for (my $off = 0; $off < length $data; $off += $piece) {
        msleep($ms) if $off > 0;
        send_all($sock, substr($data, $off, $piece)) or return 0;
    }
    return 1;
}
