#!/usr/bin/perl
# roundtrip.pl MAILDIR: every message of MAILDIR read by Perl's Email::MIME,
# printed as JSON keyed by To: the decoded Subject and X-Roundtrip, and the
# display name and address of From and Reply-To. tests/roundtrip.py
# compares them with what the producer wrote.
use strict;
use warnings;
use Email::MIME;
use JSON::PP;
use Encode;

if (@ARGV == 2 && $ARGV[0] eq '--phrases') {
	# roundtrip.pl --phrases FILE: the display name Email::MIME reads from
	# "From: PHRASE <a@example.org>" for each case of FILE (tests/roundtrip.py
	# prove-generate), as a JSON list in the same order.
	open(my $fh, '<:raw', $ARGV[1]) or die "$ARGV[1]: $!\n";
	my $cases = JSON::PP->new->utf8->decode(do { local $/; <$fh> });
	my @out;
	for my $c (@$cases) {
		my $raw = "From: " . Encode::encode('UTF-8', $c->{phrase}) . " <a\@example.org>\r\nTo: b\@example.org\r\n\r\nx\r\n";
		my @a = Email::MIME->new($raw)->header_as_obj('From')->addresses;
		push @out, @a ? $a[0]->phrase : undef;
	}
	print JSON::PP->new->utf8->canonical->encode(\@out);
	exit 0;
}
my $dir = shift or die "usage: roundtrip.pl MAILDIR | --phrases FILE\n";
opendir(my $dh, $dir) or die "$dir: $!\n";
my %out;
for my $f (sort grep { !/^\./ } readdir $dh) {
	open(my $fh, '<:raw', "$dir/$f") or die "$dir/$f: $!\n";
	my $raw = do { local $/; <$fh> };
	close $fh;
	my $m = Email::MIME->new($raw);
	my %h = (subject => scalar $m->header_str('Subject'), x => scalar $m->header_str('X-Roundtrip'));
	for my $k (['from', 'From'], ['reply_to', 'Reply-To']) {
		my @a = $m->header_as_obj($k->[1])->addresses;
		$h{$k->[0]} = @a ? $a[0]->phrase : undef;
		$h{"$k->[0]_addr"} = @a ? $a[0]->address : undef;
	}
	$out{scalar $m->header_str('To')} = \%h;
}
print JSON::PP->new->utf8->canonical->encode(\%out);
