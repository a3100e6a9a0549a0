# Dynamic duplicates are only detected at evaluation time.
{ a = 1; ${"a"} = 2; }
