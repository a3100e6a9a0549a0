# POSIX leftmost-longest semantics for the groups.
[ (builtins.match "(a*)(a*)" "aaa") (builtins.match "(a|ab)(c|bcd)(d*)" "abcd") (builtins.match "(.*)-(.*)" "a-b-c") ]
