#!/usr/bin/perl
# roundtrip.pl MAILDIR: every message of MAILDIR read by Perl's Email::MIME,
# printed as JSON keyed by To: the decoded Subject and X-Roundtrip, and the
# display name and address of From and Reply-To. tests/roundtrip.py
# compares them with what the producer wrote.
use strict;
use warnings;
use Email::MIME;
use JSON::PP;

my $dir = shift or die "usage: roundtrip.pl MAILDIR\n";
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
