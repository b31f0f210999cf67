#!/usr/bin/perl
# t/12-failover.t again, with "proxy_pass http://$ai_release_upstream;" in
# every location: nginx finds the bundle's upstream block by name and calls
# its peer.init, which the module wraps, so the request is balanced as
# through "proxy_pass http://ai_release": every attempt counted against its
# bundle, failover to the known-good bundle with the request rebuilt.

use strict;
use warnings;
use FindBin;

our $PROXY_PASS = 'http://$ai_release_upstream';

my $file = "$FindBin::Bin/12-failover.t";
-r $file or die "$file: $!\n";
do $file;
die $@ if $@;
