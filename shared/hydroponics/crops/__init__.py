"""Farm records of growing: varieties and their stage profiles, crops, growth stages, harvests, reports."""
