"""`make bench`: the bridge's own cost, measured against a stdio child reached directly over pipes."""
