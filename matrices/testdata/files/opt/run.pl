#!/usr/bin/perl
exit 0;
